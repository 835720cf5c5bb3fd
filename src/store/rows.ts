import { canonicalize } from '../crypto/jcs.js';
import type { AuditEvent } from '../model/audit.js';
import { CairnError } from '../model/errors.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceKind, EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { DesiredState, Release } from '../model/release.js';
import { type AuditHead, StoreError } from './port.js';

/**
 * Rules both SQL adapters share: how records become row text, which audit events may extend a
 * head, and how driver failures become StoreErrors. Adapters only differ in the SQL they run.
 */

/** The prevHash of the first audit event. */
const GENESIS_HASH = '0'.repeat(64);

/** Record bodies are kept as JSON text, so they round-trip exactly (key order and all). */
export function encodeRecord(value: unknown): string {
  return JSON.stringify(value);
}

/** Rows are written only by `encodeRecord` from typed values, so parsing restores that type. */
export function decodeRecord<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Throws unless `limit` is a usable row count; SQLite would read a negative one as "no limit". */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
}

/** Throws unless `seq` is an integer a query can start from. */
export function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq)) throw new RangeError(`fromSeq must be an integer, got ${seq}`);
}

/** Throws unless `revision` can be a stored revision (0 meaning "none yet"). */
export function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`expectedRevision must be a non-negative integer, got ${revision}`);
}

/** Throws STORE_CONFLICT when a stored decision differs from the one being put under its id. */
export function checkSameDecision(stored: GateDecision, incoming: string): void {
  if (canonicalize(stored) !== incoming) {
    throw new StoreError('STORE_CONFLICT', `a different gate decision is already stored under id ${stored.id}`);
  }
}

/** Throws STORE_CONFLICT unless `event` is the next link after `head`. */
export function checkExtendsHead(head: AuditHead | null, event: AuditEvent): void {
  const seq = (head?.seq ?? 0) + 1;
  const prevHash = head?.hash ?? GENESIS_HASH;
  if (event.seq !== seq) throw new StoreError('STORE_CONFLICT', `audit event has seq ${event.seq}, the log expects ${seq}`);
  if (event.prevHash !== prevHash) throw new StoreError('STORE_CONFLICT', `audit event ${seq} does not chain onto the current head`);
}

/** Carries an error thrown by a caller's callback through the adapter's error translation untouched. */
export class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** Calls `build`, marking anything it throws as the caller's own error. */
export function callBuild(build: (head: AuditHead | null) => AuditEvent, head: AuditHead | null): AuditEvent {
  try {
    return build(head);
  } catch (error) {
    throw new CallbackFailure(error);
  }
}

/**
 * Runs a store operation, passing cairn errors and callback errors through and turning any
 * other failure (the driver, the connection, the disk) into STORE_IO.
 */
export async function translateErrors<T>(what: string, operation: () => T | Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof CallbackFailure) throw error.error;
    if (error instanceof CairnError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new StoreError('STORE_IO', `${what} failed: ${detail}`, { cause: error });
  }
}

/** An `evidence` row as both adapters select it. */
export interface EvidenceRow {
  digest: Digest;
  kind: EvidenceKind;
  subject: Digest;
  media_type: string;
  run_id: string | null;
  created_at: string;
}

/** A `desired` row as both adapters select it. */
export interface DesiredRow {
  environment: string;
  revision: number;
  release_digest: Digest;
  release: string;
  updated_at: string;
}

export function evidenceFromRow(row: EvidenceRow): EvidenceRecord {
  return {
    digest: row.digest,
    kind: row.kind,
    subject: row.subject,
    mediaType: row.media_type,
    runId: row.run_id,
    createdAt: row.created_at,
  };
}

export function desiredFromRow(row: DesiredRow): DesiredState {
  return {
    environment: row.environment,
    release: decodeRecord<Release>(row.release),
    releaseDigest: row.release_digest,
    revision: row.revision,
    updatedAt: row.updated_at,
  };
}
