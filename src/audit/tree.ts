/**
 * The audit log's tree, as pure functions over stored rows: how an event becomes a leaf, how
 * a batch of leaves extends the tree head, and where proofs find their hashes.
 */
import { HASH_SIZE, leafHash, nodeHash, rootFromFrontier, type SyncHashSource } from '../crypto/merkle.js';
import { type AuditEvent, readAuditEvent } from '../model/audit.js';
import type { Problem } from '../model/errors.js';
import type { AuditAppend, AuditHashRow, AuditLeafRow, AuditTreeHead } from '../store/port.js';

/**
 * The RFC 8785 (JCS) text of an event. For this fixed shape (well-formed strings, one
 * non-negative integer, an array of strings) JCS is JSON with the members in sorted order
 * and strings as JSON.stringify writes them, so it is written directly (a property test
 * holds it equal to `canonicalize`): verification re-encodes every leaf.
 */
function leafText(event: AuditEvent): string {
  const s = JSON.stringify;
  const subjects = event.subjects.map((d) => s(d)).join(',');
  return `{"action":${s(event.action)},"actor":{"identity":${s(event.actor.identity)},"purpose":${s(event.actor.purpose)}},"payloadDigest":${s(event.payloadDigest)},"seq":${event.seq},"subjects":[${subjects}],"time":${s(event.time)}}`;
}

/** The leaf bytes of an event: its RFC 8785 (JCS) encoding. */
export function encodeLeaf(event: AuditEvent): Buffer {
  return Buffer.from(leafText(event), 'utf8');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The event a leaf encodes, or every problem: not UTF-8 JSON, not an event, or not its canonical encoding. */
export function decodeLeaf(leaf: Uint8Array): { readonly event: AuditEvent | null; readonly problems: readonly Problem[] } {
  let text: string;
  let value: unknown;
  try {
    text = UTF8.decode(leaf);
    value = JSON.parse(text);
  } catch (error) {
    return {
      event: null,
      problems: [{ code: 'INVALID_FORMAT', path: '', message: `not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}` }],
    };
  }
  const read = readAuditEvent(value);
  if (read.event === null) return read;
  if (leafText(read.event) !== text) {
    return { event: null, problems: [{ code: 'INVALID_FORMAT', path: '', message: 'not the canonical (JCS) encoding of the event' }] };
  }
  return read;
}

/** An event waiting for its index: everything but `seq`. */
export type UnsequencedEvent = Omit<AuditEvent, 'seq'>;

/**
 * The rows that append `events` to the tree `head` (pure): each leaf gets the next index, its
 * hash, and the roots of the perfect subtrees it completes; the head gets the new frontier and root.
 */
export function extendTree(head: AuditTreeHead, events: readonly UnsequencedEvent[]): AuditAppend & { readonly events: readonly AuditEvent[] } {
  const frontier: Buffer[] = head.frontier.map((h) => Buffer.from(h));
  const leaves: AuditLeafRow[] = [];
  const sequenced: AuditEvent[] = [];
  let size = head.size;
  for (const unsequenced of events) {
    const event: AuditEvent = { ...unsequenced, seq: size };
    const leaf = encodeLeaf(event);
    const hash = leafHash(leaf);
    const closed: Buffer[] = [];
    let node: Buffer = hash;
    // Leaf `size` closes one perfect subtree per trailing one bit of its index.
    for (let i = size; i % 2 === 1; i = (i - 1) / 2) {
      node = nodeHash(frontier.pop() as Buffer, node);
      closed.push(node);
    }
    frontier.push(node);
    leaves.push({ index: size, leaf, leafHash: hash, subtrees: Buffer.concat(closed) });
    sequenced.push(event);
    size++;
  }
  return { leaves, events: sequenced, head: { size, rootHash: rootFromFrontier({ size, hashes: frontier }), frontier } };
}

/**
 * Where the root of the perfect subtree (level, index) is stored: with the leaf that completed
 * it, the last one it covers; level 0 is that leaf's own hash.
 */
export function subtreeHome(level: number, index: number): { readonly leaf: number; readonly offset: number } {
  return { leaf: (index + 1) * 2 ** level - 1, offset: (level - 1) * HASH_SIZE };
}

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The perfect aligned subtrees (level, index) whose roots make up MTH(D[start:end]) when
 * split as RFC 6962 splits it: exactly the pieces `subtreeRoot` asks a hash source for.
 */
export function perfectPieces(start: number, end: number): { level: number; index: number }[] {
  const pieces: { level: number; index: number }[] = [];
  const walk = (from: number, to: number): void => {
    const n = to - from;
    if (n <= 0) return;
    if ((n & (n - 1)) === 0 && from % n === 0) {
      pieces.push({ level: Math.log2(n), index: from / n });
      return;
    }
    const mid = from + splitPoint(n);
    walk(from, mid);
    walk(mid, to);
  };
  walk(start, end);
  return pieces;
}

/** The leaf rows that hold every piece of the given ranges. */
export function rowsFor(ranges: readonly (readonly [number, number])[]): number[] {
  const rows = new Set<number>();
  for (const [start, end] of ranges) for (const { level, index } of perfectPieces(start, end)) rows.add(subtreeHome(level, index).leaf);
  return [...rows].sort((a, b) => a - b);
}

/**
 * A synchronous hash source over fetched rows. A piece whose row is missing or too short
 * is reported through `missing` (the caller asked for the wrong rows, or the store lost them).
 */
export function sourceFromRows(rows: readonly AuditHashRow[], missing: (what: string) => Error): SyncHashSource {
  const byIndex = new Map(rows.map((r) => [r.index, r]));
  return {
    leafHash(index: number): Uint8Array {
      const row = byIndex.get(index);
      if (row === undefined) throw missing(`leaf ${index}`);
      return row.leafHash;
    },
    perfectSubtreeHash(level: number, index: number): Uint8Array {
      const home = subtreeHome(level, index);
      const row = byIndex.get(home.leaf);
      if (row === undefined || row.subtrees.length < home.offset + HASH_SIZE) throw missing(`subtree ${level}/${index} (stored with leaf ${home.leaf})`);
      return row.subtrees.subarray(home.offset, home.offset + HASH_SIZE);
    },
  };
}
