import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { cli, commitTree, gitIn, REPO_ROOT, TINY_PROJECT, useScratch, writeTree, useRunState, OSV_ARGS } from '../testkit.js';

const scratch = useScratch();

describe('cairn run (the whole pipeline on a tiny project)', () => {
  const { repo, state } = useRunState(scratch);
  let summary: Record<string, unknown>;

  before(async () => {
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const result = await cli(['run', repo, '--state', state, '--json', '--purpose', 'test run', ...OSV_ARGS]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const end = result.events().find((e) => e.type === 'run-end');
    summary = (end?.summary ?? {}) as Record<string, unknown>;
  });

  it('emits one stage event per stage, in order, all ok', async () => {
    const again = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    const stages = again.events().filter((e) => e.type === 'stage');
    assert.deepEqual(
      stages.map((s) => [s.stage, s.outcome]),
      ['source', 'build', 'attest', 'rebuild', 'scan', 'gate', 'deploy', 'runtime'].map((s) => [s, 'ok']),
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

  it('keeps an audit log that verifies, hands out receipts that verify offline, and fails verification after one leaf is altered', async () => {
    const good = await cli(['audit', 'verify', '--state', state, '--json']);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const report = good.events()[0] as { ok: boolean; size: number; latestCheckpoint: number };
    assert.ok(report.ok);
    assert.ok(report.size >= 10);

    const receipts = summary.receipts as { action: string; index: number; receipt: string | null }[];
    assert.deepEqual(receipts.map((r) => r.action).slice(0, 2), ['run.start', 'source.snapshot']);
    const finish = receipts.find((r) => r.action === 'run.finish');
    assert.ok(finish?.receipt, 'the run.finish receipt is in the summary');
    const receiptFile = path.join(scratch(), 'run-finish.tlog-proof');
    writeFileSync(receiptFile, finish.receipt);
    const key = (await cli(['audit', 'key', '--state', state, '--json'])).events()[0]?.verifierKey as string;
    assert.equal(key, readFileSync(path.join(state, 'keys', 'log.vkey'), 'utf8').trim());
    const offline = await cli(['audit', 'verify-receipt', receiptFile, '--log-key', key, '--json']);
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    const verified = offline.events()[0] as { index: number; event: { action: string; actor: { identity: string; purpose: string } } };
    assert.equal(verified.index, finish.index);
    assert.deepEqual(verified.event.actor, { identity: 'tester@cairn.invalid', purpose: 'test run' });

    const copy = scratch();
    const db = new Database(path.join(state, 'cairn.db'));
    await db.backup(path.join(copy, 'cairn.db'));
    db.close();
    cpSync(path.join(state, 'keys'), path.join(copy, 'keys'), { recursive: true });
    const tampered = new Database(path.join(copy, 'cairn.db'));
    const row = tampered.prepare('SELECT leaf FROM audit_leaves WHERE idx = 3').get() as { leaf: Buffer };
    const event = JSON.parse(row.leaf.toString('utf8'));
    event.actor = { ...event.actor, identity: 'someone-else' };
    tampered.prepare('UPDATE audit_leaves SET leaf = ? WHERE idx = 3').run(Buffer.from(JSON.stringify(event)));
    tampered.close();
    const bad = await cli(['audit', 'verify', '--state', copy, '--json']);
    assert.equal(bad.code, 1);
    const failed = bad.events()[0] as { ok: boolean; problems: { code: string; path: string }[] };
    assert.equal(failed.ok, false);
    assert.deepEqual(
      failed.problems.map((p) => [p.code, p.path]),
      [['AUDIT_LEAF_HASH_MISMATCH', 'leaves[3]']],
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

describe('cairn run --demo', () => {
  it('ends by verifying the whole audit log and the run.finish receipt offline', async () => {
    const repo = scratch();
    const state = scratch();
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const json = await cli(['run', repo, '--state', state, '--demo', '--json', ...OSV_ARGS]);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const types = json.events().map((e) => e.type);
    assert.deepEqual(types.slice(-2), ['audit-verified', 'run-end']);
    const check = json.events().find((e) => e.type === 'audit-verified') as {
      log: { ok: boolean; size: number };
      receipt: { ok: boolean; action: string; verifierKey: string };
    };
    assert.equal(check.log.ok, true);
    assert.deepEqual([check.receipt.ok, check.receipt.action], [true, 'run.finish']);
    assert.equal(check.receipt.verifierKey, readFileSync(path.join(state, 'keys', 'log.vkey'), 'utf8').trim());

    const text = await cli(['run', repo, '--state', state, '--demo', ...OSV_ARGS]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    const tail = text.stdout.trimEnd().split('\n').slice(-7).join('\n');
    assert.match(tail, /^audit, checked at the end of the demo:$/m);
    assert.match(tail, /log +cairn\.local\/[0-9a-f]{8}: \d+ entries, \d+ checkpoints — verified/);
    assert.match(tail, /receipt +run\.finish \(entry #\d+\) verified offline/);
    assert.match(tail, /cairn audit verify-receipt run\.tlog-proof --log-key/);
  });
});

describe('the gate, fed by the rebuild and the scans', () => {
  it('refuses an artifact whose independent rebuild differs, and the refusal names the cause', async () => {
    const repo = scratch();
    const state = scratch();
    commitTree(repo, { ...TINY_PROJECT, 'build.mjs': `${TINY_PROJECT['build.mjs']}writeFileSync('out/built-at.txt', new Date().toISOString() + '\\n');\n` });
    const result = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
    assert.equal(result.code, 1, result.stdout);
    const stages = Object.fromEntries(
      result
        .events()
        .filter((e) => e.type === 'stage')
        .map((e) => [e.stage, e]),
    );
    assert.equal(stages.rebuild?.outcome, 'failed');
    assert.equal(stages.gate?.outcome, 'denied');
    assert.match(String(stages.gate?.summary), /rebuild-matches: the rebuild did not reproduce the artifact \(first cause: timestamp/);
    assert.equal(stages.deploy, undefined);
    assert.deepEqual((await cli(['status', '--state', state, '--json'])).events(), []);
  });

  it('refuses when no advisory database was given, because the vulnerability scan did not run', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    const result = await cli(['run', repo, '--state', scratch(), '--json']);
    assert.equal(result.code, 1);
    const gate = result.events().find((e) => e.type === 'stage' && e.stage === 'gate');
    assert.match(String(gate?.summary), /vulnerability-scan-ran/);
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
    const result = await cli(['run', repo, '--state', state, '--json', ...OSV_ARGS]);
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
