import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { assertAuditTree, auditAppend, storeContract } from './contract.js';
import { StoreError } from './port.js';
import { openSqliteStore } from './sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function freshFile(): string {
  files += 1;
  return join(dir, `store-${files}.db`);
}

storeContract('sqlite', () => openSqliteStore(freshFile()));

describe('SQLite store', () => {
  it('reports its dialect and that it has no shared writers', async (t) => {
    const store = await openSqliteStore(freshFile());
    t.after(() => store.close());
    assert.deepEqual(store.capabilities, { dialect: 'sqlite', sharedWriters: false });
  });

  it('creates the directory the database file is in', async (t) => {
    const store = await openSqliteStore(join(dir, 'nested', 'deeper', 'store.db'));
    t.after(() => store.close());
    assert.equal(await store.migrate(), await store.migrate());
  });

  it('puts the database file in WAL mode', async (t) => {
    const file = freshFile();
    const store = await openSqliteStore(file);
    await store.migrate();
    await store.close();
    const db = new Database(file, { readonly: true });
    t.after(() => db.close());
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  });

  it('records each applied migration in schema_migrations', async (t) => {
    const file = freshFile();
    const store = await openSqliteStore(file);
    const version = await store.migrate();
    await store.close();
    const db = new Database(file, { readonly: true });
    t.after(() => db.close());
    const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
    assert.deepEqual(
      rows.map((r) => r.version),
      Array.from({ length: version }, (_, i) => i + 1),
    );
  });

  it('refuses a database migrated by a newer cairn with STORE_MIGRATION', async (t) => {
    const file = freshFile();
    const first = await openSqliteStore(file);
    const version = await first.migrate();
    await first.close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(version + 1, 'later');
    db.close();
    const store = await openSqliteStore(file);
    t.after(() => store.close());
    await assert.rejects(store.migrate(), (error) => error instanceof StoreError && error.code === 'STORE_MIGRATION');
  });

  it('keeps its data across close and reopen', async (t) => {
    const file = freshFile();
    const first = await openSqliteStore(file);
    await first.migrate();
    const { leaves, head } = await first.appendAuditLeaves((h) => auditAppend(h, ['before-reopen']));
    await first.close();
    const second = await openSqliteStore(file);
    t.after(() => second.close());
    assert.equal(await second.migrate(), await second.migrate());
    assert.deepEqual(await second.listAuditLeaves(0, 10), leaves);
    assert.deepEqual(await second.auditTreeHead(), head);
  });

  it('migrates a database of schema version 1 (the hash chain) to the Merkle log', async (t) => {
    const file = freshFile();
    const first = await openSqliteStore(file);
    await first.migrate();
    await first.close();
    // Back to version 1: the hash-chained table, holding an event, and none of the new tables.
    const db = new Database(file);
    db.exec(`DELETE FROM schema_migrations WHERE version > 1;
      DROP TABLE audit_leaves; DROP TABLE audit_tree; DROP TABLE audit_checkpoints;
      DROP TABLE leases; DROP TABLE operations; DROP TABLE rollouts; DROP TABLE pins; DROP TABLE release_history;
      CREATE TABLE audit_events (seq INTEGER PRIMARY KEY CHECK (seq > 0), hash TEXT NOT NULL UNIQUE, prev_hash TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
      INSERT INTO audit_events VALUES (1, '${'a'.repeat(64)}', '${'0'.repeat(64)}', '{}');`);
    db.close();
    const store = await openSqliteStore(file);
    t.after(() => store.close());
    assert.ok((await store.migrate()) >= 2);
    assert.equal((await store.auditTreeHead()).size, 0);
    await store.appendAuditLeaves((h) => auditAppend(h, ['first']));
    await assertAuditTree(store, 1);
    const check = new Database(file, { readonly: true });
    t.after(() => check.close());
    assert.deepEqual(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'audit_events'").get(), { n: 0 });
  });

  it('sequences appends from two connections to the same file', async (t) => {
    const file = freshFile();
    const a = await openSqliteStore(file);
    const b = await openSqliteStore(file);
    t.after(async () => {
      await a.close();
      await b.close();
    });
    await a.migrate();
    await b.migrate();
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).appendAuditLeaves((head) => auditAppend(head, [`writer-${i}`]))));
    await assertAuditTree(b, 10);
  });

  it('reports a closed store as STORE_IO', async () => {
    const store = await openSqliteStore(freshFile());
    await store.migrate();
    await store.close();
    await assert.rejects(store.getRun('run_1'), (error) => error instanceof StoreError && error.code === 'STORE_IO');
  });
});
