import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
  // The Merkle transparency log replaces the hash chain (whose events are dropped: none shipped).
  `
  DROP TABLE audit_events;

  -- subtrees: the roots of the perfect subtrees this leaf completed, level 1 upwards, 32 bytes each.
  CREATE TABLE audit_leaves (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    subtrees BLOB NOT NULL
  );

  -- The tree head: size, root and the frontier (perfect-subtree roots covering [0, size), largest first).
  CREATE TABLE audit_tree (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL,
    frontier BLOB NOT NULL
  );
  INSERT INTO audit_tree (id, size, root, frontier) VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'');

  CREATE TABLE audit_checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosignatures TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    published_at TEXT
  );
  CREATE INDEX audit_checkpoints_published ON audit_checkpoints (size) WHERE published_at IS NOT NULL;
  `,
  `
  -- Rollouts: fenced leases, operations keyed by idempotency key, rollout state, rollback pins.
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL CHECK (epoch > 0),
    expires_at TEXT NOT NULL
  );
  CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE rollouts (
    environment TEXT PRIMARY KEY,
    revision INTEGER NOT NULL CHECK (revision > 0),
    epoch INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE pins (
    environment TEXT PRIMARY KEY,
    release_digest TEXT NOT NULL,
    blocked_digest TEXT NOT NULL,
    reason TEXT NOT NULL,
    pinned_at TEXT NOT NULL
  );
  `,
  `
  -- Release history: what was promoted, restored or rolled back in each environment, in order.
  CREATE TABLE release_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    release_digest TEXT NOT NULL,
    artifact_digest TEXT NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  CREATE INDEX release_history_environment ON release_history (environment, seq);
  `,
];

/** A BLOB column; someone editing the file by hand may have stored text there instead. */
type Bytes = Buffer | string;

interface TreeRow {
  size: number;
  root: Bytes;
  frontier: Bytes;
}

interface LeafRow {
  idx: number;
  leaf: Bytes;
  leaf_hash: Bytes;
  subtrees: Bytes;
}

interface CheckpointRow {
  size: number;
  root: Bytes;
  note: string;
  cosignatures: string;
  created_at: string;
  published_at: string | null;
}

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
      // Every commit reaches the disk before it returns: an acknowledged audit entry survives power loss.
      this.#db.pragma('synchronous = FULL');
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

  appendAuditLeaves(build: (head: AuditTreeHead) => AuditAppend): Promise<AuditAppend> {
    return this.#run('appending to the audit log', () =>
      // IMMEDIATE takes the write lock before reading the head, so no other connection can append in between.
      this.#db
        .transaction(() => {
          const head = this.#treeHead();
          const append = callBack(build, head);
          checkAppendExtends(head, append);
          const insert = this.#sql('INSERT INTO audit_leaves (idx, leaf, leaf_hash, subtrees) VALUES (?, ?, ?, ?)');
          for (const leaf of append.leaves) insert.run(leaf.index, leaf.leaf, leaf.leafHash, leaf.subtrees);
          this.#sql('UPDATE audit_tree SET size = ?, root = ?, frontier = ? WHERE id = 1').run(
            append.head.size,
            append.head.rootHash,
            encodeFrontier(append.head.frontier),
          );
          return append;
        })
        .immediate(),
    );
  }

  auditTreeHead(): Promise<AuditTreeHead> {
    return this.#run('reading the audit tree head', () => this.#treeHead());
  }

  #treeHead(): AuditTreeHead {
    const row = this.#sql('SELECT size, root, frontier FROM audit_tree WHERE id = 1').get() as TreeRow | undefined;
    if (!row) throw new StoreError('STORE_MIGRATION', 'the audit_tree row is missing; run migrate()');
    return { size: row.size, rootHash: asBytes(row.root), frontier: decodeFrontier(asBytes(row.frontier)) };
  }

  async listAuditLeaves(fromIndex: number, limit: number): Promise<AuditLeafRow[]> {
    checkIndex(fromIndex, 'fromIndex');
    checkLimit(limit);
    return this.#run('listing audit leaves', () => {
      const rows = this.#sql('SELECT idx, leaf, leaf_hash, subtrees FROM audit_leaves WHERE idx >= ? ORDER BY idx LIMIT ?').all(fromIndex, limit) as LeafRow[];
      return rows.map((row) => ({ index: row.idx, leaf: asBytes(row.leaf), leafHash: asBytes(row.leaf_hash), subtrees: asBytes(row.subtrees) }));
    });
  }

  async getAuditHashes(indexes: readonly number[]): Promise<AuditHashRow[]> {
    for (const index of indexes) checkIndex(index, 'index');
    return this.#run('reading audit hashes', () => {
      const rows = this.#sql('SELECT idx, leaf_hash, subtrees FROM audit_leaves WHERE idx IN (SELECT value FROM json_each(?)) ORDER BY idx').all(
        JSON.stringify(indexes),
      ) as Omit<LeafRow, 'leaf'>[];
      return rows.map((row) => ({ index: row.idx, leafHash: asBytes(row.leaf_hash), subtrees: asBytes(row.subtrees) }));
    });
  }

  async putAuditCheckpoint(checkpoint: AuditCheckpointRow): Promise<AuditCheckpointRow> {
    checkCheckpointRow(checkpoint);
    return this.#run('storing an audit checkpoint', () =>
      this.#db
        .transaction(() => {
          this.#sql(
            `INSERT INTO audit_checkpoints (size, root, note, cosignatures, created_at, published_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (size) DO NOTHING`,
          ).run(
            checkpoint.size,
            checkpoint.rootHash,
            checkpoint.note,
            encodeCosignatures(checkpoint.cosignatures),
            checkpoint.createdAt,
            checkpoint.publishedAt,
          );
          const stored = this.#checkpoint(checkpoint.size);
          if (stored?.note !== checkpoint.note) throw new StoreError('STORE_CONFLICT', `a different checkpoint of size ${checkpoint.size} is already stored`);
          return stored;
        })
        .immediate(),
    );
  }

  updateAuditCheckpoint(
    size: number,
    update: (current: AuditCheckpointRow) => Pick<AuditCheckpointRow, 'cosignatures' | 'publishedAt'>,
  ): Promise<AuditCheckpointRow> {
    return this.#run('updating an audit checkpoint', () =>
      this.#db
        .transaction(() => {
          const current = this.#checkpoint(size);
          if (!current) throw new StoreError('STORE_NOT_FOUND', `no checkpoint of size ${size}`);
          // A bad update is the caller's error, passed through like one its callback threw.
          const next = callBack((row: AuditCheckpointRow) => {
            const updated = { ...row, ...update(row) };
            checkCheckpointRow(updated);
            return updated;
          }, current);
          this.#sql('UPDATE audit_checkpoints SET cosignatures = ?, published_at = ? WHERE size = ?').run(
            encodeCosignatures(next.cosignatures),
            next.publishedAt,
            size,
          );
          return next;
        })
        .immediate(),
    );
  }

  listAuditCheckpoints(): Promise<AuditCheckpointRow[]> {
    return this.#run('listing audit checkpoints', () => {
      const rows = this.#sql('SELECT * FROM audit_checkpoints ORDER BY size').all() as CheckpointRow[];
      return rows.map(checkpointFromRow);
    });
  }

  acquireLease(name: string, holder: string, now: string, expiresAt: string): Promise<Lease | null> {
    return this.#run('acquiring a lease', () => {
      // One statement: take a free, expired or own lease and bump its epoch; a live foreign lease matches nothing.
      const row = this.#sql(
        `INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, 1, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1, expires_at = excluded.expires_at
         WHERE leases.expires_at <= ? OR leases.holder = excluded.holder
         RETURNING name, holder, epoch, expires_at`,
      ).get(name, holder, expiresAt, now) as LeaseRow | undefined;
      return row ? leaseFromRow(row) : null;
    });
  }

  renewLease(lease: Lease, now: string, expiresAt: string): Promise<Lease> {
    return this.#run('renewing a lease', () => {
      const result = this.#sql('UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ? AND expires_at > ?').run(
        expiresAt,
        lease.name,
        lease.holder,
        lease.epoch,
        now,
      );
      if (result.changes !== 1) throw new StoreError('STORE_CONFLICT', `lease ${lease.name} at epoch ${lease.epoch} is no longer held by ${lease.holder}`);
      return { ...lease, expiresAt };
    });
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.#run('releasing a lease', () => {
      this.#sql("UPDATE leases SET expires_at = '' WHERE name = ? AND holder = ? AND epoch = ?").run(lease.name, lease.holder, lease.epoch);
    });
  }

  getLease(name: string): Promise<Lease | null> {
    return this.#run('reading a lease', () => {
      const row = this.#sql('SELECT name, holder, epoch, expires_at FROM leases WHERE name = ?').get(name) as LeaseRow | undefined;
      return row ? leaseFromRow(row) : null;
    });
  }

  putOperation(record: OperationRecord): Promise<OperationRecord> {
    return this.#run('storing an operation', () => {
      this.#sql('INSERT INTO operations (id, environment, epoch, body) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').run(
        record.id,
        record.environment,
        record.epoch,
        record.body,
      );
      return operationFromRow(this.#sql('SELECT id, environment, epoch, body FROM operations WHERE id = ?').get(record.id) as OperationRow);
    });
  }

  getOperation(id: string): Promise<OperationRecord | null> {
    return this.#run('reading an operation', () => {
      const row = this.#sql('SELECT id, environment, epoch, body FROM operations WHERE id = ?').get(id) as OperationRow | undefined;
      return row ? operationFromRow(row) : null;
    });
  }

  async putRollout(environment: string, body: string, expectedRevision: number, lease: Lease, now: string): Promise<RolloutRecord> {
    checkRevision(expectedRevision);
    return this.#run('storing a rollout', () => {
      const live = 'EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND epoch = ? AND expires_at > ?)';
      const fence = [lease.name, lease.holder, lease.epoch, now];
      const revision = expectedRevision + 1;
      const result =
        expectedRevision === 0
          ? this.#sql(`INSERT INTO rollouts (environment, revision, epoch, body) SELECT ?, ?, ?, ? WHERE ${live} ON CONFLICT (environment) DO NOTHING`).run(
              environment,
              revision,
              lease.epoch,
              body,
              ...fence,
            )
          : this.#sql(`UPDATE rollouts SET revision = ?, epoch = ?, body = ? WHERE environment = ? AND revision = ? AND ${live}`).run(
              revision,
              lease.epoch,
              body,
              environment,
              expectedRevision,
              ...fence,
            );
      if (result.changes !== 1)
        throw new StoreError('STORE_CONFLICT', `the rollout of ${environment} moved past revision ${expectedRevision} or lease epoch ${lease.epoch} was lost`);
      return { environment, revision, epoch: lease.epoch, body };
    });
  }

  getRollout(environment: string): Promise<RolloutRecord | null> {
    return this.#run('reading a rollout', () => {
      const row = this.#sql('SELECT environment, revision, epoch, body FROM rollouts WHERE environment = ?').get(environment) as RolloutRow | undefined;
      return row ? rolloutFromRow(row) : null;
    });
  }

  appendReleaseHistory(entry: Omit<ReleaseHistoryEntry, 'seq'>): Promise<ReleaseHistoryEntry> {
    return this.#run('recording release history', () => {
      const row = this.#sql(
        'INSERT INTO release_history (environment, release_digest, artifact_digest, event, at, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING *',
      ).get(entry.environment, entry.releaseDigest, entry.artifactDigest, entry.event, entry.at, entry.detail) as ReleaseHistoryRow;
      return releaseHistoryFromRow(row);
    });
  }

  listReleaseHistory(environment: string, limit: number): Promise<ReleaseHistoryEntry[]> {
    return this.#run('reading release history', () =>
      (this.#sql('SELECT * FROM release_history WHERE environment = ? ORDER BY seq DESC LIMIT ?').all(environment, limit) as ReleaseHistoryRow[]).map(
        releaseHistoryFromRow,
      ),
    );
  }

  putPin(pin: ReleasePin): Promise<void> {
    return this.#run('pinning a release', () => {
      this.#sql(
        `INSERT INTO pins (environment, release_digest, blocked_digest, reason, pinned_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (environment) DO UPDATE SET release_digest = excluded.release_digest, blocked_digest = excluded.blocked_digest, reason = excluded.reason, pinned_at = excluded.pinned_at`,
      ).run(pin.environment, pin.releaseDigest, pin.blockedDigest, pin.reason, pin.pinnedAt);
    });
  }

  getPin(environment: string): Promise<ReleasePin | null> {
    return this.#run('reading a pin', () => {
      const row = this.#sql('SELECT * FROM pins WHERE environment = ?').get(environment) as PinRow | undefined;
      return row ? pinFromRow(row) : null;
    });
  }

  deletePin(environment: string): Promise<boolean> {
    return this.#run('removing a pin', () => this.#sql('DELETE FROM pins WHERE environment = ?').run(environment).changes === 1);
  }

  latestAuditCheckpoint(published: boolean): Promise<AuditCheckpointRow | null> {
    return this.#run('reading the latest audit checkpoint', () => {
      const row = (
        published
          ? this.#sql('SELECT * FROM audit_checkpoints WHERE published_at IS NOT NULL ORDER BY size DESC LIMIT 1')
          : this.#sql('SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1')
      ).get() as CheckpointRow | undefined;
      return row ? checkpointFromRow(row) : null;
    });
  }

  #checkpoint(size: number): AuditCheckpointRow | null {
    const row = this.#sql('SELECT * FROM audit_checkpoints WHERE size = ?').get(size) as CheckpointRow | undefined;
    return row ? checkpointFromRow(row) : null;
  }
}

function checkpointFromRow(row: CheckpointRow): AuditCheckpointRow {
  return {
    size: row.size,
    rootHash: asBytes(row.root),
    note: row.note,
    cosignatures: decodeCosignatures(row.cosignatures),
    createdAt: row.created_at,
    publishedAt: row.published_at,
  };
}

function asBytes(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}
