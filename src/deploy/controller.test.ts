import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_STRATEGY, type CanaryStep, type DeployStrategy } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Release } from '../model/release.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/port.js';
import { useScratch } from '../testkit.js';
import {
  type DeployOutcome,
  deployRelease,
  type DeployReleaseOptions,
  ProxyRolloutTarget,
  resumeRollout,
  type RolloutEffects,
  type RunningRelease,
} from './controller.js';
import { planDigest, planRollout, type ReleaseRef, type RolloutPlan } from './plan.js';
import { WeightedProxy } from './proxy.js';
import type { VersionMetrics } from './sprt.js';
import type { ApplyOrder, TargetCapabilities, TrafficReading, TrafficTarget } from './target.js';

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;
/** Release digests (what the proxy and the rollout key versions by) and artifact digests. */
const V1 = d('1');
const V2 = d('2');
const A1 = d('a');
const A2 = d('b');
const PREVIOUS: ReleaseRef = { releaseDigest: V1, artifactDigest: A1 };
const SPLIT: TargetCapabilities = { trafficSplit: true, reportsVersion: true, reportsMetrics: true };
const scratch = useScratch();

function release(environment: string, artifactDigest: Digest = A2): Release {
  return {
    environment,
    service: 'svc',
    artifactDigest,
    configDigest: d('c'),
    decisionId: 'dec',
    provenanceDigest: d('e'),
    vsaDigest: d('f'),
    rollbackUnsafe: false,
  };
}

function planFor(
  environment: string,
  options: { previous?: ReleaseRef | null; steps?: readonly CanaryStep[]; strategy?: Partial<DeployStrategy>; next?: Digest } = {},
): RolloutPlan {
  const strategy: DeployStrategy = {
    ...DEFAULT_STRATEGY,
    steps: options.steps ?? [
      { weight: 10, pauseSeconds: 0.25 },
      { weight: 50, pauseSeconds: 0.25 },
      { weight: 100, pauseSeconds: 0.25 },
    ],
    triggers: { maxErrorRate: 0.6, minRequests: 20, custom: [] },
    ...options.strategy,
  };
  return planRollout({
    release: release(environment),
    releaseDigest: options.next ?? V2,
    previous: options.previous === undefined ? PREVIOUS : options.previous,
    capabilities: SPLIT,
    strategy,
  });
}

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

  async function setup(failEvery: number | null): Promise<{ proxy: WeightedProxy; previous: RunningRelease; next: RunningRelease }> {
    const a = await service(null);
    const b = await service(failEvery);
    servers.push(a.server, b.server);
    const proxy = await WeightedProxy.start({ upstreams: [{ version: V1, url: a.url }], weights: { [V1]: 100 } });
    return { proxy, previous: { releaseDigest: V1, url: a.url }, next: { releaseDigest: V2, url: b.url } };
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
      target: new ProxyRolloutTarget(parts.proxy, parts.previous, parts.next),
      plan: planFor(env),
      pollMs: 10,
      gate: async (step) => {
        gates.push(step);
        return { allow: true, decisionId: `ok-${step}` };
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
        ['deploy.plan', 'deploy.gate', 'deploy.step', 'deploy.gate', 'deploy.step', 'deploy.gate', 'deploy.step', 'deploy.promoted'],
      );
      assert.deepEqual(
        audits.filter((a) => a.action === 'deploy.gate').map((a) => JSON.parse(a.payload).decisionId),
        ['ok-0', 'ok-1', 'ok-2'],
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
      assert.equal(pin?.blockedDigest, A2);
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
        gate: async (step) => ({ allow: step === 0, decisionId: step === 0 ? 'ok' : 'freeze window' }),
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
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
    } finally {
      await store.releaseLease(lease);
      await parts.proxy.close();
    }
  });

  it('applies an operation id at most once and refuses a lower fence', async () => {
    const parts = await setup(null);
    try {
      const target = new ProxyRolloutTarget(parts.proxy, parts.previous, parts.next);
      assert.deepEqual(Object.keys(await target.metrics()).sort(), [V1, V2]);
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
    await store.putPin({ environment: 'pinned', releaseDigest: V1, blockedDigest: A2, reason: 'test', pinnedAt: new Date().toISOString() });
    await store.putPin({ environment: 'pinned2', releaseDigest: V1, blockedDigest: V2, reason: 'test', pinnedAt: new Date().toISOString() });
    const parts = await setup(null);
    const load = traffic(parts.proxy.url);
    try {
      // Blocked by artifact digest, or by release digest.
      await assert.rejects(deployRelease(options('pinned', parts, [], [])), { code: 'DEPLOY_PINNED' });
      await assert.rejects(deployRelease(options('pinned2', parts, [], [])), { code: 'DEPLOY_PINNED' });
      const outcome = await deployRelease({
        ...options('pinned', parts, [], []),
        plan: planFor('pinned', { steps: [{ weight: 100, pauseSeconds: 0.25 }] }),
        override: true,
      });
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
        gate: (step) => (step === 0 ? Promise.resolve({ allow: true, decisionId: 'ok' }) : new Promise(() => {})),
      });
      assert.equal(outcome.phase, 'RolledBack');
      assert.match(outcome.reason ?? '', /no gate decision for step 1/);
      assert.deepEqual(parts.proxy.weights(), { [V1]: 100, [V2]: 0 });
    } finally {
      await load.stop();
      await parts.proxy.close();
    }
  });

  it('keeps its lease alive while a gate slower than the lease thinks, so no other controller can take the environment', async () => {
    const parts = await setup(null);
    const load = traffic(parts.proxy.url);
    const takeovers: (number | null)[] = [];
    try {
      const outcome = await deployRelease({
        ...options('slowgate', parts, [], []),
        leaseMs: 150,
        gateTimeoutMs: 5_000,
        gate: async (step) => {
          if (step === 1) {
            // Three lease lengths of thinking; another controller tries to take over on the way.
            for (let i = 0; i < 3; i++) {
              await new Promise((resolve) => setTimeout(resolve, 150));
              const now = Date.now();
              const other = await store.acquireLease('deploy/slowgate', 'intruder', new Date(now).toISOString(), new Date(now + 1000).toISOString());
              takeovers.push(other?.epoch ?? null);
            }
          }
          return { allow: true, decisionId: `ok-${step}` };
        },
      });
      assert.deepEqual(takeovers, [null, null, null], 'the lease never lapsed while the gate thought');
      assert.equal(outcome.phase, 'Promoted');
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

/**
 * An in-memory traffic target keeping the fenced, idempotent contract, that counts every apply
 * call per operation id and reads metrics from a function of the weight in force.
 */
class FakeTarget implements TrafficTarget {
  weight = 0;
  lastOpId: string | null = null;
  private fence: readonly [number, number] = [0, 0];
  private readonly applied = new Set<string>();
  readonly calls = new Map<string, number>();
  /** The highest weight the gate allowed so far, kept by the test's gate. */
  allowed = 0;
  maxWeight = 0;
  onApplied: (order: ApplyOrder) => void = () => {};

  constructor(private readonly counts: (weight: number) => Record<string, VersionMetrics>) {}

  async apply(order: ApplyOrder): Promise<'applied' | 'refused'> {
    this.calls.set(order.opId, (this.calls.get(order.opId) ?? 0) + 1);
    if (this.applied.has(order.opId)) return 'applied';
    const [epoch, seq] = this.fence;
    if (order.epoch < epoch || (order.epoch === epoch && order.seq < seq)) return 'refused';
    assert.ok(order.weight <= this.allowed, `weight ${order.weight} applied above the allowed ${this.allowed}`);
    this.applied.add(order.opId);
    this.fence = [order.epoch, order.seq];
    this.weight = order.weight;
    this.lastOpId = order.opId;
    this.maxWeight = Math.max(this.maxWeight, order.weight);
    this.onApplied(order);
    return 'applied';
  }

  async read(): Promise<TrafficReading> {
    return { weight: this.weight, lastOpId: this.lastOpId };
  }

  async metrics(): Promise<Record<string, VersionMetrics>> {
    return this.counts(this.weight);
  }
}

const healthy = (): Record<string, VersionMetrics> => ({ [V2]: { requests: 1000, errors: 0, p99Ms: 5 }, [V1]: { requests: 1000, errors: 0, p99Ms: 5 } });
const failing = (): Record<string, VersionMetrics> => ({ [V2]: { requests: 1000, errors: 100, p99Ms: 5 } });

// Short observed pauses (a pause of 0 means the step is not observed at all).
const QUICK: readonly CanaryStep[] = [
  { weight: 10, pauseSeconds: 0.01 },
  { weight: 50, pauseSeconds: 0.01 },
  { weight: 100, pauseSeconds: 0.01 },
];

/** A store that aborts the controller right after its `n`th rollout write: the state is stored, the commands never run. */
function abortAfterWrites(store: Store, n: number, controller: AbortController): Store {
  let writes = 0;
  return new Proxy(store, {
    get(target, key) {
      if (key === 'putRollout') {
        return async (...args: Parameters<Store['putRollout']>) => {
          const record = await target.putRollout(...args);
          writes += 1;
          if (writes === n) controller.abort();
          return record;
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('deployRelease and resumeRollout on any traffic target', () => {
  let store: Store;
  before(async () => {
    store = await openSqliteStore(path.join(scratch(), 'state.db'));
    await store.migrate();
  });
  after(async () => {
    await store.close();
  });

  function effects(target: FakeTarget, log: string[], audits: { action: string; digest: Digest; payload: string }[] = []): RolloutEffects {
    return {
      store,
      holder: 'test',
      target,
      pollMs: 1,
      gate: async (step, weight) => {
        log.push(`gate ${step}`);
        target.allowed = Math.max(target.allowed, weight);
        return { allow: true, decisionId: `decision-${step}` };
      },
      audit: async (action, _subjects, digest, payload) => {
        log.push(action);
        audits.push({ action, digest, payload });
      },
    };
  }

  it('audits the plan, digest and all, before the first gate question or traffic change', async () => {
    const target = new FakeTarget(healthy);
    const log: string[] = [];
    const audits: { action: string; digest: Digest; payload: string }[] = [];
    const plan = planFor('planned', { steps: QUICK });
    const outcome = await deployRelease({ ...effects(target, log, audits), environment: 'planned', plan });
    assert.equal(outcome.phase, 'Promoted');
    assert.equal(log[0], 'deploy.plan');
    assert.equal(log[1], 'gate 0');
    assert.equal(audits[0]?.digest, planDigest(plan));
    assert.deepEqual(JSON.parse(audits[0]?.payload ?? 'null'), JSON.parse(JSON.stringify(plan)));
    assert.equal(outcome.planDigest, planDigest(plan));
    for (const a of audits.slice(1)) assert.equal(JSON.parse(a.payload).planDigest, planDigest(plan));
    const stored = JSON.parse((await store.getRollout('planned'))?.body ?? '{}');
    assert.equal(stored.planDigest, planDigest(plan));
    assert.deepEqual(stored.config.pausesMs, [10, 10, 10]);
  });

  it('holds a failing first deployment with an alert, and never rolls back to nothing', async () => {
    const target = new FakeTarget(failing);
    const plan = planFor('first', { previous: null, steps: QUICK });
    assert.deepEqual(
      plan.steps.map((s) => s.weight),
      [100],
    );
    const outcome = await deployRelease({ ...effects(target, []), environment: 'first', plan });
    assert.equal(outcome.phase, 'Held');
    assert.equal(outcome.rolledBack, false);
    assert.match(outcome.reason ?? '', /^no previous release to roll back to/);
    assert.deepEqual(outcome.alerts, [outcome.reason]);
    assert.equal(target.weight, 100);
    assert.equal(await store.getPin('first'), null);
  });

  it('rolls back on a custom trigger over an extra metric the target reports', async () => {
    const target = new FakeTarget(() => ({ [V2]: { requests: 50, errors: 0, p99Ms: 5, custom: { queueDepth: 40 } } }));
    const plan = planFor('custom', { steps: QUICK, strategy: { triggers: { minRequests: 20, custom: [{ metric: 'queueDepth', max: 10 }] } } });
    const outcome = await deployRelease({ ...effects(target, []), environment: 'custom', plan });
    assert.equal(outcome.phase, 'RolledBack');
    assert.match(outcome.reason ?? '', /custom:queueDepth fired at step 0: 40 > 10/);
    assert.equal(outcome.evidence?.metric, 'queueDepth');
    assert.equal(target.weight, 0);
    const pin = await store.getPin('custom');
    assert.deepEqual([pin?.releaseDigest, pin?.blockedDigest], [V1, A2]);
  });

  it('refuses a plan made for another environment', async () => {
    const target = new FakeTarget(healthy);
    await assert.rejects(deployRelease({ ...effects(target, []), environment: 'elsewhere', plan: planFor('planned', { steps: QUICK }) }), {
      code: 'DEPLOY_PLAN_MISMATCH',
    });
  });

  /** Runs a rollout that stops after `crash` and resumes it once its lease has expired. */
  async function crashAndResume(
    environment: string,
    crash: (target: FakeTarget, controller: AbortController) => Store,
  ): Promise<{ target: FakeTarget; outcome: DeployOutcome; log: string[] }> {
    const target = new FakeTarget(healthy);
    const log: string[] = [];
    const controller = new AbortController();
    const plan = planFor(environment, { steps: QUICK });
    await assert.rejects(deployRelease({ ...effects(target, log), store: crash(target, controller), environment, plan, signal: controller.signal }), {
      code: 'DEPLOY_ABORTED',
    });
    const stopped = await store.getRollout(environment);
    assert.equal(JSON.parse(stopped?.body ?? '{}').state.phase, 'Applying');
    // The crashed controller's lease is still live: nobody may resume yet.
    await assert.rejects(resumeRollout({ ...effects(target, log), environment }), { code: 'DEPLOY_LEASE_HELD' });
    const later = () => Date.now() + 120_000;
    // Nor may a new rollout start over the unfinished one once the lease has expired.
    await assert.rejects(deployRelease({ ...effects(target, log), environment, plan, clock: later }), { code: 'DEPLOY_ROLLOUT_UNFINISHED' });
    const outcome = await resumeRollout({ ...effects(target, log), environment, holder: 'successor', clock: later });
    return { target, outcome, log };
  }

  function assertAppliedOnce(target: FakeTarget): void {
    assert.ok(target.calls.size > 0);
    for (const [opId, n] of target.calls) assert.equal(n, 1, `operation ${opId} sent ${n} times`);
    assert.ok(target.maxWeight <= target.allowed);
  }

  it('resumes a rollout that crashed after storing a step but before sending it, sending each operation once', async () => {
    // Writes: Gating 0, Applying 0, Analyzing 0, Gating 1, Applying 1 — then the controller dies.
    const { target, outcome, log } = await crashAndResume('crash-before-send', (_target, controller) => abortAfterWrites(store, 5, controller));
    assert.equal(outcome.phase, 'Promoted');
    assert.equal(target.weight, 100);
    assertAppliedOnce(target);
    assert.ok(log.includes('deploy.resume'));
    assert.equal((await store.getLease('deploy/crash-before-send'))?.holder, 'successor');
    assert.match(outcome.rolloutId, /^crash-before-send\/.+\/e1$/);
  });

  it('resumes a rollout that crashed after the target applied a step but before storing it, without re-sending', async () => {
    const { target, outcome } = await crashAndResume('crash-after-send', (t, controller) => {
      t.onApplied = (order) => {
        if (order.weight === 50) controller.abort();
      };
      return store;
    });
    assert.equal(outcome.phase, 'Promoted');
    assertAppliedOnce(target);
    assert.deepEqual(
      [...target.calls.keys()].map((id) => id.split('/').at(-1)),
      ['1-shift-10', '2-shift-50', '3-shift-100'],
    );
  });

  it('reports a finished rollout as stored and does nothing more', async () => {
    const target = new FakeTarget(healthy);
    await deployRelease({ ...effects(target, []), environment: 'done', plan: planFor('done', { steps: QUICK }) });
    const before = await store.getRollout('done');
    const sent = target.calls.size;
    const log: string[] = [];
    const outcome = await resumeRollout({ ...effects(target, log), environment: 'done' });
    assert.equal(outcome.phase, 'Promoted');
    assert.equal(target.calls.size, sent);
    assert.deepEqual(log, []);
    assert.equal((await store.getRollout('done'))?.revision, before?.revision);
    await assert.rejects(resumeRollout({ ...effects(target, []), environment: 'never' }), { code: 'DEPLOY_NO_ROLLOUT' });
  });
});
