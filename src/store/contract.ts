import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import {
  appendToFrontier,
  EMPTY_FRONTIER,
  emptyRoot,
  type Frontier,
  leafHash,
  MerkleTree,
  nodeHash,
  rootFromFrontier,
  rootFromLeafHashes,
} from '../crypto/merkle.js';
import type { Digest } from '../model/digest.js';
import type { EvidenceRecord } from '../model/evidence.js';
import type { GateDecision } from '../model/gate.js';
import type { Deployment, Release } from '../model/release.js';
import type { RunRecord } from '../model/run.js';
import { type AuditAppend, type AuditCheckpointRow, type AuditLeafRow, type AuditTreeHead, type Store, StoreError, type StoreErrorCode } from './port.js';

/**
 * The behaviour every `Store` adapter must show. `open` must return a store over empty storage
 * (not yet migrated) on every call; the suite migrates it and closes it after each test.
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  /** A migrated, empty store that is closed when the test ends. */
  async function fresh(t: TestContext): Promise<Store> {
    const store = await open();
    t.after(() => store.close());
    await store.migrate();
    return store;
  }

  describe(`Store contract: ${name}`, () => {
    describe('migrate', () => {
      it('is idempotent: a second run applies nothing and reports the same version', async (t) => {
        const store = await open();
        t.after(() => store.close());
        const first = await store.migrate();
        const second = await store.migrate();
        assert.ok(Number.isSafeInteger(first) && first >= 1, `version ${first}`);
        assert.equal(second, first);
        assert.equal((await store.auditTreeHead()).size, 0);
      });
    });

    describe('runs', () => {
      it('returns null for an unknown run', async (t) => {
        const store = await fresh(t);
        assert.equal(await store.getRun('run_missing'), null);
      });

      it('stores a run and reads it back unchanged', async (t) => {
        const store = await fresh(t);
        const stored = run('run_1', '2025-01-01T00:00:00.000Z');
        await store.putRun(stored);
        assert.deepEqual(await store.getRun('run_1'), stored);
      });

      it('refuses a second run under the same id with STORE_CONFLICT and keeps the first', async (t) => {
        const store = await fresh(t);
        const first = run('run_1', '2025-01-01T00:00:00.000Z');
        await store.putRun(first);
        await rejectsWith(store.putRun({ ...first, project: 'other' }), 'STORE_CONFLICT');
        assert.deepEqual(await store.getRun('run_1'), first);
      });

      it('updateRun replaces the stored run', async (t) => {
        const store = await fresh(t);
        await store.putRun(run('run_1', '2025-01-01T00:00:00.000Z'));
        const finished: RunRecord = {
          ...run('run_1', '2025-01-01T00:00:00.000Z'),
          finishedAt: '2025-01-01T00:01:00.000Z',
          outcome: 'ok',
          stages: [{ stage: 'build', outcome: 'ok', ms: 1234, summary: 'built "app.tgz" ✓' }],
          artifactDigest: digest('artifact'),
        };
        await store.updateRun(finished);
        assert.deepEqual(await store.getRun('run_1'), finished);
      });

      it('updateRun of a missing run throws STORE_NOT_FOUND and creates nothing', async (t) => {
        const store = await fresh(t);
        await rejectsWith(store.updateRun(run('run_ghost', '2025-01-01T00:00:00.000Z')), 'STORE_NOT_FOUND');
        assert.equal(await store.getRun('run_ghost'), null);
        assert.deepEqual(await store.listRuns(10), []);
      });

      it('lists runs newest first (by startedAt), at most `limit`', async (t) => {
        const store = await fresh(t);
        await store.putRun(run('run_b', '2025-01-02T00:00:00.000Z'));
        await store.putRun(run('run_c', '2025-01-03T00:00:00.000Z'));
        await store.putRun(run('run_a', '2025-01-01T00:00:00.000Z'));
        assert.deepEqual(ids(await store.listRuns(10)), ['run_c', 'run_b', 'run_a']);
        assert.deepEqual(ids(await store.listRuns(2)), ['run_c', 'run_b']);
        assert.deepEqual(await store.listRuns(0), []);
      });

      it('lists runs that started at the same instant latest-stored first', async (t) => {
        const store = await fresh(t);
        await store.putRun(run('run_1', '2025-01-01T00:00:00.000Z'));
        await store.putRun(run('run_2', '2025-01-01T00:00:00.000Z'));
        assert.deepEqual(ids(await store.listRuns(10)), ['run_2', 'run_1']);
      });
    });

    describe('evidence', () => {
      it('is idempotent on (digest, kind, subject)', async (t) => {
        const store = await fresh(t);
        const record = evidence('sbom-1', 'sbom', 'app');
        await store.putEvidence(record);
        await store.putEvidence(record);
        await store.putEvidence({ ...record, createdAt: '2025-02-01T00:00:00.000Z' });
        assert.deepEqual(await store.listEvidence({}), [record]);
      });

      it('keeps records that share a digest but differ in kind or subject', async (t) => {
        const store = await fresh(t);
        const base = evidence('blob', 'sbom', 'app');
        const otherKind = { ...base, kind: 'build-log' } as const;
        const otherSubject = { ...base, subject: digest('other-app') };
        await store.putEvidence(base);
        await store.putEvidence(otherKind);
        await store.putEvidence(otherSubject);
        assert.equal((await store.listEvidence({})).length, 3);
      });

      it('filters by subject, kind and runId, alone and combined', async (t) => {
        const store = await fresh(t);
        const appSbom = evidence('s1', 'sbom', 'app', 'run_1', '2025-01-01T00:00:01.000Z');
        const appProv = evidence('p1', 'provenance', 'app', 'run_1', '2025-01-01T00:00:02.000Z');
        const libSbom = evidence('s2', 'sbom', 'lib', 'run_2', '2025-01-01T00:00:03.000Z');
        const libLog = evidence('l2', 'build-log', 'lib', null, '2025-01-01T00:00:04.000Z');
        for (const record of [libLog, appProv, libSbom, appSbom]) await store.putEvidence(record);

        assert.deepEqual(await store.listEvidence({}), [appSbom, appProv, libSbom, libLog]);
        assert.deepEqual(await store.listEvidence({ subject: digest('app') }), [appSbom, appProv]);
        assert.deepEqual(await store.listEvidence({ kind: 'sbom' }), [appSbom, libSbom]);
        assert.deepEqual(await store.listEvidence({ runId: 'run_2' }), [libSbom]);
        assert.deepEqual(await store.listEvidence({ subject: digest('lib'), kind: 'build-log' }), [libLog]);
        assert.deepEqual(await store.listEvidence({ subject: digest('app'), kind: 'sbom', runId: 'run_1' }), [appSbom]);
        assert.deepEqual(await store.listEvidence({ subject: digest('app'), runId: 'run_2' }), []);
        assert.deepEqual(await store.listEvidence({ kind: 'release' }), []);
      });
    });

    describe('gate decisions', () => {
      it('returns null for an unknown decision', async (t) => {
        const store = await fresh(t);
        assert.equal(await store.getDecision('dec_missing'), null);
      });

      it('stores a decision and reads it back unchanged', async (t) => {
        const store = await fresh(t);
        await store.putDecision(decision('dec_1', true));
        assert.deepEqual(await store.getDecision('dec_1'), decision('dec_1', true));
      });

      it('accepts the same decision again, whatever the key order', async (t) => {
        const store = await fresh(t);
        const original = decision('dec_1', true);
        await store.putDecision(original);
        await store.putDecision(reversedKeys(original));
        assert.deepEqual(await store.getDecision('dec_1'), original);
      });

      it('refuses a different decision under the same id with STORE_CONFLICT and keeps the first', async (t) => {
        const store = await fresh(t);
        await store.putDecision(decision('dec_1', true));
        await rejectsWith(store.putDecision(decision('dec_1', false)), 'STORE_CONFLICT');
        assert.deepEqual(await store.getDecision('dec_1'), decision('dec_1', true));
      });
    });

    describe('desired state', () => {
      it('is empty before the first write', async (t) => {
        const store = await fresh(t);
        assert.equal(await store.getDesired('dev'), null);
        assert.deepEqual(await store.listDesired(), []);
      });

      it('creates an environment at revision 1 when the expected revision is 0', async (t) => {
        const store = await fresh(t);
        const written = await store.setDesired('dev', release('dev', 'v1'), digest('rel-v1'), 0, '2025-01-01T00:00:00.000Z');
        const expected = {
          environment: 'dev',
          release: release('dev', 'v1'),
          releaseDigest: digest('rel-v1'),
          revision: 1,
          updatedAt: '2025-01-01T00:00:00.000Z',
        };
        assert.deepEqual(written, expected);
        assert.deepEqual(await store.getDesired('dev'), expected);
      });

      it('increments the revision on each write that states the current one', async (t) => {
        const store = await fresh(t);
        await store.setDesired('dev', release('dev', 'v1'), digest('rel-v1'), 0, '2025-01-01T00:00:00.000Z');
        const second = await store.setDesired('dev', release('dev', 'v2'), digest('rel-v2'), 1, '2025-01-02T00:00:00.000Z');
        const third = await store.setDesired('dev', release('dev', 'v3'), digest('rel-v3'), 2, '2025-01-03T00:00:00.000Z');
        assert.equal(second.revision, 2);
        assert.equal(third.revision, 3);
        assert.deepEqual(await store.getDesired('dev'), third);
      });

      it('refuses a stale revision with STORE_CONFLICT and leaves the state unchanged', async (t) => {
        const store = await fresh(t);
        await store.setDesired('dev', release('dev', 'v1'), digest('rel-v1'), 0, '2025-01-01T00:00:00.000Z');
        const current = await store.setDesired('dev', release('dev', 'v2'), digest('rel-v2'), 1, '2025-01-02T00:00:00.000Z');
        await rejectsWith(store.setDesired('dev', release('dev', 'v3'), digest('rel-v3'), 1, '2025-01-03T00:00:00.000Z'), 'STORE_CONFLICT');
        await rejectsWith(store.setDesired('dev', release('dev', 'v3'), digest('rel-v3'), 0, '2025-01-03T00:00:00.000Z'), 'STORE_CONFLICT');
        await rejectsWith(store.setDesired('dev', release('dev', 'v3'), digest('rel-v3'), 5, '2025-01-03T00:00:00.000Z'), 'STORE_CONFLICT');
        assert.deepEqual(await store.getDesired('dev'), current);
      });

      it('refuses a non-zero revision for an environment that has none, creating nothing', async (t) => {
        const store = await fresh(t);
        await rejectsWith(store.setDesired('prod', release('prod', 'v1'), digest('rel-v1'), 1, '2025-01-01T00:00:00.000Z'), 'STORE_CONFLICT');
        assert.equal(await store.getDesired('prod'), null);
      });

      it('lets exactly one of several concurrent writers at the same revision win', async (t) => {
        const store = await fresh(t);
        const writers = Array.from({ length: 8 }, (_, i) =>
          store.setDesired('dev', release('dev', `v${i}`), digest(`rel-v${i}`), 0, '2025-01-01T00:00:00.000Z'),
        );
        const results = await Promise.allSettled(writers);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        assert.equal(won.length, 1);
        for (const r of lost) assert.equal(errorCode(r.reason), 'STORE_CONFLICT');
        assert.deepEqual(await store.getDesired('dev'), won[0]?.value);
      });

      it('keeps environments apart and lists them by name', async (t) => {
        const store = await fresh(t);
        const prod = await store.setDesired('prod', release('prod', 'v1'), digest('rel-prod'), 0, '2025-01-01T00:00:00.000Z');
        const dev = await store.setDesired('dev', release('dev', 'v1'), digest('rel-dev'), 0, '2025-01-01T00:00:00.000Z');
        const dev2 = await store.setDesired('dev', release('dev', 'v2'), digest('rel-dev2'), dev.revision, '2025-01-02T00:00:00.000Z');
        assert.deepEqual(await store.listDesired(), [dev2, prod]);
      });
    });

    describe('deployments', () => {
      it('returns null for an environment never deployed', async (t) => {
        const store = await fresh(t);
        assert.equal(await store.getDeployment('dev'), null);
      });

      it('keeps one deployment per environment, the latest put', async (t) => {
        const store = await fresh(t);
        const first = deployment('dev', 'rel-1', 4242);
        const second: Deployment = { ...deployment('dev', 'rel-2', null), status: 'failed' };
        const prod = deployment('prod', 'rel-1', 5151);
        await store.putDeployment(first);
        await store.putDeployment(prod);
        assert.deepEqual(await store.getDeployment('dev'), first);
        await store.putDeployment(second);
        assert.deepEqual(await store.getDeployment('dev'), second);
        assert.deepEqual(await store.getDeployment('prod'), prod);
      });
    });

    describe('rollout leases, operations, rollouts and pins', () => {
      const T0 = '2025-01-01T00:00:00.000Z';
      const T1 = '2025-01-01T00:00:10.000Z';
      const T2 = '2025-01-01T00:00:20.000Z';
      const T3 = '2025-01-01T00:00:30.000Z';

      it('grants a free lease at epoch 1 and refuses a second holder while it is live', async (t) => {
        const store = await fresh(t);
        const a = await store.acquireLease('deploy/dev', 'a', T0, T2);
        assert.deepEqual(a, { name: 'deploy/dev', holder: 'a', epoch: 1, expiresAt: T2 });
        assert.equal(await store.acquireLease('deploy/dev', 'b', T1, T3), null);
        assert.deepEqual(await store.getLease('deploy/dev'), a);
      });

      it('raises the epoch on every acquisition, after expiry or release', async (t) => {
        const store = await fresh(t);
        const a = await store.acquireLease('deploy/dev', 'a', T0, T1);
        const b = await store.acquireLease('deploy/dev', 'b', T1, T2);
        assert.equal(b?.epoch, 2);
        assert.ok(b);
        await store.releaseLease(b);
        const c = await store.acquireLease('deploy/dev', 'a', T1, T3);
        assert.equal(c?.epoch, 3);
        assert.ok(a);
        await rejectsWith(store.renewLease(a, T1, T3), 'STORE_CONFLICT');
      });

      it('renews a live lease at its epoch, and refuses to renew an expired one', async (t) => {
        const store = await fresh(t);
        const a = await store.acquireLease('deploy/dev', 'a', T0, T1);
        assert.ok(a);
        const renewed = await store.renewLease(a, T0, T2);
        assert.equal(renewed.epoch, 1);
        await rejectsWith(store.renewLease(renewed, T3, T3), 'STORE_CONFLICT');
      });

      it('lets exactly one of several concurrent acquirers take a free lease', async (t) => {
        const store = await fresh(t);
        const results = await Promise.all(['a', 'b', 'c', 'd'].map((h) => store.acquireLease('deploy/dev', h, T0, T2)));
        assert.equal(results.filter((r) => r !== null).length, 1);
      });

      it('stores an operation once per id: a repeat returns the first record', async (t) => {
        const store = await fresh(t);
        const first = { id: 'op-1', environment: 'dev', epoch: 1, body: '{"weight":10}' };
        assert.deepEqual(await store.putOperation(first), first);
        assert.deepEqual(await store.putOperation({ ...first, epoch: 2, body: '{"weight":50}' }), first);
        assert.deepEqual(await store.getOperation('op-1'), first);
        assert.equal(await store.getOperation('op-2'), null);
      });

      it('writes rollout state only under the live lease and the expected revision', async (t) => {
        const store = await fresh(t);
        const a = await store.acquireLease('deploy/dev', 'a', T0, T2);
        assert.ok(a);
        const r1 = await store.putRollout('dev', 's1', 0, a, T0);
        assert.equal(r1.revision, 1);
        await rejectsWith(store.putRollout('dev', 'stale', 0, a, T0), 'STORE_CONFLICT');
        const r2 = await store.putRollout('dev', 's2', 1, a, T1);
        assert.equal(r2.revision, 2);
        // a's lease expires and b takes it: a's next write is fenced out.
        const b = await store.acquireLease('deploy/dev', 'b', T3, '2025-01-01T00:01:00.000Z');
        assert.ok(b);
        await rejectsWith(store.putRollout('dev', 'zombie', 2, a, T1), 'STORE_CONFLICT');
        assert.deepEqual(await store.getRollout('dev'), { environment: 'dev', revision: 2, epoch: 1, body: 's2' });
        assert.equal((await store.putRollout('dev', 's3', 2, b, T3)).epoch, 2);
      });

      it('pins a release, replaces the pin, and removes it on override', async (t) => {
        const store = await fresh(t);
        assert.equal(await store.getPin('dev'), null);
        const pin = { environment: 'dev', releaseDigest: digest('v1'), blockedDigest: digest('v2'), reason: 'rollback', pinnedAt: T0 };
        await store.putPin(pin);
        assert.deepEqual(await store.getPin('dev'), pin);
        await store.putPin({ ...pin, reason: 'again', pinnedAt: T1 });
        assert.equal((await store.getPin('dev'))?.reason, 'again');
        assert.equal(await store.deletePin('dev'), true);
        assert.equal(await store.deletePin('dev'), false);
        assert.equal(await store.getPin('dev'), null);
      });

      it("keeps each environment's release history in order, newest first", async (t) => {
        const store = await fresh(t);
        assert.deepEqual(await store.listReleaseHistory('dev', 10), []);
        const entry = (release: string, event: 'promoted' | 'rolledBack' | 'restored', environment = 'dev') => ({
          environment,
          releaseDigest: digest(`release-${release}`),
          artifactDigest: digest(`artifact-${release}`),
          event,
          at: T0,
          detail: `${event} ${release}`,
        });
        const first = await store.appendReleaseHistory(entry('v1', 'promoted'));
        await store.appendReleaseHistory(entry('x1', 'promoted', 'prod'));
        const second = await store.appendReleaseHistory(entry('v2', 'promoted'));
        const third = await store.appendReleaseHistory(entry('v2', 'rolledBack'));
        assert.ok(first.seq < second.seq && second.seq < third.seq);
        assert.deepEqual(third, { ...entry('v2', 'rolledBack'), seq: third.seq });
        const dev = await store.listReleaseHistory('dev', 10);
        assert.deepEqual(
          dev.map((e) => [e.releaseDigest, e.event]),
          [
            [digest('release-v2'), 'rolledBack'],
            [digest('release-v2'), 'promoted'],
            [digest('release-v1'), 'promoted'],
          ],
        );
        assert.equal((await store.listReleaseHistory('dev', 1)).length, 1);
        assert.deepEqual(
          (await store.listReleaseHistory('prod', 10)).map((e) => e.releaseDigest),
          [digest('release-x1')],
        );
      });
    });

    describe('audit log', () => {
      it('starts empty: size 0, the empty root, no frontier, no leaves, no checkpoints', async (t) => {
        const store = await fresh(t);
        const head = await store.auditTreeHead();
        assert.equal(head.size, 0);
        assert.deepEqual(head.rootHash, emptyRoot());
        assert.deepEqual(head.frontier, []);
        assert.deepEqual(await store.listAuditLeaves(0, 10), []);
        assert.deepEqual(await store.listAuditCheckpoints(), []);
        assert.equal(await store.latestAuditCheckpoint(false), null);
      });

      it('passes each append the current head and stores its leaves and new head', async (t) => {
        const store = await fresh(t);
        const seen: number[] = [];
        const first = await store.appendAuditLeaves((head) => {
          seen.push(head.size);
          return auditAppend(head, ['a', 'b', 'c']);
        });
        const second = await store.appendAuditLeaves((head) => {
          seen.push(head.size);
          return auditAppend(head, ['d']);
        });
        assert.deepEqual(seen, [0, 3]);
        assert.deepEqual(
          second.leaves.map((l) => l.index),
          [3],
        );
        const head = await store.auditTreeHead();
        assert.equal(head.size, 4);
        assert.deepEqual(head.rootHash, rootFromLeafHashes(['a', 'b', 'c', 'd'].map((e) => leafHash(Buffer.from(e)))));
        assert.deepEqual(head.frontier, second.head.frontier);
        assert.deepEqual(await store.listAuditLeaves(0, 10), [...first.leaves, ...second.leaves]);
      });

      it('round-trips leaf bytes exactly, binary and empty ones included', async (t) => {
        const store = await fresh(t);
        const bytes = [Buffer.alloc(0), Buffer.from([0, 1, 2, 255, 0]), Buffer.from('é\u0000\n', 'utf8')];
        const appended = await store.appendAuditLeaves((head) => auditAppendBytes(head, bytes));
        assert.deepEqual(
          (await store.listAuditLeaves(0, 10)).map((l) => l.leaf),
          bytes,
        );
        assert.deepEqual(await store.listAuditLeaves(0, 10), appended.leaves);
      });

      it('refuses an append that does not extend the head with STORE_CONFLICT, storing nothing', async (t) => {
        const store = await fresh(t);
        await store.appendAuditLeaves((head) => auditAppend(head, ['a']));
        const before = await store.auditTreeHead();
        await rejectsWith(
          store.appendAuditLeaves((head) => auditAppend({ ...head, size: head.size + 1 }, ['skip'])),
          'STORE_CONFLICT',
        );
        await rejectsWith(
          store.appendAuditLeaves((head) => {
            const append = auditAppend(head, ['x', 'y']);
            return { ...append, head: { ...append.head, size: append.head.size + 1 } };
          }),
          'STORE_CONFLICT',
        );
        await rejectsWith(
          store.appendAuditLeaves((head) => {
            const append = auditAppend(head, ['x']);
            return { ...append, leaves: append.leaves.map((l) => ({ ...l, leafHash: Buffer.alloc(31) })) };
          }),
          'STORE_CONFLICT',
        );
        assert.deepEqual(await store.auditTreeHead(), before);
        assert.equal((await store.listAuditLeaves(0, 10)).length, 1);
      });

      it("rethrows the build callback's own error and stores nothing", async (t) => {
        const store = await fresh(t);
        const failure = new Error('no payload');
        await assert.rejects(
          store.appendAuditLeaves(() => {
            throw failure;
          }),
          (error) => error === failure,
        );
        assert.equal((await store.auditTreeHead()).size, 0);
        await store.appendAuditLeaves((head) => auditAppend(head, ['after-failure']));
        assert.equal((await store.auditTreeHead()).size, 1);
      });

      it('lists leaves from an index, ascending, a page at a time', async (t) => {
        const store = await fresh(t);
        const { leaves } = await store.appendAuditLeaves((head) => auditAppend(head, ['0', '1', '2', '3', '4']));
        assert.deepEqual(await store.listAuditLeaves(0, 2), leaves.slice(0, 2));
        assert.deepEqual(await store.listAuditLeaves(2, 2), leaves.slice(2, 4));
        assert.deepEqual(await store.listAuditLeaves(4, 2), leaves.slice(4));
        assert.deepEqual(await store.listAuditLeaves(5, 2), []);
        assert.deepEqual(await store.listAuditLeaves(1, 0), []);
        await assert.rejects(store.listAuditLeaves(-1, 2), RangeError);
      });

      it('reads the hash rows of the indexes asked for, skipping those that do not exist', async (t) => {
        const store = await fresh(t);
        const { leaves } = await store.appendAuditLeaves((head) => auditAppend(head, ['0', '1', '2', '3']));
        const rows = await store.getAuditHashes([3, 1, 9]);
        assert.deepEqual(
          rows,
          [leaves[1], leaves[3]].map((l) => ({ index: l?.index, leafHash: l?.leafHash, subtrees: l?.subtrees })),
        );
        assert.deepEqual(await store.getAuditHashes([]), []);
      });

      it('sequences concurrent appends: no index repeats or skips, and the head covers them all', async (t) => {
        const store = await fresh(t);
        const appended = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAuditLeaves((head) => auditAppend(head, [`concurrent-${i}`]))));
        assert.deepEqual(
          appended.map((a) => a.leaves[0]?.index).sort((a, b) => (a ?? 0) - (b ?? 0)),
          range(0, 19),
        );
        await assertAuditTree(store, 20);
      });

      it('stores checkpoints once per size and lists them by size', async (t) => {
        const store = await fresh(t);
        const two = checkpointRow(2, 'note two', null);
        const one = checkpointRow(1, 'note one', '2025-01-01T00:00:01.000Z');
        assert.deepEqual(await store.putAuditCheckpoint(two), two);
        assert.deepEqual(await store.putAuditCheckpoint(one), one);
        assert.deepEqual(await store.putAuditCheckpoint(one), one, 'the same checkpoint again is accepted');
        await rejectsWith(store.putAuditCheckpoint(checkpointRow(1, 'another note', null)), 'STORE_CONFLICT');
        assert.deepEqual(await store.listAuditCheckpoints(), [one, two]);
        assert.deepEqual(await store.latestAuditCheckpoint(false), two);
        assert.deepEqual(await store.latestAuditCheckpoint(true), one);
      });

      it('updates cosignatures and publication atomically, even when concurrent', async (t) => {
        const store = await fresh(t);
        await store.putAuditCheckpoint(checkpointRow(3, 'note three', null));
        await rejectsWith(
          store.updateAuditCheckpoint(4, (c) => c),
          'STORE_NOT_FOUND',
        );
        const lines = Array.from({ length: 10 }, (_, i) => `\u2014 witness-${i} AAAA`);
        await Promise.all(lines.map((line) => store.updateAuditCheckpoint(3, (c) => ({ cosignatures: [...c.cosignatures, line], publishedAt: null }))));
        const published = await store.updateAuditCheckpoint(3, (c) => ({ cosignatures: c.cosignatures, publishedAt: '2025-01-02T00:00:00.000Z' }));
        assert.deepEqual([...published.cosignatures].sort(), [...lines].sort());
        assert.deepEqual(await store.latestAuditCheckpoint(true), published);
        await assert.rejects(
          store.updateAuditCheckpoint(3, () => ({ cosignatures: ['two\nlines'], publishedAt: null })),
          RangeError,
        );
        assert.deepEqual(await store.latestAuditCheckpoint(true), published);
      });
    });
  });
}

/** Asserts the store holds leaves 0..count-1 and a head whose root and frontier are theirs. */
export async function assertAuditTree(store: Store, count: number): Promise<void> {
  const leaves = await store.listAuditLeaves(0, count + 10);
  assert.deepEqual(
    leaves.map((l) => l.index),
    range(0, count - 1),
  );
  const tree = new MerkleTree();
  for (const leaf of leaves) {
    assert.deepEqual(leaf.leafHash, leafHash(leaf.leaf), `leaf ${leaf.index} is not the leaf that was hashed`);
    tree.append(leaf.leafHash);
    const closed: Buffer[] = [];
    for (let level = 1; (leaf.index + 1) % 2 ** level === 0; level++) closed.push(tree.perfectSubtreeHash(level, (leaf.index + 1) / 2 ** level - 1) as Buffer);
    assert.deepEqual(leaf.subtrees, Buffer.concat(closed), `leaf ${leaf.index} does not store the subtrees it completed`);
  }
  const head = await store.auditTreeHead();
  assert.equal(head.size, count);
  assert.deepEqual(head.rootHash, rootFromLeafHashes(leaves.map((l) => l.leafHash)));
  let frontier: Frontier = EMPTY_FRONTIER;
  for (const leaf of leaves) frontier = appendToFrontier(frontier, leaf.leafHash);
  assert.deepEqual(head.frontier, frontier.hashes);
}

/** The append a well-behaved sequencer makes for text entries on top of `head`. */
export function auditAppend(head: AuditTreeHead, entries: readonly string[]): AuditAppend {
  return auditAppendBytes(
    head,
    entries.map((e) => Buffer.from(e, 'utf8')),
  );
}

function auditAppendBytes(head: AuditTreeHead, entries: readonly Buffer[]): AuditAppend {
  const stack = [...head.frontier];
  let size = head.size;
  const leaves: AuditLeafRow[] = entries.map((leaf) => {
    const hash = leafHash(leaf);
    const closed: Buffer[] = [];
    let node = hash;
    for (let i = size; i % 2 === 1; i = (i - 1) / 2) {
      node = nodeHash(stack.pop() as Buffer, node);
      closed.push(node);
    }
    stack.push(node);
    return { index: size++, leaf, leafHash: hash, subtrees: Buffer.concat(closed) };
  });
  return { leaves, head: { size, rootHash: rootFromFrontier({ size, hashes: stack }), frontier: stack } };
}

/** A checkpoint row with a stand-in note (the store does not read notes). */
function checkpointRow(size: number, note: string, publishedAt: string | null): AuditCheckpointRow {
  return { size, rootHash: Buffer.alloc(32, size), note, cosignatures: [], createdAt: '2025-01-01T00:00:00.000Z', publishedAt };
}

async function rejectsWith(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

function errorCode(error: unknown): string | undefined {
  return error instanceof StoreError ? error.code : undefined;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function ids(runs: readonly RunRecord[]): string[] {
  return runs.map((r) => r.id);
}

function digest(label: string): Digest {
  return sha256Digest(label);
}

function run(id: string, startedAt: string): RunRecord {
  return { id, project: 'hello-service', startedAt, finishedAt: null, outcome: 'running', stages: [], artifactDigest: null };
}

function evidence(
  blob: string,
  kind: EvidenceRecord['kind'],
  subject: string,
  runId: string | null = 'run_1',
  createdAt = '2025-01-01T00:00:00.000Z',
): EvidenceRecord {
  return { digest: digest(blob), kind, subject: digest(subject), mediaType: 'application/json', runId, createdAt };
}

function decision(id: string, allow: boolean): GateDecision {
  return {
    id,
    subject: digest('artifact'),
    point: 'deploy',
    environment: 'dev',
    allow,
    rules: [
      { id: 'provenance.signed', outcome: 'pass', message: 'signature verified' },
      { id: 'sbom.present', outcome: allow ? 'pass' : 'fail', message: allow ? 'present' : 'missing' },
    ],
    inputDigest: digest('evidence'),
    evaluator: 'cairn/0.1.0',
    decidedAt: '2025-01-01T00:00:00.000Z',
  };
}

function release(environment: string, version: string): Release {
  return {
    environment,
    service: 'hello-service',
    artifactDigest: digest(`artifact-${version}`),
    configDigest: digest('config'),
    decisionId: `dec_${version}`,
    provenanceDigest: digest(`provenance-${version}`),
    vsaDigest: digest(`vsa-${version}`),
    rollbackUnsafe: false,
  };
}

function deployment(environment: string, releaseLabel: string, pid: number | null): Deployment {
  return {
    environment,
    releaseDigest: digest(releaseLabel),
    target: 'local',
    endpoint: 'http://127.0.0.1:43123',
    pid,
    handle: pid === null ? null : `cairn-${pid}`,
    startedAt: '2025-01-01T00:00:00.000Z',
    status: 'running',
  };
}

/** The same value with every object's keys in reverse order. */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    ) as T;
  }
  return value;
}
