import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firedTriggers, sprtDecide, sprtShape, trafficBudget, windowRuleAbortsAt } from './sprt.js';

const params = { baselineErrorRate: 0.001, effect: 10, alpha: 0.05, beta: 0.2 };

describe('sprtDecide', () => {
  it('adds ln 10 per error and about -0.00905 per success for 0.1% → 1%', () => {
    const shape = sprtShape(params);
    assert.ok(Math.abs(shape.onError - Math.log(10)) < 1e-12);
    assert.ok(Math.abs(shape.onSuccess + 0.00905) < 1e-4);
    assert.ok(Math.abs(shape.upper - Math.log(16)) < 1e-12);
  });

  it('rejects a canary with 2 errors early, continues with 1, accepts after enough clean requests', () => {
    assert.equal(sprtDecide({ requests: 50, errors: 2 }, params).verdict, 'reject');
    assert.equal(sprtDecide({ requests: 50, errors: 1 }, params).verdict, 'continue');
    assert.equal(sprtDecide({ requests: 200, errors: 0 }, params).verdict, 'accept');
    assert.equal(sprtDecide({ requests: 0, errors: 0 }, params).verdict, 'continue');
  });

  it('refuses impossible counts and parameters', () => {
    assert.throws(() => sprtDecide({ requests: 1, errors: 2 }, params), RangeError);
    assert.throws(() => sprtDecide({ requests: 1, errors: 0 }, { ...params, effect: 1 }), RangeError);
    assert.throws(() => sprtDecide({ requests: 1, errors: 0 }, { ...params, alpha: 0 }), RangeError);
  });
});

describe('trafficBudget', () => {
  it("states Wald's expected requests: about 199 if healthy and 136 if bad for 0.1% → 1%", () => {
    const b = trafficBudget(params, 30);
    assert.ok(Math.abs(b.expectedRequestsIfHealthy - 199) <= 2, String(b.expectedRequestsIfHealthy));
    assert.ok(Math.abs(b.expectedRequestsIfBad - 136) <= 2, String(b.expectedRequestsIfBad));
    assert.ok(Math.abs(b.requestsToAcceptWithoutErrors - 172) <= 2, String(b.requestsToAcceptWithoutErrors));
    assert.ok(b.expectedMinutes !== null && Math.abs(b.expectedMinutes - 200 / 30) < 0.2);
    assert.equal(trafficBudget(params, 0).expectedMinutes, null);
  });
});

describe('firedTriggers', () => {
  it('fires error-rate and p99 triggers only past the minimum request count', () => {
    const triggers = { maxErrorRate: 0.05, maxP99Ms: 500, minRequests: 20 };
    assert.deepEqual(firedTriggers({ requests: 10, errors: 10, p99Ms: 900 }, triggers), []);
    assert.deepEqual(
      firedTriggers({ requests: 20, errors: 2, p99Ms: 900 }, triggers).map((f) => f.trigger),
      ['errorRate', 'p99Latency'],
    );
    assert.deepEqual(firedTriggers({ requests: 20, errors: 1, p99Ms: null }, triggers), []);
  });

  it('fires a custom threshold on an extra metric, and treats an absent metric as no breach', () => {
    const triggers = { minRequests: 20, custom: [{ metric: 'queueDepth', max: 10 }] };
    assert.deepEqual(firedTriggers({ requests: 20, errors: 0, p99Ms: null, custom: { queueDepth: 12 } }, triggers), [
      { trigger: 'custom', metric: 'queueDepth', observed: 12, limit: 10 },
    ]);
    assert.deepEqual(firedTriggers({ requests: 20, errors: 0, p99Ms: null, custom: { queueDepth: 10 } }, triggers), []);
    assert.deepEqual(firedTriggers({ requests: 20, errors: 0, p99Ms: null, custom: { other: 99 } }, triggers), []);
    assert.deepEqual(firedTriggers({ requests: 20, errors: 0, p99Ms: null }, triggers), []);
    assert.deepEqual(firedTriggers({ requests: 19, errors: 0, p99Ms: null, custom: { queueDepth: 99 } }, triggers), []);
  });
});

describe('windowRuleAbortsAt', () => {
  it('aborts once more windows failed than the failure limit', () => {
    const rule = { windowRequests: 100, threshold: 0.01, count: 10, failureLimit: 1 };
    assert.equal(windowRuleAbortsAt([0, 1, 0, 2], rule), 400);
    assert.equal(windowRuleAbortsAt([0, 1, 0, 0], rule), null);
  });
});
