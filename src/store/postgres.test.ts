import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { escapeIdentifier, Pool } from 'pg';
import { assertAuditTree, auditAppend, storeContract } from './contract.js';
import { StoreError } from './port.js';
import { openPostgresStore } from './postgres.js';

const url = process.env.CAIRN_TEST_PG_URL || undefined;
const skip = url === undefined ? 'CAIRN_TEST_PG_URL is not set' : false;

// CI must run the contract against both adapters: there, a missing database is a failure.
it('runs against PostgreSQL in CI', { skip: process.env.CI !== 'true' && 'only enforced when CI=true' }, () => {
  assert.ok(url, 'CAIRN_TEST_PG_URL must be set when CI=true (.ci/run sets it)');
});

describe('PostgreSQL store', { skip }, () => {
  const serverUrl = url ?? '';
  const schemas: string[] = [];

  /** A new schema name, dropped when the suite ends. */
  function freshSchema(): string {
    const schema = `cairn_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  }

  after(async () => {
    if (schemas.length === 0) return;
    const admin = new Pool({ connectionString: serverUrl, max: 1 });
    try {
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
    } finally {
      await admin.end();
    }
  });

  storeContract('postgres', () => openPostgresStore(serverUrl, { schema: freshSchema() }));

  it('reports its dialect and that it has shared writers', async (t) => {
    const store = await openPostgresStore(serverUrl, { schema: freshSchema() });
    t.after(() => store.close());
    assert.deepEqual(store.capabilities, { dialect: 'postgres', sharedWriters: true });
  });

  it('keeps stores in different schemas apart', async (t) => {
    const a = await openPostgresStore(serverUrl, { schema: freshSchema() });
    const b = await openPostgresStore(serverUrl, { schema: freshSchema() });
    t.after(async () => {
      await a.close();
      await b.close();
    });
    await a.migrate();
    await b.migrate();
    await a.appendAuditLeaves((head) => auditAppend(head, ['only-in-a']));
    assert.equal((await a.auditTreeHead()).size, 1);
    assert.equal((await b.auditTreeHead()).size, 0);
  });

  it('lets concurrent migrators of one schema finish at the same version', async (t) => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(serverUrl, { schema })));
    t.after(() => Promise.all(stores.map((s) => s.close())));
    const versions = await Promise.all(stores.map((s) => s.migrate()));
    assert.equal(new Set(versions).size, 1);
    assert.equal((await stores[0]?.auditTreeHead())?.size, 0);
  });

  it('refuses a database migrated by a newer cairn with STORE_MIGRATION', async (t) => {
    const schema = freshSchema();
    const store = await openPostgresStore(serverUrl, { schema });
    t.after(() => store.close());
    const version = await store.migrate();
    const admin = new Pool({ connectionString: serverUrl, max: 1 });
    try {
      await admin.query(`INSERT INTO ${escapeIdentifier(schema)}.schema_migrations (version) VALUES ($1)`, [version + 1]);
    } finally {
      await admin.end();
    }
    await assert.rejects(store.migrate(), (error) => error instanceof StoreError && error.code === 'STORE_MIGRATION');
  });

  it('migrates a schema of version 1 (the hash chain) to the Merkle log', async (t) => {
    const schema = freshSchema();
    const first = await openPostgresStore(serverUrl, { schema });
    await first.migrate();
    await first.close();
    const admin = new Pool({ connectionString: serverUrl, max: 1, options: `-c search_path=${schema}` });
    try {
      await admin.query(`DELETE FROM schema_migrations WHERE version > 1;
        DROP TABLE audit_leaves; DROP TABLE audit_tree; DROP TABLE audit_checkpoints;
      DROP TABLE leases; DROP TABLE operations; DROP TABLE rollouts; DROP TABLE pins; DROP TABLE release_history;
        CREATE TABLE audit_events (seq bigint PRIMARY KEY, hash text NOT NULL UNIQUE, prev_hash text NOT NULL UNIQUE, body text NOT NULL);
        CREATE TABLE audit_head (id smallint PRIMARY KEY, seq bigint NOT NULL, hash text);
        INSERT INTO audit_head VALUES (1, 1, '${'a'.repeat(64)}');
        INSERT INTO audit_events VALUES (1, '${'a'.repeat(64)}', '${'0'.repeat(64)}', '{}');`);
    } finally {
      await admin.end();
    }
    const store = await openPostgresStore(serverUrl, { schema });
    t.after(() => store.close());
    assert.ok((await store.migrate()) >= 2);
    assert.equal((await store.auditTreeHead()).size, 0);
    await store.appendAuditLeaves((h) => auditAppend(h, ['first']));
    await assertAuditTree(store, 1);
  });

  it('sequences concurrent appends from two stores (two pools) on one schema into one log', async (t) => {
    const schema = freshSchema();
    const a = await openPostgresStore(serverUrl, { schema });
    const b = await openPostgresStore(serverUrl, { schema });
    t.after(async () => {
      await a.close();
      await b.close();
    });
    await a.migrate();
    await b.migrate();
    const appends = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).appendAuditLeaves((head) => auditAppend(head, [`writer-${i % 2}-${i}`])));
    const appended = await Promise.all(appends);
    assert.equal(new Set(appended.map((e) => e.leaves[0]?.index)).size, 40);
    await assertAuditTree(a, 40);
    assert.deepEqual(await b.auditTreeHead(), await a.auditTreeHead());
  });

  it('lets one of two stores win a concurrent desired-state write', async (t) => {
    const schema = freshSchema();
    const a = await openPostgresStore(serverUrl, { schema });
    const b = await openPostgresStore(serverUrl, { schema });
    t.after(async () => {
      await a.close();
      await b.close();
    });
    await a.migrate();
    const release = {
      environment: 'prod',
      service: 'hello-service',
      artifactDigest: `sha256:${'1'.repeat(64)}`,
      configDigest: `sha256:${'2'.repeat(64)}`,
      decisionId: 'dec_1',
      provenanceDigest: `sha256:${'3'.repeat(64)}`,
      vsaDigest: `sha256:${'5'.repeat(64)}`,
      rollbackUnsafe: false,
    } as const;
    const results = await Promise.allSettled(
      [a, b, a, b].map((store) => store.setDesired('prod', release, `sha256:${'4'.repeat(64)}`, 0, '2025-01-01T00:00:00.000Z')),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal((await b.getDesired('prod'))?.revision, 1);
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await assert.rejects(openPostgresStore(serverUrl, { schema: 'x"; DROP SCHEMA public; --' }), TypeError);
  });

  it('reports an unreachable server as STORE_IO', async (t) => {
    const store = await openPostgresStore('postgres://postgres@127.0.0.1:1/none');
    t.after(() => store.close());
    await assert.rejects(store.migrate(), (error) => error instanceof StoreError && error.code === 'STORE_IO');
  });
});
