/**
 * The audit log: a Merkle transparency log (RFC 6962 hashing) over JCS-encoded events, with
 * C2SP checkpoints signed by the log key, witness cosignatures, and tlog-proof receipts.
 * Appends are group-committed: appends that arrive together share one durable transaction.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { decodeBase64Strict, encodeBase64 } from '../crypto/base64.js';
import { consistencyProofRanges, inclusionProofRanges, leafHash, type LeafRange, subtreeRoot, verifyConsistency } from '../crypto/merkle.js';
import {
  type Checkpoint,
  formatCheckpoint,
  formatProof,
  formatSignerKey,
  formatVerifierKey,
  type NoteSigner,
  type NoteVerifier,
  noteSignerFromSeed,
  noteVerifierFromPublicKey,
  openCheckpoint,
  parseCheckpoint,
  parseNote,
  signNote,
  verifyCosignature,
  verifyProof,
} from '../crypto/note.js';
import { NoteError } from '../crypto/errors.js';
import { type AuditEvent, type AuditEventInput, auditInputProblems } from '../model/audit.js';
import type { AuditCheckpointRow, AuditTreeHead, Store } from '../store/port.js';
import { AuditError } from './errors.js';
import { NO_WITNESSES, quorumMet, type WitnessPolicy, witnessKeyLabel } from './policy.js';
import { extendTree, rowsFor, sourceFromRows, type UnsequencedEvent } from './tree.js';
import { type AuditVerification, verifyLog } from './verify.js';

/** The host part of every cairn log's origin; the path is 8 hex digits of SHA-256(public key). */
export const LOG_ORIGIN_PREFIX = 'cairn.local/';

/** A fresh log key: the signer key text (`PRIVATE+KEY+…`), its verifier key text, and the origin (= key name). */
export function generateLogKey(): { readonly signerKey: string; readonly verifierKey: string; readonly origin: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d as string, 'base64url');
  const publicKey = Buffer.from(jwk.x as string, 'base64url');
  const origin = `${LOG_ORIGIN_PREFIX}${createHash('sha256').update(publicKey).digest('hex').slice(0, 8)}`;
  const signer = noteSignerFromSeed(origin, seed);
  return { signerKey: formatSignerKey(origin, seed), verifierKey: formatVerifierKey(signer), origin };
}

export interface AuditLogOptions {
  /** The log key; its name is the log's origin. */
  readonly signer: NoteSigner;
  /** Which witness cosignatures a checkpoint needs before it is published (default: none). */
  readonly policy?: WitnessPolicy;
  readonly clock?: () => Date;
  /**
   * Group commit: appends made while a transaction commits share the next one (at most
   * `maxEntries`, default 512). An append to an idle log waits `delayMs` (default 0: only for
   * the appends made in the same turn of the event loop) for company before committing.
   */
  readonly batch?: { readonly delayMs?: number; readonly maxEntries?: number };
}

/** An entry the log acknowledged: it is committed (durably) at `index`. */
export interface AppendedEntry {
  readonly index: number;
  readonly leafHash: Buffer;
  readonly event: AuditEvent;
}

/** A checkpoint as the log holds it. */
export interface CheckpointView {
  readonly size: number;
  readonly rootHash: Buffer;
  /** The signed note with every cosignature gathered so far. */
  readonly note: string;
  /** Witnesses of the policy whose cosignatures it carries, as `name+keyid`. */
  readonly cosigners: readonly string[];
  /** Whether it met the witness quorum and may be handed out. */
  readonly published: boolean;
}

/** An offline-verifiable receipt (c2sp.org/tlog-proof@v1; its `extra` line carries the leaf bytes). */
export interface Receipt {
  readonly index: number;
  readonly leaf: Buffer;
  readonly checkpointSize: number;
  readonly text: string;
}

interface Pending {
  readonly event: UnsequencedEvent;
  readonly resolve: (entry: AppendedEntry) => void;
  readonly reject: (error: unknown) => void;
}

/** The signed note with its cosignature lines appended. */
export function noteWithCosignatures(row: Pick<AuditCheckpointRow, 'note' | 'cosignatures'>): string {
  return row.note + row.cosignatures.map((line) => `${line}\n`).join('');
}

/** The audit log over a store. One instance per process: it is the group committer. */
export class AuditLog {
  readonly origin: string;
  /** The log's verifier key (type 0x01). */
  readonly verifier: NoteVerifier;
  /** The verifier key text `name+keyid+base64`, what third parties pin. */
  readonly verifierKey: string;
  readonly policy: WitnessPolicy;
  readonly #store: Store;
  readonly #signer: NoteSigner;
  readonly #clock: () => Date;
  readonly #delayMs: number;
  readonly #maxEntries: number;
  #queue: Pending[] = [];
  #timer: { cancel(): void } | null = null;
  #draining: Promise<void> | null = null;
  #checkpointing: Promise<CheckpointView> | null = null;
  readonly #intervals = new Set<NodeJS.Timeout>();

  constructor(store: Store, options: AuditLogOptions) {
    this.#store = store;
    this.#signer = options.signer;
    this.origin = options.signer.name;
    this.verifier = noteVerifierFromPublicKey(this.origin, options.signer.publicKey);
    this.verifierKey = formatVerifierKey(this.verifier);
    this.policy = options.policy ?? NO_WITNESSES;
    this.#clock = options.clock ?? (() => new Date());
    this.#delayMs = options.batch?.delayMs ?? 0;
    this.#maxEntries = options.batch?.maxEntries ?? 512;
    if (!(this.#maxEntries >= 1) || !(this.#delayMs >= 0)) throw new RangeError('batch.maxEntries must be ≥ 1 and batch.delayMs ≥ 0');
  }

  // -------------------------------------------------------------------------------------
  // Appending

  /**
   * Appends one event; resolves once it is committed, with its index and leaf hash. The time
   * recorded is `time` (default: the log's clock now).
   */
  append(input: AuditEventInput, time: Date = this.#clock()): Promise<AppendedEntry> {
    const problems = auditInputProblems(input);
    if (problems.length > 0) {
      return Promise.reject(new AuditError('AUDIT_EVENT_INVALID', `the audit event is invalid: ${problems[0]?.path}: ${problems[0]?.message}`, { problems }));
    }
    const event: UnsequencedEvent = {
      time: time.toISOString(),
      actor: { identity: input.actor.identity, purpose: input.actor.purpose },
      action: input.action,
      subjects: [...input.subjects],
      payloadDigest: input.payloadDigest,
    };
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once every append made so far has settled. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#draining) {
      if (!this.#draining) this.#startDrain();
      await this.#draining;
    }
  }

  #schedule(): void {
    if (this.#draining) return;
    if (this.#queue.length >= this.#maxEntries) this.#startDrain();
    else if (!this.#timer) {
      const start = () => this.#startDrain();
      if (this.#delayMs === 0) {
        const handle = setImmediate(start);
        this.#timer = { cancel: () => clearImmediate(handle) };
      } else {
        const handle = setTimeout(start, this.#delayMs);
        this.#timer = { cancel: () => clearTimeout(handle) };
      }
    }
  }

  #startDrain(): void {
    this.#timer?.cancel();
    this.#timer = null;
    if (this.#draining) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /** Commits queued appends, one transaction per batch, until the queue is empty. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxEntries);
      try {
        let events: readonly AuditEvent[] = [];
        const append = await this.#store.appendAuditLeaves((head) => {
          const extended = extendTree(
            head,
            batch.map((p) => p.event),
          );
          events = extended.events;
          return extended;
        });
        // Resolved only now: the transaction has committed.
        batch.forEach((pending, i) => {
          const leaf = append.leaves[i];
          const event = events[i];
          if (leaf && event) pending.resolve({ index: leaf.index, leafHash: leaf.leafHash, event });
          else pending.reject(new Error('the audit batch lost an entry'));
        });
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Reading

  head(): Promise<AuditTreeHead> {
    return this.#store.auditTreeHead();
  }

  /** The stored bytes of the leaf at `index`. */
  async leaf(index: number): Promise<Buffer> {
    const [row] = await this.#store.listAuditLeaves(index, 1);
    if (row?.index !== index) {
      const head = await this.head();
      if (index >= head.size) throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `entry ${index} is beyond the log (size ${head.size})`);
      throw new AuditError('AUDIT_SEQUENCE_GAP', `entry ${index} is missing from the store; run cairn audit verify`);
    }
    return row.leaf;
  }

  /** `PATH(index, D[size])` from the stored nodes: one read of O(log n) rows. */
  async inclusionProof(index: number, size: number): Promise<Buffer[]> {
    await this.#checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `entry ${index} is not in a tree of size ${size}`);
    return this.#hashRanges(inclusionProofRanges(index, size));
  }

  /** `PROOF(m, D[n])` from the stored nodes (0 < m ≤ n ≤ the tree's size). */
  async consistencyProof(m: number, n: number): Promise<Buffer[]> {
    await this.#checkSize(n);
    if (!Number.isSafeInteger(m) || m < 1 || m > n) throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `no consistency proof from size ${m} to size ${n}`);
    return this.#hashRanges(consistencyProofRanges(m, n));
  }

  async #checkSize(size: number): Promise<void> {
    const head = await this.head();
    if (!Number.isSafeInteger(size) || size < 1 || size > head.size) {
      throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `tree size ${size} is not between 1 and the log's size ${head.size}`);
    }
  }

  async #hashRanges(ranges: readonly LeafRange[]): Promise<Buffer[]> {
    const rows = await this.#store.getAuditHashes(rowsFor(ranges));
    const source = sourceFromRows(rows, (what) => new AuditError('AUDIT_SEQUENCE_GAP', `the store lacks ${what}; run cairn audit verify`));
    return ranges.map(([start, end]) => subtreeRoot(start, end, source));
  }

  // -------------------------------------------------------------------------------------
  // Checkpoints

  /**
   * Signs a checkpoint of the current tree if it grew since the last one (else returns the
   * last one). It is published at once unless the policy requires cosignatures. The log
   * never signs a tree that is not an extension of the last tree it signed.
   */
  checkpoint(): Promise<CheckpointView> {
    // One at a time in this process; other processes race harmlessly (same size, same note).
    const run = (this.#checkpointing ?? Promise.resolve()).then(
      () => this.#makeCheckpoint(),
      () => this.#makeCheckpoint(),
    );
    this.#checkpointing = run;
    return run;
  }

  async #makeCheckpoint(): Promise<CheckpointView> {
    const head = await this.head();
    const latest = await this.#store.latestAuditCheckpoint(false);
    if (latest) {
      const previous = this.#openOwn(latest);
      if (previous.size === head.size && previous.rootHash.equals(head.rootHash)) return this.#view(latest);
      if (previous.size === head.size) {
        throw new AuditError(
          'AUDIT_CHECKPOINT_INCONSISTENT',
          `the tree head of size ${head.size} has another root than the checkpoint the log signed at that size; run cairn audit verify`,
        );
      }
      if (previous.size > head.size) {
        throw new AuditError(
          'AUDIT_TRUNCATED',
          `the log signed a checkpoint of size ${previous.size} but its tree head is now at size ${head.size}; run cairn audit verify`,
        );
      }
      if (previous.size > 0) {
        const proof = await this.consistencyProof(previous.size, head.size);
        if (!verifyConsistency(previous.size, head.size, proof, previous.rootHash, head.rootHash)) {
          throw new AuditError(
            'AUDIT_CHECKPOINT_INCONSISTENT',
            `the stored tree of size ${head.size} does not extend the checkpoint of size ${previous.size} the log signed; refusing to sign it (run cairn audit verify)`,
          );
        }
      }
    }
    const text = formatCheckpoint({ origin: this.origin, size: head.size, rootHash: head.rootHash });
    const now = this.#clock().toISOString();
    const row = await this.#store.putAuditCheckpoint({
      size: head.size,
      rootHash: head.rootHash,
      note: signNote(text, [this.#signer]),
      cosignatures: [],
      createdAt: now,
      publishedAt: this.policy.quorum === null ? now : null,
    });
    return this.#view(row);
  }

  /** Opens a stored checkpoint this log signed; throws when its origin or signature is not this log's. */
  #openOwn(row: Pick<AuditCheckpointRow, 'note' | 'size'>): Checkpoint {
    let origin: string;
    try {
      origin = parseCheckpoint(parseNote(row.note).text).origin;
    } catch (cause) {
      throw new AuditError('AUDIT_CHECKPOINT_SIGNATURE', `the stored checkpoint of size ${row.size} is malformed; run cairn audit verify`, { cause });
    }
    if (origin !== this.origin) {
      throw new AuditError(
        'AUDIT_LOG_KEY_MISMATCH',
        `this log's checkpoints are signed for ${JSON.stringify(origin)}, but the log key is ${JSON.stringify(this.origin)}: the state's keys/log.key is not this log's key`,
      );
    }
    try {
      return openCheckpoint(row.note, { log: this.verifier, origin: this.origin }).checkpoint;
    } catch (cause) {
      throw new AuditError(
        'AUDIT_CHECKPOINT_SIGNATURE',
        `the stored checkpoint of size ${row.size} does not verify under the log key; run cairn audit verify`,
        {
          cause,
        },
      );
    }
  }

  #view(row: AuditCheckpointRow): CheckpointView {
    return {
      size: row.size,
      rootHash: row.rootHash,
      note: noteWithCosignatures(row),
      cosigners: this.#cosigners(row),
      published: row.publishedAt !== null,
    };
  }

  /** Labels of the policy witnesses whose cosignature lines on `row` verify. */
  #cosigners(row: Pick<AuditCheckpointRow, 'note' | 'cosignatures'>): string[] {
    const body = parseNote(row.note).text;
    const labels = new Set<string>();
    for (const line of row.cosignatures) {
      for (const key of this.policy.witnesses.values()) {
        try {
          verifyCosignature(body, line, key);
          labels.add(witnessKeyLabel(key));
        } catch {
          // Not this witness's line, or not valid: it does not count.
        }
      }
    }
    return [...labels];
  }

  /** The newest published checkpoint, or null. */
  async latestCheckpoint(): Promise<CheckpointView | null> {
    const row = await this.#store.latestAuditCheckpoint(true);
    if (!row) return null;
    this.#openOwn(row);
    return this.#view(row);
  }

  /** The newest checkpoint the log signed, published or still awaiting cosignatures. */
  async newestCheckpoint(): Promise<CheckpointView | null> {
    const row = await this.#store.latestAuditCheckpoint(false);
    if (!row) return null;
    this.#openOwn(row);
    return this.#view(row);
  }

  /**
   * The body of a C2SP tlog-witness add-checkpoint request for the newest checkpoint: `old N`,
   * the consistency proof from size N, a blank line, the signed checkpoint.
   */
  async witnessRequest(oldSize: number): Promise<string> {
    const newest = await this.newestCheckpoint();
    if (!newest) throw new AuditError('AUDIT_NOT_CHECKPOINTED', 'the log has no checkpoint yet; run cairn audit checkpoint');
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newest.size) {
      throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `the old size must be between 0 and the checkpoint's size ${newest.size}, got ${oldSize}`);
    }
    const proof = oldSize === 0 || oldSize === newest.size ? [] : await this.consistencyProof(oldSize, newest.size);
    return `old ${oldSize}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${newest.note}`;
  }

  /**
   * Attaches witness cosignature lines (one per line of `text`) to the checkpoints they
   * cosign; a checkpoint is published once its cosignatures meet the policy's quorum.
   */
  async addCosignatures(text: string): Promise<CheckpointView[]> {
    const lines = text
      .split('\n')
      .map((l) => l.replace(/\r$/, ''))
      .filter((l) => l.trim() !== '');
    if (lines.length === 0) throw new AuditError('AUDIT_COSIGNATURE_UNKNOWN', 'no cosignature lines given');
    const rows = (await this.#store.listAuditCheckpoints()).reverse().slice(0, 64);
    const bySize = new Map<number, string[]>();
    for (const line of lines) {
      const signer = signatureLineKey(line);
      const witness = [...this.policy.witnesses.values()].find((key) => key.name === signer?.name && key.keyId === signer.keyId);
      if (!witness) {
        const who = signer ? `the cosignature of ${signer.name}` : 'a line that is not a note signature';
        throw new AuditError('AUDIT_COSIGNATURE_UNKNOWN', `${who} is not by a witness of this log's policy`);
      }
      const target = rows.find((row) => {
        try {
          verifyCosignature(parseNote(row.note).text, line, witness);
          return true;
        } catch {
          return false;
        }
      });
      if (!target) {
        throw new AuditError('AUDIT_COSIGNATURE_INVALID', `the cosignature of ${witness.name} does not verify for any of the log's latest checkpoints`);
      }
      bySize.set(target.size, [...(bySize.get(target.size) ?? []), line]);
    }
    const updated: CheckpointView[] = [];
    for (const [size, added] of bySize) {
      const row = await this.#store.updateAuditCheckpoint(size, (current) => {
        const cosignatures = [...new Set([...current.cosignatures, ...added])];
        const published =
          current.publishedAt ?? (quorumMet(this.policy, new Set(this.#cosigners({ note: current.note, cosignatures }))) ? this.#clock().toISOString() : null);
        return { cosignatures, publishedAt: published };
      });
      updated.push(this.#view(row));
    }
    return updated;
  }

  /**
   * Signs checkpoints every `intervalMs` while the log grows; returns a function that stops.
   * Failures go to `onError` (the timer keeps running) and never keep the process alive.
   */
  startCheckpointing(intervalMs: number, onError: (error: unknown) => void = () => {}): () => void {
    const timer = setInterval(() => {
      this.#checkpointIfGrown().catch(onError);
    }, intervalMs);
    timer.unref();
    this.#intervals.add(timer);
    return () => {
      clearInterval(timer);
      this.#intervals.delete(timer);
    };
  }

  async #checkpointIfGrown(): Promise<void> {
    const [head, latest] = await Promise.all([this.head(), this.#store.latestAuditCheckpoint(false)]);
    if (latest === null || head.size > latest.size) await this.checkpoint();
  }

  // -------------------------------------------------------------------------------------
  // Receipts

  /**
   * The receipt for the entry at `index`, against the newest published checkpoint: index,
   * inclusion proof and checkpoint (with cosignatures), the leaf bytes in `extra`. The log
   * checks it verifies before handing it out.
   */
  async receipt(index: number): Promise<Receipt> {
    const head = await this.head();
    if (!Number.isSafeInteger(index) || index < 0 || index >= head.size) {
      throw new AuditError('AUDIT_INDEX_OUT_OF_RANGE', `entry ${index} is beyond the log (size ${head.size})`);
    }
    const checkpoint = await this.latestCheckpoint();
    if (!checkpoint || checkpoint.size <= index) {
      const pending = await this.newestCheckpoint();
      const hint =
        pending && !pending.published && pending.size > index
          ? `checkpoint ${pending.size} covers it but awaits witness cosignatures`
          : 'run cairn audit checkpoint';
      throw new AuditError('AUDIT_NOT_CHECKPOINTED', `no published checkpoint covers entry ${index} yet: ${hint}`);
    }
    const [leaf, proof] = await Promise.all([this.leaf(index), this.inclusionProof(index, checkpoint.size)]);
    const text = formatProof({ extra: leaf, index, proof, checkpoint: checkpoint.note });
    try {
      verifyProof(text, leafHash(leaf), { log: this.verifier, origin: this.origin });
    } catch (cause) {
      if (!(cause instanceof NoteError)) throw cause;
      throw new AuditError(
        'AUDIT_CHECKPOINT_INCONSISTENT',
        `the stored tree does not prove entry ${index} in checkpoint ${checkpoint.size} (${cause.code}); run cairn audit verify`,
        { cause },
      );
    }
    return { index, leaf, checkpointSize: checkpoint.size, text };
  }

  /**
   * Makes a checkpoint, then a receipt for each entry; `receipt` is null when the checkpoint
   * awaits witness cosignatures (ask again with `cairn audit proof` once it is published).
   */
  async receiptsFor<T extends { readonly index: number }>(
    entries: readonly T[],
  ): Promise<{ readonly checkpoint: CheckpointView; readonly receipts: (T & { readonly receipt: string | null })[] }> {
    await this.flush();
    const checkpoint = await this.checkpoint();
    const receipts: (T & { readonly receipt: string | null })[] = [];
    for (const entry of entries) receipts.push({ ...entry, receipt: checkpoint.published ? (await this.receipt(entry.index)).text : null });
    return { checkpoint, receipts };
  }

  // -------------------------------------------------------------------------------------
  // Verification

  /** Recomputes the whole log from its leaves and checks every stored checkpoint; see {@link verifyLog}. */
  async verify(options: { readonly pageSize?: number } = {}): Promise<AuditVerification> {
    await this.flush();
    return verifyLog(this.#store, {
      verifier: this.verifier,
      policy: this.policy,
      consistencyProof: (m, n) => this.consistencyProof(m, n),
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
  }

  /** Commits what is queued and stops periodic checkpoints. The store stays open. */
  async close(): Promise<void> {
    for (const timer of this.#intervals) clearInterval(timer);
    this.#intervals.clear();
    await this.flush();
  }
}

/** The key name and id a signature line (`— name base64(keyid || sig)`) claims, or null if it is not one. */
export function signatureLineKey(line: string): { readonly name: string; readonly keyId: number } | null {
  const match = /^\u2014 (\S+) (\S+)$/.exec(line);
  const bytes = match ? decodeBase64Strict(match[2] as string) : null;
  if (!match || bytes === null || bytes.length < 5) return null;
  return { name: match[1] as string, keyId: bytes.readUInt32BE(0) };
}
