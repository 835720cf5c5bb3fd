import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SCAN_RULES } from '../../scan/rules.js';
import { cli, useScratch } from '../../testkit.js';

type Entry = Record<string, unknown>;
const scratch = useScratch();
const sri = (t: string) => `sha512-${createHash('sha512').update(t).digest('base64')}`;
const entry = (name: string, version: string, extra: Entry = {}): Entry => ({
  version,
  resolved: `https://registry.npmjs.org/${name}/-/${name}-${version}.tgz`,
  integrity: sri(`${name}@${version}`),
  ...extra,
});

function project(packages: Record<string, Entry> = {}): string {
  const dir = scratch();
  const all = { '': { name: 'app', version: '1.0.0', dependencies: { left: '1' } }, 'node_modules/left': entry('left', '1.0.0'), ...packages };
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, packages: all }, null, 2));
  return dir;
}

/** A project with one high finding (a sha1-only integrity) and one info finding. */
const risky = () =>
  project({ 'node_modules/right': entry('right', '2.0.0', { integrity: `sha1-${createHash('sha1').update('r').digest('base64')}`, hasInstallScript: true }) });

describe('cairn scan', () => {
  it('prints findings for people and exits 0 on a clean project', async () => {
    const r = await cli(['scan', project()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /package-lock\.json: 1 packages, 0 finding\(s\)/);
  });

  it('exits 1 with SCAN_THRESHOLD_EXCEEDED when a finding at or above --fail-on remains', async () => {
    const dir = risky();
    const r = await cli(['scan', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /high {5}lockfile-weak-integrity +package-lock\.json:\d+ {2}right@2\.0\.0 is pinned only by sha1/);
    assert.match(r.stderr, /^error SCAN_THRESHOLD_EXCEEDED: 1 finding\(s\) at or above high/m);
    assert.equal((await cli(['scan', dir, '--fail-on', 'critical'])).code, 0);
    assert.equal((await cli(['scan', dir, '--fail-on', 'info'])).code, 1);
  });

  it('prints the stable JSON report with --format json, the same bytes with --output at the same --now', async () => {
    const dir = risky();
    const now = ['--now', '2026-01-01T00:00:00Z'];
    const r = await cli(['scan', dir, '--format', 'json', '--fail-on', 'critical', ...now]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      findings: { ruleId: string; severity: string; package: { name: string }; location: { file: string; line: number }; evidence: object }[];
    };
    assert.deepEqual(
      report.findings.map((f) => [f.ruleId, f.severity, f.package.name, f.location.file]),
      [
        ['lockfile-install-script', 'info', 'right', 'package-lock.json'],
        ['lockfile-weak-integrity', 'high', 'right', 'package-lock.json'],
      ],
    );
    const out = path.join(scratch(), 'report.json');
    assert.equal((await cli(['scan', dir, '--format', 'json', '--output', out, '--fail-on', 'critical', ...now])).code, 0);
    assert.equal(readFileSync(out, 'utf8'), r.stdout);
  });

  it('prints SARIF 2.1.0 with every rule declared and one result per finding', async () => {
    const r = await cli(['scan', risky(), '--format', 'sarif', '--fail-on', 'critical']);
    const sarif = JSON.parse(r.stdout) as {
      version: string;
      runs: {
        tool: { driver: { rules: { id: string }[] } };
        results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[];
      }[];
    };
    assert.equal(sarif.version, '2.1.0');
    const run = sarif.runs[0];
    assert.ok(run);
    assert.deepEqual(
      run.tool.driver.rules.map((x) => x.id),
      SCAN_RULES.map((x) => x.id),
    );
    assert.deepEqual(
      run.results.map((x) => [x.ruleId, run.tool.driver.rules[x.ruleIndex]?.id, x.level]),
      [
        ['lockfile-install-script', 'lockfile-install-script', 'note'],
        ['lockfile-weak-integrity', 'lockfile-weak-integrity', 'error'],
      ],
    );
    assert.ok(run.results.every((x) => (x.locations[0]?.physicalLocation.region.startLine ?? 0) > 1));
  });

  it('emits a finding event per finding and a scan event with --json', async () => {
    const r = await cli(['scan', risky(), '--json', '--fail-on', 'critical']);
    const events = r.events();
    assert.deepEqual(
      events.map((e) => e.type),
      ['finding', 'finding', 'scan'],
    );
    const scan = events[2] as { summary: Record<string, number>; failing: number; sbom: { components: number } };
    assert.deepEqual([scan.summary.high, scan.failing, scan.sbom.components], [1, 0, 2]);
  });

  it('writes the SBOM with --sbom', async () => {
    const out = path.join(scratch(), 'bom.json');
    assert.equal((await cli(['scan', project(), '--sbom', out, '--source-date-epoch', '0'])).code, 0);
    const bom = JSON.parse(readFileSync(out, 'utf8')) as { bomFormat: string; metadata: { timestamp: string } };
    assert.deepEqual([bom.bomFormat, bom.metadata.timestamp], ['CycloneDX', '1970-01-01T00:00:00.000Z']);
  });

  it('escapes control characters from the lockfile in text output', async () => {
    const r = await cli([
      'scan',
      project({ 'node_modules/\u001b[31mevil': { version: '1.0.0', resolved: 'http://x.example/e.tgz' } }),
      '--fail-on',
      'critical',
    ]);
    assert.ok(!r.stdout.includes('\u001b'), r.stdout);
    assert.match(r.stdout, /\\x1b\[31mevil/);
  });

  it('refuses bad options and a folder without a lockfile with exit 2', async () => {
    for (const args of [
      ['--format', 'xml'],
      ['--fail-on', 'severe'],
      ['--now', 'yesterday'],
      ['--min-release-age', 'soon'],
      ['--private-scope', 'acme'],
      ['--npm-cache', '/tmp'],
    ]) {
      const r = await cli(['scan', project(), ...args]);
      assert.equal(r.code, 2, args.join(' '));
    }
    const none = await cli(['scan', scratch()]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /SCAN_LOCKFILE_NOT_FOUND/);
  });
});

describe('cairn sbom', () => {
  it('prints a CycloneDX SBOM, timestamped from SOURCE_DATE_EPOCH, the same bytes every time', async () => {
    const dir = project();
    const a = await cli(['sbom', dir], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    const b = await cli(['sbom', dir], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const bom = JSON.parse(a.stdout) as { specVersion: string; metadata: { timestamp: string } };
    assert.deepEqual([bom.specVersion, bom.metadata.timestamp], ['1.6', '2023-11-14T22:13:20.000Z']);
  });

  it('prints SPDX 2.3 with --format spdx and writes --output', async () => {
    const out = path.join(scratch(), 'sbom.spdx.json');
    const r = await cli(['sbom', project(), '--format', 'spdx', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(readFileSync(out, 'utf8')) as { spdxVersion: string }).spdxVersion, 'SPDX-2.3');
    assert.match(r.stdout, /spdx SBOM of package-lock\.json: 1 components, sha256:[0-9a-f]{64}/);
  });

  it('refuses an unknown format and a bad epoch', async () => {
    assert.equal((await cli(['sbom', project(), '--format', 'swid'])).code, 2);
    assert.equal((await cli(['sbom', project(), '--source-date-epoch', 'now'])).code, 2);
  });
});
