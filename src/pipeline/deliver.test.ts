import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cli, commitTree, gitIn, TINY_PROJECT, useScratch, writeTree, versionAt, useRunState, OSV_ARGS, runEnd, type RunEnd } from '../testkit.js';

const scratch = useScratch();

describe('cairn rollback: replay the previous release byte for byte, pin it, audit it', () => {
  const { repo, state } = useRunState(scratch);
  let v1: RunEnd;
  let v2: RunEnd;

  before(async () => {
    commitTree(repo, TINY_PROJECT, 1_700_000_000, 'v1');
    const first = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    v1 = runEnd(first);
    writeTree(repo, { 'server.mjs': `${TINY_PROJECT['server.mjs'] as string}// v2\n` });
    gitIn(repo, ['add', '-A']);
    gitIn(repo, ['commit', '-q', '-m', 'v2'], 1_700_000_100);
    const second = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    v2 = runEnd(second);
  });

  it('the second release replaced the first behind the same environment endpoint', async () => {
    assert.notEqual(v1.artifact.digest, v2.artifact.digest);
    assert.equal(v1.deployments[0]?.endpoint, v2.deployments[0]?.endpoint, 'the environment keeps one endpoint (the router)');
    const endpoint = v2.deployments[0]?.endpoint ?? '';
    assert.equal(await versionAt(endpoint), v2.artifact.digest);
  });

  it('refuses without --env, and rolls back to v1: running digest, desired state, pin and audit entries', async () => {
    const usage = await cli(['rollback', '--state', state]);
    assert.equal(usage.code, 2);
    const result = await cli(['rollback', '--env', 'dev', '--reason', 'bad greeting', '--state', state, '--json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const event = result.events().find((e) => e.type === 'rollback') as {
      outcome: string;
      from: { releaseDigest: string; artifactDigest: string };
      to: { releaseDigest: string; artifactDigest: string };
    };
    assert.equal(event.outcome, 'rolledBack');
    assert.equal(event.from.artifactDigest, v2.artifact.digest);
    assert.equal(event.to.artifactDigest, v1.artifact.digest);
    assert.equal(event.to.releaseDigest, v1.deployments[0]?.releaseDigest, 'the very release bundle v1 shipped with, by digest');
    const endpoint = v2.deployments[0]?.endpoint ?? '';
    for (let i = 0; i < 5; i++) assert.equal(await versionAt(endpoint), v1.artifact.digest);

    const status = await cli(['status', '--state', state, '--json', '--check']);
    assert.equal(status.code, 0, status.stdout);
    assert.equal((status.events()[0]?.desired as { artifactDigest: string } | undefined)?.artifactDigest, v1.artifact.digest);

    const log = await cli(['audit', 'log', '--state', state, '--json', '--limit', '500']);
    const actions = log.events().map((e) => e.action);
    assert.ok(actions.includes('deploy.rollback.start') && actions.includes('deploy.rollback.done'), actions.join(','));
    const verified = await cli(['audit', 'verify', '--state', state]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it('the pinned artifact cannot come back without --allow-pinned', async () => {
    const again = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.equal(runEnd(again).error?.code, 'DEPLOY_PINNED');
    const endpoint = v2.deployments[0]?.endpoint ?? '';
    assert.equal(await versionAt(endpoint), v1.artifact.digest, 'the refused run changed nothing');
    const forced = await cli(['run', repo, '--state', state, '--json', '--allow-pinned', ...OSV_ARGS]);
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    assert.equal(await versionAt(endpoint), v2.artifact.digest);
  });

  it('a second rollback goes back to v1 again, and with no earlier release there is nothing to roll back to', async () => {
    const back = await cli(['rollback', '--env', 'dev', '--state', state, '--json']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    const none = await cli(['rollback', '--env', 'dev', '--state', state, '--json']);
    assert.equal(none.code, 1, none.stdout + none.stderr);
    assert.match(none.stdout + none.stderr, /DEPLOY_NO_PREVIOUS_RELEASE/);
  });
});

describe('cairn rollback: a rollbackUnsafe release freezes instead', () => {
  const { repo, state } = useRunState(scratch);

  it('changes nothing at the target and exits 1', async () => {
    commitTree(repo, TINY_PROJECT, 1_700_000_000, 'v1');
    assert.equal((await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS])).code, 0);
    writeTree(repo, { 'cairn.yaml': `${TINY_PROJECT['cairn.yaml']}  rollbackUnsafe: true\n` });
    gitIn(repo, ['add', '-A']);
    gitIn(repo, ['commit', '-q', '-m', 'v2 migrates data'], 1_700_000_100);
    const second = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const v2 = runEnd(second);
    const frozen = await cli(['rollback', '--env', 'dev', '--state', state, '--json']);
    assert.equal(frozen.code, 1, frozen.stdout + frozen.stderr);
    assert.equal((frozen.events().find((e) => e.type === 'rollback') as { outcome: string }).outcome, 'frozen');
    assert.equal(await versionAt(v2.deployments[0]?.endpoint ?? ''), v2.artifact.digest);
    const log = await cli(['audit', 'log', '--state', state, '--json', '--limit', '500']);
    assert.ok(log.events().some((e) => e.action === 'deploy.freeze'));
  });
});
