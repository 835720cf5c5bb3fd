import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { cli, commitTree, gitIn, REPO_ROOT, TINY_PROJECT, useScratch, writeTree } from '../testkit.js';

const scratch = useScratch();

describe('cairn run (the whole pipeline on a tiny project)', () => {
  const repo = scratch();
  const state = scratch();
  let summary: Record<string, unknown>;

  before(async () => {
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const result = await cli(['run', repo, '--state', state, '--json', '--purpose', 'test run']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const end = result.events().find((e) => e.type === 'run-end');
    summary = (end?.summary ?? {}) as Record<string, unknown>;
  });
  after(async () => {
    await cli(['stop', '--state', state]);
  });

  it('emits one stage event per stage, in order, all ok', async () => {
    const again = await cli(['run', repo, '--state', state, '--json']);
    const stages = again.events().filter((e) => e.type === 'stage');
    assert.deepEqual(
      stages.map((s) => [s.stage, s.outcome]),
      ['source', 'build', 'attest', 'scan', 'gate', 'deploy', 'runtime'].map((s) => [s, 'ok']),
    );
    const artifact = again.events().find((e) => e.type === 'run-end')?.summary as { artifact: { digest: string } };
    assert.equal(artifact.artifact.digest, (summary.artifact as { digest: string }).digest, 'the same commit must build to the same digest');
  });

  it('records a desired state that the running service matches', async () => {
    const status = await cli(['status', '--state', state, '--json', '--check']);
    assert.equal(status.code, 0, status.stdout);
    const [env] = status.events();
    assert.equal(env?.environment, 'dev');
    assert.equal(env?.status, 'in-sync');
    assert.equal((env?.observed as { artifactDigest: string } | undefined)?.artifactDigest, (summary.artifact as { digest: string }).digest);
  });

  it('verifies the stored provenance against the stored artifact with the builder key', async () => {
    const digest = (summary.artifact as { digest: string }).digest.slice(7);
    const envelope = String(summary.provenance).slice(7);
    const blob = (hex: string) => path.join(state, 'blobs', 'sha256', hex.slice(0, 2), hex.slice(2));
    const ok = await cli(['verify', '--artifact', blob(digest), '--attestation', blob(envelope), '--key', path.join(state, 'keys', 'builder.pub'), '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const verified = ok.events()[0];
    assert.equal(verified?.type, 'verified');
    assert.equal(verified?.sourceCommit, gitIn(repo, ['rev-parse', 'HEAD']));
    const wrong = await cli([
      'verify',
      '--artifact',
      blob(envelope),
      '--attestation',
      blob(envelope),
      '--key',
      path.join(state, 'keys', 'builder.pub'),
      '--json',
    ]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.events()[0]?.code, 'ATTEST_SUBJECT_DIGEST_MISMATCH');
  });

  it('keeps an audit log that verifies, and fails verification after one row is altered', async () => {
    const good = await cli(['audit', 'verify', '--state', state, '--json']);
    assert.equal(good.code, 0, good.stdout);
    const report = good.events()[0] as { ok: boolean; events: number };
    assert.ok(report.ok);
    assert.ok(report.events >= 10);
    const copy = scratch();
    const db = new Database(path.join(state, 'cairn.db'));
    await db.backup(path.join(copy, 'cairn.db'));
    db.close();
    const tampered = new Database(path.join(copy, 'cairn.db'));
    const row = tampered.prepare('SELECT seq, body FROM audit_events WHERE seq = 3').get() as { seq: number; body: string };
    const body = JSON.parse(row.body);
    body.actor = { ...body.actor, identity: 'someone-else' };
    tampered.prepare('UPDATE audit_events SET body = ? WHERE seq = 3').run(JSON.stringify(body));
    tampered.close();
    const bad = await cli(['audit', 'verify', '--state', copy, '--json']);
    assert.equal(bad.code, 1);
    const failed = bad.events()[0] as { ok: boolean; problems: { code: string; path: string }[] };
    assert.equal(failed.ok, false);
    assert.deepEqual(
      failed.problems.map((p) => [p.code, p.path]),
      [['AUDIT_HASH_MISMATCH', 'audit[3]']],
    );
  });

  it('stops the service on request and then reports it stopped', async () => {
    const stopped = await cli(['stop', '--state', state, '--json']);
    assert.deepEqual(stopped.events()[0]?.environments, ['dev']);
    const status = await cli(['status', '--state', state, '--json']);
    assert.equal(status.events()[0]?.status, 'stopped');
    assert.equal((await cli(['status', '--state', state, '--check'])).code, 1);
  });
});

describe('cairn run with bad input', () => {
  it('exits 2 listing every problem of a bad cairn.yaml with its path, and changes no desired state', async () => {
    const repo = scratch();
    const state = scratch();
    commitTree(repo, { ...TINY_PROJECT, 'cairn.yaml': 'name: tiny\ncolour: red\nbuild:\n  output: 7\ndeploy:\n  target: local\n  start: 1\n  health: /h\n' });
    const result = await cli(['run', repo, '--state', state]);
    assert.equal(result.code, 2);
    for (const p of ['colour', 'build.run', 'build.output', 'deploy.start'])
      assert.ok(result.stdout.includes(`${p}:`) || result.stderr.includes(`${p}:`), `${p} not reported:\n${result.stdout}${result.stderr}`);
    const status = await cli(['status', '--state', state, '--json']);
    assert.deepEqual(status.events(), []);
  });

  it('exits 1 (denied) when the recipe fails, and deploys nothing', async () => {
    const repo = scratch();
    const state = scratch();
    commitTree(repo, { ...TINY_PROJECT, 'cairn.yaml': TINY_PROJECT['cairn.yaml'].replace('node build.mjs', 'exit 3') });
    const result = await cli(['run', repo, '--state', state, '--json']);
    assert.equal(result.code, 1);
    const end = result.events().find((e) => e.type === 'run-end')?.summary as { outcome: string; error: { code: string }; deployments: unknown[] };
    assert.equal(end.outcome, 'denied');
    assert.equal(end.error.code, 'BUILD_RECIPE_FAILED');
    assert.deepEqual(end.deployments, []);
  });

  it('exits 2 for a folder that is not in a git repository', async () => {
    const plain = scratch();
    writeTree(plain, TINY_PROJECT);
    const result = await cli(['run', plain, '--state', scratch()]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /SOURCE_NOT_A_REPOSITORY/);
  });
});

describe('examples/hello-service', () => {
  it('locks only packages that cairn itself locks, so the demo builds offline from the npm cache', () => {
    const own = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')).packages as Record<string, { version: string; integrity?: string }>;
    const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples/hello-service/package-lock.json'), 'utf8')).packages as Record<
      string,
      { version: string; integrity?: string }
    >;
    const deps = Object.entries(example).filter(([p]) => p !== '');
    assert.ok(deps.length > 0);
    for (const [p, entry] of deps) {
      assert.equal(own[p]?.version, entry.version, `${p}@${entry.version} is not in cairn's own lockfile`);
      assert.equal(own[p]?.integrity, entry.integrity, `${p} has another integrity in cairn's own lockfile`);
    }
  });
});
