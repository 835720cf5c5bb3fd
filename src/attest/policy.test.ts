import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../model/errors.js';
import { policyFromText } from './policy.js';

const YAML_POLICY = `# who may ship service.tgz
version: 1
predicateTypes:
  - https://slsa.dev/provenance/v1
threshold: 2
maxAge: 30d
provenance:
  builders: [https://cairn.dev/builders/ci]
  buildTypes: [https://cairn.dev/build/recipe/v1]
  externalParameters: [source, recipe]
  source:
    repository: https://git.example/org/service
    commit: 0123456789abcdef0123456789abcdef01234567
`;

function problemsOf(text: string): { path: string; code: string }[] {
  try {
    policyFromText(text);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, 'ATTEST_POLICY_INVALID');
    return e.problems.map((p) => ({ path: p.path, code: p.code }));
  }
  return [];
}

describe('policyFromText', () => {
  it('reads a YAML policy', () => {
    const policy = policyFromText(YAML_POLICY);
    assert.equal(policy.threshold, 2);
    assert.equal(policy.maxAgeSeconds, 30 * 86_400);
    assert.deepEqual(policy.provenance.externalParameters, ['source', 'recipe']);
  });

  it('reads the same policy written as JSON', () => {
    const asJson = JSON.stringify({
      version: 1,
      predicateTypes: ['https://slsa.dev/provenance/v1'],
      threshold: 2,
      maxAge: '30d',
      provenance: {
        builders: ['https://cairn.dev/builders/ci'],
        buildTypes: ['https://cairn.dev/build/recipe/v1'],
        externalParameters: ['source', 'recipe'],
        source: { repository: 'https://git.example/org/service', commit: '0123456789abcdef0123456789abcdef01234567' },
      },
    });
    assert.deepEqual(policyFromText(asJson), policyFromText(YAML_POLICY));
  });

  it('keeps YAML 1.1 look-alikes as strings (no, on, 1e3) and reports them as the wrong type', () => {
    assert.deepEqual(problemsOf('version: 1\ntestResult:\n  allowWarned: no\n'), [{ path: 'testResult.allowWarned', code: 'WRONG_TYPE' }]);
  });

  it('rejects duplicate keys, which would otherwise hide a rule', () => {
    assert.deepEqual(problemsOf('version: 1\nthreshold: 2\nthreshold: 1\n'), [{ path: '', code: 'YAML_SYNTAX' }]);
  });

  it('rejects alias expansion bombs', () => {
    // Nine levels of ten references each: 10^9 nodes once expanded.
    const names = 'abcdefghi';
    const lines = ['version: 1', 'a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array.from({ length: 10 }, () => `*${names[i - 1]}`).join(', ')}]`);
    const bomb = lines.join('\n');
    assert.deepEqual(problemsOf(bomb), [{ path: '', code: 'YAML_ALIASES' }]);
  });

  it('rejects deep nesting before parsing, and over-large text', () => {
    assert.deepEqual(problemsOf(`version: 1\nvsa: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`), [{ path: '', code: 'TOO_DEEP' }]);
    assert.deepEqual(problemsOf(`version: 1\n${'#'.repeat(300 * 1024)}\n`), [{ path: '', code: 'TOO_LARGE' }]);
  });

  it('reports YAML syntax errors', () => {
    assert.deepEqual(problemsOf('version: 1\nthreshold: [1\n'), [{ path: '', code: 'YAML_SYNTAX' }]);
  });

  it('passes every field problem through with the file named', () => {
    assert.throws(
      () => policyFromText('version: 1\nthreshold: zero\n', 'p.yaml'),
      (e: unknown) => e instanceof InputError && /^p\.yaml: /.test(e.message) && e.problems[0]?.path === 'threshold',
    );
  });
});
