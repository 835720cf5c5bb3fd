/**
 * The audit log: appends per second (group commit, and one append at a time) on SQLite and
 * PostgreSQL; inclusion-proof and receipt time in a log of N entries (default 1,000,000);
 * full verification of those N entries as a ratio to raw SHA-256 of the same leaf bytes,
 * measured in the same run. PostgreSQL runs when a URL is given.
 *
 *   node dist/bench/audit.js [--entries N] [--seconds S] [--pg URL | $CAIRN_TEST_PG_URL] [--pg-entries N]
 */
import { hash, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeIdentifier, Pool } from 'pg';
import { AuditLog, generateLogKey } from '../src/audit/log.js';
import { sha256Digest } from '../src/crypto/digest.js';
import { parseSignerKey } from '../src/crypto/note.js';
import type { AuditEventInput } from '../src/model/audit.js';
import type { Store } from '../src/store/port.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { median } from './measure.js';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : undefined;
}

const ENTRIES = Number(option('entries') ?? 1_000_000);
const SECONDS = Number(option('seconds') ?? 3);
const PG_URL = option('pg') ?? process.env.CAIRN_TEST_PG_URL;
const PG_ENTRIES = Number(option('pg-entries') ?? ENTRIES);
const IN_FLIGHT = 256;
const PROOF_SAMPLES = 2_000;
const ROUNDS = 3;
if (!(ENTRIES >= 1024 && SECONDS > 0 && PG_ENTRIES >= 1024)) throw new Error('--entries and --pg-entries must be at least 1024, --seconds positive');

const signer = parseSignerKey(generateLogKey().signerKey);
const ACTIONS = ['build.complete', 'attest.provenance', 'scan.sbom', 'gate.decision', 'deploy.apply', 'rollback.apply', 'policy.change'];

/** A realistic event: an actor, a purpose, one or two subject digests, a payload digest (≈ 330-byte leaves). */
function event(i: number): AuditEventInput {
  return {
    actor: { identity: `ci-runner-${i % 17}@builders.example.org`, purpose: `pipeline run ${Math.floor(i / 9)} for service-${i % 5}` },
    action: ACTIONS[i % ACTIONS.length] as string,
    subjects: i % 3 === 0 ? [sha256Digest(`artifact ${i}`), sha256Digest(`release ${i}`)] : [sha256Digest(`artifact ${i}`)],
    payloadDigest: sha256Digest(`payload ${i}`),
  };
}

const seconds = (ns: bigint) => Number(ns) / 1e9;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface Backend {
  readonly name: string;
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-audit-'));
  let n = 0;
  return {
    name: 'SQLite',
    open: async () => {
      const store = await openSqliteStore(join(dir, `bench-${++n}.db`));
      await store.migrate();
      return store;
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresBackend(url: string): Backend {
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    open: async () => {
      const schema = `cairn_bench_${randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      const store = await openPostgresStore(url, { schema });
      await store.migrate();
      return store;
    },
    cleanup: async () => {
      const admin = new Pool({ connectionString: url, max: 1 });
      try {
        for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** Appends per second with `inFlight` appenders, each awaiting its append before the next. */
async function appendRate(log: AuditLog, inFlight: number): Promise<{ rate: number; meanLatencyMs: number }> {
  let done = 0;
  let latency = 0n;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      for (let i = worker; process.hrtime.bigint() < deadline; i += inFlight) {
        const t0 = process.hrtime.bigint();
        await log.append(event(i));
        latency += process.hrtime.bigint() - t0;
        done++;
      }
    }),
  );
  const elapsed = seconds(process.hrtime.bigint() - start);
  return { rate: done / elapsed, meanLatencyMs: Number(latency) / 1e6 / done };
}

/** Fills the log to `entries` with large group commits; returns appends per second. */
async function fill(log: AuditLog, entries: number, onProgress: (n: number) => void): Promise<number> {
  const start = process.hrtime.bigint();
  const wave = 8192;
  for (let from = (await log.head()).size; from < entries; from += wave) {
    await Promise.all(Array.from({ length: Math.min(wave, entries - from) }, (_, i) => log.append(event(from + i))));
    if (from % (wave * 16) === 0) onProgress(from);
    if ((from / wave) % 32 === 31) await log.checkpoint();
  }
  await log.checkpoint();
  return entries / seconds(process.hrtime.bigint() - start);
}

async function measureBackend(backend: Backend, entries: number): Promise<void> {
  console.log(`\n${backend.name}`);
  for (const [label, inFlight] of [
    ['group commit, 256 appenders in flight', IN_FLIGHT],
    ['one append at a time (a commit each)', 1],
  ] as const) {
    const store = await backend.open();
    const log = new AuditLog(store, { signer });
    const { rate, meanLatencyMs } = await appendRate(log, inFlight);
    await log.close();
    await store.close();
    console.log(`  appends/s, ${label.padEnd(40)} ${fmt(rate).padStart(9)}   (mean latency ${fmt(meanLatencyMs, 2)} ms)`);
  }

  const store = await backend.open();
  const log = new AuditLog(store, { signer, batch: { maxEntries: 8192, delayMs: 0 } });
  process.stderr.write(`  filling a log of ${fmt(entries)} entries…`);
  const fillRate = await fill(log, entries, (n) => process.stderr.write(`\r  filling a log of ${fmt(entries)} entries… ${fmt(n)}`));
  process.stderr.write('\n');
  console.log(`  appends/s, filling ${fmt(entries)} entries in 8192-entry commits ${fmt(fillRate).padStart(9)}`);

  const size = (await log.head()).size;
  const proofTimes: number[] = [];
  const receiptTimes: number[] = [];
  for (let i = 0; i < PROOF_SAMPLES; i++) {
    const index = randomInt(0, size);
    const t0 = process.hrtime.bigint();
    await log.inclusionProof(index, size);
    proofTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (i % 10 === 0) {
      const t1 = process.hrtime.bigint();
      await log.receipt(index);
      receiptTimes.push(Number(process.hrtime.bigint() - t1) / 1e6);
    }
  }
  console.log(
    `  inclusion proof at ${fmt(size)} entries (one read of O(log n) rows)   median ${fmt(median(proofTimes), 3)} ms   mean ${fmt(proofTimes.reduce((a, b) => a + b, 0) / proofTimes.length, 3)} ms`,
  );
  console.log(`  receipt (proof + leaf + checkpoint, self-verified)             median ${fmt(median(receiptTimes), 3)} ms`);

  // The reference: SHA-256 of the same leaf bytes, held in memory in one buffer (so the
  // reference does not burden the garbage collector while verification runs), in the same run.
  const chunks: Buffer[] = [];
  const ends: number[] = [];
  let bytes = 0;
  for (let from = 0; from < size; from += 8192) {
    for (const row of await store.listAuditLeaves(from, 8192)) {
      chunks.push(row.leaf);
      bytes += row.leaf.length;
      ends.push(bytes);
    }
  }
  const all = Buffer.concat(chunks);
  chunks.length = 0;
  const offsets = Float64Array.from(ends);
  ends.length = 0;
  // Interleaved rounds, so that noise on a shared machine hits both alike; medians compared.
  const raw: number[] = [];
  const full: number[] = [];
  let checkpoints = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0, start = 0; i < offsets.length; i++) {
      const end = offsets[i] as number;
      hash('sha256', all.subarray(start, end), 'buffer');
      start = end;
    }
    raw.push(seconds(process.hrtime.bigint() - t0));
    const t1 = process.hrtime.bigint();
    const report = await log.verify();
    full.push(seconds(process.hrtime.bigint() - t1));
    if (!report.ok) throw new Error(`the benchmark log does not verify: ${JSON.stringify(report.problems.slice(0, 3))}`);
    checkpoints = report.checkpoints;
  }
  const reference = median(raw);
  const verifySeconds = median(full);
  console.log(`  raw SHA-256 of the ${fmt(size)} leaves (${fmt(bytes / 1e6, 1)} MB, in memory)      ${fmt(reference, 3)} s`);
  console.log(
    `  full verification (read, rehash, parse, tree, ${checkpoints} checkpoints)    ${fmt(verifySeconds, 3)} s   ratio ${fmt(verifySeconds / reference, 1)}× raw SHA-256`,
  );
  await log.close();
  await store.close();
}

console.log(`cairn audit log benchmark — node ${process.version}, ${SECONDS} s per append case`);
const backends: [Backend, number][] = [[sqliteBackend(), ENTRIES]];
if (PG_URL) backends.push([postgresBackend(PG_URL), PG_ENTRIES]);
else console.log('(PostgreSQL skipped: give --pg URL or set CAIRN_TEST_PG_URL)');
for (const [backend, entries] of backends) {
  try {
    await measureBackend(backend, entries);
  } finally {
    await backend.cleanup();
  }
}
