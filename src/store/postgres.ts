import { DatabaseError, escapeIdentifier, Pool, type PoolClient } from 'pg';
import { canonicalize } from '../crypto/jcs.js';
import type { AuditEvent } from '../model/audit.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { Deployment, DesiredState, Release } from '../model/release.js';
import type { RunRecord } from '../model/run.js';
import { type AuditHead, type EvidenceQuery, type Store, type StoreCapabilities, StoreError } from './port.js';
import {
  callBuild,
  checkExtendsHead,
  checkLimit,
  checkRevision,
  checkSeq,
  checkSameDecision,
  decodeRecord,
  encodeRecord,
  translateErrors,
  desiredFromRow,
  type DesiredRow,
  evidenceFromRow,
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
];

interface BodyRow {
  body: string;
}

/** bigint columns arrive as strings. */
interface HeadRow {
  seq: string;
  hash: string | null;
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

  appendAudit(build: (head: AuditHead | null) => AuditEvent): Promise<AuditEvent> {
    return this.#run('appending an audit event', () =>
      this.#transaction(async (client) => {
        // The row lock is held until commit, so appenders in every process take turns here.
        const { rows } = await client.query<HeadRow>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');
        const head = headFromRow(rows[0]);
        const event = callBuild(build, head);
        checkExtendsHead(head, event);
        await client.query('INSERT INTO audit_events (seq, hash, prev_hash, body) VALUES ($1, $2, $3, $4)', [
          event.seq,
          event.hash,
          event.prevHash,
          encodeRecord(event),
        ]);
        await client.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [event.seq, event.hash]);
        return event;
      }),
    );
  }

  async listAudit(fromSeq: number, limit: number): Promise<AuditEvent[]> {
    checkSeq(fromSeq);
    checkLimit(limit);
    return this.#run('listing audit events', async () => {
      const { rows } = await this.#pool.query<BodyRow>('SELECT body FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2', [fromSeq, limit]);
      return rows.map((row) => decodeRecord<AuditEvent>(row.body));
    });
  }

  auditHead(): Promise<AuditHead | null> {
    return this.#run('reading the audit head', async () => {
      const { rows } = await this.#pool.query<HeadRow>('SELECT seq, hash FROM audit_head WHERE id = 1');
      return headFromRow(rows[0]);
    });
  }
}

function headFromRow(row: HeadRow | undefined): AuditHead | null {
  if (!row) throw new StoreError('STORE_MIGRATION', 'the audit_head row is missing; run migrate()');
  const seq = Number(row.seq);
  if (seq === 0 || row.hash === null) return null;
  return { seq, hash: row.hash };
}
