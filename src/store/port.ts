import { CairnError, type CairnErrorOptions } from '../model/errors.js';
import type { AuditEvent } from '../model/audit.js';
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

/** The last audit event, as the sequencer needs it to chain the next one. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export interface EvidenceQuery {
  readonly subject?: Digest;
  readonly kind?: EvidenceKind;
  readonly runId?: string;
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
   * Appends one audit event atomically: `build` receives the current head (null when the log is
   * empty) and returns the event to store, whose `seq` must be head.seq + 1 (or 1). Concurrent
   * appenders are serialised, so the chain never forks.
   */
  appendAudit(build: (head: AuditHead | null) => AuditEvent): Promise<AuditEvent>;
  /** Events with seq >= fromSeq, ascending, at most `limit`. */
  listAudit(fromSeq: number, limit: number): Promise<AuditEvent[]>;
  auditHead(): Promise<AuditHead | null>;
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
