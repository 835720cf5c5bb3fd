import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../model/errors.js';
import { commitTree, gitIn, REPO_ROOT, useScratch } from '../testkit.js';
import { type ScanProjectOptions, scanProject } from './project.js';
import { validateCycloneDx } from './sbom.js';

type Entry = Record<string, unknown>;
const scratch = useScratch();
const NOW = new Date('2026-02-01T00:00:00Z');
const OPTIONS: ScanProjectOptions = { toolVersion: '0.1.0', now: NOW, sourceDateEpoch: 1_700_000_000 };
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sri = (t: string) => `sha512-${createHash('sha512').update(t).digest('base64')}`;
const tarball = (name: string, version: string, host = 'registry.npmjs.org') => `https://${host}/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;
const entry = (name: string, version: string, extra: Entry = {}): Entry => ({
  version,
  resolved: tarball(name, version),
  integrity: sri(`${name}@${version}`),
  ...extra,
});

function lockText(extra: Record<string, Entry> = {}): string {
  const packages: Record<string, Entry> = {
    '': { name: 'app', version: '1.0.0', dependencies: { left: '^1.0.0', minimist: '^1.2.0' } },
    'node_modules/left': entry('left', '1.0.0'),
    'node_modules/minimist': entry('minimist', '1.2.8'),
    ...extra,
  };
  return `${JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`;
}

function project(files: Record<string, string> = {}): string {
  const dir = scratch();
  writeFileSync(path.join(dir, 'package-lock.json'), lockText());
  writeFileSync(path.join(dir, 'package.json'), '{"name":"app","version":"1.0.0","dependencies":{"left":"^1.0.0","minimist":"^1.2.0"}}\n');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** A tiny advisory database: minimist before 1.2.6 is affected, and one malware record. */
function osvDir(): string {
  const dir = scratch();
  const rec = (id: string, name: string, events: Record<string, string>[], extra: Entry = {}) =>
    JSON.stringify({
      schema_version: '1.6.0',
      id,
      modified: '2025-05-05T00:00:00Z',
      affected: [{ package: { ecosystem: 'npm', name }, ranges: [{ type: 'ECOSYSTEM', events }] }],
      ...extra,
    });
  writeFileSync(
    path.join(dir, 'GHSA-minimist.json'),
    rec('GHSA-test-0001', 'minimist', [{ introduced: '0' }, { fixed: '1.2.6' }], { database_specific: { severity: 'CRITICAL' } }),
  );
  writeFileSync(path.join(dir, 'MAL-left.json'), rec('MAL-2026-1', 'left', [{ introduced: '1.0.1' }]));
  return dir;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isCairnError(e), String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('scanProject', () => {
  it('gives a clean report and a valid SBOM for a clean project, recording what it read', async () => {
    const dir = project();
    const r = await scanProject(dir, { ...OPTIONS, osv: osvDir() });
    assert.equal(r.lockfile, 'package-lock.json');
    assert.deepEqual(r.report.findings, []);
    assert.deepEqual(r.failing, []);
    assert.deepEqual(r.report.summary, { critical: 0, high: 0, medium: 0, low: 0, info: 0 });
    assert.deepEqual(Object.keys(r.report.inputs), ['lockfile:package-lock.json', 'manifest:package.json', 'osv-database', 'policy', 'popular-names']);
    assert.equal(r.report.inputs['lockfile:package-lock.json'], sha256(readFileSync(path.join(dir, 'package-lock.json'))));
    assert.equal(r.report.tool.scanner, 'cairn-scan/1');
    assert.ok(r.sbom);
    assert.equal(r.sbom.components, 2);
    assert.equal(r.sbom.mediaType, 'application/vnd.cyclonedx+json');
    assert.deepEqual(await validateCycloneDx(r.sbom.bytes.toString('utf8')), []);
  });

  it('finds advisories and fails at or above failOn', async () => {
    const text = lockText({ 'node_modules/minimist': entry('minimist', '1.2.5') });
    const dir = project({ 'package-lock.json': text });
    const r = await scanProject(dir, { ...OPTIONS, osv: osvDir() });
    const line = text.split('\n').findIndex((l) => l.includes('"node_modules/minimist": {')) + 1;
    assert.deepEqual(
      r.report.findings.map((f) => [f.ruleId, f.severity, f.package?.name, f.location.line]),
      [['osv-vulnerability', 'critical', 'minimist', line]],
    );
    assert.equal(r.failing.length, 1);
    const strict = await scanProject(dir, { ...OPTIONS, osv: osvDir(), policy: { failOn: 'critical' } });
    assert.equal(strict.failing.length, 1);
    const cleanOsv = scratch();
    const high = JSON.parse(readFileSync(path.join(osvDir(), 'GHSA-minimist.json'), 'utf8')) as { database_specific: { severity: string } };
    high.database_specific.severity = 'HIGH';
    writeFileSync(path.join(cleanOsv, 'a.json'), JSON.stringify(high));
    const lenient = await scanProject(dir, { ...OPTIONS, osv: cleanOsv, policy: { failOn: 'critical' } });
    assert.deepEqual([lenient.report.findings.length, lenient.failing.length], [1, 0]);
  });

  it('gives the same report and SBOM bytes for the same inputs', async () => {
    const dir = project({ 'package-lock.json': lockText({ 'node_modules/minimist': entry('minimist', '1.2.5') }) });
    const osv = osvDir();
    const a = await scanProject(dir, { ...OPTIONS, osv });
    const b = await scanProject(dir, { ...OPTIONS, osv });
    assert.ok(a.reportBytes.equals(b.reportBytes));
    assert.ok(a.sbom?.bytes.equals(b.sbom?.bytes ?? Buffer.alloc(0)));
  });

  it('writes SPDX 2.3 when asked', async () => {
    const r = await scanProject(project(), { ...OPTIONS, sbomFormat: 'spdx' });
    assert.equal(r.sbom?.mediaType, 'application/spdx+json');
    assert.equal((JSON.parse(r.sbom?.bytes.toString('utf8') ?? '{}') as { spdxVersion: string }).spdxVersion, 'SPDX-2.3');
  });

  it('returns no lockfile, no SBOM and no findings for a project without one', async () => {
    const r = await scanProject(scratch(), OPTIONS);
    assert.deepEqual([r.lockfile, r.sbom, r.report.findings], [null, null, []]);
  });

  it('reads npm-shrinkwrap.json first and reports the other lockfile', async () => {
    const dir = project({ 'npm-shrinkwrap.json': lockText(), 'yarn.lock': '# yarn lockfile v1\n' });
    const r = await scanProject(dir, OPTIONS);
    assert.equal(r.lockfile, 'npm-shrinkwrap.json');
    assert.deepEqual(
      r.report.findings.map((f) => [f.ruleId, f.location.file]),
      [
        ['lockfile-multiple', 'package-lock.json'],
        ['lockfile-multiple', 'yarn.lock'],
      ],
    );
  });

  it('scans every lockfile family', async () => {
    for (const family of ['pnpm-v9', 'pnpm-v6', 'yarn-classic', 'yarn-berry']) {
      const dir = scratch();
      cpSync(path.join(REPO_ROOT, 'src/scan/testdata', family), dir, { recursive: true });
      const r = await scanProject(dir, OPTIONS);
      assert.deepEqual(
        r.report.findings.filter((f) => f.severity !== 'info'),
        [],
        family,
      );
      assert.ok((r.sbom?.components ?? 0) >= 8, family);
    }
  });

  it('allows the registry the project’s .npmrc names, and treats its scoped registries as private', async () => {
    const dir = project({
      '.npmrc': 'registry=https://npm.acme.example/\n@acme:registry=https://npm.acme.example/\n',
      'package-lock.json': lockText({
        'node_modules/left': entry('left', '1.0.0', { resolved: tarball('left', '1.0.0', 'npm.acme.example') }),
        'node_modules/@acme/core': entry('@acme/core', '9.9.9'),
      }),
    });
    const r = await scanProject(dir, OPTIONS);
    assert.deepEqual(
      r.report.findings.map((f) => [f.ruleId, f.package?.name]),
      [['dependency-confusion', '@acme/core']],
    );
    assert.ok('npmrc:.npmrc' in r.report.inputs);
  });

  it('applies the baseline file in the project by default, and none when told', async () => {
    const dir = project({
      'package-lock.json': lockText({ 'node_modules/minimist': entry('minimist', '1.2.5') }),
      '.cairn-baseline.yaml':
        'version: 1\nsuppressions:\n  - rule: osv-vulnerability\n    package: minimist\n    reason: only parses our own flags\n    expires: 2026-12-31\n',
    });
    const r = await scanProject(dir, { ...OPTIONS, osv: osvDir() });
    assert.deepEqual(r.report.findings, []);
    assert.deepEqual(r.failing, []);
    assert.equal(r.report.suppressed[0]?.reason, 'only parses our own flags');
    assert.ok('baseline:.cairn-baseline.yaml' in r.report.inputs);
    assert.equal((await scanProject(dir, { ...OPTIONS, osv: osvDir(), baseline: null })).failing.length, 1);
    await expectCode(scanProject(dir, { ...OPTIONS, baseline: path.join(dir, 'missing.yaml') }), 'SCAN_BASELINE_INVALID');
  });

  it('fails with SCAN_* codes on bad input', async () => {
    await expectCode(scanProject(project({ 'package-lock.json': '{' }), OPTIONS), 'SCAN_LOCKFILE_MALFORMED');
    await expectCode(scanProject(project({ 'package.json': '[' }), OPTIONS), 'SCAN_MANIFEST_MALFORMED');
    await expectCode(scanProject(project(), { ...OPTIONS, osv: path.join(scratch(), 'none') }), 'SCAN_OSV_UNREADABLE');
    await expectCode(scanProject(project(), { ...OPTIONS, lockfile: 'Gemfile.lock' }), 'SCAN_LOCKFILE_UNSUPPORTED');
    await expectCode(scanProject(project(), { ...OPTIONS, lockfile: 'yarn.lock' }), 'SCAN_LOCKFILE_NOT_FOUND');
  });

  describe('with --base', () => {
    function repo(): { dir: string; head: string } {
      const dir = scratch();
      commitTree(dir, { 'app/package.json': '{"name":"app","version":"1.0.0"}\n', 'app/package-lock.json': lockText() }, 1_700_000_000, 'base');
      writeFileSync(
        path.join(dir, 'app/package-lock.json'),
        lockText({ 'node_modules/left': entry('left', '1.0.0', { integrity: sri('forged'), hasInstallScript: true }) }),
      );
      gitIn(dir, ['commit', '-qam', 'head'], 1_700_000_100);
      return { dir, head: gitIn(dir, ['rev-parse', 'HEAD']) };
    }

    it('reports a changed integrity for the same version as tampering, reading the base with git from the project folder', async () => {
      const { dir } = repo();
      const r = await scanProject(path.join(dir, 'app'), { ...OPTIONS, base: 'HEAD~1' });
      assert.deepEqual(
        r.report.findings.map((f) => [f.ruleId, f.severity]),
        [
          ['lockfile-install-script', 'info'],
          ['lockfile-integrity-changed', 'critical'],
          ['lockfile-new-install-script', 'high'],
        ],
      );
      const base = gitIn(dir, ['rev-parse', 'HEAD~1']);
      assert.equal(r.report.inputs[`base:${base}:package-lock.json`], sha256(lockText()));
    });

    it('treats every package as new when the base has no lockfile', async () => {
      const dir = scratch();
      commitTree(dir, { 'README.md': 'x\n' });
      writeFileSync(path.join(dir, 'package-lock.json'), lockText({ 'node_modules/left': entry('left', '1.0.0', { hasInstallScript: true }) }));
      const r = await scanProject(dir, { ...OPTIONS, base: 'HEAD' });
      assert.deepEqual(
        r.report.findings.map((f) => f.ruleId),
        ['lockfile-install-script', 'lockfile-new-install-script'],
      );
    });

    it('refuses a revision that names no commit, or looks like an option', async () => {
      const { dir } = repo();
      await expectCode(scanProject(path.join(dir, 'app'), { ...OPTIONS, base: 'no-such-branch' }), 'SCAN_BASE_INVALID');
      await expectCode(scanProject(path.join(dir, 'app'), { ...OPTIONS, base: '--output=/tmp/x' }), 'SCAN_BASE_INVALID');
    });
  });
});

describe('against lockfile-lint on the same forged lockfile', () => {
  const bin = path.join(REPO_ROOT, 'node_modules/lockfile-lint/bin/lockfile-lint.js');
  it('catches the forged sha512 that lockfile-lint passes', { skip: existsSync(bin) ? false : 'lockfile-lint is not installed' }, async () => {
    const published = sri('the real left@1.0.0');
    const dir = project({ 'package-lock.json': lockText({ 'node_modules/left': entry('left', '1.0.0', { integrity: sri('attacker bytes') }) }) });
    const snapshot = scratch();
    writeFileSync(
      path.join(snapshot, 'left.json'),
      JSON.stringify({ name: 'left', versions: { '1.0.0': { dist: { integrity: published } } }, time: { '1.0.0': '2020-01-01T00:00:00Z' } }),
    );
    const lint = spawnSync(
      process.execPath,
      [
        bin,
        '--path',
        path.join(dir, 'package-lock.json'),
        '--type',
        'npm',
        '--allowed-hosts',
        'npm',
        '--validate-https',
        '--validate-integrity',
        '--validate-package-names',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    const r = await scanProject(dir, { ...OPTIONS, registrySnapshot: snapshot });
    assert.deepEqual(
      r.report.findings.filter((f) => f.severity !== 'info').map((f) => [f.ruleId, f.severity]),
      [['registry-integrity-mismatch', 'critical']],
    );
    assert.ok('registry-snapshot' in r.report.inputs);
  });
});
