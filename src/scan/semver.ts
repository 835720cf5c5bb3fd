/**
 * SemVer 2.0.0 versions and their precedence, written for evaluating advisories: ordering
 * only (never range satisfaction, which drops prereleases), no regular expressions, every
 * input capped in length.
 */

/** One prerelease identifier: numeric ones compare by value, others by ASCII order. */
type Identifier = { readonly numeric: true; readonly digits: string } | { readonly numeric: false; readonly text: string };

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly Identifier[];
  readonly build: readonly string[];
}

const MAX_LENGTH = 256;

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isIdentifierChars(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d;
    if (!ok) return false;
  }
  return true;
}

function numericPart(s: string): number | null {
  if (!isDigits(s) || (s.length > 1 && s.charCodeAt(0) === 0x30)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses a strict SemVer 2.0.0 version (`1.2.3-rc.1+build`); null when it is not one. */
export function parseSemver(text: string): SemVer | null {
  if (text.length === 0 || text.length > MAX_LENGTH) return null;
  const plus = text.indexOf('+');
  const main = plus < 0 ? text : text.slice(0, plus);
  const build = plus < 0 ? [] : text.slice(plus + 1).split('.');
  if (plus >= 0 && !build.every(isIdentifierChars)) return null;
  const dash = main.indexOf('-');
  const core = dash < 0 ? main : main.slice(0, dash);
  const pre = dash < 0 ? [] : main.slice(dash + 1).split('.');
  const nums = core.split('.');
  if (nums.length !== 3) return null;
  const [major, minor, patch] = nums.map(numericPart);
  if (major == null || minor == null || patch == null) return null;
  const prerelease: Identifier[] = [];
  for (const id of pre) {
    if (!isIdentifierChars(id)) return null;
    if (isDigits(id)) {
      if (id.length > 1 && id.charCodeAt(0) === 0x30) return null;
      prerelease.push({ numeric: true, digits: id });
    } else prerelease.push({ numeric: false, text: id });
  }
  return { major, minor, patch, prerelease, build };
}

/**
 * Parses a version as advisory data writes it: strict SemVer, or a shortened one (`1.0`,
 * `2`) read as `.0`-padded, with one leading `v` or `=` allowed. npm itself accepts these
 * loose forms; anything else stays unparseable.
 */
export function parseAdvisoryVersion(text: string): SemVer | null {
  let t = text.trim();
  if (t.startsWith('v') || t.startsWith('=')) t = t.slice(1);
  const strict = parseSemver(t);
  if (strict) return strict;
  const end = Math.min(...['-', '+'].map((c) => (t.indexOf(c) < 0 ? t.length : t.indexOf(c))));
  const core = t.slice(0, end).split('.');
  if (core.length === 0 || core.length > 2 || !core.every((p) => numericPart(p) !== null)) return null;
  while (core.length < 3) core.push('0');
  return parseSemver(core.join('.') + t.slice(end));
}

function compareIdentifiers(a: Identifier, b: Identifier): number {
  if (a.numeric && b.numeric) {
    if (a.digits.length !== b.digits.length) return a.digits.length < b.digits.length ? -1 : 1;
    return a.digits < b.digits ? -1 : a.digits > b.digits ? 1 : 0;
  }
  if (a.numeric) return -1;
  if (b.numeric) return 1;
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

/** SemVer 2.0.0 precedence: -1, 0 or 1. Build metadata is ignored (`1.0.0+a` equals `1.0.0+b`). */
export function compareSemver(a: SemVer, b: SemVer): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch !== b.patch) return a.patch < b.patch ? -1 : 1;
  const pa = a.prerelease;
  const pb = b.prerelease;
  if (pa.length === 0 || pb.length === 0) return pa.length === pb.length ? 0 : pa.length === 0 ? 1 : -1;
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifiers(pa[i] as Identifier, pb[i] as Identifier);
    if (c !== 0) return c;
  }
  return pa.length === pb.length ? 0 : pa.length < pb.length ? -1 : 1;
}

/** The canonical text of a version (without build metadata unless `withBuild`). */
export function formatSemver(v: SemVer, withBuild = false): string {
  const pre = v.prerelease.map((p) => (p.numeric ? p.digits : p.text)).join('.');
  return `${v.major}.${v.minor}.${v.patch}${pre ? `-${pre}` : ''}${withBuild && v.build.length > 0 ? `+${v.build.join('.')}` : ''}`;
}
