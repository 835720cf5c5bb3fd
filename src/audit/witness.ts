/**
 * A witness (C2SP tlog-witness semantics, tlog-cosignature v1.0.1 signatures): it remembers
 * the latest checkpoint it cosigned for each log it knows, and cosigns a new one only with a
 * consistency proof from that one. Its state is a folder of its own, never the log's.
 */
import { open, readFile, rename, rm, mkdir, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { decodeBase64Strict, encodeBase64 } from '../crypto/base64.js';
import { emptyRoot, HASH_SIZE, verifyConsistency } from '../crypto/merkle.js';
import {
  type Checkpoint,
  cosign,
  formatVerifierKey,
  generateNoteKey,
  MAX_PROOF_LINES,
  type NoteSigner,
  type NoteVerifier,
  openCheckpoint,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE_V1,
  SIGNATURE_TYPE_ED25519,
} from '../crypto/note.js';
import { AuditError } from './errors.js';

/** The body of a tlog-witness add-checkpoint request. */
export interface WitnessRequest {
  readonly oldSize: number;
  readonly proof: readonly Buffer[];
  /** The signed checkpoint note. */
  readonly checkpoint: string;
}

const MAX_REQUEST = 1024 * 1024;

/** Parses `old N\n`, up to 63 base64 proof lines, a blank line, a signed checkpoint. */
export function parseWitnessRequest(text: string): WitnessRequest {
  const bad = (message: string) => new AuditError('AUDIT_WITNESS_BAD_REQUEST', `not a tlog-witness add-checkpoint request: ${message}`);
  if (text.length > MAX_REQUEST) throw bad('over 1 MiB');
  const lines = text.split('\n');
  const oldMatch = /^old (0|[1-9][0-9]*)$/.exec(lines[0] ?? '');
  const oldSize = oldMatch ? Number(oldMatch[1]) : Number.NaN;
  if (!Number.isSafeInteger(oldSize)) throw bad('the first line must be "old <size>"');
  const proof: Buffer[] = [];
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    if (proof.length === MAX_PROOF_LINES - 1) throw bad(`more than ${MAX_PROOF_LINES - 1} proof lines`);
    const hash = decodeBase64Strict(lines[i] as string);
    if (hash === null || hash.length !== HASH_SIZE || (lines[i] as string).includes('-') || (lines[i] as string).includes('_')) {
      throw bad(`proof line ${i} is not standard base64 of a 32-byte hash`);
    }
    proof.push(hash);
  }
  if (i >= lines.length) throw bad('no blank line before the checkpoint');
  return { oldSize, proof, checkpoint: lines.slice(i + 1).join('\n') };
}

export function formatWitnessRequest(request: WitnessRequest): string {
  return `old ${request.oldSize}\n${request.proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${request.checkpoint}`;
}

/**
 * Decides a request (pure): the checkpoint must be signed by a known key of its origin, and
 * consistent with `latest`, the checkpoint last cosigned for that origin (null: none). Returns
 * the checkpoint to cosign and remember. The codes follow tlog-witness's statuses: unknown log
 * (404) AUDIT_WITNESS_UNKNOWN_LOG, bad signature (403) the NOTE_* code, old > new (400)
 * AUDIT_WITNESS_BAD_REQUEST, old ≠ latest or same size with another root (409)
 * AUDIT_WITNESS_CONFLICT, a bad proof (422) AUDIT_WITNESS_INCONSISTENT.
 */
export function decideWitnessRequest(request: WitnessRequest, logs: readonly NoteVerifier[], latest: Checkpoint | null): Checkpoint {
  let origin: string;
  try {
    origin = parseCheckpoint(parseNote(request.checkpoint).text).origin;
  } catch (cause) {
    throw new AuditError('AUDIT_WITNESS_BAD_REQUEST', `the request's checkpoint is malformed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
  const keys = logs.filter((k) => k.name === origin);
  if (keys.length === 0) throw new AuditError('AUDIT_WITNESS_UNKNOWN_LOG', `this witness does not know the log ${JSON.stringify(origin)}`);
  const checkpoint = openCheckpoint(request.checkpoint, { log: keys, origin }).checkpoint;
  if (request.oldSize > checkpoint.size) {
    throw new AuditError('AUDIT_WITNESS_BAD_REQUEST', `old size ${request.oldSize} is larger than the checkpoint's size ${checkpoint.size}`);
  }
  const latestSize = latest?.size ?? 0;
  if (request.oldSize !== latestSize) {
    throw new AuditError(
      'AUDIT_WITNESS_CONFLICT',
      `the request is from size ${request.oldSize}, but the witness's latest checkpoint of ${origin} has size ${latestSize}`,
    );
  }
  if (request.oldSize === 0) {
    if (request.proof.length > 0) throw new AuditError('AUDIT_WITNESS_INCONSISTENT', 'a request from size 0 must carry an empty proof');
    if (checkpoint.size === 0 && !checkpoint.rootHash.equals(emptyRoot())) {
      throw new AuditError('AUDIT_WITNESS_INCONSISTENT', 'a checkpoint of size 0 must carry the empty tree root');
    }
    if (latest && latest.size === 0 && !latest.rootHash.equals(checkpoint.rootHash)) {
      throw new AuditError('AUDIT_WITNESS_CONFLICT', 'the same size as the latest checkpoint, with another root');
    }
    return checkpoint;
  }
  const previous = latest as Checkpoint;
  if (request.oldSize === checkpoint.size) {
    if (!previous.rootHash.equals(checkpoint.rootHash)) {
      throw new AuditError('AUDIT_WITNESS_CONFLICT', `the checkpoint of size ${checkpoint.size} has another root than the one this witness cosigned`);
    }
    if (request.proof.length > 0) throw new AuditError('AUDIT_WITNESS_INCONSISTENT', 'a request for the same size must carry an empty proof');
    return checkpoint;
  }
  if (!verifyConsistency(previous.size, checkpoint.size, request.proof, previous.rootHash, checkpoint.rootHash)) {
    throw new AuditError(
      'AUDIT_WITNESS_INCONSISTENT',
      `the consistency proof does not lead from the cosigned checkpoint of size ${previous.size} to the checkpoint of size ${checkpoint.size}`,
    );
  }
  return checkpoint;
}

const FILES = { key: 'witness.key', vkey: 'witness.vkey', logs: 'logs', checkpoints: 'checkpoints', lock: 'lock' } as const;

/** A witness whose key and state live in a folder (created by {@link FileWitness.init}). */
export class FileWitness {
  readonly dir: string;
  readonly name: string;
  /** The cosigner verifier key (type 0x04) logs and verifiers configure. */
  readonly verifierKey: string;
  readonly logs: readonly NoteVerifier[];
  readonly #signer: NoteSigner;

  private constructor(dir: string, signer: NoteSigner, logs: readonly NoteVerifier[]) {
    this.dir = dir;
    this.name = signer.name;
    this.#signer = signer;
    this.verifierKey = formatVerifierKey({ name: signer.name, publicKey: signer.publicKey, type: SIGNATURE_TYPE_COSIGNATURE_V1 });
    this.logs = logs;
  }

  /**
   * Creates the witness folder (0700) with a new key `name` (kept if one exists) and adds
   * the log verifier keys it will witness.
   */
  static async init(dir: string, name: string, logKeys: readonly string[]): Promise<{ witness: FileWitness; created: boolean }> {
    const logs = logKeys.map((k) => parseLogKey(k));
    await mkdir(path.join(dir, FILES.checkpoints), { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    let created = false;
    const keyFile = path.join(dir, FILES.key);
    const existing = await readFile(keyFile, 'utf8').catch(() => null);
    if (existing === null) {
      const { signerKey } = generateNoteKey(name);
      await writeFile(keyFile, `${signerKey}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    }
    const witness = await FileWitness.open(dir);
    await writeFile(path.join(dir, FILES.vkey), `${witness.verifierKey}\n`, { mode: 0o644 });
    const known = new Set(witness.logs.map((l) => formatVerifierKey(l)));
    const added = logs.map((l) => formatVerifierKey(l)).filter((k) => !known.has(k));
    if (added.length > 0 || existing === null) {
      await writeFile(path.join(dir, FILES.logs), [...known, ...added].map((k) => `${k}\n`).join(''), { mode: 0o644 });
    }
    return { witness: await FileWitness.open(dir), created };
  }

  static async open(dir: string): Promise<FileWitness> {
    const keyText = await readFile(path.join(dir, FILES.key), 'utf8');
    const signer = parseSignerKey(keyText.trim());
    const logsText = await readFile(path.join(dir, FILES.logs), 'utf8').catch(() => '');
    const logs = logsText
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map(parseLogKey);
    return new FileWitness(dir, signer, logs);
  }

  /** The checkpoint note last cosigned for `origin`, or null. */
  async latest(origin: string): Promise<string | null> {
    return readFile(this.#checkpointFile(origin), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
  }

  /**
   * Handles an add-checkpoint request: decides it against the latest checkpoint cosigned for
   * its log, persists the new one (durably, before answering), and returns the cosignature
   * line. Check and update happen under the folder's lock, so concurrent requests cannot
   * roll the witness back.
   */
  async cosign(requestText: string, now: Date): Promise<{ readonly checkpoint: Checkpoint; readonly cosignature: string }> {
    const request = parseWitnessRequest(requestText);
    return this.#locked(async () => {
      const origin = parseCheckpoint(parseNote(request.checkpoint).text).origin;
      const latestNote = await this.latest(origin);
      const keys = this.logs.filter((k) => k.name === origin);
      const latest = latestNote === null || keys.length === 0 ? null : openCheckpoint(latestNote, { log: keys, origin }).checkpoint;
      const checkpoint = decideWitnessRequest(request, this.logs, latest);
      const body = parseNote(request.checkpoint).text;
      const logOnly = `${body}\n${parseNote(request.checkpoint)
        .signatures.filter((s) => keys.some((k) => k.name === s.name && k.keyId === s.keyId))
        .map((s) => `${s.line}\n`)
        .join('')}`;
      await writeDurably(this.#checkpointFile(origin), logOnly);
      return { checkpoint, cosignature: cosign(body, this.#signer, Math.floor(now.getTime() / 1000)) };
    });
  }

  #checkpointFile(origin: string): string {
    return path.join(this.dir, FILES.checkpoints, encodeURIComponent(origin));
  }

  async #locked<T>(work: () => Promise<T>): Promise<T> {
    const lock = path.join(this.dir, FILES.lock);
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // A lock left by a process that no longer runs is stale.
        const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
        if (Number.isSafeInteger(holder) && holder > 0 && !isAlive(holder)) {
          await rm(lock, { force: true });
          continue;
        }
        if (attempt >= 250) throw new AuditError('AUDIT_WITNESS_BUSY', `the witness state in ${this.dir} is locked by process ${holder || '?'}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    try {
      return await work();
    } finally {
      await rm(lock, { force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLogKey(text: string): NoteVerifier {
  const key = parseVerifierKey(text.trim());
  if (key.type !== SIGNATURE_TYPE_ED25519) throw new AuditError('AUDIT_LOG_KEY_MISMATCH', `${key.name}: a log key is an Ed25519 (type 0x01) verifier key`);
  return key;
}

/** Writes `text` to `file` so that it is on disk before this returns: temp file, fsync, rename, fsync the folder. */
async function writeDurably(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const folder = await open(path.dirname(file), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
