import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../model/digest.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/port.js';
import { useScratch } from '../testkit.js';
import { deployRelease, type DeployReleaseOptions, ProxyRolloutTarget, type RunningVersion } from './controller.js';
import { WeightedProxy } from './proxy.js';

const V1: Digest = `sha256:${'1'.repeat(64)}`;
const V2: Digest = `sha256:${'2'.repeat(64)}`;
const scratch = useScratch();

async function service(failEvery: number | null): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((_req, res) => {
    n += 1;
    res.writeHead(failEvery !== null && n % failEvery === 0 ? 500 : 200).end('x');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

/** Sends requests through the proxy, one at a time, until stopped. */
function traffic(url: string): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running) {
      const r = await fetch(url).catch(() => null);
      await r?.arrayBuffer();
      sent += 1;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

describe('deployRelease', () => {
  let store: Store;
  const servers: Server[] = [];
  before(async () => {
    store = await openSqliteStore(path.join(scratch(), 'state.db'));
    await store.migrate();
  });
  after(async () => {
    for (const s of servers) s.close();
    await store.close();
  });

  async function setup(failEvery: number | null): Promise<{ proxy: WeightedProxy; previous: RunningVersion; next: RunningVersion }> {
    const a = await service(null);
    const b = await service(failEvery);
    servers.push(a.server, b.server);
    const proxy = await WeightedProxy.start({ upstreams: [{ version: V1, url: a.url }], weights: { [V1]: 100 } });
    return { proxy, previous: { digest: V1, url: a.url }, next: { digest: V2, url: b.url } };
  }

  function options(
    env: string,
    parts: Awaited<ReturnType<typeof setup>>,
    audits: { action: string; payload: string }[],
    gates: number[],
  ): DeployReleaseOptions {
    return {
      store,
      environment: env,
      holder: 'test',
      ...parts,
      weights: [10, 50, 100],
      pauseMs: 250,
      pollMs: 10,
      sprt: { baselineErrorRate: 0.01, effect: 5, alpha: 0.05, beta: 0.1 },
      triggers: { maxErrorRate: 0.6, minRequests: 20 },
      gate: async (step) => {
        gates.push(step);
        return { allow: true, reason: `ok-${step}` };
      },
      audit: async (action, subjects, digest, payload) => {
        assert.deepEqual(subjects, [env, V2, V1]);
        assert.match(digest, /^sha256:[0-9a-f]{64}$/);
        audits.push({ action, payload });
      },
    };
  }

  it('promotes a healthy release to 100%, asking the gate at every step', async () => {
    const parts = await setup(null);
    const audits: { action: string; payload: string }[] = [];
    const gates: number[] = [];
    const load = traffic(parts.proxy.url);
    try {
      const outcome = await deployRelease(options('good', parts, audits, gates));
      assert.equal(outcome.phase, 'Promoted');
      assert.equal(outcome.rolledBack, false);
      assert.deepEqual(gates, [0, 1, 2]);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 0, [V2]: 100 });
      assert.deepEqual(
        audits.map((a) => a.action),
        ['deploy.gate', 'deploy.step', 'deploy.gate', 'deploy.step', 'deploy.gate', 'deploy.step', 'deploy.promoted'],
      );
      assert.equal(await store.getPin('good'), null);
      const record = await store.getRollout('good');
      assert.equal(JSON.parse(record?.body ?? '{}').state.phase, 'Promoted');
      assert.ok(await store.getOperation(`good/${V2.slice(7, 19)}/e1/1-shift-10`));
      assert.equal((await store.getLease('deploy/good'))?.epoch, 1);
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
  });

  it('rolls a release that answers 500s back to the previous one, pins it, and audits the evidence', async () => {
    const parts = await setup(5);
    const audits: { action: string; payload: string }[] = [];
    const load = traffic(parts.proxy.url);
    try {
      const outcome = await deployRelease(options('bad', parts, audits, []));
      assert.equal(outcome.phase, 'RolledBack');
      assert.equal(outcome.rolledBack, true);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
      assert.ok(outcome.requestsToDetect !== null && outcome.requestsToDetect > 0);
      assert.ok(outcome.decidedAt !== null && outcome.rolledBackAt !== null && outcome.rolledBackAt >= outcome.decidedAt);
      assert.equal(outcome.evidence?.verdict, 'reject');
      const pin = await store.getPin('bad');
      assert.equal(pin?.releaseDigest, V1);
      assert.equal(pin?.blockedDigest, V2);
      const start = audits.find((a) => a.action === 'deploy.rollback.start');
      assert.ok(start, audits.map((a) => a.action).join());
      assert.ok(Number(JSON.parse(start.payload).errors) > 0);
      assert.ok(audits.some((a) => a.action === 'deploy.rollback.done'));
      // The pinned digest cannot come back without an override.
      await assert.rejects(deployRelease(options('bad', parts, [], [])), { code: 'DEPLOY_PINNED' });
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
    const served = parts.proxy.stats()[V1]?.requests ?? 0;
    assert.ok(served > 0);
  });

  it('rolls back when the gate denies a later step', async () => {
    const parts = await setup(null);
    const load = traffic(parts.proxy.url);
    try {
      const outcome = await deployRelease({
        ...options('denied', parts, [], []),
        gate: async (step) => ({ allow: step === 0, reason: step === 0 ? 'ok' : 'freeze window' }),
      });
      assert.equal(outcome.phase, 'RolledBack');
      assert.match(outcome.reason ?? '', /gate denied step 1/);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
  });

  it('refuses to run while another controller holds the lease', async () => {
    const parts = await setup(null);
    const now = new Date().toISOString();
    const lease = await store.acquireLease('deploy/busy', 'other', now, new Date(Date.now() + 60_000).toISOString());
    assert.ok(lease);
    try {
      await assert.rejects(deployRelease(options('busy', parts, [], [])), { code: 'DEPLOY_LEASE_HELD' });
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100 });
    } finally {
      await store.releaseLease(lease);
      await parts.proxy.close();
    }
  });

  it('applies an operation id at most once and refuses a lower fence', async () => {
    const parts = await setup(null);
    try {
      const target = new ProxyRolloutTarget(parts.proxy, parts.previous, parts.next);
      assert.equal(await target.apply({ opId: 'r/2-shift-50', epoch: 2, seq: 2, weight: 50 }), 'applied');
      parts.proxy.setWeights({ [V1]: 100, [V2]: 0 });
      // A duplicate delivery of the same id changes nothing.
      assert.equal(await target.apply({ opId: 'r/2-shift-50', epoch: 2, seq: 2, weight: 50 }), 'applied');
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
      // A late operation from an older epoch, or an older sequence number, is refused.
      assert.equal(await target.apply({ opId: 'r/9-shift-100', epoch: 1, seq: 9, weight: 100 }), 'refused');
      assert.equal(await target.apply({ opId: 'r/1-shift-10', epoch: 2, seq: 1, weight: 10 }), 'refused');
      assert.deepEqual(await target.read(), { weight: 0, lastOpId: 'r/2-shift-50' });
    } finally {
      await parts.proxy.close();
    }
  });

  it('deploys a pinned digest only with an explicit override', async () => {
    await store.putPin({ environment: 'pinned', releaseDigest: V1, blockedDigest: V2, reason: 'test', pinnedAt: new Date().toISOString() });
    const parts = await setup(null);
    const load = traffic(parts.proxy.url);
    try {
      await assert.rejects(deployRelease(options('pinned', parts, [], [])), { code: 'DEPLOY_PINNED' });
      const outcome = await deployRelease({ ...options('pinned', parts, [], []), weights: [100], override: true });
      assert.equal(outcome.phase, 'Promoted');
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
  });

  it('rolls back when the gate does not answer before its deadline', async () => {
    const parts = await setup(null);
    const load = traffic(parts.proxy.url);
    try {
      const outcome = await deployRelease({
        ...options('silent', parts, [], []),
        gateTimeoutMs: 100,
        gate: (step) => (step === 0 ? Promise.resolve({ allow: true, reason: 'ok' }) : new Promise(() => {})),
      });
      assert.equal(outcome.phase, 'RolledBack');
      assert.match(outcome.reason ?? '', /no gate decision for step 1/);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
  });

  it('holds, changing nothing further, when the canary gets no traffic to measure', async () => {
    const parts = await setup(null);
    try {
      const outcome = await deployRelease(options('quiet', parts, [], []));
      assert.equal(outcome.phase, 'Held');
      assert.match(outcome.reason ?? '', /cannot measure step 0/);
      assert.deepEqual(outcome.alerts, [outcome.reason]);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 90, [V2]: 10 });
    } finally {
      await parts.proxy.close();
    }
  });
});
