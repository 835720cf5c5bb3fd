import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, useScratch } from '../testkit.js';
import type { JsonValue } from '../model/json.js';
import { parseYaml } from './documents.js';
import { PolicyError } from './errors.js';
import { bundle, bundleDocument, DEFAULT_DIR, releaseJson, simplePolicy } from './kit.test.js';
import { loadPolicyDirectory } from './load.js';
import { junitXml, type PolicySuite, policyTestFrom, runPolicyTests, type TestReport } from './testing.js';

const scratch = useScratch();

const POLICIES = [
  simplePolicy('prov', 'input.provenance.verified', { message: 'provenance <not> verified' }),
  `apiVersion: cairn.dev/v1
kind: Policy
metadata: { name: vars, version: 1 }
spec:
  decisionPoint: deploy
  variables:
    - { name: count, expression: size(input.findings) }
  validations:
    - id: few-findings
      expression: variables.count < 2
      messageExpression: '"found " + string(variables.count)'
---
apiVersion: cairn.dev/v1
kind: PolicyBinding
metadata: { name: vars }
spec:
  policyRef: { name: vars, version: 1 }
  actions:
    - { point: deploy, action: warn }
`,
];

function suite(testYaml: string, policies: string[] = POLICIES): PolicySuite {
  const doc = bundleDocument(...policies);
  const [parsed] = parseYaml(testYaml, 'tests/t.yaml');
  const fixtures = new Map<string, JsonValue>([['release', releaseJson() as JsonValue]]);
  return {
    bundle: doc,
    loaded: bundle(...policies),
    tests: [{ file: 'tests/t.yaml', document: policyTestFrom(parsed as NonNullable<typeof parsed>), fixtures, exceptions: [] }],
    files: [],
  };
}

function test(cases: string, extra = ''): string {
  return `apiVersion: cairn.dev/v1
kind: PolicyTest
metadata: { name: t }
spec:
${extra}  context: { point: deploy, environment: production, now: "2026-03-01T00:00:00Z" }
  fixtures: { release: fixtures/release.json }
  cases:
${cases}`;
}

const PASSING = `    - name: good
      input: { fixture: release }
      expect: { decision: allow }
`;
const FAILING_PROV = `    - name: unverified
      input:
        fixture: release
        patch: [{ op: replace, path: /provenance/verified, value: false }]
      expect:
        decision: deny
        violations: [{ validation: prov-check, message: '^provenance <not>' }]
`;
const MANY_FINDINGS = `    - name: many findings warn
      input:
        fixture: release
        patch: [{ op: add, path: /findings/-, value: { ruleId: x, severity: low, message: m, location: { file: f, line: 1 }, evidence: {}, fingerprint: g } }]
      expect:
        decision: allow
        violations: [{ validation: few-findings, action: warn, message: '^found 2$' }]
`;

function failures(report: TestReport): string[] {
  return report.tests.flatMap((t) => t.cases.flatMap((c) => c.failures));
}

describe('runPolicyTests', () => {
  it('passes when every expectation holds and every validation was seen passing and failing', () => {
    const r = runPolicyTests(suite(test(PASSING + FAILING_PROV + MANY_FINDINGS)));
    assert.deepEqual(failures(r), []);
    assert.equal(r.result, 'PASSED');
    assert.deepEqual(r.coverage, {
      total: 2,
      covered: 2,
      percent: 100,
      threshold: 100,
      enforced: true,
      ok: true,
      validations: [
        { policy: 'prov@1', validation: 'prov-check', pass: 2, fail: 1 },
        { policy: 'vars@1', validation: 'few-findings', pass: 2, fail: 1 },
      ],
    });
  });

  const mismatches: [string, string, RegExp][] = [
    ['a wrong decision', PASSING.replace('decision: allow', 'decision: deny'), /expected decision deny, got allow/],
    [
      'a violation that did not happen',
      PASSING.replace('{ decision: allow }', '{ decision: allow, violations: [{ validation: prov-check }] }'),
      /expected a violation of prov-check/,
    ],
    [
      'a violation nobody expected',
      FAILING_PROV.replace("        violations: [{ validation: prov-check, message: '^provenance <not>' }]\n", ''),
      /unexpected violation prov\/prov-check fail/,
    ],
    ['a message that does not match', FAILING_PROV.replace("'^provenance <not>'", "'^provenance was'"), /with a message matching \/\^provenance was\//],
    [
      'a wrong action',
      MANY_FINDINGS.replace('many findings warn', 'wrong action').replace('action: warn', 'action: deny'),
      /expected a violation of few-findings/,
    ],
    ['an error count that differs', PASSING.replace('{ decision: allow }', '{ decision: allow, errors: 1 }'), /expected 1 evaluation error\(s\), got 0/],
    [
      'an exception that was not applied',
      PASSING.replace('{ decision: allow }', '{ decision: allow, exceptionsApplied: [sec-1] }'),
      /expected exceptions applied \[sec-1\], got \[\]/,
    ],
  ];
  for (const [what, cases, message] of mismatches) {
    it(`fails a case on ${what}`, () => {
      const r = runPolicyTests(suite(test(cases + FAILING_PROV.replace('unverified', 'other') + MANY_FINDINGS)));
      assert.equal(r.result, 'FAILED');
      assert.equal(r.counts.failed, 1);
      assert.ok(
        failures(r).some((f) => message.test(f)),
        failures(r).join('\n'),
      );
    });
  }

  it('fails a case that expects a validation no policy has (a label is never just a label)', () => {
    const r = runPolicyTests(
      suite(test(PASSING.replace('{ decision: allow }', '{ decision: allow, violations: [{ validation: no-such-check }] }') + FAILING_PROV + MANY_FINDINGS)),
    );
    assert.equal(r.result, 'FAILED');
    assert.match(failures(r)[0] ?? '', /expects validation "no-such-check", which no policy of the bundle has/);
  });

  it('fails on an unexpected evaluation error, whatever the decision', () => {
    const erroring = [simplePolicy('err', 'input.findings[5].ruleId == "x"', { action: 'warn' }), simplePolicy('ok', 'true')];
    const r = runPolicyTests(suite(test(PASSING), erroring));
    assert.match(failures(r).join('\n'), /expected 0 evaluation error\(s\), got 1/);
  });

  it('fails a case whose patched input is not a valid gate input', () => {
    const r = runPolicyTests(
      suite(
        test(`    - name: broken input
      input:
        fixture: release
        patch: [{ op: replace, path: /findings, value: not-a-list }]
      expect: { decision: deny }
`),
      ),
    );
    assert.match(failures(r)[0] ?? '', /^input invalid: findings: expected an array/);
  });

  it('shows the variables of the policies of a failing case, and only of failing cases', () => {
    const r = runPolicyTests(suite(test(PASSING + MANY_FINDINGS.replace("'^found 2$'", () => "'^found 3$'"))));
    const [good, bad] = r.tests[0]?.cases ?? [];
    assert.deepEqual(good?.variables, []);
    assert.deepEqual(
      bad?.variables.find((v) => v.binding === 'vars'),
      { binding: 'vars', policy: 'vars@1', role: 'active', variables: { count: 2 } },
    );
  });

  it('floors coverage: 1 of 2 is 50%, and 2 of 3 is 66%, never 67%', () => {
    const half = runPolicyTests(suite(test(PASSING + FAILING_PROV)), { minCoverage: 51 });
    assert.deepEqual([half.coverage.covered, half.coverage.total, half.coverage.percent, half.coverage.ok, half.result], [1, 2, 50, false, 'FAILED']);
    const three = [...POLICIES, simplePolicy('sbom', 'input.sbom.present')];
    const withSbom = FAILING_PROV.replace('unverified', 'no sbom')
      .replace('/provenance/verified', '/sbom/present')
      .replace("prov-check, message: '^provenance <not>'", 'sbom-check');
    const r = runPolicyTests(suite(test(PASSING + FAILING_PROV + withSbom), three), { minCoverage: 67 });
    assert.deepEqual([r.coverage.covered, r.coverage.total, r.coverage.percent, r.coverage.ok], [2, 3, 66, false]);
    assert.equal(runPolicyTests(suite(test(PASSING + FAILING_PROV + withSbom), three), { minCoverage: 66 }).coverage.ok, true);
  });

  it('runs only the cases --run selects, without enforcing coverage', () => {
    const r = runPolicyTests(suite(test(PASSING + FAILING_PROV + MANY_FINDINGS)), { run: 'unverified' });
    assert.deepEqual([r.counts.cases, r.counts.skipped, r.coverage.enforced, r.result], [1, 2, false, 'PASSED']);
  });

  it('writes JUnit XML with a testsuite per file, a failure per failing case and coverage, escaped', () => {
    const xml = junitXml(runPolicyTests(suite(test(PASSING.replace('decision: allow', 'decision: deny') + FAILING_PROV))));
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="cairn policy test" tests="3" failures="2">/);
    assert.match(xml, /<testsuite name="t" file="tests\/t.yaml" tests="2" failures="1">/);
    assert.match(xml, /<failure message="expected decision deny, got allow">/);
    assert.match(xml, /<testsuite name="coverage" tests="1" failures="1">/);
    assert.ok(!xml.includes('<not>'));
  });
});

describe('PolicyTest documents', () => {
  function refused(text: string): PolicyError {
    const [doc] = parseYaml(text, 't.yaml');
    try {
      policyTestFrom(doc as NonNullable<typeof doc>);
    } catch (error) {
      assert.ok(error instanceof PolicyError);
      assert.equal(error.code, 'POLICY_TEST_INVALID');
      return error;
    }
    assert.fail('expected POLICY_TEST_INVALID');
  }

  it('refuse unknown keys, in cases and expectations too', () => {
    assert.equal(refused(test(PASSING.replace('{ decision: allow }', '{ decision: allow, warnings: 0 }'))).problems[0]?.code, 'UNKNOWN_KEY');
    assert.equal(refused(test(PASSING.replace('- name: good', '- name: good\n      skip: true'))).problems[0]?.code, 'UNKNOWN_KEY');
  });

  it('refuse a case without a pinned clock, an unknown fixture and a regex RE2 does not accept', () => {
    assert.ok(refused(test(PASSING).replace(', now: "2026-03-01T00:00:00Z"', '')).problems.some((p) => p.path.endsWith('spec.context.now')));
    assert.equal(refused(test(PASSING.replace('fixture: release', 'fixture: nope'))).problems[0]?.code, 'UNKNOWN_FIXTURE');
    assert.match(refused(test(FAILING_PROV.replace("'^provenance <not>'", "'(?=x)'"))).problems[0]?.message ?? '', /not an RE2 pattern/);
  });

  it('refuse two cases of the same name', () => {
    assert.equal(refused(test(PASSING + PASSING)).problems[0]?.code, 'DUPLICATE');
  });
});

describe('the shipped policy sets', () => {
  it('the default set passes its own tests with every validation covered', async () => {
    const r = runPolicyTests(await loadPolicyDirectory(DEFAULT_DIR));
    assert.deepEqual(failures(r), []);
    assert.equal(r.result, 'PASSED');
    assert.equal(r.coverage.percent, 100);
    assert.ok(r.counts.cases >= 30);
  });

  for (const version of ['v2', 'v3']) {
    it(`the demo's ${version} (the default set with examples/policy-rollout/${version} laid over) passes its tests`, async () => {
      const dir = scratch();
      cpSync(DEFAULT_DIR, dir, { recursive: true });
      cpSync(path.join(REPO_ROOT, 'examples/policy-rollout', version), dir, { recursive: true });
      const r = runPolicyTests(await loadPolicyDirectory(dir));
      assert.deepEqual(failures(r), []);
      assert.equal(r.result, 'PASSED');
    });
  }
});
