/** A sha256 digest written as `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

/** The shape of a {@link Digest}, for field checks. */
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const HEX_RE = /^[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && HEX_RE.test(value);
}

/** The 64 hex characters of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function digestFromHex(hex: string): Digest {
  if (!HEX_RE.test(hex)) throw new TypeError('not a lowercase sha256 hex string');
  return `sha256:${hex}`;
}

/** First 12 hex characters, for display only. */
export function shortDigest(digest: Digest): string {
  return digestHex(digest).slice(0, 12);
}
