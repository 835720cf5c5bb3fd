/**
 * Full verification of a stored audit log: every leaf against its hash, its place and its
 * stored subtree roots; the tree head against the recomputed tree; every stored checkpoint
 * against the log key, the recomputed root at its size, and the checkpoint before it.
 */
import { encodeBase64 } from '../crypto/base64.js';
import { hash } from 'node:crypto';
import { emptyRoot, HASH_SIZE, nodeHash, rootFromFrontier, verifyConsistency } from '../crypto/merkle.js';
import { type Checkpoint, type NoteVerifier, openCheckpoint, parseCheckpoint, parseNote, verifyCosignature } from '../crypto/note.js';
import { CairnError, type Problem } from '../model/errors.js';
import type { AuditCheckpointRow, Store } from '../store/port.js';
import type { AuditErrorCode } from './errors.js';
import type { WitnessPolicy } from './policy.js';
import { decodeLeaf } from './tree.js';

/** What `cairn audit verify` reports. `problems` is capped; `problemCount` is the full count. */
export interface AuditVerification {
  readonly ok: boolean;
  readonly origin: string;
  /** Leaves read, in an unbroken run from index 0. */
  readonly size: number;
  /** Root of those leaves (base64). */
  readonly rootHash: string;
  /** Stored checkpoints checked. */
  readonly checkpoints: number;
  /** Size of the newest stored checkpoint that verified, or null. */
  readonly latestCheckpoint: number | null;
  readonly problems: readonly Problem[];
  readonly problemCount: number;
}

export interface VerifyLogOptions {
  readonly verifier: NoteVerifier;
  readonly policy: WitnessPolicy;
  /** The log's own consistency proofs (from its stored nodes), checked between consecutive checkpoints. */
  readonly consistencyProof: (m: number, n: number) => Promise<Buffer[]>;
  /** Leaves read per query (default 4096). */
  readonly pageSize?: number;
  /** Most problems listed (default 200). */
  readonly maxProblems?: number;
}

interface CheckedCheckpoint {
  readonly row: AuditCheckpointRow;
  /** The signed body, when the note verified. */
  readonly checkpoint: Checkpoint | null;
}

/**
 * Recomputes the log in one pass over its leaves (memory: O(log n) plus one page) and checks
 * each stored checkpoint. Every tamper shows as a problem with its own code: an edited leaf
 * AUDIT_LEAF_HASH_MISMATCH, deleted rows AUDIT_SEQUENCE_GAP, reordered rows
 * AUDIT_LEAF_MISPLACED, a cut tail AUDIT_TRUNCATED, a forged or re-keyed checkpoint
 * AUDIT_CHECKPOINT_SIGNATURE, a checkpoint of another tree AUDIT_CHECKPOINT_INCONSISTENT.
 */
export async function verifyLog(store: Store, options: VerifyLogOptions): Promise<AuditVerification> {
  const pageSize = options.pageSize ?? 4096;
  const maxProblems = options.maxProblems ?? 200;
  const origin = options.verifier.name;
  const problems: Problem[] = [];
  let problemCount = 0;
  const report = (code: AuditErrorCode, path: string, message: string) => {
    problemCount++;
    if (problems.length < maxProblems) problems.push({ code, path, message });
  };

  // Checkpoints, then the head, then leaves up to the head: appends that commit meanwhile
  // (a live log) only add leaves past the head and checkpoints this pass did not read.
  const checked = (await store.listAuditCheckpoints()).map((row) => checkCheckpoint(row, options, report));
  const head = await store.auditTreeHead();
  // Signed roots to compare with the recomputed tree, by the size they sign.
  const signedAt = new Map<number, CheckedCheckpoint[]>();
  for (const c of checked) if (c.checkpoint) signedAt.set(c.checkpoint.size, [...(signedAt.get(c.checkpoint.size) ?? []), c]);
  const compare = (size: number, root: Buffer) => {
    for (const c of signedAt.get(size) ?? []) {
      if (c.checkpoint && !c.checkpoint.rootHash.equals(root)) {
        report(
          'AUDIT_CHECKPOINT_INCONSISTENT',
          `checkpoints[${size}]`,
          `the checkpoint signs root ${encodeBase64(c.checkpoint.rootHash)} for ${size} leaves, the stored leaves give ${encodeBase64(root)}`,
        );
      }
    }
  };
  compare(0, emptyRoot());

  // One pass: `frontier` holds the perfect-subtree roots of the leaves read so far.
  const frontier: Buffer[] = [];
  let size = 0;
  let broken = false;
  let more = true;
  for (let from = 0; more && !broken; ) {
    const page = await store.listAuditLeaves(from, pageSize);
    more = page.length === pageSize;
    for (const row of page) {
      if (row.index >= head.size) {
        more = false;
        break;
      }
      const where = `leaves[${row.index}]`;
      if (row.index !== size) {
        report('AUDIT_SEQUENCE_GAP', where, `leaves ${size}…${row.index - 1} are missing: the next stored leaf after ${size - 1} is ${row.index}`);
        broken = true;
        break;
      }
      const computed = hashLeaf(row.leaf);
      if (!computed.equals(row.leafHash)) {
        report('AUDIT_LEAF_HASH_MISMATCH', where, `the stored leaf hashes to ${encodeBase64(computed)}, its stored hash is ${hashText(row.leafHash)}`);
      }
      const decoded = decodeLeaf(row.leaf);
      if (decoded.event === null) {
        report(
          'AUDIT_LEAF_MALFORMED',
          where,
          `not an audit event: ${decoded.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`,
        );
      } else if (decoded.event.seq !== row.index) {
        report('AUDIT_LEAF_MISPLACED', where, `the entry at index ${row.index} says it is entry ${decoded.event.seq}`);
      }
      // The tree is built from the stored hashes (checked above against the bytes), so each
      // tamper surfaces once, where it was made.
      let node = row.leafHash.length === HASH_SIZE ? row.leafHash : computed;
      const closed: Buffer[] = [];
      for (let i = size; i % 2 === 1; i = (i - 1) / 2) {
        node = nodeHash(frontier.pop() as Buffer, node);
        closed.push(node);
      }
      frontier.push(node);
      if (closed.length === 0 ? row.subtrees.length !== 0 : !Buffer.concat(closed).equals(row.subtrees)) {
        report('AUDIT_NODE_MISMATCH', where, `the subtree roots stored with this leaf are not the hashes of the leaves below them`);
      }
      size++;
      if (signedAt.has(size)) compare(size, rootFromFrontier({ size, hashes: frontier }));
    }
    from = size;
  }

  const root = rootFromFrontier({ size, hashes: frontier });
  if (!broken) {
    if (head.size > size) {
      report('AUDIT_TRUNCATED', 'head', `the tree head says ${head.size} leaves, the store holds ${size}: leaves ${size}…${head.size - 1} are gone`);
    } else if (await leavesBeyondHead(store)) {
      report('AUDIT_ROOT_MISMATCH', 'head', `the store holds leaves beyond the tree head's size ${head.size}`);
    } else if (!head.rootHash.equals(root) || !sameHashes(head.frontier, frontier)) {
      report(
        'AUDIT_ROOT_MISMATCH',
        'head',
        `the tree head's root ${hashText(head.rootHash)} or frontier is not what the stored leaves give (${encodeBase64(root)})`,
      );
    }
  }

  const valid = checked.filter((c) => c.checkpoint !== null);
  for (const c of valid) {
    const signed = c.checkpoint as Checkpoint;
    if (signed.size > size) {
      report(
        broken ? 'AUDIT_SEQUENCE_GAP' : 'AUDIT_TRUNCATED',
        `checkpoints[${signed.size}]`,
        `the checkpoint signs ${signed.size} leaves, the store holds ${size}${broken ? ' before a gap' : ''}`,
      );
    }
  }
  // Consistency between consecutive checkpoints, with the proofs the log serves to witnesses.
  for (let i = 1; i < valid.length; i++) {
    const a = valid[i - 1]?.checkpoint as Checkpoint;
    const b = valid[i]?.checkpoint as Checkpoint;
    if (a.size === 0 || b.size > size || b.size > head.size) continue;
    let proof: Buffer[];
    try {
      proof = a.size === b.size ? [] : await options.consistencyProof(a.size, b.size);
    } catch (error) {
      if (!(error instanceof CairnError)) throw error;
      report('AUDIT_CHECKPOINT_INCONSISTENT', `checkpoints[${a.size}→${b.size}]`, `the log cannot prove consistency: ${error.message}`);
      continue;
    }
    if (!verifyConsistency(a.size, b.size, proof, a.rootHash, b.rootHash)) {
      report(
        'AUDIT_CHECKPOINT_INCONSISTENT',
        `checkpoints[${a.size}→${b.size}]`,
        `checkpoint ${b.size} is not an append-only extension of checkpoint ${a.size}`,
      );
    }
  }

  const latest = valid.filter((c) => (c.checkpoint as Checkpoint).size <= size).at(-1)?.checkpoint?.size ?? null;
  return { ok: problemCount === 0, origin, size, rootHash: encodeBase64(root), checkpoints: checked.length, latestCheckpoint: latest, problems, problemCount };
}

/**
 * Whether leaves exist past the tree head while no append is committing: appends write leaves
 * and head in one transaction, so rows past a head that did not move were put there by hand.
 */
async function leavesBeyondHead(store: Store): Promise<boolean> {
  const before = await store.auditTreeHead();
  const beyond = await store.listAuditLeaves(before.size, 1);
  const after = await store.auditTreeHead();
  return beyond.length > 0 && after.size === before.size;
}

/** Opens one stored checkpoint: the log's signature and origin, its columns, known witnesses' cosignatures. */
function checkCheckpoint(
  row: AuditCheckpointRow,
  options: VerifyLogOptions,
  report: (code: AuditErrorCode, path: string, message: string) => void,
): CheckedCheckpoint {
  const where = `checkpoints[${row.size}]`;
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(row.note, { log: options.verifier, origin: options.verifier.name }).checkpoint;
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    let claimed = '';
    try {
      claimed = ` (it names ${JSON.stringify(parseCheckpoint(parseNote(row.note).text).origin)})`;
    } catch {
      // Malformed beyond naming an origin: the error says so.
    }
    report(
      'AUDIT_CHECKPOINT_SIGNATURE',
      where,
      `the stored checkpoint does not verify under the log key ${options.verifier.name}${claimed}: ${error.code}: ${error.message}`,
    );
    return { row, checkpoint: null };
  }
  if (checkpoint.size !== row.size || !checkpoint.rootHash.equals(row.rootHash)) {
    report(
      'AUDIT_CHECKPOINT_INCONSISTENT',
      where,
      `the row says size ${row.size} and root ${hashText(row.rootHash)}, its signed note says size ${checkpoint.size} and root ${encodeBase64(checkpoint.rootHash)}`,
    );
  }
  const body = parseNote(row.note).text;
  for (const [i, line] of row.cosignatures.entries()) {
    for (const key of options.policy.witnesses.values()) {
      if (!line.startsWith(`\u2014 ${key.name} `)) continue;
      try {
        verifyCosignature(body, line, key);
      } catch (error) {
        if (!(error instanceof CairnError)) throw error;
        if (error.code === 'NOTE_UNKNOWN_KEY') continue;
        report('AUDIT_COSIGNATURE_INVALID', `${where}.cosignatures[${i}]`, `the cosignature of ${key.name} does not verify: ${error.message}`);
      }
    }
  }
  return { row, checkpoint };
}

let scratch = Buffer.alloc(1024);

/** `SHA-256(0x00 || leaf)` like `leafHash`, through one reused buffer: verification hashes every leaf. */
function hashLeaf(leaf: Buffer): Buffer {
  if (leaf.length + 1 > scratch.length) scratch = Buffer.alloc(2 * (leaf.length + 1));
  scratch[0] = 0x00;
  scratch.set(leaf, 1);
  return hash('sha256', scratch.subarray(0, leaf.length + 1), 'buffer');
}

function sameHashes(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((h, i) => h.equals(b[i] as Buffer));
}

function hashText(hash: Buffer): string {
  return hash.length === HASH_SIZE ? encodeBase64(hash) : `(${hash.length} bytes)`;
}
