import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { escapeIdentifier, Pool } from 'pg';
import { sha256Digest } from '../crypto/digest.js';
import { parseSignerKey } from '../crypto/note.js';
import type { Store } from '../store/port.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteStore } from '../store/sqlite.js';
import { AuditLog, generateLogKey } from './log.js';
import { decodeLeaf } from './tree.js';

/**
 * Crash safety: a writer appends in bursts and acknowledges each index on stdout once its
 * append resolved; the test SIGKILLs it at random moments, restarts it, and checks that every
 * acknowledged entry is stored (with its payload) and that the whole log still verifies.
 * This file is also the writer, when started with CAIRN_CRASH_CHILD set.
 */

interface ChildConfig {
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  readonly schema?: string;
  readonly signerKey: string;
}

async function openConfigured(config: ChildConfig): Promise<Store> {
  const store =
    config.dialect === 'sqlite' ? await openSqliteStore(config.location) : await openPostgresStore(config.location, { schema: config.schema as string });
  await store.migrate();
  return store;
}

/** The writer: bursts of concurrent appends, a checkpoint now and then, until it is killed. */
async function writer(config: ChildConfig): Promise<never> {
  const store = await openConfigured(config);
  const log = new AuditLog(store, { signer: parseSignerKey(config.signerKey), batch: { delayMs: randomInt(0, 3), maxEntries: randomInt(1, 64) } });
  const run = randomBytes(4).toString('hex');
  for (let burst = 0; ; burst++) {
    await Promise.all(
      Array.from({ length: randomInt(1, 48) }, async (_, i) => {
        const payloadDigest = sha256Digest(`${run}/${burst}/${i}`);
        const entry = await log.append({ actor: { identity: 'crash-writer', purpose: 'crash test' }, action: 'burst', subjects: [], payloadDigest });
        // Written synchronously, only after the append resolved: an ack means "committed".
        writeSync(1, `ack ${entry.index} ${payloadDigest}\n`);
      }),
    );
    if (burst % 3 === 2) await log.checkpoint();
  }
}

if (process.env.CAIRN_CRASH_CHILD) {
  await writer(JSON.parse(process.env.CAIRN_CRASH_CHILD) as ChildConfig);
}

const SELF = fileURLToPath(import.meta.url);

/** Starts the writer, SIGKILLs it after a random number of acks (and a random few ms), returns the acks it sent. */
async function crashOnce(config: ChildConfig): Promise<Map<number, string>> {
  const acks = new Map<number, string>();
  const child: ChildProcess = spawn(process.execPath, [SELF], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CAIRN_CRASH_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killAfter = randomInt(1, 300);
  let pending = '';
  let stderr = '';
  let killed = false;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const [, index, digest] = line.split(' ');
      acks.set(Number(index), digest as string);
    }
    if (!killed && acks.size >= killAfter) {
      killed = true;
      setTimeout(() => child.kill('SIGKILL'), randomInt(0, 4));
    }
  });
  // A writer that stops acknowledging (it crashed on its own, or hangs) fails the test rather than the clock.
  const watchdog = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(watchdog);
  assert.ok(killed, `the writer exited (code ${code}) before it was killed, after ${acks.size} acks:\n${stderr}`);
  return acks;
}

async function checkAfterCrash(config: ChildConfig, acked: ReadonlyMap<number, string>): Promise<number> {
  const store = await openConfigured(config);
  try {
    // A barrier: an empty append waits for the sequencer lock, so a commit the killed writer had
    // already sent (PostgreSQL finishes it server-side) is done before we look.
    await store.appendAuditLeaves((head) => ({ leaves: [], head }));
    const stored = new Map<number, string>();
    for (let from = 0; ; ) {
      const page = await store.listAuditLeaves(from, 4096);
      for (const row of page) stored.set(row.index, decodeLeaf(row.leaf).event?.payloadDigest ?? 'malformed');
      if (page.length < 4096) break;
      from = (page.at(-1)?.index ?? 0) + 1;
    }
    for (const [index, digest] of acked) assert.equal(stored.get(index), digest, `acknowledged entry ${index} is missing or different after the crash`);
    const report = await new AuditLog(store, { signer: parseSignerKey(config.signerKey) }).verify();
    assert.deepEqual(report.problems, [], 'the log verifies after the crash');
    assert.equal(report.size, stored.size);
    return report.size;
  } finally {
    await store.close();
  }
}

function crashSuite(config: () => ChildConfig, iterations: number): void {
  it(`keeps every acknowledged entry and a verifying log across ${iterations} SIGKILLs during bursts of appends`, async () => {
    const allAcked = new Map<number, string>();
    let size = 0;
    for (let i = 0; i < iterations; i++) {
      const acks = await crashOnce(config());
      for (const [index, digest] of acks) allAcked.set(index, digest);
      const after = await checkAfterCrash(config(), allAcked);
      assert.ok(after >= size, 'the log never shrinks');
      size = after;
    }
    assert.ok(allAcked.size > iterations, `only ${allAcked.size} acknowledged appends`);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'cairn-crash-'));
const url = process.env.CAIRN_TEST_PG_URL || undefined;
const schema = `cairn_crash_${randomBytes(6).toString('hex')}`;
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (url === undefined) return;
  const admin = new Pool({ connectionString: url, max: 1 });
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
  } finally {
    await admin.end();
  }
});

if (!process.env.CAIRN_CRASH_CHILD) {
  const signerKey = generateLogKey().signerKey;
  describe('audit log crash safety: SQLite', () => {
    crashSuite(() => ({ dialect: 'sqlite', location: join(dir, 'crash.db'), signerKey }), 30);
  });
  describe('audit log crash safety: PostgreSQL', { skip: url === undefined ? 'CAIRN_TEST_PG_URL is not set' : false }, () => {
    crashSuite(() => ({ dialect: 'postgres', location: url ?? '', schema, signerKey }), 10);
  });
}
