import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { escapeIdentifier, Pool } from 'pg';
import { encodeBase64 } from '../crypto/base64.js';
import { sha256Digest } from '../crypto/digest.js';
import { NoteError } from '../crypto/errors.js';
import { canonicalize } from '../crypto/jcs.js';
import { emptyRoot, leafHash, MerkleTree, verifyInclusion } from '../crypto/merkle.js';
import { formatCheckpoint, type NoteSigner, openCheckpoint, parseNote, parseProof, parseSignerKey, signNote, verifyProof } from '../crypto/note.js';
import type { AuditEventInput } from '../model/audit.js';
import { CairnError } from '../model/errors.js';
import type { Store } from '../store/port.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteStore } from '../store/sqlite.js';
import { checkAgainstMemory, fileCheckpointMemory } from './client.js';
import { AuditError, type AuditErrorCode } from './errors.js';
import { AuditLog, type AuditLogOptions, generateLogKey, LOG_ORIGIN_PREFIX } from './log.js';
import { parseWitnessPolicy } from './policy.js';
import { verifyReceipt } from './receipt.js';
import { extendTree } from './tree.js';
import { FileWitness } from './witness.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-audit-'));
const url = process.env.CAIRN_TEST_PG_URL || undefined;
const schemas: string[] = [];
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (url === undefined || schemas.length === 0) return;
  const admin = new Pool({ connectionString: url, max: 1 });
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
  } finally {
    await admin.end();
  }
});

/** Raw SQL on the store's own tables, as someone holding the database would run it. */
type Raw = (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

interface Adapter {
  readonly name: string;
  readonly skip: string | false;
  open(): Promise<{ store: Store; raw: Raw; reopen(): Promise<Store> }>;
}

let files = 0;
const ADAPTERS: readonly Adapter[] = [
  {
    name: 'sqlite',
    skip: false,
    async open() {
      const file = join(dir, `log-${++files}.db`);
      const raw: Raw = async (sql, params = []) => {
        const db = new Database(file);
        try {
          const statement = db.prepare(sql.replace(/\$\d+/g, '?'));
          if (statement.reader) return statement.all(...params) as Record<string, unknown>[];
          statement.run(...params);
          return [];
        } finally {
          db.close();
        }
      };
      return { store: await openSqliteStore(file), raw, reopen: () => openSqliteStore(file) };
    },
  },
  {
    name: 'postgres',
    skip: url === undefined ? 'CAIRN_TEST_PG_URL is not set' : false,
    async open() {
      const schema = `cairn_audit_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const raw: Raw = async (sql, params = []) => {
        const pool = new Pool({ connectionString: url, max: 1, options: `-c search_path=${schema}` });
        try {
          return (await pool.query(sql, [...params])).rows as Record<string, unknown>[];
        } finally {
          await pool.end();
        }
      };
      return { store: await openPostgresStore(url ?? '', { schema }), raw, reopen: () => openPostgresStore(url ?? '', { schema }) };
    },
  },
];

const T0 = Date.parse('2025-03-01T12:00:00.000Z');

function input(i: number, action = 'build.complete'): AuditEventInput {
  return {
    actor: { identity: 'ci@example.test', purpose: `test ${i}` },
    action,
    subjects: [sha256Digest(`artifact ${i}`)],
    payloadDigest: sha256Digest(`payload ${i}`),
  };
}

interface Instrumented extends Store {
  /** Transactions appendAuditLeaves was asked for. */
  appends: number;
  /** Fail the next append (as a full disk would). */
  failNext: boolean;
  /** Answer auditTreeHead with this instead (a head the database owner rewrote). */
  head?: Store['auditTreeHead'];
  /** Hold every append transaction until this settles (a slow disk). */
  gate?: Promise<void>;
}

/** The store, counting append transactions; it can be told to fail one or to lie about its head. */
function instrumented(store: Store): Instrumented {
  const overrides: Partial<Instrumented> = {
    async appendAuditLeaves(build) {
      wrapper.appends++;
      if (wrapper.failNext) {
        wrapper.failNext = false;
        throw new Error('the disk is full');
      }
      await wrapper.gate;
      return store.appendAuditLeaves(build);
    },
    auditTreeHead() {
      return wrapper.head ? wrapper.head() : store.auditTreeHead();
    },
  };
  const state: Pick<Instrumented, 'appends' | 'failNext' | 'head' | 'gate'> = { appends: 0, failNext: false };
  const wrapper = new Proxy(store, {
    get(target, property) {
      if (property in state) return state[property as keyof typeof state];
      if (property in overrides) return overrides[property as keyof typeof overrides];
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_target, property, value) {
      (state as Record<string | symbol, unknown>)[property] = value;
      return true;
    },
    deleteProperty(_target, property) {
      delete (state as Record<string | symbol, unknown>)[property];
      return true;
    },
    has(target, property) {
      return property in state || Reflect.has(target, property);
    },
  }) as Instrumented;
  return wrapper;
}

for (const adapter of ADAPTERS) {
  describe(`AuditLog on ${adapter.name}`, { skip: adapter.skip }, () => {
    async function fresh(
      t: TestContext,
      options: Partial<AuditLogOptions> = {},
    ): Promise<{ log: AuditLog; store: Instrumented; raw: Raw; signer: NoteSigner; reopen: () => Promise<Store> }> {
      const { store: inner, raw, reopen } = await adapter.open();
      await inner.migrate();
      const store = instrumented(inner);
      const signer = options.signer ?? parseSignerKey(generateLogKey().signerKey);
      let tick = 0;
      const log = new AuditLog(store, { signer, clock: () => new Date(T0 + 1000 * tick++), ...options });
      t.after(async () => {
        await log.close();
        await inner.close();
      });
      return { log, store, raw, signer, reopen };
    }

    describe('append', () => {
      it('gives consecutive indexes from 0, each leaf the JCS encoding of its event', async (t) => {
        const { log } = await fresh(t);
        const entries = [];
        for (let i = 0; i < 3; i++) entries.push(await log.append(input(i), new Date(T0 + i)));
        assert.deepEqual(
          entries.map((e) => e.index),
          [0, 1, 2],
        );
        for (const [i, entry] of entries.entries()) {
          const leaf = await log.leaf(i);
          const expected = { seq: i, time: new Date(T0 + i).toISOString(), ...input(i) };
          assert.equal(leaf.toString('utf8'), canonicalize(expected));
          assert.deepEqual(entry.event, expected);
          assert.deepEqual(entry.leafHash, leafHash(leaf));
        }
      });

      it('group-commits concurrent appends into one transaction and resolves each only once committed', async (t) => {
        const { log, store } = await fresh(t);
        const entries = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const entry = await log.append(input(i));
            // Resolved means committed: the entry is readable by anyone now.
            const [row] = await store.listAuditLeaves(entry.index, 1);
            assert.deepEqual(row?.leafHash, entry.leafHash);
            return entry;
          }),
        );
        assert.equal(store.appends, 1);
        assert.deepEqual(
          entries.map((e) => e.index).sort((a, b) => a - b),
          Array.from({ length: 100 }, (_, i) => i),
        );
      });

      it('commits an append to an idle log at once, and gathers the appends made meanwhile into the next transaction', async (t) => {
        const { log, store } = await fresh(t);
        let release = () => {};
        store.gate = new Promise((resolve) => {
          release = resolve;
        });
        const first = log.append(input(0));
        // Later turns of the event loop, while the first transaction is held.
        await new Promise((resolve) => setImmediate(resolve));
        const later: Promise<unknown>[] = [];
        for (let i = 1; i <= 30; i++) {
          later.push(log.append(input(i)));
          if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        assert.equal(store.appends, 1, 'only the first append is committing');
        release();
        await Promise.all([first, ...later]);
        assert.equal(store.appends, 2, 'the 30 appends made meanwhile shared one transaction');
        assert.equal((await log.head()).size, 31);
      });

      it('splits a burst into batches of at most maxEntries', async (t) => {
        const { log, store } = await fresh(t, { batch: { maxEntries: 16 } });
        await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(input(i))));
        assert.equal(store.appends, 7);
        assert.equal((await log.head()).size, 100);
      });

      it('rejects every append of a batch whose transaction fails, then carries on without a gap', async (t) => {
        const { log, store } = await fresh(t);
        store.failNext = true;
        const failed = await Promise.allSettled([log.append(input(0)), log.append(input(1))]);
        assert.deepEqual(
          failed.map((r) => r.status),
          ['rejected', 'rejected'],
        );
        const next = await log.append(input(2));
        assert.equal(next.index, 0);
        assert.equal((await log.verify()).ok, true);
      });

      it('refuses an event without identity or with a malformed digest (AUDIT_EVENT_INVALID), appending nothing', async (t) => {
        const { log } = await fresh(t);
        await rejectsWithCode(log.append({ ...input(0), actor: { identity: '', purpose: 'x' } }), 'AUDIT_EVENT_INVALID');
        await rejectsWithCode(log.append({ ...input(0), payloadDigest: 'sha256:nothex' as `sha256:${string}` }), 'AUDIT_EVENT_INVALID');
        assert.equal((await log.head()).size, 0);
      });
    });

    describe('checkpoints', () => {
      it('signs the tree head as a C2SP checkpoint under the origin cairn.local/<8 hex>, once per size', async (t) => {
        const { log, store } = await fresh(t);
        assert.match(log.origin, new RegExp(`^${LOG_ORIGIN_PREFIX.replace('.', '\\.')}[0-9a-f]{8}$`));
        for (let i = 0; i < 5; i++) await log.append(input(i));
        const first = await log.checkpoint();
        const head = await log.head();
        const opened = openCheckpoint(first.note, { log: log.verifier, origin: log.origin });
        assert.equal(opened.checkpoint.size, 5);
        assert.deepEqual(opened.checkpoint.rootHash, head.rootHash);
        assert.equal(opened.text, formatCheckpoint({ origin: log.origin, size: 5, rootHash: head.rootHash }));
        assert.equal(first.published, true);
        assert.deepEqual(await log.checkpoint(), first, 'no growth, no new checkpoint');
        await log.append(input(5));
        const second = await log.checkpoint();
        assert.equal(second.size, 6);
        assert.deepEqual(
          (await store.listAuditCheckpoints()).map((c) => c.size),
          [5, 6],
        );
      });

      it('makes checkpoints periodically while the log grows', async (t) => {
        const { log } = await fresh(t);
        await log.append(input(0));
        const stop = log.startCheckpointing(5);
        t.after(stop);
        await log.append(input(1));
        for (let i = 0; i < 400 && (await log.latestCheckpoint())?.size !== 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
        assert.equal((await log.latestCheckpoint())?.size, 2);
      });

      it('refuses to sign a tree head that does not extend its last checkpoint', async (t) => {
        const { log, store } = await fresh(t);
        for (let i = 0; i < 4; i++) await log.append(input(i));
        await log.checkpoint();
        await log.append(input(4));
        const real = await store.auditTreeHead();
        store.head = async () => ({ ...real, rootHash: Buffer.alloc(32, 7) });
        await rejectsWithCode(log.checkpoint(), 'AUDIT_CHECKPOINT_INCONSISTENT');
        store.head = async () => ({ size: 2, rootHash: real.rootHash, frontier: [real.rootHash] });
        await rejectsWithCode(log.checkpoint(), 'AUDIT_TRUNCATED');
        delete store.head;
        assert.equal((await log.checkpoint()).size, 5);
      });

      it('refuses to sign with a key other than the one the log was signed with (AUDIT_LOG_KEY_MISMATCH)', async (t) => {
        const { log, store } = await fresh(t);
        await log.append(input(0));
        await log.checkpoint();
        await log.append(input(1));
        const other = new AuditLog(store, { signer: parseSignerKey(generateLogKey().signerKey) });
        await rejectsWithCode(other.checkpoint(), 'AUDIT_LOG_KEY_MISMATCH');
      });
    });

    describe('proofs and receipts', () => {
      it('serves, from the stored nodes, the inclusion and consistency proofs of the in-memory tree', async (t) => {
        const { log, store } = await fresh(t, { batch: { maxEntries: 7 } });
        await Promise.all(Array.from({ length: 37 }, (_, i) => log.append(input(i))));
        const tree = new MerkleTree((await store.listAuditLeaves(0, 100)).map((l) => leafHash(l.leaf)));
        for (let size = 1; size <= 37; size++) {
          for (let index = 0; index < size; index++)
            assert.deepEqual(await log.inclusionProof(index, size), tree.inclusionProof(index, size), `PATH(${index}, ${size})`);
          for (let m = 1; m <= size; m++) assert.deepEqual(await log.consistencyProof(m, size), tree.consistencyProof(m, size), `PROOF(${m}, ${size})`);
        }
        await rejectsWithCode(log.inclusionProof(3, 38), 'AUDIT_INDEX_OUT_OF_RANGE');
        await rejectsWithCode(log.consistencyProof(0, 5), 'AUDIT_INDEX_OUT_OF_RANGE');
      });

      it('hands out receipts that verify with the crypto functions and carry the exact leaf', async (t) => {
        const { log } = await fresh(t);
        for (let i = 0; i < 11; i++) await log.append(input(i, i === 10 ? 'run.finish' : 'build.complete'));
        await log.checkpoint();
        const receipt = await log.receipt(7);
        const parsed = parseProof(receipt.text);
        assert.equal(parsed.index, 7);
        assert.deepEqual(parsed.extra, await log.leaf(7));
        const verified = verifyProof(receipt.text, leafHash(receipt.leaf), { log: log.verifier, origin: log.origin });
        assert.equal(verified.checkpoint.size, 11);
        assert.ok(verifyInclusion(7, 11, leafHash(receipt.leaf), parsed.proof, verified.checkpoint.rootHash));
        const offline = verifyReceipt(receipt.text, { logKey: log.verifierKey });
        assert.equal(offline.event.seq, 7);
        assert.deepEqual(offline.event.actor, input(7).actor);
      });

      it('refuses receipts for entries no published checkpoint covers, or beyond the log', async (t) => {
        const { log } = await fresh(t);
        await log.append(input(0));
        await rejectsWithCode(log.receipt(0), 'AUDIT_NOT_CHECKPOINTED');
        await rejectsWithCode(log.receipt(1), 'AUDIT_INDEX_OUT_OF_RANGE');
        await log.checkpoint();
        await log.append(input(1));
        await rejectsWithCode(log.receipt(1), 'AUDIT_NOT_CHECKPOINTED');
        assert.equal((await log.receipt(0)).checkpointSize, 1);
      });

      it('makes a checkpoint and one receipt per entry for a run', async (t) => {
        const { log } = await fresh(t);
        const logged = [];
        for (let i = 0; i < 4; i++) logged.push({ action: `step.${i}`, index: (await log.append(input(i))).index });
        const { checkpoint, receipts } = await log.receiptsFor(logged);
        assert.equal(checkpoint.size, 4);
        for (const r of receipts) assert.equal(verifyReceipt(r.receipt ?? '', { logKey: log.verifierKey }).index, r.index);
      });
    });

    describe('witnesses', () => {
      it('publishes a checkpoint only once k witnesses cosigned it, and receipts then carry the cosignatures', async (t) => {
        let w1 = await witness('w1');
        let w2 = await witness('w2');
        const policy = parseWitnessPolicy(`witness one ${w1.verifierKey}\nwitness two ${w2.verifierKey}\ngroup both 2 one two\nquorum both\n`);
        const { log } = await fresh(t, { policy });
        w1 = await trust(w1, log);
        w2 = await trust(w2, log);
        for (let i = 0; i < 3; i++) await log.append(input(i));
        const pending = await log.checkpoint();
        assert.equal(pending.published, false);
        assert.equal(await log.latestCheckpoint(), null);
        await rejectsWithCode(log.receipt(0), 'AUDIT_NOT_CHECKPOINTED');

        const first = (await w1.cosign(await log.witnessRequest(0), new Date(T0))).cosignature;
        const [afterOne] = await log.addCosignatures(first);
        assert.equal(afterOne?.published, false, 'one cosignature of the two required');
        await rejectsWithCode(log.receipt(0), 'AUDIT_NOT_CHECKPOINTED');
        const second = (await w2.cosign(await log.witnessRequest(0), new Date(T0))).cosignature;
        const [afterTwo] = await log.addCosignatures(second);
        assert.equal(afterTwo?.published, true);
        assert.deepEqual(
          [...(afterTwo?.cosigners ?? [])].sort(),
          ['w1', 'w2'].map((n) => `${n}.example+${(policy.witnesses.get(n === 'w1' ? 'one' : 'two')?.keyId ?? 0).toString(16).padStart(8, '0')}`).sort(),
        );

        const receipt = await log.receipt(1);
        assert.deepEqual(verifyReceipt(receipt.text, { logKey: log.verifierKey, policy }).cosigners.length, 2);
        const stricter = parseWitnessPolicy(`witness three ${(await witness('w3')).verifierKey}\nquorum three\n`);
        assert.throws(() => verifyReceipt(receipt.text, { logKey: log.verifierKey, policy: stricter }), codeIs('AUDIT_QUORUM_NOT_MET'));

        // The next checkpoint: the witnesses check consistency from the size they cosigned.
        for (let i = 3; i < 8; i++) await log.append(input(i));
        await log.checkpoint();
        await rejectsWithCode(w1.cosign(await log.witnessRequest(0), new Date(T0)), 'AUDIT_WITNESS_CONFLICT');
        const lines = [
          (await w1.cosign(await log.witnessRequest(3), new Date(T0))).cosignature,
          (await w2.cosign(await log.witnessRequest(3), new Date(T0))).cosignature,
        ];
        const [published] = await log.addCosignatures(lines.join(''));
        assert.equal(published?.size, 8);
        assert.equal(published?.published, true);
        assert.equal((await log.verify()).ok, true);
      });

      it('refuses cosignatures by unknown witnesses or that do not verify', async (t) => {
        const w1 = await witness('w1');
        let stranger = await witness('stranger');
        const policy = parseWitnessPolicy(`witness one ${w1.verifierKey}\nquorum one\n`);
        const { log } = await fresh(t, { policy });
        stranger = await trust(stranger, log);
        await log.append(input(0));
        await log.checkpoint();
        const foreign = (await stranger.cosign(await log.witnessRequest(0), new Date(T0))).cosignature;
        await rejectsWithCode(log.addCosignatures(foreign), 'AUDIT_COSIGNATURE_UNKNOWN');
        const forged = `\u2014 w1.example ${encodeBase64(Buffer.concat([keyIdBytes(policy.witnesses.get('one')?.keyId ?? 0), Buffer.alloc(72, 1)]))}\n`;
        await rejectsWithCode(log.addCosignatures(forged), 'AUDIT_COSIGNATURE_INVALID');
        assert.equal(await log.latestCheckpoint(), null);
      });

      it('makes the witness refuse a fork: a checkpoint not consistent with the one it cosigned', async (t) => {
        let w1 = await witness('w1');
        const signer = parseSignerKey(generateLogKey().signerKey);
        const { log } = await fresh(t, { signer });
        const { log: fork } = await fresh(t, { signer });
        w1 = await trust(w1, log);
        for (let i = 0; i < 4; i++) await log.append(input(i));
        await log.checkpoint();
        await w1.cosign(await log.witnessRequest(0), new Date(T0));
        // Same key, same first three entries, a different fourth and fifth: a split view.
        for (let i = 0; i < 3; i++) await fork.append(input(i), new Date(T0 + 1000 * i));
        await fork.append(input(99));
        await fork.append(input(100));
        await fork.checkpoint();
        const request = await fork.witnessRequest(4);
        await rejectsWithCode(w1.cosign(request, new Date(T0)), 'AUDIT_WITNESS_INCONSISTENT');
        assert.equal(parseNote((await w1.latest(log.origin)) ?? '').text.split('\n')[1], '4', 'the witness still holds the checkpoint it cosigned');
      });
    });

    describe('client memory', () => {
      it('remembers the newest checkpoint and accepts a later one only with a consistency proof', async (t) => {
        const { log } = await fresh(t);
        const memory = fileCheckpointMemory(join(dir, `memory-${randomBytes(4).toString('hex')}`));
        const proof = (m: number, n: number) => log.consistencyProof(m, n);
        for (let i = 0; i < 3; i++) await log.append(input(i));
        const first = await log.checkpoint();
        assert.equal((await checkAgainstMemory(memory, log.verifier, first.note, proof)).status, 'first');
        assert.equal((await checkAgainstMemory(memory, log.verifier, first.note, proof)).status, 'same');
        for (let i = 3; i < 9; i++) await log.append(input(i));
        const second = await log.checkpoint();
        assert.equal((await checkAgainstMemory(memory, log.verifier, second.note, proof)).status, 'advanced');
        assert.equal(await memory.recall(log.origin), second.note);
        await assert.rejects(checkAgainstMemory(memory, log.verifier, first.note, proof), (error) => {
          assert.ok(error instanceof AuditError);
          assert.equal(error.code, 'AUDIT_ROLLBACK');
          assert.ok(error.message.includes(`${log.origin}\n3\n`.replace(/\n/g, '\n    ').trimEnd()), error.message);
          assert.ok(error.message.includes(encodeBase64(second.rootHash)) && error.message.includes(encodeBase64(first.rootHash)), 'both checkpoints shown');
          assert.deepEqual(
            error.problems.map((p) => p.path),
            ['remembered', 'presented'],
          );
          return true;
        });
        assert.equal((await checkAgainstMemory(memory, log.verifier, first.note, proof, { latest: false })).status, 'older-consistent');
      });

      it('fails loudly, showing both, when the log presents a fork', async (t) => {
        const signer = parseSignerKey(generateLogKey().signerKey);
        const { log } = await fresh(t, { signer });
        const { log: fork } = await fresh(t, { signer });
        const memory = fileCheckpointMemory(join(dir, `memory-${randomBytes(4).toString('hex')}`));
        for (let i = 0; i < 4; i++) await log.append(input(i));
        const seen = await log.checkpoint();
        await checkAgainstMemory(memory, log.verifier, seen.note, (m, n) => log.consistencyProof(m, n));
        for (let i = 0; i < 6; i++) await fork.append(input(i + 50));
        const forked = await fork.checkpoint();
        await assert.rejects(
          checkAgainstMemory(memory, log.verifier, forked.note, (m, n) => fork.consistencyProof(m, n)),
          (error) =>
            error instanceof AuditError &&
            error.code === 'AUDIT_FORK' &&
            error.message.includes(encodeBase64(seen.rootHash)) &&
            error.message.includes(encodeBase64(forked.rootHash)),
        );
        // Same size, another root.
        const sameSize = signNote(formatCheckpoint({ origin: log.origin, size: 4, rootHash: Buffer.alloc(32, 9) }), [signer]);
        await assert.rejects(
          checkAgainstMemory(memory, log.verifier, sameSize, (m, n) => log.consistencyProof(m, n)),
          codeIs('AUDIT_FORK'),
        );
      });

      it('catches a truncated tail that verify alone cannot see, once the attacker also rewinds the head and drops the checkpoints', async (t) => {
        const { log, raw, store } = await fresh(t);
        const memory = fileCheckpointMemory(join(dir, `memory-${randomBytes(4).toString('hex')}`));
        for (let i = 0; i < 5; i++) await log.append(input(i));
        const early = await log.checkpoint();
        for (let i = 5; i < 9; i++) await log.append(input(i));
        const late = await log.checkpoint();
        await checkAgainstMemory(memory, log.verifier, late.note, (m, n) => log.consistencyProof(m, n));
        // The database owner cuts entries 5..8 and rewinds everything that mentions them.
        const kept = await store.listAuditLeaves(0, 5);
        const tree = new MerkleTree(kept.map((l) => l.leafHash));
        await raw('DELETE FROM audit_leaves WHERE idx >= $1', [5]);
        await raw('DELETE FROM audit_checkpoints WHERE size > $1', [5]);
        await raw('UPDATE audit_tree SET size = $1, root = $2, frontier = $3 WHERE id = 1', [5, tree.root(), Buffer.concat(tree.frontier().hashes)]);
        assert.equal((await log.verify()).ok, true, 'the rewound log is self-consistent');
        const presented = await log.latestCheckpoint();
        assert.equal(presented?.note, early.note);
        await assert.rejects(
          checkAgainstMemory(memory, log.verifier, presented?.note ?? '', (m, n) => log.consistencyProof(m, n)),
          codeIs('AUDIT_ROLLBACK'),
        );
      });
    });

    describe('verify (tamper evidence)', () => {
      /** A log of 9 entries with checkpoints at 4 and 9. */
      async function populated(t: TestContext) {
        const made = await fresh(t);
        for (let i = 0; i < 4; i++) await made.log.append(input(i));
        await made.log.checkpoint();
        for (let i = 4; i < 9; i++) await made.log.append(input(i));
        await made.log.checkpoint();
        assert.deepEqual((await made.log.verify()).problems, []);
        return made;
      }

      const leafOf = async (raw: Raw, index: number) =>
        (await raw('SELECT leaf, leaf_hash FROM audit_leaves WHERE idx = $1', [index]))[0] as { leaf: Buffer; leaf_hash: Buffer };

      const cases: { name: string; code: AuditErrorCode; tamper: (raw: Raw, log: AuditLog, signer: NoteSigner) => Promise<void> }[] = [
        {
          name: 'an edited leaf',
          code: 'AUDIT_LEAF_HASH_MISMATCH',
          async tamper(raw) {
            const { leaf } = await leafOf(raw, 2);
            await raw('UPDATE audit_leaves SET leaf = $1 WHERE idx = $2', [
              Buffer.from(leaf.toString('utf8').replace('ci@example.test', 'someone@else.test')),
              2,
            ]);
          },
        },
        {
          name: 'a deleted row',
          code: 'AUDIT_SEQUENCE_GAP',
          async tamper(raw) {
            await raw('DELETE FROM audit_leaves WHERE idx = $1', [3]);
          },
        },
        {
          name: 'two rows swapped',
          code: 'AUDIT_LEAF_MISPLACED',
          async tamper(raw) {
            const a = await leafOf(raw, 5);
            const b = await leafOf(raw, 6);
            await raw('UPDATE audit_leaves SET leaf = $1, leaf_hash = $2 WHERE idx = $3', [b.leaf, b.leaf_hash, 5]);
            await raw('UPDATE audit_leaves SET leaf = $1, leaf_hash = $2 WHERE idx = $3', [a.leaf, a.leaf_hash, 6]);
          },
        },
        {
          name: 'a truncated tail',
          code: 'AUDIT_TRUNCATED',
          async tamper(raw) {
            await raw('DELETE FROM audit_leaves WHERE idx >= $1', [7]);
          },
        },
        {
          name: 'a checkpoint replaced by one signed with another key',
          code: 'AUDIT_CHECKPOINT_SIGNATURE',
          async tamper(raw, log) {
            const other = parseSignerKey(generateLogKey().signerKey);
            const [row] = (await raw('SELECT root FROM audit_checkpoints WHERE size = $1', [4])) as { root: Buffer }[];
            const note = signNote(formatCheckpoint({ origin: log.origin, size: 4, rootHash: row?.root ?? Buffer.alloc(32) }), [
              { ...other, name: log.origin, sign: other.sign },
            ]);
            await raw('UPDATE audit_checkpoints SET note = $1 WHERE size = $2', [note, 4]);
          },
        },
        {
          name: 'a checkpoint replaced by one of a different tree (signed with the log key)',
          code: 'AUDIT_CHECKPOINT_INCONSISTENT',
          async tamper(raw, log, signer) {
            const root = Buffer.alloc(32, 5);
            const note = signNote(formatCheckpoint({ origin: log.origin, size: 4, rootHash: root }), [signer]);
            await raw('UPDATE audit_checkpoints SET note = $1, root = $2 WHERE size = $3', [note, root, 4]);
          },
        },
        {
          name: 'a leaf rewritten with its hash, subtrees and head recomputed (only the signed checkpoints know)',
          code: 'AUDIT_CHECKPOINT_INCONSISTENT',
          async tamper(raw) {
            const rows = (await raw('SELECT idx, leaf FROM audit_leaves ORDER BY idx')) as { idx: number | string; leaf: Buffer }[];
            const leaves = rows.map((r) => (Number(r.idx) === 1 ? Buffer.from(r.leaf.toString('utf8').replace('test 1', 'test X')) : r.leaf));
            const rebuilt = rebuild(leaves);
            for (const l of rebuilt.leaves)
              await raw('UPDATE audit_leaves SET leaf = $1, leaf_hash = $2, subtrees = $3 WHERE idx = $4', [l.leaf, l.leafHash, l.subtrees, l.index]);
            await raw('UPDATE audit_tree SET root = $1, frontier = $2 WHERE id = 1', [rebuilt.head.rootHash, Buffer.concat(rebuilt.head.frontier)]);
          },
        },
        {
          name: 'a corrupted tree head',
          code: 'AUDIT_ROOT_MISMATCH',
          async tamper(raw) {
            await raw('UPDATE audit_tree SET root = $1 WHERE id = 1', [Buffer.alloc(32, 1)]);
          },
        },
        {
          name: 'a row added past the tree head',
          code: 'AUDIT_ROOT_MISMATCH',
          async tamper(raw) {
            const { leaf, leaf_hash } = await leafOf(raw, 8);
            await raw('INSERT INTO audit_leaves (idx, leaf, leaf_hash, subtrees) VALUES ($1, $2, $3, $4)', [9, leaf, leaf_hash, Buffer.alloc(0)]);
          },
        },
        {
          name: 'a corrupted stored subtree',
          code: 'AUDIT_NODE_MISMATCH',
          async tamper(raw) {
            await raw('UPDATE audit_leaves SET subtrees = $1 WHERE idx = $2', [Buffer.alloc(64, 3), 3]);
          },
        },
      ];

      for (const c of cases) {
        it(`reports ${c.name} as ${c.code}`, async (t) => {
          const { log, raw, signer } = await populated(t);
          await c.tamper(raw, log, signer);
          const report = await log.verify();
          assert.equal(report.ok, false);
          assert.ok(
            report.problems.some((p) => p.code === c.code),
            `expected ${c.code}, got ${report.problems.map((p) => `${p.code} ${p.path}`).join(', ')}`,
          );
        });
      }

      it('reports a forged cosignature by a configured witness as AUDIT_COSIGNATURE_INVALID', async (t) => {
        let w1 = await witness('w1');
        const policy = parseWitnessPolicy(`witness one ${w1.verifierKey}\nquorum one\n`);
        const { log, raw } = await fresh(t, { policy });
        w1 = await trust(w1, log);
        await log.append(input(0));
        await log.checkpoint();
        await log.addCosignatures((await w1.cosign(await log.witnessRequest(0), new Date(T0))).cosignature);
        assert.equal((await log.verify()).ok, true);
        const [row] = (await raw('SELECT cosignatures FROM audit_checkpoints WHERE size = $1', [1])) as { cosignatures: string }[];
        const line = row?.cosignatures ?? '';
        const forged = `${line.slice(0, -8)}${line.slice(-8) === 'AAAAAAA=' ? 'BBBBBBB=' : 'AAAAAAA='}`;
        await raw('UPDATE audit_checkpoints SET cosignatures = $1 WHERE size = $2', [forged, 1]);
        const report = await log.verify();
        assert.ok(
          report.problems.some((p) => p.code === 'AUDIT_COSIGNATURE_INVALID'),
          JSON.stringify(report.problems),
        );
      });

      it('keeps verifying after the store is reopened', async (t) => {
        const { log, reopen, signer } = await populated(t);
        await log.flush();
        const again = await reopen();
        t.after(() => again.close());
        const report = await new AuditLog(again, { signer }).verify({ pageSize: 2 });
        assert.equal(report.ok, true);
        assert.equal(report.size, 9);
        assert.equal(report.latestCheckpoint, 9);
      });
    });
  });
}

/** The rows a sequencer would write for these leaves (to forge a self-consistent rewrite). */
function rebuild(leaves: readonly Buffer[]) {
  const events = leaves.map((leaf) => {
    const { seq: _seq, ...event } = JSON.parse(leaf.toString('utf8'));
    return event;
  });
  return extendTree({ size: 0, rootHash: emptyRoot(), frontier: [] }, events);
}

async function witness(name: string): Promise<FileWitness> {
  return (await FileWitness.init(join(dir, `witness-${name}-${randomBytes(4).toString('hex')}`), `${name}.example`, [])).witness;
}

/** The witness, now also witnessing `log`. */
async function trust(w: FileWitness, log: AuditLog): Promise<FileWitness> {
  return (await FileWitness.init(w.dir, w.name, [log.verifierKey])).witness;
}

function keyIdBytes(keyId: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(keyId);
  return b;
}

function codeIs(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof CairnError || error instanceof NoteError, `expected a cairn error, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, codeIs(code));
}
