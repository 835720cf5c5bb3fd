import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cli, useScratch } from '../../testkit.js';

const scratch = useScratch();

describe('cairn deploy --dry-run', () => {
  it('prints the plan with steps, weights, pauses and the SPRT budget', async () => {
    const cwd = scratch();
    const text = await cli(['deploy', '--dry-run', '--env', 'prod', '--weights', '5,25,100', '--pause-seconds', '60'], { cwd });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /step 0: 5% for 60s/);
    assert.match(text.stdout, /budget: ~\d+ requests to catch a bad canary/);
    const json = await cli(['deploy', '--dry-run', '--json', '--weights', '5,25,100'], { cwd });
    const plan = json.events().at(-1) as { type: string; steps: { weight: number }[]; budget: { expectedRequestsIfBad: number } };
    assert.equal(plan.type, 'plan');
    assert.deepEqual(
      plan.steps.map((s) => s.weight),
      [5, 25, 100],
    );
    assert.ok(plan.budget.expectedRequestsIfBad > 0);
  });

  it('refuses bad weights and a real deploy without --dry-run', async () => {
    const cwd = scratch();
    const bad = await cli(['deploy', '--dry-run', '--weights', '50,10'], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CLI_BAD_OPTION/);
    const real = await cli(['deploy'], { cwd });
    assert.equal(real.code, 2);
    assert.match(real.stderr, /CLI_MISSING_OPTION/);
  });
});
