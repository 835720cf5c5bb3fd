import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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

/** How long a writer waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/** Schema steps in order; step i brings the database to version i + 1. Never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    started_at TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX runs_newest ON runs (started_at DESC, seq DESC);

  CREATE TABLE evidence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    media_type TEXT NOT NULL,
    run_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (digest, kind, subject)
  );
  CREATE INDEX evidence_subject ON evidence (subject);
  CREATE INDEX evidence_run ON evidence (run_id);

  CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    environment TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX decisions_subject ON decisions (subject);

  CREATE TABLE desired (
    environment TEXT PRIMARY KEY,
    revision INTEGER NOT NULL CHECK (revision > 0),
    release_digest TEXT NOT NULL,
    release TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );

  CREATE TABLE deployments (
    environment TEXT PRIMARY KEY,
    release_digest TEXT NOT NULL,
    body TEXT NOT NULL
  );

  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY CHECK (seq > 0),
    hash TEXT NOT NULL UNIQUE,
    prev_hash TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
  );
  `,
];

/**
 * Opens (creating it and its directory if needed) a SQLite store in `file`, in WAL mode with
 * foreign keys on; `:memory:` gives a private in-memory store. Call `migrate()` before use;
 * `openStore` does so.
 */
export async function openSqliteStore(file: string): Promise<Store> {
  return translateErrors('opening the SQLite store', () => new SqliteStore(file));
}

class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { dialect: 'sqlite', sharedWriters: false };
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.#db = new Database(file);
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.#db.pragma('foreign_keys = ON');
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /** Prepared statements are made on first use: the tables they name exist only after migrate(). */
  #sql(source: string): Database.Statement {
    let statement = this.#statements.get(source);
    if (!statement) {
      statement = this.#db.prepare(source);
      this.#statements.set(source, statement);
    }
    return statement;
  }

  #run<T>(what: string, operation: () => T): Promise<T> {
    return translateErrors(what, operation);
  }

  migrate(): Promise<number> {
    return this.#run('migrating the SQLite store', () =>
      this.#db
        .transaction(() => {
          this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
          const row = this.#db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null };
          const current = row.version ?? 0;
          if (current > MIGRATIONS.length) {
            throw new StoreError('STORE_MIGRATION', `the database is at schema version ${current}, newer than this cairn knows (${MIGRATIONS.length})`);
          }
          const record = this.#db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
          MIGRATIONS.slice(current).forEach((step, i) => {
            this.#db.exec(step);
            record.run(current + i + 1, new Date().toISOString());
          });
          return MIGRATIONS.length;
        })
        .immediate(),
    );
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  putRun(run: RunRecord): Promise<void> {
    return this.#run('storing a run', () => {
      const result = this.#sql('INSERT INTO runs (id, project, started_at, body) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').run(
        run.id,
        run.project,
        run.startedAt,
        encodeRecord(run),
      );
      if (result.changes !== 1) throw new StoreError('STORE_CONFLICT', `a run with id ${run.id} already exists`);
    });
  }

  updateRun(run: RunRecord): Promise<void> {
    return this.#run('updating a run', () => {
      const result = this.#sql('UPDATE runs SET project = ?, started_at = ?, body = ? WHERE id = ?').run(run.project, run.startedAt, encodeRecord(run), run.id);
      if (result.changes !== 1) throw new StoreError('STORE_NOT_FOUND', `no run with id ${run.id}`);
    });
  }

  getRun(id: string): Promise<RunRecord | null> {
    return this.#run('reading a run', () => {
      const row = this.#sql('SELECT body FROM runs WHERE id = ?').get(id) as { body: string } | undefined;
      return row ? decodeRecord<RunRecord>(row.body) : null;
    });
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    checkLimit(limit);
    return this.#run('listing runs', () => {
      const rows = this.#sql('SELECT body FROM runs ORDER BY started_at DESC, seq DESC LIMIT ?').all(limit) as { body: string }[];
      return rows.map((row) => decodeRecord<RunRecord>(row.body));
    });
  }

  putEvidence(record: EvidenceRecord): Promise<void> {
    return this.#run('storing evidence', () => {
      this.#sql(
        `INSERT INTO evidence (digest, kind, subject, media_type, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (digest, kind, subject) DO NOTHING`,
      ).run(record.digest, record.kind, record.subject, record.mediaType, record.runId, record.createdAt);
    });
  }

  listEvidence(query: EvidenceQuery): Promise<EvidenceRecord[]> {
    return this.#run('listing evidence', () => {
      // A NULL parameter switches its filter off, so one statement serves every query shape.
      const rows = this.#sql(
        `SELECT digest, kind, subject, media_type, run_id, created_at FROM evidence
         WHERE (@subject IS NULL OR subject = @subject) AND (@kind IS NULL OR kind = @kind) AND (@runId IS NULL OR run_id = @runId)
         ORDER BY created_at, seq`,
      ).all({ subject: query.subject ?? null, kind: query.kind ?? null, runId: query.runId ?? null }) as EvidenceRow[];
      return rows.map(evidenceFromRow);
    });
  }

  async putDecision(decision: GateDecision): Promise<void> {
    const canonical = canonicalize(decision);
    return this.#run('storing a gate decision', () => {
      const result = this.#sql('INSERT INTO decisions (id, subject, environment, body) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').run(
        decision.id,
        decision.subject,
        decision.environment,
        encodeRecord(decision),
      );
      if (result.changes === 1) return;
      const stored = this.#sql('SELECT body FROM decisions WHERE id = ?').get(decision.id) as { body: string };
      checkSameDecision(decodeRecord<GateDecision>(stored.body), canonical);
    });
  }

  getDecision(id: string): Promise<GateDecision | null> {
    return this.#run('reading a gate decision', () => {
      const row = this.#sql('SELECT body FROM decisions WHERE id = ?').get(id) as { body: string } | undefined;
      return row ? decodeRecord<GateDecision>(row.body) : null;
    });
  }

  async setDesired(environment: string, release: Release, releaseDigest: Digest, expectedRevision: number, now: string): Promise<DesiredState> {
    checkRevision(expectedRevision);
    return this.#run('setting the desired state', () => {
      const revision = expectedRevision + 1;
      const body = encodeRecord(release);
      const result =
        expectedRevision === 0
          ? this.#sql(
              `INSERT INTO desired (environment, revision, release_digest, release, updated_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (environment) DO NOTHING`,
            ).run(environment, revision, releaseDigest, body, now)
          : this.#sql('UPDATE desired SET revision = ?, release_digest = ?, release = ?, updated_at = ? WHERE environment = ? AND revision = ?').run(
              revision,
              releaseDigest,
              body,
              now,
              environment,
              expectedRevision,
            );
      if (result.changes !== 1) {
        throw new StoreError('STORE_CONFLICT', `the desired state of ${environment} is no longer at revision ${expectedRevision}`);
      }
      return { environment, release, releaseDigest, revision, updatedAt: now };
    });
  }

  getDesired(environment: string): Promise<DesiredState | null> {
    return this.#run('reading the desired state', () => {
      const row = this.#sql('SELECT * FROM desired WHERE environment = ?').get(environment) as DesiredRow | undefined;
      return row ? desiredFromRow(row) : null;
    });
  }

  listDesired(): Promise<DesiredState[]> {
    return this.#run('listing desired states', () => {
      const rows = this.#sql('SELECT * FROM desired ORDER BY environment').all() as DesiredRow[];
      return rows.map(desiredFromRow);
    });
  }

  putDeployment(deployment: Deployment): Promise<void> {
    return this.#run('storing a deployment', () => {
      this.#sql(
        `INSERT INTO deployments (environment, release_digest, body) VALUES (?, ?, ?)
         ON CONFLICT (environment) DO UPDATE SET release_digest = excluded.release_digest, body = excluded.body`,
      ).run(deployment.environment, deployment.releaseDigest, encodeRecord(deployment));
    });
  }

  getDeployment(environment: string): Promise<Deployment | null> {
    return this.#run('reading a deployment', () => {
      const row = this.#sql('SELECT body FROM deployments WHERE environment = ?').get(environment) as { body: string } | undefined;
      return row ? decodeRecord<Deployment>(row.body) : null;
    });
  }

  appendAudit(build: (head: AuditHead | null) => AuditEvent): Promise<AuditEvent> {
    return this.#run('appending an audit event', () =>
      // IMMEDIATE takes the write lock before reading the head, so no other connection can append in between.
      this.#db
        .transaction(() => {
          const head = this.#head();
          const event = callBuild(build, head);
          checkExtendsHead(head, event);
          this.#sql('INSERT INTO audit_events (seq, hash, prev_hash, body) VALUES (?, ?, ?, ?)').run(
            event.seq,
            event.hash,
            event.prevHash,
            encodeRecord(event),
          );
          return event;
        })
        .immediate(),
    );
  }

  async listAudit(fromSeq: number, limit: number): Promise<AuditEvent[]> {
    checkSeq(fromSeq);
    checkLimit(limit);
    return this.#run('listing audit events', () => {
      const rows = this.#sql('SELECT body FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?').all(fromSeq, limit) as { body: string }[];
      return rows.map((row) => decodeRecord<AuditEvent>(row.body));
    });
  }

  auditHead(): Promise<AuditHead | null> {
    return this.#run('reading the audit head', () => this.#head());
  }

  #head(): AuditHead | null {
    const row = this.#sql('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as AuditHead | undefined;
    return row ? { seq: row.seq, hash: row.hash } : null;
  }
}
