import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cli, commitTree, gitIn, TINY_PROJECT, useScratch, writeTree, versionAt, useRunState, OSV_ARGS, runEnd, type RunEnd } from '../testkit.js';
import { openState } from './state.js';

const scratch = useScratch();
const MAIN = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js')).href;

/** Canary 50% observed for 4 s, then 100%; a 2 s lease, so a killed controller blocks for 2 s at most. */
const CANARY_YAML = TINY_PROJECT['cairn.yaml'].replace(
  '  strategy: { steps: [{ weight: 100, pauseSeconds: 0 }] }\n',
  '  leaseSeconds: 2\n  strategy: { steps: [{ weight: 50, pauseSeconds: 4 }, { weight: 100, pauseSeconds: 0 }], requestsPerMinute: 6000 }\n',
);

/** Sends requests to `endpoint` back to back, once `ready()` holds, until stopped: the traffic a canary is judged on. */
function drive(endpoint: string, ready: () => boolean = () => true): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running && !ready()) await sleep(10);
    while (running) {
      await fetch(endpoint)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      sent++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return sent;
    },
  };
}

/** The environment's stored rollout, as the store holds it now. */
async function storedRollout(stateDir: string): Promise<{ phase: string; weight: number; rolloutId: string; leaseExpiresAt: string | null } | null> {
  const state = await openState(stateDir);
  try {
    const record = await state.store.getRollout('dev');
    if (!record) return null;
    const body = JSON.parse(record.body) as { rolloutId: string; state: { phase: string; weight: number } };
    const lease = await state.store.getLease('deploy/dev');
    return { phase: body.state.phase, weight: body.state.weight, rolloutId: body.rolloutId, leaseExpiresAt: lease?.expiresAt ?? null };
  } finally {
    await state.close();
  }
}

/**
 * Deploys v1, then starts `cairn run` for v2 in a child process and kills it (SIGKILL) once
 * its canary holds 50% of the traffic: a controller that died mid-rollout, with both releases
 * still running behind the router.
 */
async function crashedRollout(repo: string, state: string): Promise<{ v1: RunEnd; endpoint: string; rolloutId: string }> {
  commitTree(repo, { ...TINY_PROJECT, 'cairn.yaml': CANARY_YAML }, 1_700_000_000, 'v1');
  const first = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const v1 = runEnd(first);
  const endpoint = v1.deployments[0]?.endpoint ?? '';
  writeTree(repo, { 'server.mjs': `${TINY_PROJECT['server.mjs'] as string}// v2\n` });
  gitIn(repo, ['add', '-A']);
  gitIn(repo, ['commit', '-q', '-m', 'v2'], 1_700_000_100);
  const script = `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });`;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script, 'run', repo, '--state', state, '--json', ...OSV_ARGS], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CAIRN_ACTOR: 'tester@cairn.invalid' },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let seen: Awaited<ReturnType<typeof storedRollout>> = null;
  for (let i = 0; i < 1200 && child.exitCode === null; i++) {
    seen = await storedRollout(state);
    if (seen?.phase === 'Analyzing' && seen.weight === 50) break;
    await sleep(50);
  }
  assert.ok(seen?.phase === 'Analyzing' && seen.weight === 50, `the v2 canary never reached 50%: ${JSON.stringify(seen)}\n${output}`);
  child.kill('SIGKILL');
  await exited;
  return { v1, endpoint, rolloutId: seen.rolloutId };
}

/** Waits until the dead controller's lease has run out. */
async function leaseExpired(state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const seen = await storedRollout(state);
    // Released leases read as expiring at '' (no instant): free as well.
    if (!(Date.parse(seen?.leaseExpiresAt ?? '') > Date.now())) return;
    await sleep(100);
  }
  assert.fail('the lease never expired');
}

/** Pids of the processes the local target started for `releaseDigest` that are still alive. */
function livePids(state: string, releaseDigest: string): number[] {
  const dev = path.join(state, 'runtime', 'dev');
  const pids: number[] = [];
  for (const entry of readdirSync(dev, { withFileTypes: true })) {
    const file = path.join(dev, entry.name, 'deployment.json');
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const d = JSON.parse(readFileSync(file, 'utf8')) as { releaseDigest: string; pid: number | null };
    if (d.releaseDigest !== releaseDigest || d.pid === null) continue;
    // A zombie (state Z: exited, not yet reaped by whoever adopted it) runs no more.
    const stat = existsSync(`/proc/${d.pid}/stat`) ? readFileSync(`/proc/${d.pid}/stat`, 'utf8') : '';
    if (stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') pids.push(d.pid);
  }
  return pids;
}

interface RouterFile {
  upstreams: Record<string, string>;
  weights: Record<string, number>;
  applied: string[];
}

function routerState(state: string): RouterFile {
  return JSON.parse(readFileSync(path.join(state, 'runtime', 'dev', 'router.json'), 'utf8')) as RouterFile;
}

describe('cairn deploy --resume: a rollout whose controller was killed mid-canary', () => {
  const { repo, state } = useRunState(scratch);
  let crash: Awaited<ReturnType<typeof crashedRollout>>;

  before(async () => {
    crash = await crashedRollout(repo, state);
  });

  it('leaves both releases serving behind the router, and blocks the next run with a pointer to --resume', async () => {
    const versions = new Set<string | null>();
    for (let i = 0; i < 40; i++) versions.add(await versionAt(crash.endpoint));
    assert.equal(versions.size, 2, 'v1 and v2 share the traffic at 50%');
    const blocked = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(blocked.code, 1, blocked.stdout + blocked.stderr);
    const end = runEnd(blocked);
    // The dead controller's lease may still be live, or already expired: either way nothing new starts.
    assert.ok(end.error?.code === 'DEPLOY_ROLLOUT_UNFINISHED' || end.error?.code === 'DEPLOY_LEASE_HELD', JSON.stringify(end.error));
    if (end.error?.code === 'DEPLOY_ROLLOUT_UNFINISHED') assert.match(end.error.message, /cairn deploy --resume --env dev/);
    const plan = await cli(['deploy', '--dry-run', repo, '--env', 'dev', '--state', state]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`note: rollout ${crash.rolloutId.replaceAll('/', '\\/')} stopped in Analyzing`));
  });

  it('refuses without --env, and with --dry-run', async () => {
    const usage = await cli(['deploy', '--resume', '--state', state]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /CLI_MISSING_OPTION/);
    const both = await cli(['deploy', '--resume', '--dry-run', '--env', 'dev', '--state', state]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /CLI_BAD_OPTION/);
  });

  it('refuses while another controller holds the lease, starting nothing (not even the canary process that died)', async () => {
    await leaseExpired(state);
    // The canary's process dies too (as on a lost machine): resuming must not start it while the lease is held.
    const canary = Object.keys(routerState(state).upstreams).find((d) => d !== crash.v1.deployments[0]?.releaseDigest) ?? '';
    for (const pid of livePids(state, canary)) process.kill(-pid, 'SIGKILL');
    for (let i = 0; i < 50 && livePids(state, canary).length > 0; i++) await sleep(20);
    assert.deepEqual(livePids(state, canary), []);
    const opened = await openState(state);
    const now = Date.now();
    const lease = await opened.store.acquireLease('deploy/dev', 'another-controller', new Date(now).toISOString(), new Date(now + 60_000).toISOString());
    try {
      assert.ok(lease);
      const before = readdirSync(path.join(state, 'runtime', 'dev')).sort();
      const refused = await cli(['deploy', '--resume', '--env', 'dev', '--state', state, '--json']);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stdout + refused.stderr, /DEPLOY_LEASE_HELD.*another-controller/);
      assert.deepEqual(readdirSync(path.join(state, 'runtime', 'dev')).sort(), before, 'no release folder was added');
    } finally {
      if (lease) await opened.store.releaseLease(lease);
      await opened.close();
    }
  });

  it('continues the stored rollout under a new epoch to promotion: the canary restarted, each operation applied once, v2 on all traffic, v1 stopped, audited', async () => {
    await leaseExpired(state);
    const appliedBefore = routerState(state).applied;
    const canary = Object.keys(routerState(state).upstreams).find((d) => d !== crash.v1.deployments[0]?.releaseDigest) ?? '';
    const deadUrl = routerState(state).upstreams[canary];
    // Traffic starts once the canary answers again: requests to the dead one would count as its errors (and roll it back).
    const load = drive(crash.endpoint, () => {
      try {
        return routerState(state).upstreams[canary] !== deadUrl;
      } catch {
        return false;
      }
    });
    const resumed = await cli(['deploy', '--resume', '--env', 'dev', '--state', state, '--json']);
    await load.stop();
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout + resumed.stderr, /no longer runs: starting it again/, 'the dead canary was started again from its bundle');
    const event = resumed.events().find((e) => e.type === 'resume') as {
      resumed: boolean;
      foundPhase: string;
      outcome: string;
      deployment: { releaseDigest: string };
    };
    assert.equal(event.resumed, true);
    assert.equal(event.foundPhase, 'Analyzing');
    assert.equal(event.outcome, 'promoted');

    const router = routerState(state);
    assert.deepEqual(Object.values(router.weights), [100], 'one release takes all traffic');
    assert.equal(new Set(router.applied).size, router.applied.length, 'no operation id applied twice');
    assert.deepEqual(router.applied.slice(0, appliedBefore.length), appliedBefore, 'what the dead controller applied stays applied, once');
    assert.ok(router.applied.length > appliedBefore.length, 'the resumed controller applied the last step');
    const v1Release = crash.v1.deployments[0]?.releaseDigest ?? '';
    assert.equal(v1Release in router.weights, false, 'v1 left the router');
    assert.deepEqual(livePids(state, v1Release), [], 'v1 stopped');

    const status = await cli(['status', '--state', state, '--json', '--check']);
    assert.equal(status.code, 0, status.stdout);
    const desired = status.events()[0]?.desired as { artifactDigest: string } | undefined;
    for (let i = 0; i < 10; i++) assert.equal(await versionAt(crash.endpoint), desired?.artifactDigest);
    assert.notEqual(desired?.artifactDigest, crash.v1.artifact.digest);

    const log = await cli(['audit', 'log', '--state', state, '--json', '--limit', '1000']);
    const actions = log.events().map((e) => e.action);
    assert.equal(actions.filter((a) => a === 'deploy.resume').length, 1, actions.join(','));
    assert.ok(actions.lastIndexOf('gate.step') > actions.indexOf('deploy.resume'), 'the gate was asked again after the resume');
    const verified = await cli(['audit', 'verify', '--state', state]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it('a second resume finds the rollout ended and recorded, and changes nothing', async () => {
    const before = routerState(state);
    const again = await cli(['deploy', '--resume', '--env', 'dev', '--state', state, '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const event = again.events().find((e) => e.type === 'resume') as { resumed: boolean; outcome: string };
    assert.equal(event.resumed, false);
    assert.equal(event.outcome, 'promoted');
    assert.deepEqual(routerState(state), before);
  });
});

describe('cairn rollback ends a rollout whose controller was killed', () => {
  const { repo, state } = useRunState(scratch);
  let crash: Awaited<ReturnType<typeof crashedRollout>>;

  before(async () => {
    crash = await crashedRollout(repo, state);
    await leaseExpired(state);
  });

  it('puts all traffic back on v1, stops v2, pins it, and leaves nothing to resume', async () => {
    const result = await cli(['rollback', '--env', 'dev', '--reason', 'canary abandoned', '--state', state, '--json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const event = result.events().find((e) => e.type === 'rollback') as {
      outcome: string;
      to: { artifactDigest: string };
      from: { artifactDigest: string; releaseDigest: string };
    };
    assert.equal(event.outcome, 'rolledBack');
    assert.equal(event.to.artifactDigest, crash.v1.artifact.digest, 'back to the release the rollout was replacing');
    assert.notEqual(event.from.artifactDigest, crash.v1.artifact.digest);
    for (let i = 0; i < 20; i++) assert.equal(await versionAt(crash.endpoint), crash.v1.artifact.digest);
    assert.deepEqual(Object.values(routerState(state).weights), [100]);
    assert.deepEqual(Object.keys(routerState(state).upstreams), [crash.v1.deployments[0]?.releaseDigest], 'v2 left the router');
    assert.deepEqual(livePids(state, event.from.releaseDigest), [], 'v2 stopped');

    const stored = await storedRollout(state);
    assert.equal(stored?.phase, 'RolledBack');
    assert.equal(stored?.rolloutId, crash.rolloutId);
    const resume = await cli(['deploy', '--resume', '--env', 'dev', '--state', state, '--json']);
    const resumed = resume.events().find((e) => e.type === 'resume') as { resumed: boolean; outcome: string };
    assert.equal(resumed.resumed, false);
    assert.equal(resumed.outcome, 'rolledBack');
    assert.equal(resume.code, 1, 'the release was not promoted');

    // The environment is free again: the next run is refused only by the pin on v2, not by the dead rollout.
    const again = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(runEnd(again).error?.code, 'DEPLOY_PINNED', again.stdout);
  });
});

/** Deploys v1, then v2 as a canary that holds at 50%: no traffic reaches it, so its step cannot be measured. */
async function heldCanary(repo: string, state: string): Promise<{ v1: RunEnd; endpoint: string }> {
  const heldYaml = CANARY_YAML.replace('pauseSeconds: 4 }', 'pauseSeconds: 1 }');
  commitTree(repo, { ...TINY_PROJECT, 'cairn.yaml': heldYaml }, 1_700_000_000, 'v1');
  const first = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const v1 = runEnd(first);
  writeTree(repo, { 'server.mjs': `${TINY_PROJECT['server.mjs'] as string}// v2\n` });
  gitIn(repo, ['add', '-A']);
  gitIn(repo, ['commit', '-q', '-m', 'v2'], 1_700_000_100);
  const second = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
  assert.equal(runEnd(second).outcome, 'failed', second.stdout + second.stderr);
  assert.notEqual(second.code, 0);
  const held = await storedRollout(state);
  assert.equal(held?.phase, 'Held');
  assert.equal(held?.weight, 50);
  return { v1, endpoint: v1.deployments[0]?.endpoint ?? '' };
}

describe('cairn rollback abandons a held canary', () => {
  const { repo, state } = useRunState(scratch);

  it('a canary held at 50% (nothing to measure) goes back to v1 on rollback, not to the release before v1', async () => {
    const { v1, endpoint } = await heldCanary(repo, state);
    const plan = await cli(['deploy', '--dry-run', repo, '--env', 'dev', '--state', state]);
    assert.match(plan.stdout, /held at 50%: both releases still run; `cairn rollback --env dev` abandons it/);

    const result = await cli(['rollback', '--env', 'dev', '--reason', 'held too long', '--state', state, '--json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const event = result.events().find((e) => e.type === 'rollback') as {
      to: { artifactDigest: string };
      from: { artifactDigest: string; releaseDigest: string };
    };
    assert.equal(event.to.artifactDigest, v1.artifact.digest);
    assert.notEqual(event.from.artifactDigest, v1.artifact.digest);
    for (let i = 0; i < 20; i++) assert.equal(await versionAt(endpoint), v1.artifact.digest);
    assert.deepEqual(Object.keys(routerState(state).upstreams), [v1.deployments[0]?.releaseDigest], 'v2 left the router');
    assert.deepEqual(livePids(state, event.from.releaseDigest), [], 'v2 stopped');
    assert.equal((await storedRollout(state))?.phase, 'RolledBack');
  });
});

describe('a new run supersedes a held canary', () => {
  const { repo, state } = useRunState(scratch);

  it('rolls v3 out against v1 and stops the held v2, which never takes traffic again', async () => {
    const { v1, endpoint } = await heldCanary(repo, state);
    const heldRelease = Object.keys(routerState(state).upstreams).find((d) => d !== v1.deployments[0]?.releaseDigest) ?? '';
    assert.equal(livePids(state, heldRelease).length, 1, 'the held v2 runs');
    // v3 promotes: its last step is not observed, and its first gets the traffic it needs from the loop below.
    writeTree(repo, {
      'server.mjs': `${TINY_PROJECT['server.mjs'] as string}// v3\n`,
      'cairn.yaml': CANARY_YAML.replace('pauseSeconds: 4 }', 'pauseSeconds: 2 }'),
    });
    gitIn(repo, ['add', '-A']);
    gitIn(repo, ['commit', '-q', '-m', 'v3'], 1_700_000_200);
    const load = drive(endpoint);
    const third = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    await load.stop();
    assert.equal(third.code, 0, third.stdout + third.stderr);
    const v3 = runEnd(third);
    for (let i = 0; i < 10; i++) assert.equal(await versionAt(endpoint), v3.artifact.digest);
    assert.deepEqual(livePids(state, heldRelease), [], 'the held v2 stopped');
    assert.deepEqual(Object.keys(routerState(state).upstreams), [v3.deployments[0]?.releaseDigest], 'only v3 is routed');
  });
});
