import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from './errors.js';
import { DEFAULT_POLICY, policyFromJSON } from './policy.js';

function problemsOf(raw: unknown): { path: string; code: string }[] {
  try {
    policyFromJSON(raw);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, 'ATTEST_POLICY_INVALID');
    return e.problems.map((p) => ({ path: p.path, code: p.code }));
  }
  return [];
}

describe('policyFromJSON', () => {
  it('fills every omitted field from the default policy', () => {
    assert.deepEqual(policyFromJSON({ version: 1 }), DEFAULT_POLICY);
  });

  it('reads every field', () => {
    const policy = policyFromJSON({
      version: 1,
      predicateTypes: ['https://slsa.dev/provenance/v1'],
      subject: { digest: `sha256:${'AB'.repeat(32)}`, name: 'service.tgz' },
      threshold: 2,
      maxAge: '12h',
      provenance: {
        builders: ['https://cairn.dev/builders/ci'],
        buildTypes: ['https://cairn.dev/build/recipe/v1'],
        externalParameters: ['source', 'recipe'],
        source: { repository: 'https://git.example/o/r', commit: 'ABCDEF0' },
      },
      vsa: { verifiers: ['https://cairn.dev/rebuilders/r1'], resourceUri: 'https://deploy.example/prod', levels: ['SLSA_BUILD_LEVEL_3'] },
      testResult: { allowWarned: true },
    });
    assert.deepEqual(policy.subject, { digest: { algorithm: 'sha256', value: 'ab'.repeat(32) }, name: 'service.tgz' });
    assert.equal(policy.threshold, 2);
    assert.equal(policy.maxAgeSeconds, 12 * 3600);
    assert.deepEqual(policy.provenance.source, { repository: 'https://git.example/o/r', commit: 'abcdef0' });
    assert.deepEqual(policy.vsa.levels, ['SLSA_BUILD_LEVEL_3']);
    assert.equal(policy.testResult.allowWarned, true);
  });

  for (const [text, seconds] of [
    ['90s', 90],
    ['15m', 900],
    ['2h', 7200],
    ['30d', 2_592_000],
  ] as const) {
    it(`reads maxAge ${text} as ${seconds} seconds`, () => assert.equal(policyFromJSON({ version: 1, maxAge: text }).maxAgeSeconds, seconds));
  }

  it('reads maxAge given as a number of seconds', () => {
    assert.equal(policyFromJSON({ version: 1, maxAge: 3600 }).maxAgeSeconds, 3600);
  });

  it('reports every bad field with its path at once', () => {
    assert.deepEqual(
      problemsOf({
        predicateTypes: ['not a uri', 7],
        subject: { digest: 'sha256', name: '' },
        threshold: 0,
        maxAge: '3 weeks',
        provenance: { builders: 'https://one', buildTypes: [''], externalParameters: ['a b'], source: { repository: 'x', commit: 'zz' }, other: 1 },
        vsa: { levels: ['level 3'] },
        testResult: { allowWarned: 'yes' },
        unknown: true,
      }),
      [
        { path: 'unknown', code: 'UNKNOWN_KEY' },
        { path: 'version', code: 'MISSING' },
        { path: 'predicateTypes[0]', code: 'INVALID_FORMAT' },
        { path: 'predicateTypes[1]', code: 'WRONG_TYPE' },
        { path: 'subject.digest', code: 'INVALID_FORMAT' },
        { path: 'subject.name', code: 'EMPTY' },
        { path: 'threshold', code: 'OUT_OF_RANGE' },
        { path: 'maxAge', code: 'INVALID_FORMAT' },
        { path: 'provenance.other', code: 'UNKNOWN_KEY' },
        { path: 'provenance.builders', code: 'WRONG_TYPE' },
        { path: 'provenance.buildTypes[0]', code: 'EMPTY' },
        { path: 'provenance.externalParameters[0]', code: 'INVALID_FORMAT' },
        { path: 'provenance.source.repository', code: 'INVALID_FORMAT' },
        { path: 'provenance.source.commit', code: 'INVALID_FORMAT' },
        { path: 'vsa.levels[0]', code: 'INVALID_FORMAT' },
        { path: 'testResult.allowWarned', code: 'WRONG_TYPE' },
      ],
    );
  });

  it('rejects an empty predicateTypes list rather than allowing nothing silently', () => {
    assert.deepEqual(problemsOf({ version: 1, predicateTypes: [] }), [{ path: 'predicateTypes', code: 'EMPTY' }]);
  });

  it('caps the threshold and list lengths', () => {
    assert.deepEqual(problemsOf({ version: 1, threshold: 65 }), [{ path: 'threshold', code: 'OUT_OF_RANGE' }]);
    assert.deepEqual(problemsOf({ version: 1, predicateTypes: Array.from({ length: 257 }, (_, i) => `https://t.example/${i}`) }), [
      { path: 'predicateTypes', code: 'TOO_MANY' },
    ]);
  });

  for (const [what, raw] of [
    ['null', null],
    ['an array', []],
    ['a number', 1],
  ] as const) {
    it(`rejects ${what} with ATTEST_POLICY_INVALID`, () => assert.ok(problemsOf(raw).length > 0));
  }
});
