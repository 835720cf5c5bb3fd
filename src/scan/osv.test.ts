import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../model/errors.js';
import type { DependencyGraph, DependencyNode } from '../model/lockfile.js';
import { REPO_ROOT } from '../testkit.js';
import { indexAdvisories, matchAdvisories } from './advisories.js';
import { OSV_BOUNDARIES } from './osv-boundaries.table.js';
import { evaluateAffected, fixedAbove, isMalicious, type OsvRecord, osvFromJSON, recordSeverity } from './osv.js';

/** The real npm advisories CI provides next to the repository (CC-BY-4.0, see src/scan/NOTICE.md). */
const OSV_DIR = path.resolve(REPO_ROOT, '../shared/data/osv-npm');
const HAVE_RECORDS = existsSync(OSV_DIR);
const SKIP = HAVE_RECORDS ? false : `the real OSV records are not at ${OSV_DIR}`;

function realRecords(): Map<string, OsvRecord> {
  const out = new Map<string, OsvRecord>();
  for (const file of readdirSync(OSV_DIR).filter((f) => f.endsWith('.json'))) {
    const record = osvFromJSON(JSON.parse(readFileSync(path.join(OSV_DIR, file), 'utf8')), file);
    out.set(record.id, record);
  }
  return out;
}

function node(name: string, version: string, line = 1): DependencyNode {
  return {
    path: `node_modules/${name}`,
    name,
    version,
    resolved: null,
    integrity: null,
    dev: false,
    optional: false,
    hasInstallScript: false,
    bin: {},
    os: [],
    cpu: [],
    dependsOn: [],
    peer: false,
    line,
    installScript: false,
    source: 'registry',
    checksum: null,
    license: null,
  };
}

function graphOf(...nodes: DependencyNode[]): DependencyGraph {
  return {
    lockfileVersion: 3,
    format: 'npm',
    file: 'package-lock.json',
    formatVersion: '3',
    root: { name: 'app', version: '1.0.0', dependsOn: nodes.map((n) => n.path), line: 1 },
    packages: nodes,
  };
}

function record(overrides: Record<string, unknown>): OsvRecord {
  return osvFromJSON({ schema_version: '1.6.0', id: 'TEST-1', modified: '2025-01-01T00:00:00Z', ...overrides }, 'test.json');
}

const npm = (name: string, extra: Record<string, unknown>) => ({ package: { ecosystem: 'npm', name }, ...extra });
const range = (...events: Record<string, string>[]) => ({ type: 'ECOSYSTEM', events });

describe('real npm advisories: hand-computed boundary versions', { skip: SKIP }, () => {
  const records = HAVE_RECORDS ? realRecords() : new Map<string, OsvRecord>();

  it('has a boundary table for every record and a record for every table entry (51)', () => {
    assert.equal(records.size, 51);
    assert.deepEqual([...records.keys()].sort(), Object.keys(OSV_BOUNDARIES).sort());
  });

  for (const [id, c] of Object.entries(OSV_BOUNDARIES)) {
    describe(id, () => {
      for (const row of c.rows) {
        it(`${row.package}: affected ${row.affected.join(', ') || '(none)'}; not ${row.unaffected.join(', ') || '(none)'}`, () => {
          const r = records.get(id);
          assert.ok(r);
          const entries = r.affected.filter((a) => a.ecosystem === 'npm' && a.name === row.package);
          for (const v of row.affected)
            assert.ok(
              entries.some((e) => evaluateAffected(v, e).affected),
              `${row.package}@${v} should be affected`,
            );
          for (const v of row.unaffected) assert.ok(!entries.some((e) => evaluateAffected(v, e).affected), `${row.package}@${v} should not be affected`);
        });
      }

      it(`is ${c.severity}${c.malicious ? ' and malware' : ''}${c.withdrawn ? ', withdrawn' : ''}`, () => {
        const r = records.get(id);
        assert.ok(r);
        assert.equal(recordSeverity(r).severity, c.severity);
        assert.equal(isMalicious(r), c.malicious === true);
        assert.equal(r.withdrawn !== null, c.withdrawn === true);
      });
    });
  }

  it('never reports a withdrawn record, and reports the other record for the same version', () => {
    const index = indexAdvisories([...records.values()]);
    const findings = matchAdvisories(graphOf(node('jsonwebtoken', '8.5.1')), index);
    assert.deepEqual(
      findings.map((f) => f.evidence.id),
      ['GHSA-8cf7-32gw-wr33'],
    );
  });

  it('reports malware as osv-malicious, critical, and names the fix', () => {
    const [finding] = matchAdvisories(graphOf(node('ua-parser-js', '0.7.29', 42)), indexAdvisories([...records.values()]));
    assert.ok(finding);
    assert.deepEqual([finding.ruleId, finding.severity, finding.location.line, finding.evidence.fixedIn], ['osv-malicious', 'critical', 42, '0.7.30']);
  });

  it('reports the same package once per advisory, with the CVSS score that set its severity', () => {
    const findings = matchAdvisories(graphOf(node('lodash', '4.17.15')), indexAdvisories([...records.values()]));
    assert.deepEqual(findings.map((f) => f.evidence.id).sort(), ['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    const p6mc = findings.find((f) => f.evidence.id === 'GHSA-p6mc-m468-83gw');
    assert.equal(p6mc?.evidence.severitySource, 'cvss-v3');
    assert.deepEqual(p6mc?.evidence.cvss, [{ version: '3.1', vector: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H', baseScore: 7.4 }]);
  });

  it('gives no finding for a clean set of versions', () => {
    const clean = graphOf(
      node('lodash', '4.17.21'),
      node('ws', '8.17.1'),
      node('semver', '7.6.0'),
      node('express', '4.21.0'),
      node('@babel/traverse', '7.24.0'),
    );
    assert.deepEqual(matchAdvisories(clean, indexAdvisories([...records.values()])), []);
  });
});

describe('evaluateAffected', () => {
  it('walks events in version order whatever order the record lists them in', () => {
    const r = record({ affected: [npm('p', { ranges: [range({ fixed: '2.0.0' }, { introduced: '3.0.0' }, { fixed: '4.0.0' }, { introduced: '1.0.0' })] })] });
    const a = r.affected[0];
    assert.ok(a);
    assert.deepEqual(
      ['0.9.0', '1.0.0', '1.9.9', '2.0.0', '2.5.0', '3.0.0', '3.9.9', '4.0.0'].map((v) => evaluateAffected(v, a).affected),
      [false, true, true, false, false, true, true, false],
    );
  });

  it('closes a range after last_affected, inclusive', () => {
    const a = record({ affected: [npm('p', { ranges: [range({ introduced: '0' }, { last_affected: '1.2.3' })] })] }).affected[0];
    assert.ok(a);
    assert.deepEqual(
      ['1.2.3', '1.2.3+x', '1.2.4-0', '1.2.4'].map((v) => evaluateAffected(v, a).affected),
      [true, true, false, false],
    );
  });

  it('applies a limit, and "*" as no limit', () => {
    const limited = record({ affected: [npm('p', { ranges: [range({ introduced: '0' }, { limit: '2.0.0' })] })] }).affected[0];
    const open = record({ affected: [npm('p', { ranges: [range({ introduced: '1.0.0' }, { limit: '*' })] })] }).affected[0];
    assert.ok(limited && open);
    assert.deepEqual([evaluateAffected('1.9.9', limited).affected, evaluateAffected('2.0.0', limited).affected], [true, false]);
    assert.deepEqual([evaluateAffected('0.9.9', open).affected, evaluateAffected('99.0.0', open).affected], [false, true]);
  });

  it('treats SEMVER and ECOSYSTEM alike and never matches a GIT range', () => {
    const r = record({
      affected: [
        npm('p', {
          ranges: [
            { type: 'SEMVER', events: [{ introduced: '1.0.0' }, { fixed: '1.1.0' }] },
            { type: 'GIT', repo: 'https://x', events: [{ introduced: 'abc' }] },
          ],
        }),
      ],
    });
    const a = r.affected[0];
    assert.ok(a);
    assert.deepEqual([evaluateAffected('1.0.5', a).affected, evaluateAffected('abc', a).affected], [true, false]);
  });

  it('reports a lockfile version that is not SemVer as unevaluable instead of coercing it, unless the versions list names it', () => {
    const a = record({ affected: [npm('p', { ranges: [range({ introduced: '0' }, { fixed: '2.0.0' })], versions: ['git+https://x#abc'] })] }).affected[0];
    assert.ok(a);
    assert.deepEqual(evaluateAffected('1.2', a), { affected: false, unevaluable: 'version "1.2" is not SemVer' });
    assert.deepEqual(evaluateAffected('git+https://x#abc', a), { affected: true, via: 'versions' });
  });

  it('reports a range whose versions do not parse as unevaluable', () => {
    const a = record({ affected: [npm('p', { ranges: [range({ introduced: '2.x' }, { fixed: '3.0.0' })] })] }).affected[0];
    assert.ok(a);
    const verdict = evaluateAffected('2.5.0', a);
    assert.equal(verdict.affected, false);
    assert.match((verdict as { unevaluable: string }).unevaluable, /2\.x/);
  });

  it('names the lowest fix above a version', () => {
    const r = record({
      affected: [
        npm('p', { ranges: [range({ introduced: '0' }, { fixed: '1.5.0' })] }),
        npm('p', { ranges: [range({ introduced: '2.0.0' }, { fixed: '2.3.1' })] }),
      ],
    });
    assert.equal(fixedAbove('1.0.0', r.affected), '1.5.0');
    assert.equal(fixedAbove('2.1.0', r.affected), '2.3.1');
    assert.equal(fixedAbove('3.0.0', r.affected), null);
  });
});

describe('matchAdvisories', () => {
  const mal = record({ id: 'MAL-2025-1', affected: [npm('chalk', { versions: ['5.6.1'] })], aliases: ['GHSA-2v46-p5h4-248w'] });
  const ghsa = record({
    id: 'GHSA-2v46-p5h4-248w',
    aliases: ['MAL-2025-1'],
    affected: [npm('chalk', { ranges: [range({ introduced: '5.6.1' }, { fixed: '5.6.2' })] })],
    database_specific: { severity: 'HIGH' },
  });

  it('reports MAL-* malware as critical osv-malicious, once per alias group, named by the MAL id', () => {
    const findings = matchAdvisories(graphOf(node('chalk', '5.6.1')), indexAdvisories([ghsa, mal]));
    assert.equal(findings.length, 1);
    const [f] = findings;
    assert.deepEqual(
      [f?.ruleId, f?.severity, f?.evidence.id, f?.evidence.ids],
      ['osv-malicious', 'critical', 'MAL-2025-1', ['GHSA-2v46-p5h4-248w', 'MAL-2025-1']],
    );
  });

  it('matches names exactly and only npm entries', () => {
    const other = record({ affected: [{ package: { ecosystem: 'PyPI', name: 'chalk' }, versions: ['5.6.1'] }] });
    assert.deepEqual(matchAdvisories(graphOf(node('Chalk', '5.6.1'), node('chalk', '5.6.0')), indexAdvisories([mal, other])), []);
  });

  it('reports an unevaluable version once, with the advisories it could not check', () => {
    const findings = matchAdvisories(graphOf(node('chalk', 'latest')), indexAdvisories([ghsa]));
    assert.deepEqual(
      findings.map((f) => [f.ruleId, f.severity]),
      [['osv-unevaluable', 'medium']],
    );
  });

  it('gives the same fingerprint for the same package version and advisory wherever it is installed', () => {
    const a = matchAdvisories(graphOf(node('chalk', '5.6.1', 10)), indexAdvisories([mal]))[0];
    const b = matchAdvisories(graphOf({ ...node('chalk', '5.6.1', 99), path: 'node_modules/x/node_modules/chalk' }), indexAdvisories([mal]))[0];
    assert.equal(a?.fingerprint, b?.fingerprint);
  });
});

describe('recordSeverity', () => {
  it('prefers the CVSS v3 base score, then database_specific, then high', () => {
    const v3 = record({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L' }], database_specific: { severity: 'HIGH' } });
    assert.deepEqual([recordSeverity(v3).severity, recordSeverity(v3).source], ['medium', 'cvss-v3']);
    const db = record({ database_specific: { severity: 'MODERATE' } });
    assert.deepEqual([recordSeverity(db).severity, recordSeverity(db).source], ['medium', 'database-specific']);
    const v4 = record({ severity: [{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }] });
    assert.deepEqual([recordSeverity(v4).severity, recordSeverity(v4).source], ['high', 'cvss-v4-unscored']);
    assert.deepEqual([recordSeverity(record({})).severity, recordSeverity(record({})).source], ['high', 'default']);
  });

  it('reads an affected entry’s own severity when the record has none', () => {
    const r = record({ affected: [npm('p', { versions: ['1.0.0'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] })] });
    assert.equal(recordSeverity(r, r.affected).severity, 'critical');
  });
});

describe('osvFromJSON rejects, as SCAN_OSV_MALFORMED naming every bad field', () => {
  const cases: [string, unknown, string[]][] = [
    ['a record that is not an object', [], ['x.json']],
    ['a record without id and modified', { affected: [] }, ['x.json#id', 'x.json#modified']],
    [
      'an event with two kinds',
      { id: 'A', modified: 'm', affected: [npm('p', { ranges: [range({ introduced: '0', fixed: '1.0.0' })] })] },
      ['x.json#affected[0].ranges[0].events[0]', 'x.json#affected[0].ranges[0].events'],
    ],
    [
      'a range without introduced',
      { id: 'A', modified: 'm', affected: [npm('p', { ranges: [range({ fixed: '1.0.0' })] })] },
      ['x.json#affected[0].ranges[0].events'],
    ],
    [
      'a range with both fixed and last_affected',
      { id: 'A', modified: 'm', affected: [npm('p', { ranges: [range({ introduced: '0' }, { fixed: '1.0.0' }, { last_affected: '2.0.0' })] })] },
      ['x.json#affected[0].ranges[0].events'],
    ],
    [
      'a package without a name',
      { id: 'A', modified: 'm', affected: [{ package: { ecosystem: 'npm' }, versions: ['1'] }] },
      ['x.json#affected[0].package.name'],
    ],
    ['versions that are not strings', { id: 'A', modified: 'm', affected: [npm('p', { versions: [1, '2'] })] }, ['x.json#affected[0].versions[0]']],
  ];
  for (const [what, raw, paths] of cases) {
    it(what, () => {
      try {
        osvFromJSON(raw, 'x.json');
        assert.fail('expected an error');
      } catch (error) {
        assert.ok(isCairnError(error), String(error));
        assert.equal(error.code, 'SCAN_OSV_MALFORMED');
        assert.deepEqual(
          error.problems.map((p) => p.path),
          paths,
        );
      }
    });
  }

  it('keeps an empty CVSS score (real GHSA data has one) without failing', () => {
    assert.equal(record({ severity: [{ type: 'CVSS_V3', score: '' }] }).severity.length, 1);
  });
});
