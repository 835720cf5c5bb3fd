import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CairnError } from '../model/errors.js';
import { type BindingDocument, type ExceptionDocument, type PolicyDocument, parseYaml, policySetDocumentFrom } from './documents.js';
import { PolicyError } from './errors.js';

function parse(yaml: string) {
  const docs = parseYaml(yaml, 'test.yaml');
  assert.equal(docs.length, 1);
  return policySetDocumentFrom(docs[0] as (typeof docs)[number]);
}

function refused(yaml: string, code = 'POLICY_DOCUMENT_INVALID'): PolicyError {
  try {
    parseYaml(yaml, 'test.yaml').map(policySetDocumentFrom);
  } catch (error) {
    assert.ok(error instanceof PolicyError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail('expected the document to be refused');
}

const POLICY = `apiVersion: cairn.dev/v1
kind: Policy
metadata:
  name: provenance
  version: 2
spec:
  decisionPoint: deploy
  params:
    allowed: { type: list<string>, default: [] }
    limit: { type: 'map<string, string>' }
  matchConditions:
    - { name: prod-only, expression: 'environment == "production"' }
  variables:
    - { name: prov, expression: input.provenance }
  validations:
    - id: verified
      expression: variables.prov.verified
      messageExpression: '"not verified: " + variables.prov.failure'
`;

const EXCEPTION = (approvedAt: string, expiresAt: string) => `apiVersion: cairn.dev/v1
kind: PolicyException
metadata: { name: sec-1 }
spec:
  policyRefs: [{ name: provenance, validations: [verified] }]
  reason: SEC-1
  approvedBy: [alice@example.com]
  approvedAt: ${approvedAt}
  expiresAt: ${expiresAt}
`;

describe('Policy documents', () => {
  it('parse into a normalised value: absent lists empty, types without spaces, failurePolicy Fail', () => {
    const p = parse(POLICY) as PolicyDocument;
    assert.equal(p.kind, 'Policy');
    assert.deepEqual(p.metadata, { name: 'provenance', version: 2 });
    assert.equal(p.spec.failurePolicy, 'Fail');
    assert.deepEqual(Object.keys(p.spec.params), ['allowed', 'limit']);
    assert.equal(p.spec.params.limit?.type, 'map<string,string>');
    assert.deepEqual(p.spec.validations[0], {
      id: 'verified',
      expression: 'variables.prov.verified',
      messageExpression: '"not verified: " + variables.prov.failure',
    });
  });

  it('refuse unknown keys anywhere, naming the file, line and path', () => {
    const e = refused(POLICY.replace('  decisionPoint: deploy', '  decisionPoint: deploy\n  enforcementAction: dryrun'));
    assert.deepEqual(
      e.problems.map((p) => [p.code, p.path]),
      [['UNKNOWN_KEY', 'test.yaml:8 spec.enforcementAction']],
    );
  });

  it('report every problem at once', () => {
    const e = refused(
      POLICY.replace('version: 2', 'version: 0').replace('decisionPoint: deploy', 'decisionPoint: merge').replace('id: verified', 'id: Verified!'),
    );
    assert.deepEqual(e.problems.map((p) => p.path.split(' ')[1]).sort(), ['metadata.version', 'spec.decisionPoint', 'spec.validations[0].id']);
  });

  it('accept only failurePolicy Fail: an error can never count as a pass', () => {
    const e = refused(POLICY.replace('  decisionPoint: deploy', '  decisionPoint: deploy\n  failurePolicy: Ignore'));
    assert.match(e.problems[0]?.message ?? '', /only Fail/);
  });

  it('refuse duplicate validation ids and variable names', () => {
    const twice = POLICY.replace('  validations:\n', '  validations:\n    - { id: verified, expression: "true" }\n');
    assert.equal(refused(twice).problems[0]?.code, 'DUPLICATE');
  });

  it('refuse a default that does not fit its param type', () => {
    assert.match(refused(POLICY.replace('default: []', 'default: [1, 2]')).problems[0]?.message ?? '', /list of strings/);
  });
});

describe('PolicyBinding documents', () => {
  const binding = (actions: string, extra = '') => `apiVersion: cairn.dev/v1
kind: PolicyBinding
metadata: { name: prov }
spec:
  policyRef: { name: provenance, version: 1 }
  actions:
${actions}${extra}`;

  it('default minShadowDecisions to 20 and keep actions in order', () => {
    const b = parse(binding('    - { point: deploy, environments: [production], action: deny }\n    - { point: deploy, action: warn }\n')) as BindingDocument;
    assert.equal(b.spec.minShadowDecisions, 20);
    assert.deepEqual(
      b.spec.actions.map((a) => a.action),
      ['deny', 'warn'],
    );
  });

  it('refuse a rule that an earlier catch-all rule makes unreachable', () => {
    const e = refused(binding('    - { point: deploy, action: warn }\n    - { point: deploy, environments: [production], action: deny }\n'));
    assert.equal(e.problems[0]?.code, 'UNREACHABLE');
  });

  it('refuse unknown actions and points', () => {
    const e = refused(binding('    - { point: deploy, action: dryrun }\n    - { point: admission, action: deny }\n'));
    assert.deepEqual(e.problems.map((p) => p.code).sort(), ['UNSUPPORTED', 'UNSUPPORTED']);
  });

  it('parse a candidate with its expected changes', () => {
    const b = parse(
      binding('    - { point: deploy, action: deny }\n', '  candidate:\n    policyRef: { name: provenance, version: 2 }\n    expectedChanges: [verified]\n'),
    ) as BindingDocument;
    assert.deepEqual(b.spec.candidate, { policyRef: { name: 'provenance', version: 2 }, expectedChanges: ['verified'] });
  });
});

describe('PolicyException documents', () => {
  it('parse with a mandatory expiry', () => {
    const e = parse(EXCEPTION('2026-01-01T00:00:00Z', '2026-03-31T00:00:00Z')) as ExceptionDocument;
    assert.equal(e.spec.expiresAt, '2026-03-31T00:00:00Z');
    assert.deepEqual(e.spec.matchConditions, []);
  });

  it('refuse an exception without expiresAt', () => {
    const e = refused(EXCEPTION('2026-01-01T00:00:00Z', 'x').replace('  expiresAt: x\n', ''));
    assert.equal(e.problems[0]?.code, 'MISSING');
  });

  it('refuse an expiry more than 90 days after approval, and accept exactly 90', () => {
    assert.match(refused(EXCEPTION('2026-01-01T00:00:00Z', '2026-04-01T00:00:01Z')).problems[0]?.message ?? '', /at most 90 days/);
    parse(EXCEPTION('2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z'));
  });

  it('refuse an expiry before approval and a date that is not RFC 3339', () => {
    assert.match(refused(EXCEPTION('2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')).problems[0]?.message ?? '', /after approvedAt/);
    assert.equal(refused(EXCEPTION('2026-01-01', '2026-02-01T00:00:00Z')).problems[0]?.code, 'INVALID_FORMAT');
  });

  it('refuse an exception nobody approved', () => {
    assert.equal(refused(EXCEPTION('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z').replace('[alice@example.com]', '[]')).problems[0]?.code, 'EMPTY');
  });
});

describe('parseYaml', () => {
  it('refuses syntax errors and duplicate keys with their line', () => {
    const e = refused('kind: Policy\nkind: Policy\n', 'POLICY_YAML');
    assert.match(e.problems[0]?.path ?? '', /^test\.yaml:2$/);
  });

  it('refuses alias bombs', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    assert.equal(refused(bomb, 'POLICY_YAML').problems[0]?.code, 'YAML_ALIASES');
  });

  it('splits multi-document files', () => {
    assert.equal(parseYaml(`${POLICY}---\n${EXCEPTION('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')}`, 'x.yaml').length, 2);
  });
});

describe('the document parsers on arbitrary data', () => {
  it('either parse or throw a PolicyError with problems, never anything else', () => {
    const kinds = fc.constantFrom('Policy', 'PolicyBinding', 'PolicyException', 'PolicyBundle', 'Other');
    const doc = fc.record(
      { apiVersion: fc.constantFrom('cairn.dev/v1', 'v0'), kind: kinds, metadata: fc.anything(), spec: fc.anything() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(doc, fc.anything()), (value) => {
        try {
          policySetDocumentFrom({ file: 'x', index: 0, value, where: () => 'x' });
        } catch (error) {
          assert.ok(error instanceof CairnError && error.code === 'POLICY_DOCUMENT_INVALID' && error.problems.length > 0, String(error));
        }
      }),
      { numRuns: 500 },
    );
  });
});
