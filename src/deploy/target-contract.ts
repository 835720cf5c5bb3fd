import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest } from '../crypto/jcs.js';
import type { DeployConfig } from '../model/config.js';
import { isDigest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import type { ApplyOrder, DeployTarget, TrafficTarget } from './target.js';

/** One target under test, over storage of its own that nothing else uses. */
export interface TargetFixture {
  readonly target: DeployTarget;
  /** The deploy configuration releases are started with. */
  readonly config: DeployConfig;
  /** Artifact bytes the target can start, different for each `variant` (default: a line of text). */
  artifact?(variant: string): Promise<Uint8Array>;
  /** Sends `count` requests to where `environment` answers (default: GET on `target.endpoint(environment)`, when it names one). */
  send?(environment: string, count: number): Promise<void>;
  /** Stops whatever the fixture started and removes its storage. */
  cleanup(): Promise<void>;
}

const ENVIRONMENT = 'contract';

/**
 * The behaviour every {@link DeployTarget} that splits traffic must show, written against the
 * interface only. `setup` must return a fresh target over empty storage on every call; the
 * suite cleans it up after each test. Traffic cases are skipped for a target whose
 * capabilities say it cannot split traffic; metric cases check only that the answer is empty
 * for a target that does not report metrics.
 */
export function trafficTargetContract(name: string, setup: () => Promise<TargetFixture>): void {
  async function fresh(t: TestContext): Promise<TargetFixture> {
    const fixture = await setup();
    t.after(() => fixture.cleanup());
    return fixture;
  }

  async function startRelease(fixture: TargetFixture, variant: string, opId = `contract/start/${variant}`): Promise<Deployment> {
    const artifact = fixture.artifact ? await fixture.artifact(variant) : new TextEncoder().encode(`release ${variant}\n`);
    const release: Release = {
      environment: ENVIRONMENT,
      service: 'contract',
      artifactDigest: sha256Digest(artifact),
      configDigest: canonicalDigest(fixture.config),
      decisionId: `decision-${variant}`,
      provenanceDigest: sha256Digest(`provenance ${variant}`),
      vsaDigest: sha256Digest(`vsa ${variant}`),
      rollbackUnsafe: false,
    };
    return fixture.target.start({ release, releaseDigest: canonicalDigest(release), artifact, config: fixture.config, opId });
  }

  /** Two started releases and the traffic control between them; null (after skipping) when the target cannot split traffic. */
  async function pair(t: TestContext): Promise<{ fixture: TargetFixture; previous: Deployment; next: Deployment; traffic: TrafficTarget } | null> {
    const fixture = await fresh(t);
    if (!fixture.target.capabilities.trafficSplit) {
      t.skip(`${fixture.target.name} does not split traffic`);
      return null;
    }
    const previous = await startRelease(fixture, 'a');
    const next = await startRelease(fixture, 'b');
    return { fixture, previous, next, traffic: await fixture.target.traffic(ENVIRONMENT, previous, next) };
  }

  const order = (opId: string, epoch: number, seq: number, weight: number): ApplyOrder => ({ opId, epoch, seq, weight });

  describe(`DeployTarget contract: ${name}`, () => {
    describe('start', () => {
      it('starts a release as a running deployment of this target, keyed by its release digest', async (t) => {
        const fixture = await fresh(t);
        const deployment = await startRelease(fixture, 'a');
        assert.equal(deployment.environment, ENVIRONMENT);
        assert.ok(isDigest(deployment.releaseDigest));
        assert.equal(deployment.target, fixture.target.name);
        assert.equal(deployment.status, 'running');
      });

      it('is idempotent per operation id: starting again under the same id returns the first deployment', async (t) => {
        const fixture = await fresh(t);
        const first = await startRelease(fixture, 'a', 'contract/start/once');
        const again = await startRelease(fixture, 'a', 'contract/start/once');
        assert.deepEqual(again, first);
      });
    });

    describe('traffic', () => {
      it('reads no operation before any was applied', async (t) => {
        const p = await pair(t);
        if (!p) return;
        const reading = await p.traffic.read();
        assert.equal(reading.lastOpId, null);
        assert.ok(Number.isInteger(reading.weight) && reading.weight >= 0 && reading.weight <= 100, `weight ${reading.weight}`);
      });

      it('applies an order and reads back what is in force: its weight and its id', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('op-1', 1, 1, 10)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 10, lastOpId: 'op-1' });
        assert.equal(await p.traffic.apply(order('op-2', 1, 2, 50)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 50, lastOpId: 'op-2' });
      });

      it('applies an operation id at most once: sending it again answers applied and changes nothing', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('op-1', 1, 1, 10)), 'applied');
        assert.equal(await p.traffic.apply(order('op-2', 1, 2, 50)), 'applied');
        assert.equal(await p.traffic.apply(order('op-1', 1, 1, 10)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 50, lastOpId: 'op-2' });
        assert.equal(await p.traffic.apply(order('op-2', 1, 2, 50)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 50, lastOpId: 'op-2' });
      });

      it('refuses a fence below the highest applied, by sequence or by epoch, and changes nothing', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('op-5', 2, 5, 30)), 'applied');
        assert.equal(await p.traffic.apply(order('stale-seq', 2, 4, 80)), 'refused');
        assert.deepEqual(await p.traffic.read(), { weight: 30, lastOpId: 'op-5' });
        assert.equal(await p.traffic.apply(order('stale-epoch', 1, 99, 80)), 'refused');
        assert.deepEqual(await p.traffic.read(), { weight: 30, lastOpId: 'op-5' });
      });

      it('applies a higher fence after a refusal', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('op-5', 2, 5, 30)), 'applied');
        assert.equal(await p.traffic.apply(order('stale', 2, 4, 80)), 'refused');
        assert.equal(await p.traffic.apply(order('op-6', 2, 6, 60)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 60, lastOpId: 'op-6' });
        assert.equal(await p.traffic.apply(order('next-epoch', 3, 1, 70)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 70, lastOpId: 'next-epoch' });
      });

      it('honours weight 100 (all on next) and weight 0 (all on previous)', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('all-next', 1, 1, 100)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 100, lastOpId: 'all-next' });
        assert.equal(await p.traffic.apply(order('all-previous', 1, 2, 0)), 'applied');
        assert.deepEqual(await p.traffic.read(), { weight: 0, lastOpId: 'all-previous' });
      });

      it('keeps what it applied across handles: a new handle for the same pair reads it and will not apply an id twice', async (t) => {
        const p = await pair(t);
        if (!p) return;
        assert.equal(await p.traffic.apply(order('op-1', 4, 1, 20)), 'applied');
        assert.equal(await p.traffic.apply(order('op-2', 4, 2, 40)), 'applied');
        const again = await p.fixture.target.traffic(ENVIRONMENT, p.previous, p.next);
        assert.deepEqual(await again.read(), { weight: 40, lastOpId: 'op-2' });
        assert.equal(await again.apply(order('op-1', 4, 1, 20)), 'applied');
        assert.equal(await again.apply(order('stale', 4, 1, 90)), 'refused');
        assert.deepEqual(await again.read(), { weight: 40, lastOpId: 'op-2' });
      });
    });

    describe('metrics', () => {
      it('keys metrics by release digest and counts the requests each release served', async (t) => {
        const p = await pair(t);
        if (!p) return;
        const { fixture, previous, next, traffic } = p;
        if (!fixture.target.capabilities.reportsMetrics) {
          assert.deepEqual(await traffic.metrics(), {});
          return;
        }
        const send = fixture.send?.bind(fixture) ?? (await endpointSender(fixture.target));
        if (!send) {
          t.skip(`${fixture.target.name} names no endpoint and the fixture cannot send requests`);
          return;
        }
        const requests = (m: Readonly<Record<string, { requests: number }>>, d: Deployment): number => m[d.releaseDigest]?.requests ?? 0;

        assert.equal(await traffic.apply(order('all-next', 1, 1, 100)), 'applied');
        const before = await traffic.metrics();
        await send(ENVIRONMENT, 10);
        const atNext = await traffic.metrics();
        for (const key of Object.keys(atNext)) assert.ok(isDigest(key), `metrics key ${key} is a release digest`);
        assert.ok(atNext[next.releaseDigest], 'next has metrics once it served');
        assert.equal(requests(atNext, next) - requests(before, next), 10);
        assert.equal(requests(atNext, previous) - requests(before, previous), 0);
        assert.equal(atNext[next.releaseDigest]?.errors, before[next.releaseDigest]?.errors ?? 0);

        assert.equal(await traffic.apply(order('all-previous', 1, 2, 0)), 'applied');
        await send(ENVIRONMENT, 6);
        const atPrevious = await traffic.metrics();
        assert.equal(requests(atPrevious, previous) - requests(atNext, previous), 6);
        assert.equal(requests(atPrevious, next), requests(atNext, next));
      });
    });

    describe('running', () => {
      it('finds the running deployment of a release by its digest, only in its environment, and none once stopped', async (t) => {
        const fixture = await fresh(t);
        const a = await startRelease(fixture, 'a');
        const b = await startRelease(fixture, 'b');
        assert.deepEqual(await fixture.target.running(ENVIRONMENT, a.releaseDigest), a);
        assert.deepEqual(await fixture.target.running(ENVIRONMENT, b.releaseDigest), b);
        assert.equal(await fixture.target.running('elsewhere', a.releaseDigest), null, 'not in another environment');
        assert.equal(await fixture.target.running(ENVIRONMENT, sha256Digest('never started')), null);
        const other = await fresh(t);
        assert.equal(await other.target.running(ENVIRONMENT, a.releaseDigest), null, 'another target instance did not start it');
        assert.equal(await fixture.target.stop(a), true);
        assert.equal(await fixture.target.running(ENVIRONMENT, a.releaseDigest), null, 'stopped');
        assert.deepEqual(await fixture.target.running(ENVIRONMENT, b.releaseDigest), b);
      });
    });

    describe('stop', () => {
      it('stops what it started, once, and nothing it did not start', async (t) => {
        const fixture = await fresh(t);
        const other = await fresh(t);
        const a = await startRelease(fixture, 'a');
        const b = await startRelease(fixture, 'b');
        const elsewhere = await startRelease(other, 'c');

        assert.equal(await other.target.stop(a), false, 'another target instance does not stop it');
        assert.equal(await fixture.target.stop(elsewhere), false, 'nor does this one stop the other instance’s');
        assert.equal(await fixture.target.stop({ ...a, handle: 'forged-handle' }), false, 'a forged handle stops nothing');
        if (a.endpoint !== '') assert.equal(await answers(a.endpoint), true, 'a still runs after the refused stops');

        assert.equal(await fixture.target.stop(a), true);
        assert.equal(await fixture.target.stop(a), false, 'a second stop finds it not running');
        if (a.endpoint !== '') assert.equal(await answers(a.endpoint), false, 'a no longer answers');
        if (b.endpoint !== '') assert.equal(await answers(b.endpoint), true, 'b still answers');
        if (elsewhere.endpoint !== '') assert.equal(await answers(elsewhere.endpoint), true, 'the other instance’s release still answers');
      });
    });
  });
}

/** A sender that GETs the target's endpoint for the environment, or null when it names none. */
async function endpointSender(target: DeployTarget): Promise<((environment: string, count: number) => Promise<void>) | null> {
  if ((await target.endpoint(ENVIRONMENT)) === null) return null;
  return async (environment, count) => {
    const url = await target.endpoint(environment);
    if (url === null) throw new Error(`${target.name} stopped naming an endpoint for ${environment}`);
    for (let i = 0; i < count; i++) {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      assert.ok(response.status < 500, `request ${i} answered ${response.status}`);
    }
  };
}

/** True when something answers HTTP at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
