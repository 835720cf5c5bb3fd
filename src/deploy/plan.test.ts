import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalize } from '../crypto/jcs.js';
import { sha256Digest } from '../crypto/digest.js';
import { DEFAULT_STRATEGY, type DeployStrategy } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Release } from '../model/release.js';
import { planDigest, planRollout, type PlanRolloutInput, shapeRollout } from './plan.js';
import { trafficBudget } from './sprt.js';
import type { TargetCapabilities } from './target.js';

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;
const release: Release = {
  environment: 'prod',
  service: 'shop',
  artifactDigest: d('a'),
  configDigest: d('c'),
  decisionId: 'dec-1',
  provenanceDigest: d('p'),
  vsaDigest: d('v'),
  rollbackUnsafe: false,
};
const SPLIT: TargetCapabilities = { trafficSplit: true, reportsVersion: true, reportsMetrics: true };
const strategy: DeployStrategy = {
  ...DEFAULT_STRATEGY,
  steps: [
    { weight: 5, pauseSeconds: 60 },
    { weight: 50, pauseSeconds: 120 },
    { weight: 100, pauseSeconds: 30 },
  ],
  triggers: { maxErrorRate: 0.2, minRequests: 20, custom: [{ metric: 'queueDepth', max: 10 }] },
  requestsPerMinute: 1200,
};
const input: PlanRolloutInput = {
  release,
  releaseDigest: d('1'),
  previous: { releaseDigest: d('0'), artifactDigest: d('b') },
  capabilities: SPLIT,
  strategy,
};

describe('planRollout', () => {
  it('plans each step with its own pause and expected canary requests, the budget, triggers and both refs', () => {
    const plan = planRollout(input);
    assert.equal(plan.kind, 'canary');
    assert.deepEqual(plan.notes, []);
    assert.deepEqual(
      plan.steps.map((s) => [s.weight, s.pauseSeconds, s.canaryRequestsInPause]),
      [
        [5, 60, 60],
        [50, 120, 1200],
        [100, 30, 600],
      ],
    );
    assert.deepEqual(plan.budget, trafficBudget(strategy.analysis, 60));
    assert.equal(plan.minimumSeconds, 210);
    assert.deepEqual(plan.triggers.custom, [{ metric: 'queueDepth', max: 10 }]);
    assert.deepEqual(plan.next, { releaseDigest: d('1'), artifactDigest: d('a') });
    assert.deepEqual(plan.previous, { releaseDigest: d('0'), artifactDigest: d('b') });
    assert.deepEqual(plan.capabilities, SPLIT);
    assert.equal(plan.rollbackUnsafe, false);
    assert.equal(plan.environment, 'prod');
  });

  it('turns a canary into a single switch on a target that cannot split traffic, and says so', () => {
    const plan = planRollout({ ...input, capabilities: { ...SPLIT, trafficSplit: false } });
    assert.equal(plan.requestedKind, 'canary');
    assert.equal(plan.kind, 'blueGreen');
    assert.deepEqual(
      plan.steps.map((s) => [s.weight, s.pauseSeconds]),
      [[100, 30]],
    );
    assert.match(plan.notes.join('\n'), /cannot split traffic/);
  });

  it('plans a first deployment as one step at 100 that holds on failure', () => {
    const plan = planRollout({ ...input, previous: null });
    assert.equal(plan.previous, null);
    assert.deepEqual(
      plan.steps.map((s) => s.weight),
      [100],
    );
    assert.match(plan.notes.join('\n'), /first deployment/);
    assert.match(plan.notes.join('\n'), /holds/);
  });

  it('carries rollback-unsafety from the release', () => {
    const plan = planRollout({ ...input, release: { ...release, rollbackUnsafe: true } });
    assert.equal(plan.rollbackUnsafe, true);
    assert.match(plan.notes.join('\n'), /freezes/);
  });

  it('refuses steps that do not ascend to 100', () => {
    assert.throws(() => planRollout({ ...input, strategy: { ...strategy, steps: [{ weight: 50, pauseSeconds: 1 }] } }), RangeError);
  });
});

describe('planDigest', () => {
  it('is the sha256 of the JCS form, the same for equal plans and different for any change', () => {
    const plan = planRollout(input);
    assert.equal(planDigest(plan), sha256Digest(canonicalize(plan)));
    assert.equal(planDigest(planRollout(input)), planDigest(plan));
    assert.equal(planDigest(JSON.parse(JSON.stringify(plan))), planDigest(plan));
    assert.notEqual(planDigest(planRollout({ ...input, releaseDigest: d('2') })), planDigest(plan));
    assert.notEqual(planDigest(planRollout({ ...input, capabilities: { ...SPLIT, reportsMetrics: false } })), planDigest(plan));
  });
});

describe('shapeRollout: the plan before there is a release (what cairn deploy --dry-run prints)', () => {
  const steps = (weights: number[], pauseSeconds: number) => weights.map((weight) => ({ weight, pauseSeconds }));

  it('states steps, weights, pauses, expected canary traffic and the SPRT budget at the first step', () => {
    const shape = shapeRollout({
      strategy: { ...DEFAULT_STRATEGY, steps: steps([10, 50, 100], 60), requestsPerMinute: 600 },
      capabilities: SPLIT,
      previous: input.previous,
      rollbackUnsafe: false,
    });
    assert.deepEqual(
      shape.steps.map((s) => [s.weight, s.canaryRequestsPerMinute, s.canaryRequestsInPause]),
      [
        [10, 60, 60],
        [50, 300, 300],
        [100, 600, 600],
      ],
    );
    assert.deepEqual(shape.budget, trafficBudget(shape.analysis, 60));
    assert.equal(shape.minimumSeconds, 180);
    assert.equal(shape.steps[2]?.enoughTraffic, true);
    assert.deepEqual(shape.notes, []);
  });

  it('is planRollout without the release: the same steps, notes and budget', () => {
    const { environment: _e, service: _s, decisionId: _d, next: _n, ...rest } = planRollout(input);
    assert.deepEqual(shapeRollout({ strategy, capabilities: SPLIT, previous: input.previous, rollbackUnsafe: false }), rest);
  });

  it('flags a first step too quiet for a verdict, shapes a first deployment as one step, and rejects bad weights', () => {
    const quiet = shapeRollout({
      strategy: { ...DEFAULT_STRATEGY, steps: steps([1, 100], 10), requestsPerMinute: 60 },
      capabilities: SPLIT,
      previous: input.previous,
      rollbackUnsafe: false,
    });
    assert.equal(quiet.steps[0]?.enoughTraffic, false);
    const first = shapeRollout({ strategy, capabilities: SPLIT, previous: null, rollbackUnsafe: false });
    assert.deepEqual(
      first.steps.map((s) => s.weight),
      [100],
    );
    assert.ok(first.notes.some((n) => n.startsWith('first deployment')));
    for (const weights of [
      [50, 10, 100],
      [10, 50],
    ]) {
      assert.throws(
        () => shapeRollout({ strategy: { ...DEFAULT_STRATEGY, steps: steps(weights, 1) }, capabilities: SPLIT, previous: null, rollbackUnsafe: false }),
        RangeError,
      );
    }
  });
});
