import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../model/errors.js';
import type { Finding } from '../model/finding.js';
import { applyBaseline, isActive, parseBaseline } from './baseline.js';
import { finding } from './findings.js';

const NOW = new Date('2026-03-01T12:00:00Z');

function vuln(name: string, version: string, id: string): Finding {
  return finding({
    ruleId: 'osv-vulnerability',
    severity: 'high',
    message: `${name}@${version}: ${id}`,
    package: { name, version },
    location: { file: 'package-lock.json', line: 10 },
    evidence: { id, ids: [id], aliases: ['CVE-2020-1'] },
    key: [id],
  });
}

const lodash = vuln('lodash', '4.17.20', 'GHSA-p6mc-m468-83gw');
const minimist = vuln('minimist', '1.2.5', 'GHSA-xvch-5gv4-984h');

function expectInvalid(text: string, paths: string[]): void {
  try {
    parseBaseline(text, '.cairn-baseline.yaml');
    assert.fail('expected SCAN_BASELINE_INVALID');
  } catch (error) {
    assert.ok(isCairnError(error), String(error));
    assert.equal(error.code, 'SCAN_BASELINE_INVALID');
    assert.deepEqual(
      error.problems.map((p) => p.path),
      paths,
    );
  }
}

describe('parseBaseline', () => {
  it('reads entries with their line, in YAML', () => {
    const b = parseBaseline(
      'version: 1\nsuppressions:\n  - rule: osv-vulnerability\n    package: lodash\n    id: GHSA-p6mc-m468-83gw\n    reason: only used at build time\n    expires: 2026-06-30\n',
      'b.yaml',
    );
    assert.deepEqual(b.entries, [
      {
        rule: 'osv-vulnerability',
        package: 'lodash',
        version: null,
        id: 'GHSA-p6mc-m468-83gw',
        fingerprint: null,
        reason: 'only used at build time',
        expires: '2026-06-30',
        line: 3,
      },
    ]);
  });

  it('reads JSON too', () => {
    assert.equal(
      parseBaseline('{"version": 1, "suppressions": [{"fingerprint": "ab", "reason": "r", "expires": "2026-01-01"}]}', 'b.json').entries[0]?.fingerprint,
      'ab',
    );
  });

  it('requires a reason, an expiry date and a rule or fingerprint, reporting every entry at once', () => {
    expectInvalid(
      'version: 1\nsuppressions:\n  - rule: x\n    expires: 2026-01-01\n  - rule: y\n    reason: "  "\n    expires: 2026-02-30\n  - reason: r\n    expires: 2026-01-01\n',
      ['suppressions[0].reason', 'suppressions[1].expires', 'suppressions[1].reason', 'suppressions[2]'],
    );
  });

  it('refuses unknown keys, another version, YAML aliases and oversized files', () => {
    expectInvalid('version: 1\nsuppressions:\n  - rule: x\n    reason: r\n    expires: 2026-01-01\n    until: forever\n', ['suppressions[0].until']);
    expectInvalid('version: 2\n', ['version']);
    expectInvalid('version: 1\na: &a [1]\nsuppressions: *a\n', ['']);
    expectInvalid(`version: 1\n# ${'x'.repeat(1024 * 1024)}\n`, ['']);
  });
});

describe('applyBaseline', () => {
  it('suppresses a matching finding with its reason and expiry, and keeps the rest', () => {
    const b = parseBaseline(
      'version: 1\nsuppressions:\n  - rule: osv-vulnerability\n    package: lodash\n    reason: not reachable\n    expires: 2026-03-01\n',
      'b.yaml',
    );
    const r = applyBaseline([lodash, minimist], b, NOW);
    assert.deepEqual(r.findings, [minimist]);
    assert.deepEqual(r.suppressed, [{ finding: lodash, reason: 'not reachable', expires: '2026-03-01' }]);
    assert.deepEqual(r.problems, []);
  });

  it('matches by fingerprint, by version, and by advisory id or alias', () => {
    const by = (entry: string) =>
      applyBaseline(
        [lodash, minimist],
        parseBaseline(`version: 1\nsuppressions:\n  - ${entry}\n    reason: r\n    expires: 2027-01-01\n`, 'b'),
        NOW,
      ).suppressed.map((s) => s.finding.package?.name);
    assert.deepEqual(by(`fingerprint: ${minimist.fingerprint}`), ['minimist']);
    assert.deepEqual(by('rule: osv-vulnerability\n    version: 4.17.20'), ['lodash']);
    assert.deepEqual(by('rule: osv-vulnerability\n    id: CVE-2020-1'), ['lodash', 'minimist']);
    assert.deepEqual(by('rule: osv-vulnerability\n    package: lodash\n    version: 4.17.21'), []);
  });

  it('lets an expired entry suppress nothing and reports it at its line', () => {
    const b = parseBaseline('version: 1\nsuppressions:\n  - rule: osv-vulnerability\n    package: lodash\n    reason: r\n    expires: 2026-02-28\n', 'b.yaml');
    const r = applyBaseline([lodash], b, NOW);
    assert.deepEqual(r.findings, [lodash]);
    assert.deepEqual(
      r.problems.map((p) => [p.ruleId, p.severity, p.location.file, p.location.line, p.evidence.matched]),
      [['baseline-expired', 'low', 'b.yaml', 3, 1]],
    );
  });

  it('reports an active entry that matches nothing', () => {
    const b = parseBaseline('version: 1\nsuppressions:\n  - rule: typosquat-candidate\n    reason: r\n    expires: 2027-01-01\n', 'b.yaml');
    assert.deepEqual(
      applyBaseline([lodash], b, NOW).problems.map((p) => [p.ruleId, p.severity]),
      [['baseline-unused', 'info']],
    );
  });

  it('holds an entry through the end of its expiry day, UTC', () => {
    const entry = parseBaseline('version: 1\nsuppressions:\n  - rule: x\n    reason: r\n    expires: 2026-03-01\n', 'b').entries[0];
    assert.ok(entry);
    assert.deepEqual(
      [new Date('2026-03-01T23:59:59Z'), new Date('2026-03-02T00:00:00Z')].map((d) => isActive(entry, d)),
      [true, false],
    );
  });
});
