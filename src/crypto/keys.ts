import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { InputError } from '../model/errors.js';

export type KeyAlgorithm = 'ed25519';

export interface KeyPairPem {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  readonly keyid: string;
}

/** Generates a key pair, PEM-encoded (PKCS#8 private, SPKI public). */
export function generateKeyPair(algorithm: KeyAlgorithm = 'ed25519'): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync(algorithm);
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyid: keyIdOf(publicKey),
  };
}

/**
 * The key id used as DSSE `keyid` and Sigstore public-key hint: standard base64 of the
 * SHA-256 of the SPKI DER encoding of the public key.
 */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

const SUPPORTED = new Set(['ed25519']);

function checkType(key: KeyObject, what: string): KeyObject {
  if (!key.asymmetricKeyType || !SUPPORTED.has(key.asymmetricKeyType)) {
    throw new InputError('KEY_UNSUPPORTED', `${what}: unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (supported: ed25519)`);
  }
  return key;
}

/** Parses an SPKI PEM public key. */
export function publicKeyFromPem(pem: string, what = 'public key'): KeyObject {
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new InputError('KEY_MALFORMED', `${what}: expected an SPKI PEM ("BEGIN PUBLIC KEY")`);
  }
  try {
    return checkType(createPublicKey({ key: pem, format: 'pem' }), what);
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    throw new InputError('KEY_MALFORMED', `${what}: not a readable PEM public key`, { cause });
  }
}

/** Parses a PKCS#8 PEM private key. */
export function privateKeyFromPem(pem: string, what = 'private key'): KeyObject {
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new InputError('KEY_MALFORMED', `${what}: expected a PKCS#8 PEM ("BEGIN PRIVATE KEY")`);
  }
  try {
    return checkType(createPrivateKey({ key: pem, format: 'pem' }), what);
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    throw new InputError('KEY_MALFORMED', `${what}: not a readable PEM private key`, { cause });
  }
}
