import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rolloutPlan } from './plan.js';
import { trafficBudget } from './sprt.js';

describe('rolloutPlan', () => {
  it('states steps, weights, pauses and the SPRT budget at the first step', () => {
    const plan = rolloutPlan({ weights: [10, 50, 100], pauseSeconds: 60, requestsPerMinute: 600 });
    assert.deepEqual(
      plan.steps.map((s) => [s.weight, s.canaryRequestsPerMinute, s.canaryRequestsInPause]),
      [
        [10, 60, 60],
        [50, 300, 300],
        [100, 600, 600],
      ],
    );
    assert.deepEqual(plan.budget, trafficBudget(plan.sprt, 60));
    assert.equal(plan.minimumSeconds, 180);
    assert.equal(plan.steps[2]?.enoughTraffic, true);
  });

  it('flags a first step too quiet for a verdict and rejects bad weights', () => {
    const plan = rolloutPlan({ weights: [1, 100], pauseSeconds: 10, requestsPerMinute: 60 });
    assert.equal(plan.steps[0]?.enoughTraffic, false);
    assert.throws(() => rolloutPlan({ weights: [50, 10, 100], requestsPerMinute: 1 }), RangeError);
    assert.throws(() => rolloutPlan({ weights: [10, 50], requestsPerMinute: 1 }), RangeError);
  });
});
