import { sign as cryptoSign, verify as cryptoVerify, createPublicKey, type KeyObject } from 'node:crypto';
import type { DsseEnvelope } from '../model/attestation.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { keyIdOf } from './keys.js';

/**
 * DSSE v1 pre-authentication encoding:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const head = Buffer.from(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `, 'utf8');
  return Buffer.concat([head, payload]);
}

/** Signs `payload` as a DSSE envelope with one signature per key. */
export function signEnvelope(payloadType: string, payload: Uint8Array, keys: readonly KeyObject[]): DsseEnvelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: encodeBase64(payload),
    signatures: keys.map((key) => ({
      keyid: keyIdOf(createPublicKey(key)),
      sig: encodeBase64(cryptoSign(null, message, key)),
    })),
  };
}

export interface EnvelopeVerification {
  /** Decoded payload bytes, when the payload is canonical base64. */
  readonly payload: Buffer | null;
  /** Key ids of the given keys that produced a valid signature (each counted once). */
  readonly verifiedKeyids: readonly string[];
  /** Why each signature did not count, for diagnostics. */
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

/**
 * Checks every signature of an envelope against the given public keys. A signature counts
 * for a key only if its `keyid` is empty or equals that key's id, its base64 is canonical,
 * and it verifies over the PAE; a key is counted once however many signatures it made.
 */
export function verifyEnvelope(envelope: DsseEnvelope, publicKeys: readonly KeyObject[]): EnvelopeVerification {
  const payload = decodeBase64Strict(envelope.payload);
  const rejected: { index: number; reason: string }[] = [];
  const verified = new Set<string>();
  if (payload === null) {
    return { payload: null, verifiedKeyids: [], rejected: [{ index: -1, reason: 'payload is not canonical base64' }] };
  }
  const message = pae(envelope.payloadType, payload);
  const candidates = publicKeys.map((key) => ({ key, keyid: keyIdOf(key) }));
  envelope.signatures.forEach((signature, index) => {
    const sig = decodeBase64Strict(signature.sig);
    if (sig === null) {
      rejected.push({ index, reason: 'signature is not canonical base64' });
      return;
    }
    const matching = candidates.filter((c) => signature.keyid === '' || signature.keyid === c.keyid);
    if (matching.length === 0) {
      rejected.push({ index, reason: `no trusted key has keyid ${signature.keyid}` });
      return;
    }
    const good = matching.find((c) => cryptoVerify(null, message, c.key, sig));
    if (good) verified.add(good.keyid);
    else rejected.push({ index, reason: 'signature does not verify' });
  });
  return { payload, verifiedKeyids: [...verified], rejected };
}
