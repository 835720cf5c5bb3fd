/**
 * Offline verification of an audit receipt (c2sp.org/tlog-proof@v1): needs only the receipt,
 * the log's verifier key and, optionally, a witness policy. No store, no network.
 */
import { leafHash } from '../crypto/merkle.js';
import { type Checkpoint, type NoteVerifier, parseProof, parseVerifierKey, SIGNATURE_TYPE_ED25519, verifyProof } from '../crypto/note.js';
import type { AuditEvent } from '../model/audit.js';
import { AuditError } from './errors.js';
import { describeQuorum, quorumMet, type WitnessPolicy, witnessKeyLabel } from './policy.js';
import { decodeLeaf } from './tree.js';

export interface ReceiptCheck {
  /** The log's verifier key, as text (`name+keyid+base64`) or parsed. Its name must be the log's origin. */
  readonly logKey: string | NoteVerifier;
  /** The leaf bytes; when absent, the receipt's `extra` line must carry them. */
  readonly leaf?: Uint8Array;
  /** Witnesses whose cosignatures to check and the quorum they must meet (default: none required). */
  readonly policy?: WitnessPolicy;
}

export interface VerifiedReceipt {
  readonly index: number;
  readonly event: AuditEvent;
  readonly checkpoint: Checkpoint;
  /** Witnesses of the policy whose cosignatures verified, as `name+keyid`. */
  readonly cosigners: readonly string[];
}

/**
 * Verifies a receipt: the log signed its checkpoint, the inclusion proof leads from the
 * leaf's hash at `index` to the checkpoint's root, the leaf is the audit event of that
 * index, and the policy's quorum of witnesses cosigned. Throws on any failure.
 */
export function verifyReceipt(receipt: Uint8Array | string, check: ReceiptCheck): VerifiedReceipt {
  const logKey = typeof check.logKey === 'string' ? parseVerifierKey(check.logKey.trim()) : check.logKey;
  if (logKey.type !== SIGNATURE_TYPE_ED25519) throw new AuditError('AUDIT_LOG_KEY_MISMATCH', `${logKey.name} is a cosigner key, not a log key`);
  const parsed = parseProof(receipt);
  const leaf = check.leaf === undefined ? parsed.extra : Buffer.from(check.leaf);
  if (leaf === undefined) throw new AuditError('AUDIT_RECEIPT_NO_LEAF', 'the receipt carries no leaf (no extra line): give the leaf bytes');
  if (check.leaf !== undefined && parsed.extra !== undefined && !parsed.extra.equals(leaf)) {
    throw new AuditError('AUDIT_RECEIPT_LEAF_MISMATCH', 'the leaf given is not the leaf the receipt carries');
  }
  const witnesses = [...(check.policy?.witnesses.values() ?? [])];
  const verified = verifyProof(receipt, leafHash(leaf), { log: logKey, witnesses, origin: logKey.name });
  const decoded = decodeLeaf(leaf);
  if (decoded.event === null) {
    throw new AuditError('AUDIT_LEAF_MALFORMED', `the receipt's leaf is not an audit event: ${decoded.problems[0]?.message ?? 'invalid'}`, {
      problems: decoded.problems,
    });
  }
  if (decoded.event.seq !== verified.index) {
    throw new AuditError('AUDIT_RECEIPT_LEAF_MISMATCH', `the leaf is entry ${decoded.event.seq}, the receipt proves index ${verified.index}`);
  }
  const cosigners = verified.cosignatures.map(witnessKeyLabel);
  if (check.policy && !quorumMet(check.policy, new Set(cosigners))) {
    throw new AuditError(
      'AUDIT_QUORUM_NOT_MET',
      `the checkpoint carries cosignatures by ${cosigners.length === 0 ? 'no witness of the policy' : cosigners.join(', ')}; the policy requires ${describeQuorum(check.policy)}`,
    );
  }
  return { index: verified.index, event: decoded.event, checkpoint: verified.checkpoint, cosigners };
}
