import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ALNUM, fakeChars, join } from '../../scan/secrets/samples.js';
import { cli, REPO_ROOT, useScratch, writeTree } from '../../testkit.js';

const scratch = useScratch();

const HOLE = {
  '.github/workflows/preview.yml': `on: pull_request_target
permissions:
  contents: read
jobs:
  preview:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
        with:
          ref: \${{ github.event.pull_request.head.sha }}
          persist-credentials: false
      - run: npm ci && npm test
        env:
          DEPLOY_TOKEN: \${{ secrets.DEPLOY_TOKEN }}
`,
};

describe('cairn ci audit', () => {
  it('prints findings, the blast-radius table and the path to the deploy secret, and exits 1', async () => {
    const dir = scratch();
    writeTree(dir, HOLE);
    const r = await cli(['ci', 'audit', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /critical gha-untrusted-checkout +\.github\/workflows\/preview\.yml:8:15/);
    assert.match(r.stdout, /blast radius: what a compromise of each job reaches/);
    assert.match(
      r.stdout,
      /smallest CI compromise that becomes a production compromise:\n.*\n.*on: pull_request_target.*\n.*preview\.yml: preview.*\n.*→ DEPLOY_TOKEN \(repository\)/,
    );
  });

  it('exits 0 on the example service, whose workflow is clean', async () => {
    const r = await cli(['ci', 'audit', path.join(REPO_ROOT, 'examples/hello-service')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 file, 0 findings/);
    assert.match(r.stdout, /no path from an outsider to a production credential was found/);
  });

  it('emits the report and the blast radius as NDJSON events with --json', async () => {
    const dir = scratch();
    writeTree(dir, HOLE);
    const r = await cli(['ci', 'audit', dir, '--json']);
    const [report, radius] = r.events();
    assert.equal(report?.type, 'report');
    assert.deepEqual(Object.keys(report ?? {}).sort(), ['findings', 'inputs', 'summary', 'suppressed', 'tool', 'type']);
    assert.equal(radius?.type, 'blast-radius');
    const shortest = radius?.shortestPath as { edges: unknown[] } | null | undefined;
    assert.ok((shortest?.edges.length ?? 0) > 0);
  });

  it('prints SARIF 2.1.0 with --sarif and refuses --sarif with --json', async () => {
    const dir = scratch();
    writeTree(dir, HOLE);
    const r = await cli(['ci', 'audit', dir, '--sarif']);
    const sarif = JSON.parse(r.stdout) as { version: string; runs: { results: unknown[] }[] };
    assert.equal(sarif.version, '2.1.0');
    assert.ok((sarif.runs[0]?.results.length ?? 0) > 0);
    const both = await cli(['ci', 'audit', dir, '--sarif', '--json']);
    assert.equal(both.code, 2);
  });

  it('writes the graph as DOT and SVG with --graph, and honours --fail-on', async () => {
    const dir = scratch();
    writeTree(dir, HOLE);
    const r = await cli(['ci', 'audit', dir, '--graph', path.join(dir, 'out/../blast'), '--fail-on', 'critical']);
    assert.equal(r.code, 1);
    assert.match(readFileSync(path.join(dir, 'blast.dot'), 'utf8'), /^digraph/);
    assert.match(readFileSync(path.join(dir, 'blast.svg'), 'utf8'), /^<svg /);
    const bad = await cli(['ci', 'audit', dir, '--fail-on', 'severe']);
    assert.equal(bad.code, 2);
  });

  it('rejects a YAML bomb with exit 2 and its code', async () => {
    const dir = scratch();
    const lines = ['a: &a [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 8; i++)
      lines.push(
        `l${i}: &l${i} [${Array(10)
          .fill(i === 1 ? '*a' : `*l${i - 1}`)
          .join(',')}]`,
      );
    writeTree(dir, { '.github/workflows/bomb.yml': `${lines.join('\n')}\n` });
    const r = await cli(['ci', 'audit', dir, '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.events().at(-1)?.code, 'SCAN_CI_YAML_ALIASES');
  });
});

describe('cairn secrets', () => {
  const token = join('gh', 'p_', fakeChars(ALNUM, 36, 201));

  it('scan reports a masked finding and exits 1; baseline accepts it with a reason and an expiry', async () => {
    const dir = scratch();
    writeTree(dir, { 'conf/app.env': `GH=${token}\n` });
    const r = await cli(['secrets', 'scan', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /critical secret-github-token +conf\/app\.env:1:4/);
    assert.match(r.stdout, /GH=ghp_\*{8}/);
    assert.ok(!r.stdout.includes(token));
    const missing = await cli(['secrets', 'baseline', dir, '--expires', '2099-01-01']);
    assert.equal(missing.code, 2);
    const tooFar = await cli(['secrets', 'baseline', dir, '--reason', 'test fixture', '--expires', '2099-01-01']);
    assert.equal(tooFar.code, 2);
    const soon = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    const b = await cli(['secrets', 'baseline', dir, '--reason', 'revoked; kept as a fixture', '--expires', soon]);
    assert.equal(b.code, 0, b.stderr);
    const baseline = readFileSync(path.join(dir, '.cairn-secrets-baseline.json'), 'utf8');
    assert.ok(!baseline.includes(token));
    const again = await cli(['secrets', 'scan', dir]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /0 findings, 1 accepted by the baseline/);
  });

  it('scan --sarif prints SARIF with the secret rules', async () => {
    const dir = scratch();
    writeTree(dir, { 'a.env': `GH=${token}\n` });
    const r = await cli(['secrets', 'scan', dir, '--sarif']);
    const sarif = JSON.parse(r.stdout) as { runs: { results: { ruleId: string }[] }[] };
    assert.deepEqual(
      sarif.runs[0]?.results.map((x) => x.ruleId),
      ['secret-github-token'],
    );
  });
});
