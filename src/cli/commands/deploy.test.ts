import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { cli, commitTree, TINY_PROJECT, useScratch, useRunState, OSV_ARGS } from '../../testkit.js';

const scratch = useScratch();

interface PlanEvent {
  type: string;
  source: string;
  target: string;
  kind: string;
  previous: { releaseDigest: string } | null;
  steps: { weight: number; pauseSeconds: number }[];
  budget: { expectedRequestsIfBad: number };
  notes: string[];
}

const planOf = (result: Awaited<ReturnType<typeof cli>>): PlanEvent => result.events().at(-1) as unknown as PlanEvent;

const CANARY_YAML = TINY_PROJECT['cairn.yaml'].replace(
  '  strategy: { steps: [{ weight: 100, pauseSeconds: 0 }] }\n',
  '  environments: [dev, prod]\n  strategy: { steps: [{ weight: 5, pauseSeconds: 60 }, { weight: 25, pauseSeconds: 60 }, { weight: 100, pauseSeconds: 0 }], triggers: { maxP99Ms: 800 } }\n',
);

describe('cairn deploy --dry-run', () => {
  it('without a cairn.yaml or a state: the default strategy, planned as a first deployment (one step at 100)', async () => {
    const cwd = scratch();
    const text = await cli(['deploy', '--dry-run', '--env', 'prod', '--state', path.join(cwd, 'state')], { cwd });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /from the defaults \(no cairn\.yaml/);
    assert.match(text.stdout, /previous {2}unknown \(no state yet\)/);
    assert.match(text.stdout, /step 0: 100% for 30s/);
    assert.match(text.stdout, /note: first deployment/);
    assert.match(text.stdout, /rollback: none \(nothing to roll back to\)/);
    const json = await cli(['deploy', '--dry-run', '--json', '--state', path.join(cwd, 'state')], { cwd });
    const plan = planOf(json);
    assert.equal(plan.type, 'plan');
    assert.equal(plan.kind, 'blueGreen');
    assert.deepEqual(
      plan.steps.map((s) => s.weight),
      [100],
    );
    assert.ok(plan.budget.expectedRequestsIfBad > 0);
  });

  it('refuses bad weights, an environment the project does not deploy to, and neither --dry-run nor --resume', async () => {
    const cwd = scratch();
    const bad = await cli(['deploy', '--dry-run', '--weights', '50,10'], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CLI_BAD_OPTION/);
    const real = await cli(['deploy'], { cwd });
    assert.equal(real.code, 2);
    assert.match(real.stderr, /CLI_MISSING_OPTION/);
    commitTree(cwd, { ...TINY_PROJECT, 'cairn.yaml': CANARY_YAML });
    const elsewhere = await cli(['deploy', '--dry-run', '--env', 'staging'], { cwd });
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /CLI_BAD_OPTION.*not among deploy\.environments/);
  });

  describe('over a state where the project runs', () => {
    const { repo, state } = useRunState(scratch);
    let running: string;

    before(async () => {
      commitTree(repo, { ...TINY_PROJECT, 'cairn.yaml': CANARY_YAML });
      const first = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const end = first.events().find((e) => e.type === 'run-end')?.summary as { deployments: { environment: string; releaseDigest: string }[] };
      running = end.deployments.find((d) => d.environment === 'dev')?.releaseDigest ?? '';
    });

    it('plans the canary of cairn.yaml against the release running now, with its triggers', async () => {
      const result = await cli(['deploy', '--dry-run', repo, '--env', 'dev', '--state', state, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const plan = planOf(result);
      assert.equal(plan.source, path.join(repo, 'cairn.yaml'));
      assert.equal(plan.target, 'local');
      assert.equal(plan.kind, 'canary');
      assert.equal(plan.previous?.releaseDigest, running);
      assert.deepEqual(
        plan.steps.map((s) => [s.weight, s.pauseSeconds]),
        [
          [5, 60],
          [25, 60],
          [100, 0],
        ],
      );
      const text = await cli(['deploy', '--dry-run', repo, '--env', 'dev', '--state', state]);
      assert.match(text.stdout, new RegExp(`previous {2}${running}`));
      assert.match(text.stdout, /triggers: p99 > 800 ms \(after 20 requests\)/);
      assert.match(text.stdout, /rollback: all traffic back on the previous release/);
    });

    it('lets flags override the steps and the analysis, and plans each environment against what runs there', async () => {
      const overrides = ['--weights', '10,100', '--pause-seconds', '5', '--effect', '3'];
      const flagged = await cli(['deploy', '--dry-run', repo, '--env', 'dev', '--state', state, '--json', ...overrides]);
      const plan = planOf(flagged) as PlanEvent & { analysis: { effect: number } };
      assert.deepEqual(
        plan.steps.map((s) => [s.weight, s.pauseSeconds]),
        [
          [10, 5],
          [100, 5],
        ],
      );
      assert.equal(plan.analysis.effect, 3);
      const prod = planOf(await cli(['deploy', '--dry-run', repo, '--env', 'prod', '--state', state, '--json']));
      assert.ok(prod.previous !== null && prod.previous.releaseDigest !== running, 'prod runs its own release bundle of the same artifact');
    });
  });
});
