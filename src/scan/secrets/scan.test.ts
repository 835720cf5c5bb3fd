import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { commitTree, gitIn, REPO_ROOT, useScratch, writeTree } from '../../testkit.js';
import { baselineFor, parseBaseline } from './baseline.js';
import { SecretScanError } from './errors.js';
import { ALNUM, fakeChars, join } from './samples.js';
import { scanSecrets } from './scan.js';

const scratch = useScratch();
const NOW = new Date('2026-06-01T12:00:00Z');
const TOKEN = join('gh', 'p_', fakeChars(ALNUM, 36, 101));
const NPM = join('np', 'm_', fakeChars(ALNUM, 36, 102));

function where(report: { findings: readonly { ruleId: string; location: { file: string; line: number } }[] }): string[] {
  return report.findings.map((f) => `${f.location.file}:${f.location.line} ${f.ruleId}`);
}

describe('scanSecrets over a working tree', () => {
  it('scans tracked and untracked files, not ignored ones, and skips binaries and files over the cap', async () => {
    const dir = scratch();
    commitTree(dir, { '.gitignore': 'ignored.env\n', 'src/app.env': `GH=${TOKEN}\n`, 'README.md': 'nothing here\n' });
    writeTree(dir, { 'untracked.env': `\n\nNPM=${NPM}\n`, 'ignored.env': `GH=${TOKEN}\n`, 'big.txt': `x=${TOKEN}\n${'a'.repeat(4096)}\n` });
    writeFileSync(path.join(dir, 'blob.bin'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(TOKEN)]));
    const r = await scanSecrets(dir, { now: NOW, limits: { maxFileBytes: 2048 } });
    assert.deepEqual(where(r.report), ['src/app.env:1 secret-github-token', 'untracked.env:3 secret-npm-token']);
    assert.deepEqual(
      r.skipped.map((s) => `${s.file} ${s.reason}`),
      ['big.txt too-large', 'blob.bin binary'],
    );
    assert.equal(r.report.tool.scanner, 'secrets');
    assert.match(r.report.inputs.rules ?? '', /^sha256:/);
    assert.deepEqual(r.report.summary, { critical: 2, high: 0, medium: 0, low: 0, info: 0 });
  });

  it('walks a folder that is not a git repository, skipping .git and node_modules', async () => {
    const dir = scratch();
    writeTree(dir, { 'a/b.env': `GH=${TOKEN}\n`, 'node_modules/x/y.env': `GH=${TOKEN}\n` });
    const r = await scanSecrets(dir, { now: NOW });
    assert.deepEqual(where(r.report), ['a/b.env:1 secret-github-token']);
  });

  it('scans only CI files with target ci', async () => {
    const dir = scratch();
    writeTree(dir, { '.github/workflows/ci.yml': `env:\n  T: ${TOKEN}\n`, '.gitlab-ci.yml': `x: ${NPM}\n`, 'src/a.env': `GH=${TOKEN}\n` });
    const r = await scanSecrets(dir, { now: NOW, target: 'ci' });
    assert.deepEqual(where(r.report), ['.github/workflows/ci.yml:2 secret-github-token', '.gitlab-ci.yml:1 secret-npm-token']);
  });

  it('is byte-stable across runs', async () => {
    const dir = scratch();
    writeTree(dir, { 'a.env': `GH=${TOKEN}\nNPM=${NPM}\n` });
    const a = await scanSecrets(dir, { now: NOW });
    const b = await scanSecrets(dir, { now: NOW });
    assert.equal(JSON.stringify(a.report), JSON.stringify(b.report));
  });

  it('rejects a missing folder and too many files with their codes', async () => {
    await assert.rejects(scanSecrets(path.join(scratch(), 'missing'), { now: NOW }), { code: 'SCAN_SECRET_NOT_A_DIRECTORY' });
    const dir = scratch();
    writeTree(dir, { a: '1', b: '2', c: '3' });
    await assert.rejects(scanSecrets(dir, { now: NOW, limits: { maxFiles: 2 } }), { code: 'SCAN_SECRET_TOO_MANY_FILES' });
    await assert.rejects(scanSecrets(dir, { now: NOW, limits: { maxTotalBytes: 2 } }), { code: 'SCAN_SECRET_TOO_LARGE' });
  });
});

describe('scanSecrets over a git range (--since)', () => {
  it('finds secrets added by the commits since REV, at their line in that commit, even when removed later', async () => {
    const dir = scratch();
    const base = commitTree(dir, { 'app.env': 'A=1\n' }, 1_700_000_000);
    writeTree(dir, { 'app.env': `A=1\nB=2\nGH=${TOKEN}\n` });
    gitIn(dir, ['commit', '-qam', 'add token'], 1_700_000_100);
    const leaked = gitIn(dir, ['rev-parse', 'HEAD']);
    writeTree(dir, { 'app.env': 'A=1\nB=2\n' });
    gitIn(dir, ['commit', '-qam', 'remove token'], 1_700_000_200);
    const r = await scanSecrets(dir, { now: NOW, since: base });
    assert.deepEqual(where(r.report), ['app.env:3 secret-github-token']);
    assert.equal(r.report.findings[0]?.evidence.commit, leaked);
    assert.equal(r.commitsScanned, 2);
    assert.match(r.report.inputs.history ?? '', /^sha256:/);
    const none = await scanSecrets(dir, { now: NOW });
    assert.deepEqual(where(none.report), [], 'the working tree no longer holds it');
  });

  it('rejects a revision that is not a commit, or that looks like an option', async () => {
    const dir = scratch();
    commitTree(dir, { a: '1\n' });
    for (const rev of ['no-such-branch', '--output=/tmp/x', '-p', '']) {
      await assert.rejects(
        scanSecrets(dir, { now: NOW, since: rev }),
        (e: unknown) => e instanceof SecretScanError && e.code === 'SCAN_SECRET_BAD_REVISION',
        rev,
      );
    }
  });

  it('stops reading history over its cap with SCAN_SECRET_HISTORY_TOO_LARGE', async () => {
    const dir = scratch();
    const base = commitTree(dir, { a: '1\n' });
    writeTree(dir, { a: `${'line\n'.repeat(10_000)}` });
    gitIn(dir, ['commit', '-qam', 'big']);
    await assert.rejects(scanSecrets(dir, { now: NOW, since: base, limits: { maxHistoryBytes: 1000 } }), { code: 'SCAN_SECRET_HISTORY_TOO_LARGE' });
  });
});

describe('secret baselines', () => {
  it('accept a known finding with its reason until the expiry day, then report it again', async () => {
    const dir = scratch();
    writeTree(dir, { 'test/fixture.env': `GH=${TOKEN}\n` });
    const first = await scanSecrets(dir, { now: NOW });
    const baseline = parseBaseline(JSON.stringify(baselineFor(first.report.findings, 'revoked test token, kept as a fixture', '2026-06-30')));
    const during = await scanSecrets(dir, { now: new Date('2026-06-30T23:00:00Z'), baseline });
    assert.deepEqual(during.report.findings, []);
    assert.equal(during.report.suppressed[0]?.reason, 'revoked test token, kept as a fixture');
    const after = await scanSecrets(dir, { now: new Date('2026-07-01T00:00:00Z'), baseline });
    assert.equal(after.report.findings.length, 1);
  });

  it('never stores the secret, only its hash', () => {
    const text = JSON.stringify(baselineFor([], 'r', '2026-01-01'));
    assert.ok(!text.includes(TOKEN));
  });

  it('reject a malformed baseline, listing every bad field', () => {
    try {
      parseBaseline(JSON.stringify({ version: 2, entries: [{ fingerprint: 'md5:x', ruleId: 'r', file: 'f', reason: '', expires: '2026-02-30' }] }));
      assert.fail('expected a rejection');
    } catch (error) {
      assert.ok(error instanceof SecretScanError);
      assert.equal(error.code, 'SCAN_SECRET_BASELINE_INVALID');
      assert.deepEqual(error.problems.map((p) => p.path).sort(), ['entries[0].expires', 'entries[0].fingerprint', 'entries[0].reason', 'version']);
    }
    assert.throws(() => parseBaseline('{'), { code: 'SCAN_SECRET_BASELINE_INVALID' });
  });
});

describe("cairn's own repository", () => {
  it('holds no secret in its files (fixtures build their tokens at run time)', async () => {
    const r = await scanSecrets(REPO_ROOT, { now: NOW, limits: { maxFileBytes: 4 * 1024 * 1024 } });
    assert.ok(r.filesScanned > 50, `expected the repository at ${REPO_ROOT}`);
    assert.deepEqual(where(r.report), []);
  });
});
