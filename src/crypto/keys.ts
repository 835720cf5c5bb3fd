import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { InputError } from '../model/errors.js';

/** The signature algorithms cairn signs and verifies with. ECDSA is always over SHA-256. */
export type KeyAlgorithm = 'ed25519' | 'ecdsa-p256';

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ed25519', 'ecdsa-p256'];

/**
 * How an ECDSA signature is written: ASN.1 DER (what Sigstore, cosign and securesystemslib
 * emit; the default) or IEEE P1363 (raw r‖s, 64 bytes for P-256; WebCrypto, the DSSE test vector).
 */
export type EcdsaSignatureFormat = 'der' | 'p1363';

export interface SignOptions {
  /** ECDSA only; ignored for Ed25519. Default `der`. */
  readonly ecdsaSignatureFormat?: EcdsaSignatureFormat;
}

export interface VerifyOptions {
  /**
   * Also accept an ECDSA signature in IEEE P1363 form when it is not valid DER. Off by
   * default: DER is the interoperable encoding, and accepting both gives every signature two
   * byte forms.
   */
  readonly allowP1363?: boolean;
}

export interface KeyPairPem {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  readonly keyid: string;
  readonly algorithm: KeyAlgorithm;
}

/** Generates a key pair, PEM-encoded (PKCS#8 private, SPKI public). */
export function generateKeyPair(algorithm: KeyAlgorithm = 'ed25519'): KeyPairPem {
  const { privateKey, publicKey } = algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyid: keyIdOf(publicKey),
    algorithm,
  };
}

const keyIds = new WeakMap<KeyObject, string>();

/**
 * The key id used as DSSE `keyid` and Sigstore public-key hint: standard base64 of the
 * SHA-256 of the SPKI DER encoding of the public key. Given a private key, the id of its
 * public half. Memoised per KeyObject.
 */
export function keyIdOf(key: KeyObject): string {
  const cached = keyIds.get(key);
  if (cached !== undefined) return cached;
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const id = createHash('sha256').update(der).digest('base64');
  keyIds.set(key, id);
  return id;
}

/** The algorithm of a supported key, or null for any other key (RSA, P-384, X25519…). */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm | null {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  return null;
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}`;
}

function checkType(key: KeyObject, what: string): KeyObject {
  if (keyAlgorithmOf(key) === null) {
    throw new InputError('KEY_UNSUPPORTED', `${what}: unsupported key type ${describeKey(key)} (supported: ${KEY_ALGORITHMS.join(', ')})`);
  }
  return key;
}

/** Parses an SPKI PEM public key (Ed25519 or ECDSA P-256). */
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

/** Parses a PKCS#8 PEM private key (Ed25519 or ECDSA P-256). */
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

/**
 * Signs bytes with an Ed25519 key (PureEdDSA) or an ECDSA P-256 key (SHA-256; DER unless
 * `p1363` is asked for). Throws KEY_UNSUPPORTED for any other key.
 */
export function signBytes(privateKey: KeyObject, data: Uint8Array, options: SignOptions = {}): Buffer {
  const algorithm = keyAlgorithmOf(privateKey);
  if (algorithm === 'ed25519') return cryptoSign(null, data, privateKey);
  if (algorithm === 'ecdsa-p256') {
    return options.ecdsaSignatureFormat === 'p1363'
      ? cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : cryptoSign('sha256', data, privateKey);
  }
  throw new InputError('KEY_UNSUPPORTED', `cannot sign with a ${describeKey(privateKey)} key (supported: ${KEY_ALGORITHMS.join(', ')})`);
}

/** P1363 for P-256 is exactly r‖s, 32 bytes each. */
const P1363_P256_LENGTH = 64;

/**
 * Whether `signature` is a valid signature of `data` by `publicKey`. ECDSA signatures must
 * be strict DER; a 64-byte P1363 signature is tried only with `allowP1363`. Never throws for
 * a bad signature; returns false for an unsupported key.
 */
export function verifyBytes(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array, options: VerifyOptions = {}): boolean {
  const algorithm = keyAlgorithmOf(publicKey);
  try {
    if (algorithm === 'ed25519') return cryptoVerify(null, data, publicKey, signature);
    if (algorithm === 'ecdsa-p256') {
      // DER is node's default encoding: pass the KeyObject itself, the fastest form.
      if (cryptoVerify('sha256', data, publicKey, signature)) return true;
      return (
        options.allowP1363 === true &&
        signature.length === P1363_P256_LENGTH &&
        cryptoVerify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
      );
    }
  } catch {
    // OpenSSL throws on some malformed signatures instead of returning false; either way it does not verify.
  }
  return false;
}
