import { CairnError, type CairnErrorOptions } from '../model/errors.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceKind, EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { Deployment, DesiredState, Release } from '../model/release.js';
import type { RunRecord } from '../model/run.js';

/**
 * The ports every store adapter implements. Stages receive these interfaces, never an
 * adapter; one contract suite (`contract.ts`) runs against every adapter.
 */

export interface StoreCapabilities {
  readonly dialect: 'sqlite' | 'postgres';
  /** Whether several processes may write at once (a shared server database). */
  readonly sharedWriters: boolean;
}

/**
 * The audit log's tree head: the one row the sequencer locks. `frontier` holds the roots of
 * the perfect subtrees that make up leaves [0, size), largest first (one per set bit of size).
 */
export interface AuditTreeHead {
  readonly size: number;
  readonly rootHash: Buffer;
  readonly frontier: readonly Buffer[];
}

/**
 * One stored log entry. `subtrees` holds the roots of the perfect subtrees that appending this
 * leaf completed, level 1 upwards, 32 bytes each (empty for an even index): every interior
 * node of the tree is stored exactly once, with the leaf that closed it.
 */
export interface AuditLeafRow {
  readonly index: number;
  readonly leaf: Buffer;
  readonly leafHash: Buffer;
  readonly subtrees: Buffer;
}

/** The hashes of one stored entry, without its bytes: what proofs read. */
export type AuditHashRow = Omit<AuditLeafRow, 'leaf'>;

/** What one sequenced append writes: leaves numbered from the old head's size, and the new head. */
export interface AuditAppend {
  readonly leaves: readonly AuditLeafRow[];
  readonly head: AuditTreeHead;
}

/** A checkpoint the log signed, with the witness cosignatures gathered for it. */
export interface AuditCheckpointRow {
  readonly size: number;
  readonly rootHash: Buffer;
  /** The signed note as the log signed it (body, blank line, the log's signature line). */
  readonly note: string;
  /** Witness cosignature lines (without newlines), in the order they were added. */
  readonly cosignatures: readonly string[];
  readonly createdAt: string;
  /** When the checkpoint met the witness quorum and could be handed out; null until then. */
  readonly publishedAt: string | null;
}

export interface EvidenceQuery {
  readonly subject?: Digest;
  readonly kind?: EvidenceKind;
  readonly runId?: string;
}

/**
 * A named lease with a fencing epoch: every acquisition (by a new holder, or after expiry)
 * increases the epoch by one, so writes stamped with an older epoch can be refused.
 */
export interface Lease {
  readonly name: string;
  readonly holder: string;
  readonly epoch: number;
  /** ISO-8601 instant; the lease is free once `now >= expiresAt`. */
  readonly expiresAt: string;
}

/** One target operation, keyed by its id (the idempotency key); the first record stored wins. */
export interface OperationRecord {
  readonly id: string;
  readonly environment: string;
  readonly epoch: number;
  readonly body: string;
}

/** A release an environment is pinned to after a rollback: nothing else deploys there without an explicit override. */
export interface ReleasePin {
  readonly environment: string;
  readonly releaseDigest: Digest;
  /** The digest rolled back from: it cannot come back without an override. */
  readonly blockedDigest: Digest;
  readonly reason: string;
  readonly pinnedAt: string;
}

/** What happened to a release in an environment; `cairn rollback` reads this to find the previous good release. */
export type ReleaseEvent = 'promoted' | 'restored' | 'rolledBack' | 'held' | 'frozen';

/** One entry of an environment's release history, in the order they were recorded. */
export interface ReleaseHistoryEntry {
  /** Increases with every entry (across environments). */
  readonly seq: number;
  readonly environment: string;
  readonly releaseDigest: Digest;
  readonly artifactDigest: Digest;
  readonly event: ReleaseEvent;
  readonly at: string;
  /** A short human reason (e.g. the rollback's trigger). */
  readonly detail: string;
}

/** A rollout's persisted machine state, written only under the current lease. */
export interface RolloutRecord {
  readonly environment: string;
  readonly revision: number;
  readonly epoch: number;
  readonly body: string;
}

export interface Store {
  readonly capabilities: StoreCapabilities;

  /** Applies pending migrations; idempotent. Returns the schema version now in force. */
  migrate(): Promise<number>;
  close(): Promise<void>;

  putRun(run: RunRecord): Promise<void>;
  /** Replaces the run with the same id; throws STORE_NOT_FOUND if there is none. */
  updateRun(run: RunRecord): Promise<void>;
  getRun(id: string): Promise<RunRecord | null>;
  /** Newest first. */
  listRuns(limit: number): Promise<RunRecord[]>;

  /** Idempotent on (digest, kind, subject). */
  putEvidence(record: EvidenceRecord): Promise<void>;
  listEvidence(query: EvidenceQuery): Promise<EvidenceRecord[]>;

  /** Idempotent on id when the decision is identical; a different decision under the same id throws STORE_CONFLICT. */
  putDecision(decision: GateDecision): Promise<void>;
  getDecision(id: string): Promise<GateDecision | null>;

  /**
   * Conditional write of an environment's desired state: succeeds only if the stored revision
   * equals `expectedRevision` (0 when the environment has none yet); otherwise throws
   * STORE_CONFLICT and changes nothing. Returns the state written (revision + 1).
   */
  setDesired(environment: string, release: Release, releaseDigest: Digest, expectedRevision: number, now: string): Promise<DesiredState>;
  getDesired(environment: string): Promise<DesiredState | null>;
  listDesired(): Promise<DesiredState[]>;

  putDeployment(deployment: Deployment): Promise<void>;
  getDeployment(environment: string): Promise<Deployment | null>;

  /**
   * Takes the lease `name` for `holder` when it is free, expired, or already this holder's,
   * increasing its epoch; returns null (changing nothing) while another holder's lease is live.
   */
  acquireLease(name: string, holder: string, now: string, expiresAt: string): Promise<Lease | null>;
  /** Extends a live lease held at exactly this epoch; throws STORE_CONFLICT once it was lost or expired. */
  renewLease(lease: Lease, now: string, expiresAt: string): Promise<Lease>;
  /** Frees a lease held at exactly this epoch (the epoch stays, so the next holder's is higher); a lost lease is left alone. */
  releaseLease(lease: Lease): Promise<void>;
  getLease(name: string): Promise<Lease | null>;

  /** Stores an operation once per id and returns the stored record (the first one, on a repeat). */
  putOperation(record: OperationRecord): Promise<OperationRecord>;
  getOperation(id: string): Promise<OperationRecord | null>;

  /**
   * Conditional write of a rollout's state: succeeds only if the stored revision equals
   * `expectedRevision` (0: none yet) and `lease` is still live at its epoch; otherwise throws
   * STORE_CONFLICT and changes nothing.
   */
  putRollout(environment: string, body: string, expectedRevision: number, lease: Lease, now: string): Promise<RolloutRecord>;
  getRollout(environment: string): Promise<RolloutRecord | null>;

  /** Appends to an environment's release history; returns the entry with its sequence number. */
  appendReleaseHistory(entry: Omit<ReleaseHistoryEntry, 'seq'>): Promise<ReleaseHistoryEntry>;
  /** An environment's release history, newest first, at most `limit` entries. */
  listReleaseHistory(environment: string, limit: number): Promise<ReleaseHistoryEntry[]>;

  /** Pins an environment to a release (replacing any pin). */
  putPin(pin: ReleasePin): Promise<void>;
  getPin(environment: string): Promise<ReleasePin | null>;
  /** Removes the pin (the explicit override); returns whether there was one. */
  deletePin(environment: string): Promise<boolean>;

  /**
   * Appends a batch of audit leaves in one durable transaction, under the sequencer lock:
   * `build` receives the current tree head and returns the leaves (indexes head.size,
   * head.size + 1, …) and the new head (size head.size + leaves). Concurrent appenders, in
   * this process or another, take turns, so indexes never repeat or skip. Throws
   * STORE_CONFLICT, writing nothing, when the append does not extend the head it was given.
   */
  appendAuditLeaves(build: (head: AuditTreeHead) => AuditAppend): Promise<AuditAppend>;
  auditTreeHead(): Promise<AuditTreeHead>;
  /** Stored leaves with index >= fromIndex, ascending, at most `limit`. */
  listAuditLeaves(fromIndex: number, limit: number): Promise<AuditLeafRow[]>;
  /** The hash rows of the given leaf indexes (those that exist), ascending. */
  getAuditHashes(indexes: readonly number[]): Promise<AuditHashRow[]>;

  /**
   * Stores a signed checkpoint; idempotent for the same note at the same size. A different
   * note for a size already checkpointed throws STORE_CONFLICT and changes nothing.
   */
  putAuditCheckpoint(checkpoint: AuditCheckpointRow): Promise<AuditCheckpointRow>;
  /**
   * Rewrites a checkpoint's cosignatures and publication time atomically: `update` receives
   * the stored row and returns the new values. Throws STORE_NOT_FOUND when there is no checkpoint of that size.
   */
  updateAuditCheckpoint(
    size: number,
    update: (current: AuditCheckpointRow) => Pick<AuditCheckpointRow, 'cosignatures' | 'publishedAt'>,
  ): Promise<AuditCheckpointRow>;
  /** Every stored checkpoint, ascending by size. */
  listAuditCheckpoints(): Promise<AuditCheckpointRow[]>;
  /** The checkpoint of the largest size (only among published ones when `published`), or null. */
  latestAuditCheckpoint(published: boolean): Promise<AuditCheckpointRow | null>;
}

/** Content-addressed blobs (artifacts, envelopes, SBOMs, decisions) on disk. */
export interface BlobStore {
  /** Stores the bytes and returns their sha256 digest; idempotent. */
  put(bytes: Uint8Array): Promise<Digest>;
  /** Returns the bytes after checking they still hash to `digest`; throws STORE_BLOB_CORRUPT if not, STORE_NOT_FOUND if absent. */
  get(digest: Digest): Promise<Buffer>;
  has(digest: Digest): Promise<boolean>;
  /** Filesystem path of a stored blob (read-only use: processes that need a file). */
  pathOf(digest: Digest): string;
}

/**
 * Store failures. `STORE_CONFLICT` (a conditional write lost) and `STORE_NOT_FOUND` are
 * expected outcomes callers branch on; `STORE_BLOB_CORRUPT` and `STORE_IO` are not.
 */
export class StoreError extends CairnError {
  constructor(code: StoreErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, code === 'STORE_NOT_FOUND' ? 'input' : code === 'STORE_CONFLICT' ? 'denied' : 'internal', message, options);
  }
}

export type StoreErrorCode = 'STORE_CONFLICT' | 'STORE_NOT_FOUND' | 'STORE_BLOB_CORRUPT' | 'STORE_IO' | 'STORE_MIGRATION';
