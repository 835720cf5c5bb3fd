import { CairnError, type CairnErrorOptions, type ErrorCategory } from '../model/errors.js';

/**
 * Codes of the audit log: raised as errors, and used as the `code` of the problems
 * `verify` reports (each tamper has its own). Verification failures are `denied`.
 */
const AUDIT_CODES = {
  /** An event to append is missing a field or has a malformed one. */
  AUDIT_EVENT_INVALID: 'input',
  /** A stored leaf's hash is not SHA-256(0x00 || its bytes): the leaf was edited. */
  AUDIT_LEAF_HASH_MISMATCH: 'denied',
  /** A stored leaf is not the JCS encoding of an audit event. */
  AUDIT_LEAF_MALFORMED: 'denied',
  /** A leaf's `seq` is not its index: leaves were reordered or moved. */
  AUDIT_LEAF_MISPLACED: 'denied',
  /** Stored leaf indexes skip: leaves were deleted. */
  AUDIT_SEQUENCE_GAP: 'denied',
  /** The log holds fewer leaves than its tree head or a signed checkpoint says: the tail was cut. */
  AUDIT_TRUNCATED: 'denied',
  /** A stored interior node is not the hash of the nodes below it. */
  AUDIT_NODE_MISMATCH: 'denied',
  /** The tree head's size, root or frontier is not what the stored leaves give. */
  AUDIT_ROOT_MISMATCH: 'denied',
  /** A stored checkpoint does not verify under the log key (forged, re-signed, other origin, malformed). */
  AUDIT_CHECKPOINT_SIGNATURE: 'denied',
  /** A signed checkpoint is not a view of the stored tree, or not consistent with the one before it. */
  AUDIT_CHECKPOINT_INCONSISTENT: 'denied',
  /** A cosignature by a configured witness does not verify. */
  AUDIT_COSIGNATURE_INVALID: 'denied',
  /** A cosignature line is by no configured witness, or fits no checkpoint awaiting cosignatures. */
  AUDIT_COSIGNATURE_UNKNOWN: 'denied',
  /** A checkpoint lacks the witness cosignatures the policy requires. */
  AUDIT_QUORUM_NOT_MET: 'denied',
  /** No published checkpoint covers the entry yet (make one, or gather cosignatures). */
  AUDIT_NOT_CHECKPOINTED: 'denied',
  /** An index or size beyond the log. */
  AUDIT_INDEX_OUT_OF_RANGE: 'input',
  /** The state's log key is not the key this log's checkpoints are signed with. */
  AUDIT_LOG_KEY_MISMATCH: 'denied',
  /** The log shows an older checkpoint than one this client saw before: a rollback. */
  AUDIT_ROLLBACK: 'denied',
  /** The log's checkpoint is not consistent with one this client saw before: a fork. */
  AUDIT_FORK: 'denied',
  /** A receipt's leaf is missing, differs from the leaf given, or names another index. */
  AUDIT_RECEIPT_LEAF_MISMATCH: 'denied',
  /** A receipt carries no leaf and none was given. */
  AUDIT_RECEIPT_NO_LEAF: 'input',
  /** A witness policy (tlog-policy subset) is malformed. */
  AUDIT_POLICY_MALFORMED: 'input',
  /** A witness request is not a tlog-witness add-checkpoint body, or its old size exceeds the checkpoint's. */
  AUDIT_WITNESS_BAD_REQUEST: 'input',
  /** The witness does not know the checkpoint's log. */
  AUDIT_WITNESS_UNKNOWN_LOG: 'denied',
  /** The request's old size is not the witness's latest, or the same size carries another root. */
  AUDIT_WITNESS_CONFLICT: 'denied',
  /** The consistency proof does not verify from the witness's latest checkpoint. */
  AUDIT_WITNESS_INCONSISTENT: 'denied',
  /** The witness's state is locked by another cosigning process. */
  AUDIT_WITNESS_BUSY: 'internal',
} as const satisfies Record<string, ErrorCategory>;

export type AuditErrorCode = keyof typeof AUDIT_CODES;

/** The audit log refused, or found evidence of tampering. */
export class AuditError extends CairnError {
  declare readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, AUDIT_CODES[code], message, options);
  }
}
