import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { useScratch, writeTree } from '../../testkit.js';
import { toSarif } from '../sarif.js';
import { baselineFor } from '../secrets/baseline.js';
import { ALNUM, fakeChars, join } from '../secrets/samples.js';
import { auditCi, auditCiFiles, readCiFiles } from './audit.js';
import { CiAuditError } from './errors.js';

const scratch = useScratch();
const NOW = new Date('2026-06-01T00:00:00Z');
const INJECTION = `on: issues
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ github.event.issue.title }}"
`;

describe('readCiFiles', () => {
  it('reads workflows, actions (under .github, at the top and used locally) and GitLab files with their local includes', async () => {
    const dir = scratch();
    writeTree(dir, {
      '.github/workflows/a.yml': 'on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - uses: ./tools/act\n',
      '.github/workflows/nested/ignored.yml': 'on: push\n',
      '.github/workflows/notes.txt': 'not a workflow',
      '.github/actions/setup/action.yml': 'runs:\n  using: composite\n  steps: []\n',
      'tools/act/action.yaml': 'runs:\n  using: node20\n  main: index.js\n',
      'action.yml': 'runs:\n  using: composite\n  steps: []\n',
      '.gitlab-ci.yml': 'include:\n  - local: ci/more.yml\n  - local: ../../etc/passwd\n',
      'ci/more.yml': 'include: ci/last.yml\n',
      'ci/last.yml': 'job:\n  script: [make]\n',
    });
    const files = await readCiFiles(dir);
    assert.deepEqual(
      files.map((f) => f.path),
      ['.github/actions/setup/action.yml', '.github/workflows/a.yml', '.gitlab-ci.yml', 'action.yml', 'ci/last.yml', 'ci/more.yml', 'tools/act/action.yaml'],
    );
  });

  it('does not follow symbolic links', async () => {
    const dir = scratch();
    const outside = scratch();
    writeFileSync(path.join(outside, 'evil.yml'), INJECTION);
    mkdirSync(path.join(dir, '.github/workflows'), { recursive: true });
    symlinkSync(path.join(outside, 'evil.yml'), path.join(dir, '.github/workflows/evil.yml'));
    assert.deepEqual(await readCiFiles(dir), []);
  });

  it('rejects a folder that does not exist, too many files, and a file over the cap', async () => {
    await assert.rejects(readCiFiles(path.join(scratch(), 'nope')), { code: 'SCAN_CI_NOT_A_DIRECTORY' });
    const many = scratch();
    writeTree(many, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`.github/workflows/w${i}.yml`, 'on: push\n'])));
    await assert.rejects(readCiFiles(many, { maxBytes: 1 << 20, maxDepth: 64, maxNodes: 1000, maxFiles: 5 }), { code: 'SCAN_CI_TOO_MANY_FILES' });
    const big = scratch();
    writeTree(big, { '.github/workflows/big.yml': `# ${'x'.repeat(2048)}\n` });
    await assert.rejects(
      readCiFiles(big, { maxBytes: 1024, maxDepth: 64, maxNodes: 1000, maxFiles: 5 }),
      (e: unknown) => e instanceof CiAuditError && e.code === 'SCAN_CI_FILE_TOO_LARGE',
    );
  });
});

describe('auditCi', () => {
  it('reports findings with exact positions, input digests and a severity summary', async () => {
    const dir = scratch();
    writeTree(dir, { '.github/workflows/greet.yml': INJECTION });
    const { report, files } = await auditCi(dir, { now: NOW, toolVersion: '1.2.3' });
    assert.deepEqual(files, ['.github/workflows/greet.yml']);
    assert.equal(report.tool.scanner, 'ci-audit');
    assert.equal(report.tool.version, '1.2.3');
    assert.match(report.inputs['.github/workflows/greet.yml'] ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(
      report.findings.map((f) => [f.ruleId, f.location.line, f.location.column, f.location.endColumn]),
      [['gha-script-injection', 7, 20, 51]],
    );
    assert.equal(report.summary.critical, 1);
  });

  it('keeps fingerprints when lines move, and changes them when the finding changes', () => {
    const a = auditCiFiles([{ path: '.github/workflows/g.yml', text: INJECTION }], { now: NOW }).report.findings;
    const moved = auditCiFiles([{ path: '.github/workflows/g.yml', text: `# a comment\n\n${INJECTION}` }], { now: NOW }).report.findings;
    const other = auditCiFiles([{ path: '.github/workflows/g.yml', text: INJECTION.replace('issue.title', 'issue.body') }], { now: NOW }).report.findings;
    assert.equal(moved[0]?.location.line, 9);
    assert.equal(moved[0]?.fingerprint, a[0]?.fingerprint);
    assert.notEqual(other[0]?.fingerprint, a[0]?.fingerprint);
  });

  it('accepts baselined findings until their expiry day has passed', () => {
    const files = [{ path: '.github/workflows/g.yml', text: INJECTION }];
    const found = auditCiFiles(files, { now: NOW }).report.findings;
    const baseline = baselineFor(found, 'tracked in SEC-12', '2026-06-30');
    const during = auditCiFiles(files, { now: new Date('2026-06-30T23:59:59Z'), baseline }).report;
    assert.equal(during.findings.length, 0);
    assert.deepEqual(
      during.suppressed.map((s) => [s.reason, s.expires]),
      [['tracked in SEC-12', '2026-06-30']],
    );
    const after = auditCiFiles(files, { now: new Date('2026-07-01T00:00:00Z'), baseline }).report;
    assert.equal(after.findings.length, 1);
    assert.equal(after.findings[0]?.evidence.baselineExpired, '2026-06-30');
  });

  it('reports secrets written into CI files, masked', () => {
    const key = join('gh', 'p_', fakeChars(ALNUM, 36, 7));
    const text = `on: push\npermissions: {}\nenv:\n  TOKEN: ${key}\njobs: {}\n`;
    const { report } = auditCiFiles([{ path: '.github/workflows/s.yml', text }], { now: NOW });
    const s = report.findings.find((f) => f.ruleId === 'secret-github-token');
    assert.deepEqual([s?.location.line, s?.location.column], [4, 10]);
    assert.ok(!JSON.stringify(report).includes(key), 'the secret itself never appears');
  });

  it('writes SARIF 2.1.0 with the same positions and a rule for every finding', () => {
    const audit = auditCiFiles([{ path: '.github/workflows/g.yml', text: INJECTION }], { now: NOW });
    const sarif = toSarif(audit.report, audit.rules) as {
      version: string;
      runs: { results: { ruleId: string; locations: { physicalLocation: { region: Record<string, number> } }[] }[] }[];
    };
    assert.equal(sarif.version, '2.1.0');
    const result = sarif.runs[0]?.results[0];
    assert.equal(result?.ruleId, 'gha-script-injection');
    assert.deepEqual(result?.locations[0]?.physicalLocation.region, { startLine: 7, startColumn: 20, endLine: 7, endColumn: 51 });
  });
});
