import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { canonicalize } from '../crypto/jcs.js';
import { envelopeFromJSON, type DsseEnvelope } from '../model/attestation.js';
import { type Digest, digestHex, isDigest } from '../model/digest.js';
import { parseJson } from '../model/json.js';
import { PolicyError } from './errors.js';
import { gateInputFromJSON } from './evidence.js';
import type { PolicyDecision } from './gate.js';
import { checkStorable, type PolicyRegistry, type RegistryHead, requirePayloadDigest, sameDecision, type StoredDecision } from './registry.js';

const DECISION_ID_RE = /^dec_[0-9a-f]{24}$/;
const MAX_FILE_BYTES = 16 * 1024 * 1024;
const LOCK_STALE_MS = 30_000;

function io(what: string, cause: unknown): PolicyError {
  return new PolicyError(
    'POLICY_REGISTRY_IO',
    `${what}: ${(cause as NodeJS.ErrnoException).code ?? (cause instanceof Error ? cause.message : String(cause))}`,
    { cause },
  );
}

async function readMaybe(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw io(`reading ${file}`, cause);
  }
}

/** Writes a file whole or not at all: a temporary file in the same folder, then a rename. */
async function writeAtomic(file: string, bytes: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const handle = await open(tmp, 'wx', 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw io(`writing ${file}`, cause);
  }
}

function envelopeFrom(bytes: Buffer, file: string): DsseEnvelope {
  try {
    return envelopeFromJSON(parseJson(bytes, file, { maxBytes: MAX_FILE_BYTES, maxDepth: 16 }));
  } catch (cause) {
    throw new PolicyError('POLICY_HISTORY_INVALID', `${file} is not a DSSE envelope`, { cause });
  }
}

/**
 * The policy registry as files under `<state>/policy/`: `bundles/<hex>.json` (signed bundles
 * by digest), `records/<seq>.json` (the signed rollout history), `active.json` (the head,
 * replaced atomically under a lock file) and `decisions/<id>.json` (each decision with its
 * input, written once).
 */
export class FilePolicyRegistry implements PolicyRegistry {
  readonly capabilities = { durable: true };
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(path.resolve(stateDir), 'policy');
  }

  private async ensure(sub: string): Promise<string> {
    const d = path.join(this.dir, sub);
    try {
      await mkdir(d, { recursive: true });
    } catch (cause) {
      throw io(`creating ${d}`, cause);
    }
    return d;
  }

  async putBundle(envelope: DsseEnvelope): Promise<Digest> {
    const digest = requirePayloadDigest(envelope, 'policy bundle');
    const file = path.join(await this.ensure('bundles'), `${digestHex(digest)}.json`);
    if ((await readMaybe(file)) === null) await writeAtomic(file, `${JSON.stringify(envelope, null, 2)}\n`);
    return digest;
  }

  async getBundle(digest: Digest): Promise<DsseEnvelope | null> {
    if (!isDigest(digest)) return null;
    const file = path.join(this.dir, 'bundles', `${digestHex(digest)}.json`);
    const bytes = await readMaybe(file);
    return bytes === null ? null : envelopeFrom(bytes, file);
  }

  async active(): Promise<RegistryHead | null> {
    const file = path.join(this.dir, 'active.json');
    const bytes = await readMaybe(file);
    if (bytes === null) return null;
    const raw = parseJson(bytes, file, { maxBytes: 4096, maxDepth: 4 }) as { seq?: unknown; recordDigest?: unknown };
    if (!Number.isSafeInteger(raw.seq) || (raw.seq as number) < 1 || !isDigest(raw.recordDigest)) {
      throw new PolicyError('POLICY_HISTORY_INVALID', `${file} is not an active pointer { seq, recordDigest }`);
    }
    return { seq: raw.seq as number, recordDigest: raw.recordDigest };
  }

  private async lock(): Promise<() => Promise<void>> {
    const file = path.join(this.dir, 'registry.lock');
    await this.ensure('.');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(file, 'wx', 0o644);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return () => rm(file, { force: true });
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw io(`locking ${file}`, cause);
        const info = await stat(file).catch(() => null);
        // A lock older than any activation takes is left by a crashed writer.
        if (info && Date.now() - info.mtimeMs > LOCK_STALE_MS) await rm(file, { force: true });
        else break;
      }
    }
    throw new PolicyError('POLICY_REGISTRY_CONFLICT', `another activation holds ${file}`);
  }

  async setActive(record: DsseEnvelope, expectedSeq: number): Promise<RegistryHead> {
    const recordDigest = requirePayloadDigest(record, 'rollout record');
    const unlock = await this.lock();
    try {
      const current = (await this.active())?.seq ?? 0;
      if (current !== expectedSeq)
        throw new PolicyError('POLICY_REGISTRY_CONFLICT', `the rollout history moved: head is #${current}, expected #${expectedSeq}`);
      const seq = current + 1;
      const file = path.join(await this.ensure('records'), `${String(seq).padStart(8, '0')}.json`);
      if ((await readMaybe(file)) !== null) throw new PolicyError('POLICY_REGISTRY_CONFLICT', `record #${seq} already exists`);
      await writeAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
      const head = { seq, recordDigest };
      await writeAtomic(path.join(this.dir, 'active.json'), `${JSON.stringify(head)}\n`);
      return head;
    } finally {
      await unlock();
    }
  }

  async history(): Promise<readonly DsseEnvelope[]> {
    const dir = path.join(this.dir, 'records');
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /^\d{8}\.json$/.test(n)).sort();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw io(`listing ${dir}`, cause);
    }
    const out: DsseEnvelope[] = [];
    for (const name of names) out.push(envelopeFrom((await readMaybe(path.join(dir, name))) ?? Buffer.alloc(0), name));
    return out;
  }

  async putDecision(decision: PolicyDecision, input: StoredDecision['input']): Promise<void> {
    if (!DECISION_ID_RE.test(decision.id)) throw new PolicyError('POLICY_INPUT_INVALID', `not a decision id: ${decision.id}`);
    checkStorable(input);
    const file = path.join(await this.ensure('decisions'), `${decision.id}.json`);
    const incoming = { decision, input };
    const existing = await this.getDecision(decision.id);
    if (existing) {
      if (!sameDecision(existing, incoming)) throw new PolicyError('POLICY_REGISTRY_CONFLICT', `decision ${decision.id} is already stored with other content`);
      return;
    }
    await writeAtomic(file, `${canonicalize(incoming)}\n`);
  }

  async getDecision(id: string): Promise<StoredDecision | null> {
    if (!DECISION_ID_RE.test(id)) return null;
    const file = path.join(this.dir, 'decisions', `${id}.json`);
    const bytes = await readMaybe(file);
    if (bytes === null) return null;
    const raw = parseJson(bytes, file, { maxBytes: MAX_FILE_BYTES, maxDepth: 64 }) as { decision?: PolicyDecision; input?: unknown };
    if (typeof raw.decision !== 'object' || raw.decision === null || raw.decision.id !== id) {
      throw new PolicyError('POLICY_HISTORY_INVALID', `${file} does not hold decision ${id}`);
    }
    return { decision: raw.decision, input: gateInputFromJSON(raw.input) };
  }

  async listDecisions(bundle?: Digest): Promise<readonly PolicyDecision[]> {
    const dir = path.join(this.dir, 'decisions');
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /^dec_[0-9a-f]{24}\.json$/.test(n)).sort();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw io(`listing ${dir}`, cause);
    }
    const out: PolicyDecision[] = [];
    for (const name of names) {
      const stored = await this.getDecision(name.slice(0, -'.json'.length));
      if (stored && (bundle === undefined || stored.decision.bundle.digest === bundle)) out.push(stored.decision);
    }
    return out;
  }
}
