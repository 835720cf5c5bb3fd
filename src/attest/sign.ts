import type { KeyObject } from 'node:crypto';
import { signEnvelope } from '../crypto/dsse.js';
import type { SignOptions } from '../crypto/keys.js';
import { IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope, type Statement } from '../model/attestation.js';

/**
 * Serialises a statement (compact JSON) and signs it into a DSSE envelope with
 * `application/vnd.in-toto+json`, one signature per key (Ed25519 or ECDSA P-256; ECDSA in
 * DER unless `ecdsaSignatureFormat: 'p1363'`).
 */
export function signStatement(statement: Statement, keys: readonly KeyObject[], options: SignOptions = {}): DsseEnvelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), keys, options);
}

/** The envelope's file form: compact JSON and a final newline. */
export function envelopeBytes(envelope: DsseEnvelope): Buffer {
  return Buffer.from(`${JSON.stringify(envelope)}\n`, 'utf8');
}
