import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CAIRN_BUILD_TYPE, IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1, statementFromJSON } from '../model/attestation.js';
import { InputError } from '../model/errors.js';
import { IN_TOTO_TEST_RESULT_V01, SLSA_VSA_V1 } from '../model/policy.js';
import { normaliseRepository, provenanceFromJSON, provenanceSource } from './provenance.js';
import { testResultFromJSON, testResultStatement } from './test-result.js';
import { vsaFromJSON, vsaStatement } from './vsa.js';

function problemsOf(parse: (raw: unknown) => unknown, raw: unknown): { path: string; code: string }[] {
  try {
    parse(raw);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, 'ATTEST_PREDICATE_MALFORMED');
    return e.problems.map((p) => ({ path: p.path, code: p.code }));
  }
  return [];
}

const SUBJECT = [{ name: 'service.tgz', digest: { sha256: 'a'.repeat(64) } }];

describe('vsaStatement / vsaFromJSON', () => {
  const statement = vsaStatement({
    subject: SUBJECT,
    verifierId: 'https://cairn.dev/rebuilders/r1',
    verifierVersion: { cairn: '0.1.0' },
    timeVerified: new Date('2025-06-02T03:04:05Z'),
    resourceUri: 'https://deploy.example/prod',
    policy: { uri: 'https://cairn.dev/policy/rebuild', digest: { sha256: 'b'.repeat(64) } },
    inputAttestations: [{ uri: 'https://store.example/prov.json', digest: { sha256: 'c'.repeat(64) } }],
    result: 'PASSED',
    verifiedLevels: ['SLSA_BUILD_LEVEL_3'],
    dependencyLevels: { SLSA_BUILD_LEVEL_3: 5 },
  });

  it('builds an in-toto Statement v1 with a VSA v1 predicate that parses back', () => {
    assert.equal(statement._type, IN_TOTO_STATEMENT_V1);
    assert.equal(statement.predicateType, SLSA_VSA_V1);
    assert.equal(statement.predicate.timeVerified, '2025-06-02T03:04:05.000Z');
    assert.equal(statement.predicate.slsaVersion, '1.1');
    const roundTrip = JSON.parse(JSON.stringify(statement));
    assert.deepEqual(statementFromJSON(roundTrip).subject, SUBJECT);
    assert.deepEqual(vsaFromJSON(roundTrip.predicate), statement.predicate);
  });

  it('ignores fields it does not know, as in-toto consumers must', () => {
    assert.equal(vsaFromJSON({ ...statement.predicate, futureField: { x: 1 } }).verifier.id, 'https://cairn.dev/rebuilders/r1');
  });

  it('reports every missing or bad field with its path', () => {
    assert.deepEqual(
      problemsOf(vsaFromJSON, {
        verifier: {},
        timeVerified: 'June 2nd',
        policy: { digest: { sha256: 'xyz' } },
        inputAttestations: [{ uri: 'https://a.example' }],
        verificationResult: 'MAYBE',
        verifiedLevels: ['level three'],
        dependencyLevels: { SLSA_BUILD_LEVEL_3: -1 },
      }),
      [
        { path: 'predicate.verifier.id', code: 'MISSING' },
        { path: 'predicate.timeVerified', code: 'INVALID_FORMAT' },
        { path: 'predicate.resourceUri', code: 'MISSING' },
        { path: 'predicate.policy.uri', code: 'MISSING' },
        { path: 'predicate.policy.digest.sha256', code: 'INVALID_FORMAT' },
        { path: 'predicate.inputAttestations[0].digest', code: 'WRONG_TYPE' },
        { path: 'predicate.verificationResult', code: 'UNSUPPORTED' },
        { path: 'predicate.verifiedLevels[0]', code: 'INVALID_FORMAT' },
        { path: 'predicate.dependencyLevels.SLSA_BUILD_LEVEL_3', code: 'OUT_OF_RANGE' },
      ],
    );
  });
});

describe('testResultStatement / testResultFromJSON', () => {
  const configuration = [{ uri: 'https://git.example/o/r/.ci.yml', digest: { sha256: 'd'.repeat(64) } }];

  it('derives the result from the test lists', () => {
    assert.equal(testResultStatement({ subject: SUBJECT, configuration, passedTests: ['a'] }).predicate.result, 'PASSED');
    assert.equal(testResultStatement({ subject: SUBJECT, configuration, warnedTests: ['b'] }).predicate.result, 'WARNED');
    assert.equal(testResultStatement({ subject: SUBJECT, configuration, warnedTests: ['b'], failedTests: ['c'] }).predicate.result, 'FAILED');
  });

  it('builds a test-result v0.1 statement that parses back', () => {
    const statement = testResultStatement({ subject: SUBJECT, configuration, url: 'https://ci.example/runs/1', passedTests: ['unit', 'e2e'] });
    assert.equal(statement.predicateType, IN_TOTO_TEST_RESULT_V01);
    assert.deepEqual(testResultFromJSON(JSON.parse(JSON.stringify(statement.predicate))), statement.predicate);
  });

  it('defaults the test lists to empty', () => {
    assert.deepEqual(testResultFromJSON({ result: 'PASSED', configuration }).failedTests, []);
  });

  it('reports bad fields, and a PASSED result that lists failed tests', () => {
    assert.deepEqual(problemsOf(testResultFromJSON, { result: 'PASSED', configuration: [{}], failedTests: ['x', 3] }), [
      { path: 'predicate.configuration[0]', code: 'MISSING' },
      { path: 'predicate.failedTests[1]', code: 'WRONG_TYPE' },
    ]);
    assert.deepEqual(problemsOf(testResultFromJSON, { result: 'PASSED', configuration, failedTests: ['x'] }), [
      { path: 'predicate.result', code: 'INVALID_FORMAT' },
    ]);
    assert.deepEqual(problemsOf(testResultFromJSON, { result: 'passed' }), [
      { path: 'predicate.result', code: 'UNSUPPORTED' },
      { path: 'predicate.configuration', code: 'WRONG_TYPE' },
    ]);
  });
});

describe('provenanceFromJSON', () => {
  const valid = {
    buildDefinition: {
      buildType: CAIRN_BUILD_TYPE,
      externalParameters: { source: { uri: 'git+https://git.example/o/r', commit: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01' } },
      resolvedDependencies: [{ uri: 'git+https://git.example/o/r@refs/heads/main', digest: { gitCommit: 'abcdef0123456789abcdef0123456789abcdef01' } }],
    },
    runDetails: { builder: { id: 'https://cairn.dev/builders/ci', version: { cairn: '0.1.0' } }, metadata: { finishedOn: '2025-06-01T00:00:00Z' } },
  };

  it('reads a valid predicate and ignores unknown fields', () => {
    const p = provenanceFromJSON({ ...valid, extension: true });
    assert.equal(p.runDetails.builder.id, 'https://cairn.dev/builders/ci');
    assert.equal(p.runDetails.metadata?.finishedOn, '2025-06-01T00:00:00Z');
  });

  it('reports every missing or bad field with its path', () => {
    assert.deepEqual(
      problemsOf(provenanceFromJSON, {
        buildDefinition: { buildType: 'no uri', externalParameters: [], resolvedDependencies: [{ digest: { sha256: 'abc' } }] },
        runDetails: { builder: { version: { cairn: 1 } }, metadata: { finishedOn: 'yesterday' } },
      }),
      [
        { path: 'predicate.buildDefinition.buildType', code: 'INVALID_FORMAT' },
        { path: 'predicate.buildDefinition.externalParameters', code: 'WRONG_TYPE' },
        { path: 'predicate.buildDefinition.resolvedDependencies[0].digest.sha256', code: 'INVALID_FORMAT' },
        { path: 'predicate.runDetails.builder.id', code: 'MISSING' },
        { path: 'predicate.runDetails.builder.version.cairn', code: 'WRONG_TYPE' },
        { path: 'predicate.runDetails.metadata.finishedOn', code: 'INVALID_FORMAT' },
      ],
    );
  });

  it('finds the source in cairn’s externalParameters, else in the first git dependency', () => {
    assert.deepEqual(provenanceSource(provenanceFromJSON(valid)), {
      repository: 'https://git.example/o/r',
      commit: 'abcdef0123456789abcdef0123456789abcdef01',
      from: 'externalParameters.source',
    });
    const foreign = provenanceFromJSON({ ...valid, buildDefinition: { ...valid.buildDefinition, externalParameters: { workflow: {} } } });
    assert.deepEqual(provenanceSource(foreign), {
      repository: 'https://git.example/o/r',
      commit: 'abcdef0123456789abcdef0123456789abcdef01',
      from: 'resolvedDependencies[0]',
    });
    const none = provenanceFromJSON({ ...valid, buildDefinition: { buildType: CAIRN_BUILD_TYPE, externalParameters: {} } });
    assert.equal(provenanceSource(none), null);
  });
});

describe('normaliseRepository', () => {
  for (const [uri, expected] of [
    ['git+https://github.com/o/r@refs/heads/main', 'https://github.com/o/r'],
    ['https://github.com/o/r', 'https://github.com/o/r'],
    ['https://user@host.example/o/r', 'https://user@host.example/o/r'],
    ['git+ssh://git@host.example/o/r@v1', 'ssh://git@host.example/o/r'],
    ['git+file:///srv/repo', 'file:///srv/repo'],
  ] as const) {
    it(`reads ${uri} as ${expected}`, () => assert.equal(normaliseRepository(uri), expected));
  }
});

describe('provenance statements are SLSA v1', () => {
  it('uses the SLSA provenance v1 predicate type', () => assert.equal(SLSA_PROVENANCE_V1, 'https://slsa.dev/provenance/v1'));
});
