import { DatabaseError, escapeIdentifier, Pool, type PoolClient } from 'pg';
import { canonicalize } from '../crypto/jcs.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { Deployment, DesiredState, Release } from '../model/release.js';
import type { RunRecord } from '../model/run.js';
import {
  type AuditAppend,
  type AuditCheckpointRow,
  type AuditHashRow,
  type AuditLeafRow,
  type AuditTreeHead,
  type EvidenceQuery,
  type Lease,
  type OperationRecord,
  type ReleaseHistoryEntry,
  type ReleasePin,
  type RolloutRecord,
  type Store,
  type StoreCapabilities,
  StoreError,
} from './port.js';
import {
  callBack,
  checkAppendExtends,
  checkCheckpointRow,
  checkIndex,
  checkLimit,
  checkRevision,
  checkSameDecision,
  decodeCosignatures,
  decodeFrontier,
  decodeRecord,
  encodeCosignatures,
  encodeFrontier,
  encodeRecord,
  translateErrors,
  desiredFromRow,
  type DesiredRow,
  evidenceFromRow,
  leaseFromRow,
  type LeaseRow,
  operationFromRow,
  type OperationRow,
  pinFromRow,
  type PinRow,
  type ReleaseHistoryRow,
  releaseHistoryFromRow,
  rolloutFromRow,
  type RolloutRow,
  type EvidenceRow,
} from './rows.js';

/** Options for `openPostgresStore`. */
export interface PostgresStoreOptions {
  /**
   * Schema holding cairn's tables, created if missing and put first on every connection's
   * search_path (lowercase letters, digits and `_`). Without it the server's search_path applies.
   * An `options` parameter in the URL itself would replace this search_path, so give one or the other.
   */
  readonly schema?: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Schema steps in order; step i brings the database to version i + 1. Never edit a shipped step.
 * Record bodies are JSON text rather than jsonb so they round-trip exactly (jsonb reorders keys
 * and rejects `\u0000`); text columns compared or sorted use the "C" collation, as SQLite does.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    project text NOT NULL,
    started_at text COLLATE "C" NOT NULL,
    body text NOT NULL
  );
  CREATE INDEX runs_newest ON runs (started_at DESC, seq DESC);

  CREATE TABLE evidence (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    media_type text NOT NULL,
    run_id text,
    created_at text COLLATE "C" NOT NULL,
    UNIQUE (digest, kind, subject)
  );
  CREATE INDEX evidence_subject ON evidence (subject);
  CREATE INDEX evidence_run ON evidence (run_id);

  CREATE TABLE decisions (
    id text PRIMARY KEY,
    subject text NOT NULL,
    environment text NOT NULL,
    body text NOT NULL
  );
  CREATE INDEX decisions_subject ON decisions (subject);

  CREATE TABLE desired (
    environment text COLLATE "C" PRIMARY KEY,
    revision integer NOT NULL CHECK (revision > 0),
    release_digest text NOT NULL,
    release text NOT NULL,
    updated_at text NOT NULL
  );

  CREATE TABLE deployments (
    environment text PRIMARY KEY,
    release_digest text NOT NULL,
    body text NOT NULL
  );

  CREATE TABLE audit_events (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    hash text NOT NULL UNIQUE,
    prev_hash text NOT NULL UNIQUE,
    body text NOT NULL
  );

  -- The one row every appender locks: it serialises appends across processes.
  CREATE TABLE audit_head (
    id smallint PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text
  );
  INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);
  `,
  // The Merkle transparency log replaces the hash chain (whose events are dropped: none shipped).
  `
  DROP TABLE audit_events;
  DROP TABLE audit_head;

  -- subtrees: the roots of the perfect subtrees this leaf completed, level 1 upwards, 32 bytes each.
  CREATE TABLE audit_leaves (
    idx bigint PRIMARY KEY CHECK (idx >= 0),
    leaf bytea NOT NULL,
    leaf_hash bytea NOT NULL,
    subtrees bytea NOT NULL
  );

  -- The one row every appender locks (the sequencer): size, root and the frontier
  -- (perfect-subtree roots covering [0, size), largest first).
  CREATE TABLE audit_tree (
    id smallint PRIMARY KEY CHECK (id = 1),
    size bigint NOT NULL CHECK (size >= 0),
    root bytea NOT NULL,
    frontier bytea NOT NULL
  );
  INSERT INTO audit_tree (id, size, root, frontier) VALUES (1, 0, decode('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex'), ''::bytea);

  CREATE TABLE audit_checkpoints (
    size bigint PRIMARY KEY CHECK (size >= 0),
    root bytea NOT NULL,
    note text NOT NULL,
    cosignatures text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    published_at text
  );
  CREATE INDEX audit_checkpoints_published ON audit_checkpoints (size) WHERE published_at IS NOT NULL;
  `,
  `
  -- Rollouts: fenced leases, operations keyed by idempotency key, rollout state, rollback pins.
  CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL CHECK (epoch > 0),
    expires_at text NOT NULL
  );
  CREATE TABLE operations (
    id text PRIMARY KEY,
    environment text NOT NULL,
    epoch bigint NOT NULL,
    body text NOT NULL
  );
  CREATE TABLE rollouts (
    environment text PRIMARY KEY,
    revision bigint NOT NULL CHECK (revision > 0),
    epoch bigint NOT NULL,
    body text NOT NULL
  );
  CREATE TABLE pins (
    environment text PRIMARY KEY,
    release_digest text NOT NULL,
    blocked_digest text NOT NULL,
    reason text NOT NULL,
    pinned_at text NOT NULL
  );
  `,
  `
  -- Release history: what was promoted, restored or rolled back in each environment, in order.
  CREATE TABLE release_history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment text NOT NULL,
    release_digest text NOT NULL,
    artifact_digest text NOT NULL,
    event text NOT NULL,
    at text NOT NULL,
    detail text NOT NULL
  );
  CREATE INDEX release_history_environment ON release_history (environment, seq);
  `,
];

interface BodyRow {
  body: string;
}

/** bigint columns arrive as strings. */
interface TreeRow {
  size: string;
  root: Buffer;
  frontier: Buffer;
}

interface LeafRow {
  idx: string;
  leaf: Buffer;
  leaf_hash: Buffer;
  subtrees: Buffer;
}

interface CheckpointRow {
  size: string;
  root: Buffer;
  note: string;
  cosignatures: string;
  created_at: string;
  published_at: string | null;
}

/**
 * Opens a PostgreSQL store over a connection pool for `url` (`postgres://…`). Call `migrate()`
 * before use; `openStore` does so.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const { schema } = options;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new TypeError(`invalid PostgreSQL schema name: ${JSON.stringify(schema)}`);
  // A search_path given as a startup option is in force before the first query on every connection.
  const pool = new Pool({ connectionString: url, ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }) });
  // Without a listener, an idle connection dropped by the server would crash the process; the next query reports it instead.
  pool.on('error', () => {});
  if (schema !== undefined) {
    try {
      await translateErrors(`creating schema ${schema}`, () => createSchema(pool, schema));
    } catch (error) {
      await pool.end();
      throw error;
    }
  }
  return new PostgresStore(pool);
}

async function createSchema(pool: Pool, schema: string): Promise<void> {
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(schema)}`);
  } catch (error) {
    // Two openers racing: IF NOT EXISTS is not atomic, and the loser sees the winner's schema.
    if (error instanceof DatabaseError && (error.code === '42P06' || error.code === '23505')) return;
    throw error;
  }
}

class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { dialect: 'postgres', sharedWriters: true };
  readonly #pool: Pool;
  #closed = false;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  #run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return translateErrors(what, operation);
  }

  async #transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      // A connection that could not roll back is discarded rather than returned to the pool.
      client.release(broken);
    }
  }

  migrate(): Promise<number> {
    return this.#run('migrating the PostgreSQL store', () =>
      this.#transaction(async (client) => {
        // Held until commit: concurrent migrators of the same schema run one after the other.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('cairn.migrate:' || coalesce(current_schema(), '')))`);
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
        const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
        const current = rows[0]?.version ?? 0;
        if (current > MIGRATIONS.length) {
          throw new StoreError('STORE_MIGRATION', `the database is at schema version ${current}, newer than this cairn knows (${MIGRATIONS.length})`);
        }
        for (const [i, step] of MIGRATIONS.slice(current).entries()) {
          await client.query(step);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [current + i + 1]);
        }
        return MIGRATIONS.length;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  putRun(run: RunRecord): Promise<void> {
    return this.#run('storing a run', async () => {
      const result = await this.#pool.query('INSERT INTO runs (id, project, started_at, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [
        run.id,
        run.project,
        run.startedAt,
        encodeRecord(run),
      ]);
      if (result.rowCount !== 1) throw new StoreError('STORE_CONFLICT', `a run with id ${run.id} already exists`);
    });
  }

  updateRun(run: RunRecord): Promise<void> {
    return this.#run('updating a run', async () => {
      const result = await this.#pool.query('UPDATE runs SET project = $1, started_at = $2, body = $3 WHERE id = $4', [
        run.project,
        run.startedAt,
        encodeRecord(run),
        run.id,
      ]);
      if (result.rowCount !== 1) throw new StoreError('STORE_NOT_FOUND', `no run with id ${run.id}`);
    });
  }

  getRun(id: string): Promise<RunRecord | null> {
    return this.#run('reading a run', async () => {
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM runs WHERE id = $1', [id]);
      return rows[0] ? decodeRecord<RunRecord>(rows[0].body) : null;
    });
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    checkLimit(limit);
    return this.#run('listing runs', async () => {
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM runs ORDER BY started_at DESC, seq DESC LIMIT $1', [limit]);
      return rows.map((row) => decodeRecord<RunRecord>(row.body));
    });
  }

  putEvidence(record: EvidenceRecord): Promise<void> {
    return this.#run('storing evidence', async () => {
      await this.#pool.query(
        `INSERT INTO evidence (digest, kind, subject, media_type, run_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (digest, kind, subject) DO NOTHING`,
        [record.digest, record.kind, record.subject, record.mediaType, record.runId, record.createdAt],
      );
    });
  }

  listEvidence(query: EvidenceQuery): Promise<EvidenceRecord[]> {
    return this.#run('listing evidence', async () => {
      // A NULL parameter switches its filter off, so one statement serves every query shape.
      const { rows } = await this.#pool.query<EvidenceRow>(
        `SELECT digest, kind, subject, media_type, run_id, created_at FROM evidence
         WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR run_id = $3)
         ORDER BY created_at, seq`,
        [query.subject ?? null, query.kind ?? null, query.runId ?? null],
      );
      return rows.map(evidenceFromRow);
    });
  }

  async putDecision(decision: GateDecision): Promise<void> {
    const canonical = canonicalize(decision);
    return this.#run('storing a gate decision', async () => {
      const result = await this.#pool.query('INSERT INTO decisions (id, subject, environment, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [
        decision.id,
        decision.subject,
        decision.environment,
        encodeRecord(decision),
      ]);
      if (result.rowCount === 1) return;
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM decisions WHERE id = $1', [decision.id]);
      const stored = rows[0];
      if (!stored) throw new StoreError('STORE_IO', `gate decision ${decision.id} was neither inserted nor found`);
      checkSameDecision(decodeRecord<GateDecision>(stored.body), canonical);
    });
  }

  getDecision(id: string): Promise<GateDecision | null> {
    return this.#run('reading a gate decision', async () => {
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM decisions WHERE id = $1', [id]);
      return rows[0] ? decodeRecord<GateDecision>(rows[0].body) : null;
    });
  }

  async setDesired(environment: string, release: Release, releaseDigest: Digest, expectedRevision: number, now: string): Promise<DesiredState> {
    checkRevision(expectedRevision);
    return this.#run('setting the desired state', async () => {
      const revision = expectedRevision + 1;
      const body = encodeRecord(release);
      // Each statement is its own atomic compare-and-set: a lost race matches no row.
      const result =
        expectedRevision === 0
          ? await this.#pool.query(
              `INSERT INTO desired (environment, revision, release_digest, release, updated_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (environment) DO NOTHING`,
              [environment, revision, releaseDigest, body, now],
            )
          : await this.#pool.query(
              'UPDATE desired SET revision = $1, release_digest = $2, release = $3, updated_at = $4 WHERE environment = $5 AND revision = $6',
              [revision, releaseDigest, body, now, environment, expectedRevision],
            );
      if (result.rowCount !== 1) {
        throw new StoreError('STORE_CONFLICT', `the desired state of ${environment} is no longer at revision ${expectedRevision}`);
      }
      return { environment, release, releaseDigest, revision, updatedAt: now };
    });
  }

  getDesired(environment: string): Promise<DesiredState | null> {
    return this.#run('reading the desired state', async () => {
      const { rows } = await this.#pool.query<DesiredRow>('SELECT * FROM desired WHERE environment = $1', [environment]);
      return rows[0] ? desiredFromRow(rows[0]) : null;
    });
  }

  listDesired(): Promise<DesiredState[]> {
    return this.#run('listing desired states', async () => {
      const { rows } = await this.#pool.query<DesiredRow>('SELECT * FROM desired ORDER BY environment');
      return rows.map(desiredFromRow);
    });
  }

  putDeployment(deployment: Deployment): Promise<void> {
    return this.#run('storing a deployment', async () => {
      await this.#pool.query(
        `INSERT INTO deployments (environment, release_digest, body) VALUES ($1, $2, $3)
         ON CONFLICT (environment) DO UPDATE SET release_digest = excluded.release_digest, body = excluded.body`,
        [deployment.environment, deployment.releaseDigest, encodeRecord(deployment)],
      );
    });
  }

  getDeployment(environment: string): Promise<Deployment | null> {
    return this.#run('reading a deployment', async () => {
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM deployments WHERE environment = $1', [environment]);
      return rows[0] ? decodeRecord<Deployment>(rows[0].body) : null;
    });
  }

  appendAuditLeaves(build: (head: AuditTreeHead) => AuditAppend): Promise<AuditAppend> {
    return this.#run('appending to the audit log', () =>
      this.#transaction(async (client) => {
        // The sequencer: the row lock is held until commit, so appenders in every process take turns here.
        const { rows } = await client.query<TreeRow>('SELECT size, root, frontier FROM audit_tree WHERE id = 1 FOR UPDATE');
        const head = treeHeadFromRow(rows[0]);
        const append = callBack(build, head);
        checkAppendExtends(head, append);
        if (append.leaves.length > 0) {
          await client.query(
            'INSERT INTO audit_leaves (idx, leaf, leaf_hash, subtrees) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])',
            [append.leaves.map((l) => l.index), append.leaves.map((l) => l.leaf), append.leaves.map((l) => l.leafHash), append.leaves.map((l) => l.subtrees)],
          );
        }
        await client.query('UPDATE audit_tree SET size = $1, root = $2, frontier = $3 WHERE id = 1', [
          append.head.size,
          append.head.rootHash,
          encodeFrontier(append.head.frontier),
        ]);
        return append;
      }),
    );
  }

  auditTreeHead(): Promise<AuditTreeHead> {
    return this.#run('reading the audit tree head', async () => {
      const { rows } = await this.#pool.query<TreeRow>('SELECT size, root, frontier FROM audit_tree WHERE id = 1');
      return treeHeadFromRow(rows[0]);
    });
  }

  async listAuditLeaves(fromIndex: number, limit: number): Promise<AuditLeafRow[]> {
    checkIndex(fromIndex, 'fromIndex');
    checkLimit(limit);
    return this.#run('listing audit leaves', async () => {
      const { rows } = await this.#pool.query<LeafRow>('SELECT idx, leaf, leaf_hash, subtrees FROM audit_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2', [
        fromIndex,
        limit,
      ]);
      return rows.map((row) => ({ index: Number(row.idx), leaf: row.leaf, leafHash: row.leaf_hash, subtrees: row.subtrees }));
    });
  }

  async getAuditHashes(indexes: readonly number[]): Promise<AuditHashRow[]> {
    for (const index of indexes) checkIndex(index, 'index');
    return this.#run('reading audit hashes', async () => {
      const { rows } = await this.#pool.query<Omit<LeafRow, 'leaf'>>(
        'SELECT idx, leaf_hash, subtrees FROM audit_leaves WHERE idx = ANY($1::bigint[]) ORDER BY idx',
        [indexes],
      );
      return rows.map((row) => ({ index: Number(row.idx), leafHash: row.leaf_hash, subtrees: row.subtrees }));
    });
  }

  async putAuditCheckpoint(checkpoint: AuditCheckpointRow): Promise<AuditCheckpointRow> {
    checkCheckpointRow(checkpoint);
    return this.#run('storing an audit checkpoint', async () => {
      await this.#pool.query(
        `INSERT INTO audit_checkpoints (size, root, note, cosignatures, created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (size) DO NOTHING`,
        [checkpoint.size, checkpoint.rootHash, checkpoint.note, encodeCosignatures(checkpoint.cosignatures), checkpoint.createdAt, checkpoint.publishedAt],
      );
      const { rows } = await this.#pool.query<CheckpointRow>('SELECT * FROM audit_checkpoints WHERE size = $1', [checkpoint.size]);
      const stored = rows[0] ? checkpointFromRow(rows[0]) : null;
      if (stored?.note !== checkpoint.note) throw new StoreError('STORE_CONFLICT', `a different checkpoint of size ${checkpoint.size} is already stored`);
      return stored;
    });
  }

  updateAuditCheckpoint(
    size: number,
    update: (current: AuditCheckpointRow) => Pick<AuditCheckpointRow, 'cosignatures' | 'publishedAt'>,
  ): Promise<AuditCheckpointRow> {
    return this.#run('updating an audit checkpoint', () =>
      this.#transaction(async (client) => {
        const { rows } = await client.query<CheckpointRow>('SELECT * FROM audit_checkpoints WHERE size = $1 FOR UPDATE', [size]);
        if (!rows[0]) throw new StoreError('STORE_NOT_FOUND', `no checkpoint of size ${size}`);
        const current = checkpointFromRow(rows[0]);
        // A bad update is the caller's error, passed through like one its callback threw.
        const next = callBack((row: AuditCheckpointRow) => {
          const updated = { ...row, ...update(row) };
          checkCheckpointRow(updated);
          return updated;
        }, current);
        await client.query('UPDATE audit_checkpoints SET cosignatures = $1, published_at = $2 WHERE size = $3', [
          encodeCosignatures(next.cosignatures),
          next.publishedAt,
          size,
        ]);
        return next;
      }),
    );
  }

  listAuditCheckpoints(): Promise<AuditCheckpointRow[]> {
    return this.#run('listing audit checkpoints', async () => {
      const { rows } = await this.#pool.query<CheckpointRow>('SELECT * FROM audit_checkpoints ORDER BY size');
      return rows.map(checkpointFromRow);
    });
  }

  acquireLease(name: string, holder: string, now: string, expiresAt: string): Promise<Lease | null> {
    return this.#run('acquiring a lease', async () => {
      // One statement: take a free, expired or own lease and bump its epoch; a live foreign lease matches nothing.
      const { rows } = await this.#pool.query<LeaseRow>(
        `INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1, expires_at = excluded.expires_at
         WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder
         RETURNING name, holder, epoch, expires_at`,
        [name, holder, expiresAt, now],
      );
      return rows[0] ? leaseFromRow(rows[0]) : null;
    });
  }

  renewLease(lease: Lease, now: string, expiresAt: string): Promise<Lease> {
    return this.#run('renewing a lease', async () => {
      const result = await this.#pool.query('UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND epoch = $4 AND expires_at > $5', [
        expiresAt,
        lease.name,
        lease.holder,
        lease.epoch,
        now,
      ]);
      if (result.rowCount !== 1) throw new StoreError('STORE_CONFLICT', `lease ${lease.name} at epoch ${lease.epoch} is no longer held by ${lease.holder}`);
      return { ...lease, expiresAt };
    });
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.#run('releasing a lease', async () => {
      await this.#pool.query("UPDATE leases SET expires_at = '' WHERE name = $1 AND holder = $2 AND epoch = $3", [lease.name, lease.holder, lease.epoch]);
    });
  }

  getLease(name: string): Promise<Lease | null> {
    return this.#run('reading a lease', async () => {
      const { rows } = await this.#pool.query<LeaseRow>('SELECT name, holder, epoch, expires_at FROM leases WHERE name = $1', [name]);
      return rows[0] ? leaseFromRow(rows[0]) : null;
    });
  }

  putOperation(record: OperationRecord): Promise<OperationRecord> {
    return this.#run('storing an operation', async () => {
      await this.#pool.query('INSERT INTO operations (id, environment, epoch, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [
        record.id,
        record.environment,
        record.epoch,
        record.body,
      ]);
      const { rows } = await this.#pool.query<OperationRow>('SELECT id, environment, epoch, body FROM operations WHERE id = $1', [record.id]);
      if (!rows[0]) throw new StoreError('STORE_IO', `operation ${record.id} vanished after it was stored`);
      return operationFromRow(rows[0]);
    });
  }

  getOperation(id: string): Promise<OperationRecord | null> {
    return this.#run('reading an operation', async () => {
      const { rows } = await this.#pool.query<OperationRow>('SELECT id, environment, epoch, body FROM operations WHERE id = $1', [id]);
      return rows[0] ? operationFromRow(rows[0]) : null;
    });
  }

  async putRollout(environment: string, body: string, expectedRevision: number, lease: Lease, now: string): Promise<RolloutRecord> {
    checkRevision(expectedRevision);
    return this.#run('storing a rollout', async () => {
      const revision = expectedRevision + 1;
      // The lease check and the compare-and-set are one statement: a holder that lost its lease writes nothing.
      const live = 'EXISTS (SELECT 1 FROM leases WHERE name = $5 AND holder = $6 AND epoch = $3 AND expires_at > $7)';
      const result =
        expectedRevision === 0
          ? await this.#pool.query(
              `INSERT INTO rollouts (environment, revision, epoch, body) SELECT $1, $2::bigint, $3::bigint, $4 WHERE ${live} ON CONFLICT (environment) DO NOTHING`,
              [environment, revision, lease.epoch, body, lease.name, lease.holder, now],
            )
          : await this.#pool.query(`UPDATE rollouts SET revision = $2, epoch = $3, body = $4 WHERE environment = $1 AND revision = $8 AND ${live}`, [
              environment,
              revision,
              lease.epoch,
              body,
              lease.name,
              lease.holder,
              now,
              expectedRevision,
            ]);
      if (result.rowCount !== 1)
        throw new StoreError('STORE_CONFLICT', `the rollout of ${environment} moved past revision ${expectedRevision} or lease epoch ${lease.epoch} was lost`);
      return { environment, revision, epoch: lease.epoch, body };
    });
  }

  getRollout(environment: string): Promise<RolloutRecord | null> {
    return this.#run('reading a rollout', async () => {
      const { rows } = await this.#pool.query<RolloutRow>('SELECT environment, revision, epoch, body FROM rollouts WHERE environment = $1', [environment]);
      return rows[0] ? rolloutFromRow(rows[0]) : null;
    });
  }

  appendReleaseHistory(entry: Omit<ReleaseHistoryEntry, 'seq'>): Promise<ReleaseHistoryEntry> {
    return this.#run('recording release history', async () => {
      const { rows } = await this.#pool.query<ReleaseHistoryRow>(
        'INSERT INTO release_history (environment, release_digest, artifact_digest, event, at, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
        [entry.environment, entry.releaseDigest, entry.artifactDigest, entry.event, entry.at, entry.detail],
      );
      if (!rows[0]) throw new StoreError('STORE_IO', 'the release history insert returned no row');
      return releaseHistoryFromRow(rows[0]);
    });
  }

  listReleaseHistory(environment: string, limit: number): Promise<ReleaseHistoryEntry[]> {
    return this.#run('reading release history', async () => {
      const { rows } = await this.#pool.query<ReleaseHistoryRow>('SELECT * FROM release_history WHERE environment = $1 ORDER BY seq DESC LIMIT $2', [
        environment,
        limit,
      ]);
      return rows.map(releaseHistoryFromRow);
    });
  }

  putPin(pin: ReleasePin): Promise<void> {
    return this.#run('pinning a release', async () => {
      await this.#pool.query(
        `INSERT INTO pins (environment, release_digest, blocked_digest, reason, pinned_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (environment) DO UPDATE SET release_digest = excluded.release_digest, blocked_digest = excluded.blocked_digest, reason = excluded.reason, pinned_at = excluded.pinned_at`,
        [pin.environment, pin.releaseDigest, pin.blockedDigest, pin.reason, pin.pinnedAt],
      );
    });
  }

  getPin(environment: string): Promise<ReleasePin | null> {
    return this.#run('reading a pin', async () => {
      const { rows } = await this.#pool.query<PinRow>('SELECT * FROM pins WHERE environment = $1', [environment]);
      return rows[0] ? pinFromRow(rows[0]) : null;
    });
  }

  deletePin(environment: string): Promise<boolean> {
    return this.#run('removing a pin', async () => (await this.#pool.query('DELETE FROM pins WHERE environment = $1', [environment])).rowCount === 1);
  }

  latestAuditCheckpoint(published: boolean): Promise<AuditCheckpointRow | null> {
    return this.#run('reading the latest audit checkpoint', async () => {
      const { rows } = await this.#pool.query<CheckpointRow>(
        published
          ? 'SELECT * FROM audit_checkpoints WHERE published_at IS NOT NULL ORDER BY size DESC LIMIT 1'
          : 'SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1',
      );
      return rows[0] ? checkpointFromRow(rows[0]) : null;
    });
  }
}

function treeHeadFromRow(row: TreeRow | undefined): AuditTreeHead {
  if (!row) throw new StoreError('STORE_MIGRATION', 'the audit_tree row is missing; run migrate()');
  return { size: Number(row.size), rootHash: row.root, frontier: decodeFrontier(row.frontier) };
}

function checkpointFromRow(row: CheckpointRow): AuditCheckpointRow {
  return {
    size: Number(row.size),
    rootHash: row.root,
    note: row.note,
    cosignatures: decodeCosignatures(row.cosignatures),
    createdAt: row.created_at,
    publishedAt: row.published_at,
  };
}
