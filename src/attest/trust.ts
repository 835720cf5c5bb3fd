import type { KeyObject } from 'node:crypto';
import { type KeyAlgorithm, keyAlgorithmOf, keyIdOf, publicKeyFromPem } from '../crypto/keys.js';
import { CairnError, InputError, type Problem } from '../model/errors.js';
import { joinPath } from '../model/fields.js';
import { parseJson } from '../model/json.js';
import { type IdentityRole, type KeyIdentity, TRUST_STORE_LIMITS, type TrustStore, trustStoreFromJSON } from '../model/trust.js';

/** A key the verifier trusts, ready to verify with, and the terms of that trust. */
export interface TrustedKey {
  readonly keyid: string;
  readonly key: KeyObject;
  readonly algorithm: KeyAlgorithm;
  /** The identities the key signs for; null for a key given directly (bound to any identity). */
  readonly identities: readonly KeyIdentity[] | null;
  /** null: no start (a key given directly). */
  readonly validFrom: Date | null;
  readonly validUntil: Date | null;
  readonly revoked: boolean;
  readonly revokedAt: Date | null;
}

/** The keys a verification trusts: from a trust store, or given directly. */
export interface TrustRoot {
  readonly keys: readonly TrustedKey[];
  /** Where the keys came from, for messages: `trust store` or `given keys`. */
  readonly source: 'trust-store' | 'keys';
}

/**
 * Reads the key material of a parsed trust store: each `publicKey` must be an SPKI key of the
 * stated `algorithm` whose id is `keyid`. Reports every bad key at once
 * (ATTEST_TRUST_STORE_INVALID, paths `keys[i].…`).
 */
export function resolveTrustStore(store: TrustStore): TrustRoot {
  const problems: Problem[] = [];
  const keys: TrustedKey[] = [];
  store.keys.forEach((entry, i) => {
    const path = joinPath('keys', i);
    let key: KeyObject;
    try {
      key = publicKeyFromPem(entry.publicKeyPem, `${path}.publicKey`);
    } catch (error) {
      if (!(error instanceof CairnError)) throw error;
      problems.push({ code: error.code, path: joinPath(path, 'publicKey'), message: error.message });
      return;
    }
    const algorithm = keyAlgorithmOf(key) as KeyAlgorithm;
    const keyid = keyIdOf(key);
    if (algorithm !== entry.algorithm)
      problems.push({ code: 'MISMATCH', path: joinPath(path, 'algorithm'), message: `the public key is ${algorithm}, not ${entry.algorithm}` });
    if (keyid !== entry.keyid) problems.push({ code: 'MISMATCH', path: joinPath(path, 'keyid'), message: `the public key's id is ${keyid}` });
    keys.push({
      keyid,
      key,
      algorithm,
      identities: entry.identities,
      validFrom: entry.validFrom,
      validUntil: entry.validUntil,
      revoked: entry.revoked,
      revokedAt: entry.revokedAt,
    });
  });
  if (problems.length > 0) {
    const first = problems[0] as Problem;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new InputError('ATTEST_TRUST_STORE_INVALID', `trust store is invalid: ${first.path}: ${first.message}${more}`, { problems });
  }
  return { keys, source: 'trust-store' };
}

/** Parses trust-store JSON text (size-capped) and reads its keys; every problem is reported at once. */
export function trustStoreFromText(text: string | Uint8Array, what = 'trust store'): TrustRoot {
  let raw: unknown;
  try {
    raw = parseJson(text, what, { maxBytes: TRUST_STORE_LIMITS.maxBytes, maxDepth: 16 });
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    throw new InputError('ATTEST_TRUST_STORE_INVALID', error.message, { cause: error, problems: error.problems });
  }
  return resolveTrustStore(trustStoreFromJSON(raw));
}

/**
 * Trust in keys given directly (`cairn verify --key`): no validity window, and bound to any
 * identity, so the caller vouches for the key and for whatever builder it claims; a policy's
 * `builders` list still restricts the claim.
 */
export function trustFromKeys(keys: readonly KeyObject[]): TrustRoot {
  return {
    source: 'keys',
    keys: keys.map((key) => {
      const algorithm = keyAlgorithmOf(key);
      if (algorithm === null) throw new InputError('KEY_UNSUPPORTED', `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
      return { keyid: keyIdOf(key), key, algorithm, identities: null, validFrom: null, validUntil: null, revoked: false, revokedAt: null };
    }),
  };
}

export type KeyStatus =
  | { readonly valid: true }
  | { readonly valid: false; readonly code: 'ATTEST_KEY_REVOKED' | 'ATTEST_KEY_EXPIRED' | 'ATTEST_KEY_NOT_YET_VALID'; readonly message: string };

/**
 * Whether a signature by `key` counts for evidence from `time`: the key is not revoked (or was
 * revoked after `time`) and `validFrom <= time < validUntil`. Rotation therefore never
 * invalidates evidence made inside a key's window.
 */
export function keyStatusAt(key: TrustedKey, time: Date): KeyStatus {
  const t = time.getTime();
  if (key.revoked && (key.revokedAt === null || key.revokedAt.getTime() <= t)) {
    return {
      valid: false,
      code: 'ATTEST_KEY_REVOKED',
      message: `key ${key.keyid} is revoked${key.revokedAt ? ` since ${key.revokedAt.toISOString()}, before the evidence time ${time.toISOString()}` : ''}`,
    };
  }
  if (key.validFrom !== null && t < key.validFrom.getTime()) {
    return {
      valid: false,
      code: 'ATTEST_KEY_NOT_YET_VALID',
      message: `key ${key.keyid} is valid from ${key.validFrom.toISOString()}, after the evidence time ${time.toISOString()}`,
    };
  }
  if (key.validUntil !== null && t >= key.validUntil.getTime()) {
    return {
      valid: false,
      code: 'ATTEST_KEY_EXPIRED',
      message: `key ${key.keyid} was valid until ${key.validUntil.toISOString()}, before the evidence time ${time.toISOString()}`,
    };
  }
  return { valid: true };
}

/** Whether the key may sign as `id` in one of `roles` (a directly given key may sign as anything). */
export function keyHasIdentity(key: TrustedKey, roles: readonly IdentityRole[], id: string | null): boolean {
  if (key.identities === null) return true;
  return key.identities.some((identity) => roles.includes(identity.role) && (id === null || identity.id === id));
}
