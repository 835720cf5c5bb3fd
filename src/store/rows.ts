import { canonicalize } from '../crypto/jcs.js';
import { HASH_SIZE } from '../crypto/merkle.js';
import { CairnError } from '../model/errors.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceKind, EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { DesiredState, Release } from '../model/release.js';
import {
  type AuditAppend,
  type AuditCheckpointRow,
  type AuditTreeHead,
  type Lease,
  type OperationRecord,
  type ReleaseEvent,
  type ReleaseHistoryEntry,
  type ReleasePin,
  type RolloutRecord,
  StoreError,
} from './port.js';

/**
 * Rules both SQL adapters share: how records become row text, which audit appends extend the
 * tree head, and how driver failures become StoreErrors. Adapters only differ in the SQL they run.
 */

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

/** Throws unless `index` is a non-negative integer (a leaf index or a tree size). */
export function checkIndex(index: number, what: string): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`${what} must be a non-negative integer, got ${index}`);
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

/** Throws STORE_CONFLICT unless `append` numbers its leaves from `head.size` on and moves the head by exactly that many. */
export function checkAppendExtends(head: AuditTreeHead, append: AuditAppend): void {
  for (const [i, leaf] of append.leaves.entries()) {
    if (leaf.index !== head.size + i)
      throw new StoreError('STORE_CONFLICT', `audit leaf ${i} of the batch has index ${leaf.index}, the log expects ${head.size + i}`);
    if (leaf.leafHash.length !== HASH_SIZE || leaf.subtrees.length % HASH_SIZE !== 0) {
      throw new StoreError('STORE_CONFLICT', `audit leaf ${leaf.index} carries hashes of the wrong length`);
    }
  }
  if (append.head.size !== head.size + append.leaves.length) {
    throw new StoreError('STORE_CONFLICT', `the new audit head has size ${append.head.size}, expected ${head.size + append.leaves.length}`);
  }
  if (append.head.rootHash.length !== HASH_SIZE || append.head.frontier.some((h) => h.length !== HASH_SIZE)) {
    throw new StoreError('STORE_CONFLICT', 'the new audit head carries hashes of the wrong length');
  }
}

/** Throws unless `row` can be stored as a checkpoint. */
export function checkCheckpointRow(row: AuditCheckpointRow): void {
  if (!Number.isSafeInteger(row.size) || row.size < 0) throw new RangeError(`checkpoint size must be a non-negative integer, got ${row.size}`);
  if (row.rootHash.length !== HASH_SIZE) throw new RangeError('checkpoint root hash must be 32 bytes');
  for (const line of row.cosignatures) if (line.includes('\n') || line === '') throw new RangeError('a cosignature is one non-empty line');
}

/** The frontier as stored: its hashes concatenated. */
export function encodeFrontier(frontier: readonly Buffer[]): Buffer {
  return Buffer.concat(frontier);
}

export function decodeFrontier(bytes: Buffer): Buffer[] {
  const hashes: Buffer[] = [];
  for (let at = 0; at + HASH_SIZE <= bytes.length; at += HASH_SIZE) hashes.push(Buffer.from(bytes.subarray(at, at + HASH_SIZE)));
  return hashes;
}

/** Cosignature lines as stored: one text column, newline-separated. */
export function encodeCosignatures(lines: readonly string[]): string {
  return lines.join('\n');
}

export function decodeCosignatures(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

/** Carries an error thrown by a caller's callback through the adapter's error translation untouched. */
export class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** Calls a caller's callback, marking anything it throws as the caller's own error. */
export function callBack<A, R>(callback: (argument: A) => R, argument: A): R {
  try {
    return callback(argument);
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

/** A lease row; bigint columns arrive from PostgreSQL as strings. */
export interface LeaseRow {
  name: string;
  holder: string;
  epoch: number | string;
  expires_at: string;
}

export function leaseFromRow(row: LeaseRow): Lease {
  return { name: row.name, holder: row.holder, epoch: Number(row.epoch), expiresAt: row.expires_at };
}

export interface OperationRow {
  id: string;
  environment: string;
  epoch: number | string;
  body: string;
}

export function operationFromRow(row: OperationRow): OperationRecord {
  return { id: row.id, environment: row.environment, epoch: Number(row.epoch), body: row.body };
}

export interface RolloutRow {
  environment: string;
  revision: number | string;
  epoch: number | string;
  body: string;
}

export function rolloutFromRow(row: RolloutRow): RolloutRecord {
  return { environment: row.environment, revision: Number(row.revision), epoch: Number(row.epoch), body: row.body };
}

export interface PinRow {
  environment: string;
  release_digest: string;
  blocked_digest: string;
  reason: string;
  pinned_at: string;
}

export function pinFromRow(row: PinRow): ReleasePin {
  return {
    environment: row.environment,
    releaseDigest: row.release_digest as Digest,
    blockedDigest: row.blocked_digest as Digest,
    reason: row.reason,
    pinnedAt: row.pinned_at,
  };
}

export interface ReleaseHistoryRow {
  seq: number | string;
  environment: string;
  release_digest: string;
  artifact_digest: string;
  event: string;
  at: string;
  detail: string;
}

const RELEASE_EVENTS: readonly ReleaseEvent[] = ['promoted', 'restored', 'rolledBack', 'held', 'frozen'];

export function releaseHistoryFromRow(row: ReleaseHistoryRow): ReleaseHistoryEntry {
  const event = RELEASE_EVENTS.find((e) => e === row.event);
  if (!event) throw new StoreError('STORE_IO', `release history entry ${row.seq} has an unknown event "${row.event}"`);
  return {
    seq: Number(row.seq),
    environment: row.environment,
    releaseDigest: row.release_digest as Digest,
    artifactDigest: row.artifact_digest as Digest,
    event,
    at: row.at,
    detail: row.detail,
  };
}
