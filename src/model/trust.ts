import { Fields, joinPath } from './fields.js';

/** What a key is trusted to sign as. */
export type IdentityRole = 'builder' | 'rebuilder' | 'log' | 'witness';
export const IDENTITY_ROLES: readonly IdentityRole[] = ['builder', 'rebuilder', 'log', 'witness'];

/** Signature algorithms a trust store may name (the same names as `cairn keygen --alg`). */
export type TrustKeyAlgorithm = 'ed25519' | 'ecdsa-p256';
export const TRUST_KEY_ALGORITHMS: readonly TrustKeyAlgorithm[] = ['ed25519', 'ecdsa-p256'];

/** One identity a key may sign for: the role and the URI it signs as (e.g. a builder id). */
export interface KeyIdentity {
  readonly role: IdentityRole;
  readonly id: string;
}

/** A key in the trust store, with the window in which its signatures count. */
export interface TrustStoreKey {
  /** Standard base64 of the SHA-256 of the SPKI DER (the DSSE keyid). */
  readonly keyid: string;
  readonly algorithm: TrustKeyAlgorithm;
  /** SPKI PEM, as written in the file. */
  readonly publicKeyPem: string;
  readonly identities: readonly KeyIdentity[];
  /** Evidence from before this instant does not count for the key. */
  readonly validFrom: Date;
  /** Evidence from this instant on does not count for the key; null for no end. */
  readonly validUntil: Date | null;
  readonly revoked: boolean;
  /** With `revoked`: evidence from this instant on does not count; null revokes for all time. */
  readonly revokedAt: Date | null;
  readonly description: string | null;
}

export interface TrustStore {
  readonly version: 1;
  readonly keys: readonly TrustStoreKey[];
}

export const TRUST_STORE_LIMITS = {
  /** Largest trust-store file read, in bytes. */
  maxBytes: 1024 * 1024,
  maxKeys: 256,
  maxIdentitiesPerKey: 16,
} as const;

/** An absolute URI: a scheme, a colon, and no whitespace. */
export const URI_PATTERN = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
const KEYID_PATTERN = /^[A-Za-z0-9+/]{43}=$/;
const PEM_PATTERN = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/;

/**
 * Parses an RFC 3339 date-time (`2025-01-31T12:00:00Z`, offsets and fractions allowed;
 * leap seconds and impossible dates rejected). Returns null for anything else.
 */
export function parseRfc3339(text: string): Date | null {
  // date-time = YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" / ±hh:mm), read by position.
  const n = text.length;
  if (n < 20 || n > 64) return null;
  const digits = (from: number, count: number): number => {
    let value = 0;
    for (let i = from; i < from + count; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return -1;
      value = value * 10 + c;
    }
    return value;
  };
  const at = (i: number) => text.charCodeAt(i);
  if (at(4) !== 0x2d || at(7) !== 0x2d || (at(10) | 0x20) !== 0x74 || at(13) !== 0x3a || at(16) !== 0x3a) return null;
  const year = digits(0, 4);
  const month = digits(5, 2);
  const day = digits(8, 2);
  const hour = digits(11, 2);
  const minute = digits(14, 2);
  const second = digits(17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > daysInMonth) return null;
  let i = 19;
  let fraction = 0;
  if (at(i) === 0x2e) {
    const start = ++i;
    while (i < n && at(i) >= 0x30 && at(i) <= 0x39) i++;
    const count = i - start;
    if (count < 1 || count > 9) return null;
    fraction = digits(start, Math.min(3, count)) * 10 ** (3 - Math.min(3, count));
  }
  let offsetMinutes = 0;
  if ((at(i) | 0x20) === 0x7a) {
    if (i + 1 !== n) return null;
  } else {
    const sign = at(i);
    if ((sign !== 0x2b && sign !== 0x2d) || i + 6 !== n || at(i + 3) !== 0x3a) return null;
    const oh = digits(i + 1, 2);
    const om = digits(i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offsetMinutes = (sign === 0x2d ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, unlike Date.UTC, takes years 0-99 literally.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, fraction);
  return new Date(date.getTime() - offsetMinutes * 60_000);
}

/** Reads an RFC 3339 string field, reporting it when missing or malformed. */
export function timeField(f: Fields, value: unknown, path: string): Date | undefined {
  const text = f.string(value, path, { maxLength: 64 });
  if (text === undefined) return undefined;
  const time = parseRfc3339(text);
  if (time === null) f.report(path, 'INVALID_FORMAT', 'expected an RFC 3339 date-time such as 2025-01-31T12:00:00Z');
  return time ?? undefined;
}

/** Reads a string that must be one of `choices`. */
export function enumField<T extends string>(f: Fields, value: unknown, path: string, choices: readonly T[]): T | undefined {
  const text = f.string(value, path, { maxLength: 64 });
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    f.report(path, 'UNSUPPORTED', `expected one of ${choices.join(', ')}`);
    return undefined;
  }
  return text as T;
}

const KEY_FIELDS = ['keyid', 'algorithm', 'publicKey', 'identities', 'validFrom', 'validUntil', 'revoked', 'revokedAt', 'description'];

function parseKey(f: Fields, raw: unknown, path: string): TrustStoreKey | undefined {
  const k = f.object(raw, path, KEY_FIELDS);
  if (!k) return undefined;
  const keyid = f.string(k.keyid, joinPath(path, 'keyid'), { maxLength: 44, pattern: KEYID_PATTERN });
  const algorithm = enumField(f, k.algorithm, joinPath(path, 'algorithm'), TRUST_KEY_ALGORITHMS);
  const publicKeyPem = f.string(k.publicKey, joinPath(path, 'publicKey'), { maxLength: 4096, pattern: PEM_PATTERN });
  const identities: KeyIdentity[] = [];
  const list = f.array(k.identities, joinPath(path, 'identities'), TRUST_STORE_LIMITS.maxIdentitiesPerKey);
  if (list) {
    if (list.length === 0) f.report(joinPath(path, 'identities'), 'EMPTY', 'a key needs at least one identity (role and id)');
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const ipath = joinPath(joinPath(path, 'identities'), i);
      const o = f.object(item, ipath, ['role', 'id']);
      if (!o) return;
      const role = enumField(f, o.role, joinPath(ipath, 'role'), IDENTITY_ROLES);
      const id = f.string(o.id, joinPath(ipath, 'id'), { maxLength: 1024, pattern: URI_PATTERN });
      if (role === undefined || id === undefined) return;
      if (seen.has(`${role} ${id}`)) f.report(ipath, 'DUPLICATE', `identity ${role} ${id} is listed twice`);
      seen.add(`${role} ${id}`);
      identities.push({ role, id });
    });
  }
  const validFrom = timeField(f, k.validFrom, joinPath(path, 'validFrom'));
  const validUntil = k.validUntil === undefined ? null : timeField(f, k.validUntil, joinPath(path, 'validUntil'));
  if (validFrom && validUntil && validUntil.getTime() <= validFrom.getTime()) {
    f.report(joinPath(path, 'validUntil'), 'OUT_OF_RANGE', 'must be after validFrom');
  }
  const revoked = k.revoked === undefined ? false : f.boolean(k.revoked, joinPath(path, 'revoked'));
  const revokedAt = k.revokedAt === undefined ? null : timeField(f, k.revokedAt, joinPath(path, 'revokedAt'));
  if (k.revokedAt !== undefined && revoked !== true) f.report(joinPath(path, 'revokedAt'), 'INVALID_FORMAT', 'revokedAt needs "revoked": true');
  const description = f.optionalString(k.description, joinPath(path, 'description'), { maxLength: 1024 }) ?? null;
  if (
    keyid === undefined ||
    algorithm === undefined ||
    publicKeyPem === undefined ||
    validFrom === undefined ||
    validUntil === undefined ||
    revoked === undefined ||
    revokedAt === undefined
  ) {
    return undefined;
  }
  return { keyid, algorithm, publicKeyPem, identities, validFrom, validUntil, revoked, revokedAt, description };
}

/**
 * Parses a decoded trust-store document (format in docs/trust.md), reporting every bad
 * field with its path. The key material itself (that `publicKey` is a key of `algorithm`
 * whose id is `keyid`) is checked where keys are read, by `resolveTrustStore` in attest.
 */
export function trustStoreFromJSON(raw: unknown): TrustStore {
  const f = new Fields();
  const root = f.object(raw, '', ['version', 'keys']);
  if (!root) return f.finish<TrustStore>(undefined, 'ATTEST_TRUST_STORE_INVALID', 'trust store');
  const version = f.integer(root.version, 'version', 1, 1);
  const keys: TrustStoreKey[] = [];
  const list = f.array(root.keys, 'keys', TRUST_STORE_LIMITS.maxKeys);
  if (list) {
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const key = parseKey(f, item, joinPath('keys', i));
      if (!key) return;
      const first = seen.get(key.keyid);
      if (first !== undefined) f.report(joinPath(joinPath('keys', i), 'keyid'), 'DUPLICATE', `keyid is already listed at keys[${first}]`);
      else seen.set(key.keyid, i);
      keys.push(key);
    });
  }
  return f.finish(version === 1 ? { version: 1 as const, keys } : undefined, 'ATTEST_TRUST_STORE_INVALID', 'trust store');
}
