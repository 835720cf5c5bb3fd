import type { KeyObject } from 'node:crypto';
import type { DsseEnvelope } from '../model/attestation.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { keyIdOf, type SignOptions, signBytes, type VerifyOptions, verifyBytes } from './keys.js';

/**
 * DSSE v1 pre-authentication encoding:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const head = `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${payload.length} `;
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + payload.length);
  out.write(head, 0, 'utf8');
  out.set(payload, headLength);
  return out;
}

/**
 * Decodes base64 strictly (see decodeBase64Strict), with a fast path for the common case:
 * text that is already canonical, padded, standard base64 re-encodes to itself.
 */
export function decodeBase64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') === text) return bytes;
  return decodeBase64Strict(text);
}

/**
 * Signs `payload` as a DSSE envelope with one signature per private key (Ed25519 or ECDSA
 * P-256), each named by its key id. ECDSA signatures are DER unless `ecdsaSignatureFormat`
 * is `p1363`.
 */
export function signEnvelope(payloadType: string, payload: Uint8Array, keys: readonly KeyObject[], options: SignOptions = {}): DsseEnvelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: encodeBase64(payload),
    signatures: keys.map((key) => ({ keyid: keyIdOf(key), sig: encodeBase64(signBytes(key, message, options)) })),
  };
}

export interface EnvelopeVerification {
  /** Decoded payload bytes, when the payload is canonical base64. */
  readonly payload: Buffer | null;
  /** Distinct key ids of the given keys that produced a valid signature (each counted once). */
  readonly verifiedKeyids: readonly string[];
  /** For each signature that verified, the key id it verified with (a key may appear twice). */
  readonly verified: readonly { readonly index: number; readonly keyid: string }[];
  /** Why each signature did not count, for diagnostics. */
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

/**
 * Checks every signature of an envelope against the given public keys. The `keyid` is an
 * unauthenticated hint (DSSE) that only narrows the keys tried: when it names one of the
 * given keys, only that key is tried (as securesystemslib does); when it is empty or names
 * none of them (another id scheme, e.g. securesystemslib's hex ids), every key is tried. It
 * can make a signature not count, never make one count. A signature must be canonical base64
 * and verify over the PAE; a key is counted once however many signatures it made, so
 * `verifiedKeyids.length` is what a `(t, n)` threshold compares with `t`.
 */
export function verifyEnvelope(envelope: DsseEnvelope, publicKeys: readonly KeyObject[], options: VerifyOptions = {}): EnvelopeVerification {
  const payload = decodeBase64(envelope.payload);
  if (payload === null) {
    return { payload: null, verifiedKeyids: [], verified: [], rejected: [{ index: -1, reason: 'payload is not canonical base64' }] };
  }
  return verifySignatures(envelope.payloadType, payload, envelope.signatures, publicKeys, options);
}

/** `verifyEnvelope` for a payload already decoded from the envelope's base64. */
export function verifySignatures(
  payloadType: string,
  payload: Buffer,
  signatures: DsseEnvelope['signatures'],
  publicKeys: readonly KeyObject[],
  options: VerifyOptions = {},
): EnvelopeVerification {
  const message = pae(payloadType, payload);
  const candidates = publicKeys.map((key) => ({ key, keyid: keyIdOf(key) }));
  const rejected: { index: number; reason: string }[] = [];
  const verified: { index: number; keyid: string }[] = [];
  const distinct = new Set<string>();
  signatures.forEach((signature, index) => {
    const sig = decodeBase64(signature.sig);
    if (sig === null) {
      rejected.push({ index, reason: 'signature is not canonical base64' });
      return;
    }
    const named = signature.keyid === '' ? [] : candidates.filter((c) => c.keyid === signature.keyid);
    const tried = named.length > 0 ? named : candidates;
    const good = tried.find((c) => verifyBytes(c.key, message, sig, options));
    if (good) {
      verified.push({ index, keyid: good.keyid });
      distinct.add(good.keyid);
    } else if (tried.length === 0) {
      rejected.push({ index, reason: 'no trusted key to try' });
    } else {
      rejected.push({ index, reason: 'signature does not verify' });
    }
  });
  return { payload, verifiedKeyids: [...distinct], verified, rejected };
}
