/**
 * Client memory: a client remembers the newest checkpoint it saw of each log and accepts a
 * later one only with a consistency proof from it, as the Go checksum database client does.
 * A log that rolls back or forks its history is caught the next time the client looks.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { encodeBase64 } from '../crypto/base64.js';
import { verifyConsistency } from '../crypto/merkle.js';
import { type Checkpoint, type NoteVerifier, openCheckpoint, parseNote } from '../crypto/note.js';
import { CairnError } from '../model/errors.js';
import { AuditError } from './errors.js';

/** Where a client keeps the last checkpoint it saw of each log. */
export interface CheckpointMemory {
  /** For messages: where the memory lives. */
  readonly where: string;
  recall(origin: string): Promise<string | null>;
  remember(origin: string, note: string): Promise<void>;
}

/**
 * The memory folder of the CLI: `$CAIRN_CHECKPOINTS`, else `$XDG_STATE_HOME/cairn/checkpoints`,
 * else `$HOME/.local/state/cairn/checkpoints`; null when the environment names none of them.
 */
export function checkpointMemoryDir(env: Readonly<Record<string, string | undefined>>): string | null {
  if (env.CAIRN_CHECKPOINTS) return path.resolve(env.CAIRN_CHECKPOINTS);
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, 'cairn', 'checkpoints');
  if (env.HOME) return path.join(env.HOME, '.local', 'state', 'cairn', 'checkpoints');
  return null;
}

/** A memory of one file per log origin in `dir` (created 0700 on first write; files are replaced atomically). */
export function fileCheckpointMemory(dir: string): CheckpointMemory {
  const fileOf = (origin: string) => path.join(dir, `${encodeURIComponent(origin)}.checkpoint`);
  return {
    where: dir,
    async recall(origin) {
      try {
        return await readFile(fileOf(origin), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async remember(origin, note) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const temporary = `${fileOf(origin)}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temporary, note, { mode: 0o600 });
      await rename(temporary, fileOf(origin));
    },
  };
}

/** How a checkpoint compared with the one remembered. */
export interface MemoryCheck {
  /** `first`: nothing was remembered; `same`: the remembered one; `advanced`: a proven extension of it. */
  readonly status: 'first' | 'same' | 'advanced' | 'older-consistent';
  readonly previous: Checkpoint | null;
  readonly current: Checkpoint;
}

/**
 * Checks the checkpoint `note` the log presents against the one remembered for its origin and
 * remembers it when it is newer. Throws AUDIT_ROLLBACK when the log presents as its latest a
 * checkpoint older than the remembered one (or an older one that is not a prefix of it), and
 * AUDIT_FORK when the checkpoint is not consistent with the remembered one; both errors show
 * the two checkpoints. `latest: false` is for a checkpoint the log presents as a past one
 * (a receipt's): older is then fine if the log proves the remembered one extends it.
 */
export async function checkAgainstMemory(
  memory: CheckpointMemory,
  logKey: NoteVerifier,
  note: string,
  consistencyProof: (m: number, n: number) => Promise<readonly Uint8Array[]>,
  options: { readonly latest?: boolean } = {},
): Promise<MemoryCheck> {
  const current = openCheckpoint(note, { log: logKey, origin: logKey.name }).checkpoint;
  const rememberedNote = await memory.recall(logKey.name);
  if (rememberedNote === null) {
    await memory.remember(logKey.name, note);
    return { status: 'first', previous: null, current };
  }
  let previous: Checkpoint;
  try {
    previous = openCheckpoint(rememberedNote, { log: logKey, origin: logKey.name }).checkpoint;
  } catch (cause) {
    throw new AuditError('AUDIT_LOG_KEY_MISMATCH', `the checkpoint remembered in ${memory.where} does not verify under ${logKey.name}'s key`, { cause });
  }
  const conflict = (code: 'AUDIT_ROLLBACK' | 'AUDIT_FORK', what: string, cause?: unknown) =>
    new AuditError(
      code,
      [
        `SECURITY: the log ${logKey.name} ${what}.`,
        'remembered (seen before):',
        indent(parseNote(rememberedNote).text),
        'presented now:',
        indent(parseNote(note).text),
        `Someone rewrote the log's history, or this client is shown a different log. The remembered checkpoint is in ${memory.where}.`,
      ].join('\n'),
      {
        problems: [
          { code, path: 'remembered', message: `size ${previous.size}, root ${encodeBase64(previous.rootHash)}` },
          { code, path: 'presented', message: `size ${current.size}, root ${encodeBase64(current.rootHash)}` },
        ],
        ...(cause === undefined ? {} : { cause }),
      },
    );
  if (current.size === previous.size) {
    if (current.rootHash.equals(previous.rootHash)) return { status: 'same', previous, current };
    throw conflict('AUDIT_FORK', `presents a checkpoint of the same size as one seen before with another root (a fork)`);
  }
  if (current.size < previous.size && options.latest !== false) {
    throw conflict('AUDIT_ROLLBACK', `presents as its latest a checkpoint older than one seen before (a rollback: entries were removed)`);
  }
  const [small, large] = current.size < previous.size ? [current, previous] : [previous, current];
  let consistent = small.size === 0;
  if (!consistent) {
    try {
      consistent = verifyConsistency(small.size, large.size, await consistencyProof(small.size, large.size), small.rootHash, large.rootHash);
    } catch (error) {
      if (!(error instanceof CairnError)) throw error;
      // The log cannot prove it: for an older checkpoint that is a rollback, for a newer one a fork.
      throw current.size < previous.size
        ? conflict('AUDIT_ROLLBACK', `presents a checkpoint older than one seen before and cannot prove the newer one extends it (a rollback)`, error)
        : conflict('AUDIT_FORK', 'cannot prove its checkpoint extends the one seen before (a fork)', error);
    }
  }
  if (!consistent) {
    throw conflict(
      current.size < previous.size ? 'AUDIT_ROLLBACK' : 'AUDIT_FORK',
      current.size < previous.size
        ? 'presents a checkpoint older than one seen before, and not a prefix of it (a rollback to another history)'
        : 'presents a checkpoint that is not an append-only extension of the one seen before (a fork)',
    );
  }
  if (current.size < previous.size) return { status: 'older-consistent', previous, current };
  await memory.remember(logKey.name, note);
  return { status: 'advanced', previous, current };
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
