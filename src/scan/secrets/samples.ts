/**
 * Test and benchmark support: token-shaped strings built at run time from a seed, so that no
 * realistic-looking secret literal sits in the repository (push protection and cairn's own
 * scan would rightly flag one). Not used by the scanner.
 */

export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const DIGITS = '0123456789';
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = '0123456789abcdef';
export const BASE64 = `${ALNUM}+/`;
export const URLSAFE = `${ALNUM}_-`;

/** `n` characters of `alphabet`, pseudo-random from `seed` (xorshift32): the same every run. */
export function fakeChars(alphabet: string, n: number, seed = 1): string {
  let x = (seed * 2654435761) >>> 0 || 1;
  let out = '';
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

/** Joins parts: call sites spell a token's prefix in pieces, so the source never holds it whole. */
export function join(...parts: string[]): string {
  return parts.join('');
}
