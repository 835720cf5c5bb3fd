import type { KeyObject } from 'node:crypto';
import { verifyEnvelope } from '../crypto/dsse.js';
import { type DsseEnvelope, envelopeFromJSON, IN_TOTO_PAYLOAD_TYPE, statementFromJSON, type Statement } from '../model/attestation.js';
import { digestHex, type Digest } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { AttestError } from './errors.js';

export interface VerifiedAttestation {
  readonly statement: Statement;
  /** Key ids whose signatures verified. */
  readonly keyids: readonly string[];
  /** The subject that matched the artifact. */
  readonly subjectName: string | null;
  readonly artifactDigest: Digest;
}

const ENVELOPE_LIMITS = { maxBytes: 16 * 1024 * 1024, maxDepth: 32 };

function malformed(code: 'ATTEST_ENVELOPE_MALFORMED' | 'ATTEST_STATEMENT_MALFORMED', what: string, error: unknown): AttestError {
  if (error instanceof CairnError) return new AttestError(code, `${what}: ${error.message}`, { cause: error, problems: error.problems });
  throw error;
}

/**
 * Verifies a DSSE-enveloped in-toto statement against trusted public keys and an artifact
 * digest: the envelope parses strictly, the payload type is in-toto, at least one signature
 * by a given key verifies over the PAE, the statement parses, and a subject's sha256 equals
 * the artifact's. Throws AttestError naming the first check that failed.
 */
export function verifyAttestation(envelopeText: Uint8Array | string, artifactDigest: Digest, publicKeys: readonly KeyObject[]): VerifiedAttestation {
  let envelope: DsseEnvelope;
  try {
    envelope = envelopeFromJSON(parseJson(envelopeText, 'attestation', ENVELOPE_LIMITS));
  } catch (error) {
    throw malformed('ATTEST_ENVELOPE_MALFORMED', 'the attestation is not a DSSE envelope', error);
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new AttestError('ATTEST_PAYLOAD_TYPE', `payloadType is "${envelope.payloadType}", expected "${IN_TOTO_PAYLOAD_TYPE}"`);
  }
  const result = verifyEnvelope(envelope, publicKeys);
  if (result.payload === null) throw new AttestError('ATTEST_ENVELOPE_MALFORMED', 'the payload is not canonical base64');
  if (result.verifiedKeyids.length === 0) {
    const reasons = result.rejected.map((r) => `signature ${r.index}: ${r.reason}`).join('; ');
    throw new AttestError('ATTEST_SIGNATURE_INVALID', `no signature verifies with the given key${publicKeys.length === 1 ? '' : 's'} (${reasons})`);
  }
  let statement: Statement;
  try {
    statement = statementFromJSON(parseJson(result.payload, 'statement', ENVELOPE_LIMITS));
  } catch (error) {
    throw malformed('ATTEST_STATEMENT_MALFORMED', 'the signed payload is not an in-toto Statement v1', error);
  }
  const want = digestHex(artifactDigest);
  const subject = statement.subject.find((s) => s.digest.sha256 === want);
  if (!subject) {
    const have = statement.subject.map((s) => s.digest.sha256 ?? '(no sha256)').join(', ');
    throw new AttestError('ATTEST_SUBJECT_DIGEST_MISMATCH', `no subject has the artifact's sha256 ${want} (subjects: ${have})`);
  }
  return { statement, keyids: result.verifiedKeyids, subjectName: subject.name ?? null, artifactDigest };
}
