import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import { signEnvelope } from '../crypto/dsse.js';
import { generateKeyPair, type KeyPairPem, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { CAIRN_BUILD_TYPE, type DsseEnvelope, IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1, type Statement } from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { InputError } from '../model/errors.js';
import { IN_TOTO_TEST_RESULT_V01, policyFromJSON, SLSA_VSA_V1, type VerificationPolicy } from '../model/policy.js';
import { trustStoreFromJSON } from '../model/trust.js';
import { AttestError, CHECK_CODES } from './errors.js';
import { envelopeBytes, signStatement } from './sign.js';
import { testResultStatement } from './test-result.js';
import { resolveTrustStore, type TrustRoot } from './trust.js';
import { type AttestationVerification, assertVerified, CHECKS, verifyAttestation, verifyWithPolicy } from './verify.js';
import { vsaStatement } from './vsa.js';

const artifact = Buffer.from('the artifact bytes\n');
const ARTIFACT = sha256Digest(artifact);
const OTHER_ARTIFACT = sha256Digest('another artifact');
const BUILDER = 'https://cairn.dev/builders/ci';
const OTHER_BUILDER = 'https://evil.example/builders/any';
const REBUILDER = 'https://cairn.dev/rebuilders/r1';
const REPO = 'https://git.example/org/service';
const COMMIT = 'a'.repeat(40);
const NOW = new Date('2025-06-10T00:00:00Z');
const FINISHED = '2025-06-01T12:00:00Z';

const builderKey = generateKeyPair('ed25519');
const builderKey2 = generateKeyPair('ecdsa-p256');
const otherBuilderKey = generateKeyPair('ed25519');
const rebuilderKey = generateKeyPair('ecdsa-p256');
const logKey = generateKeyPair('ed25519');
const strangerKey = generateKeyPair('ed25519');

function provenance(
  change: { builderId?: string; buildType?: string; externalParameters?: Record<string, unknown>; finishedOn?: string | null; digest?: string } = {},
): Statement {
  const finishedOn = change.finishedOn === undefined ? FINISHED : change.finishedOn;
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'service.tgz', digest: { sha256: change.digest ?? digestHex(ARTIFACT) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: change.buildType ?? CAIRN_BUILD_TYPE,
        externalParameters: change.externalParameters ?? {
          source: { uri: `git+${REPO}`, commit: COMMIT, subdir: '' },
          recipe: { run: 'npm run build', output: 'dist' },
        },
        resolvedDependencies: [{ uri: `git+${REPO}@${COMMIT}`, digest: { gitCommit: COMMIT } }],
      },
      runDetails: {
        builder: { id: change.builderId ?? BUILDER },
        metadata: { invocationId: 'run-1', ...(finishedOn === null ? {} : { startedOn: '2025-06-01T11:59:00Z', finishedOn }) },
      },
    },
  };
}

function sign(statement: Statement, signers: readonly KeyPairPem[]): Buffer {
  return envelopeBytes(
    signStatement(
      statement,
      signers.map((k) => privateKeyFromPem(k.privateKeyPem)),
    ),
  );
}

interface Entry {
  readonly key: KeyPairPem;
  readonly identities: readonly { role: string; id: string }[];
  readonly validFrom?: string;
  readonly validUntil?: string;
  readonly revoked?: boolean;
  readonly revokedAt?: string;
}

function trust(entries: readonly Entry[]): TrustRoot {
  return resolveTrustStore(
    trustStoreFromJSON({
      version: 1,
      keys: entries.map((e) => ({
        keyid: e.key.keyid,
        algorithm: e.key.algorithm,
        publicKey: e.key.publicKeyPem,
        identities: e.identities,
        validFrom: e.validFrom ?? '2024-01-01T00:00:00Z',
        ...(e.validUntil ? { validUntil: e.validUntil } : {}),
        ...(e.revoked !== undefined ? { revoked: e.revoked } : {}),
        ...(e.revokedAt ? { revokedAt: e.revokedAt } : {}),
      })),
    }),
  );
}

const TRUST = trust([
  { key: builderKey, identities: [{ role: 'builder', id: BUILDER }] },
  { key: builderKey2, identities: [{ role: 'builder', id: BUILDER }] },
  { key: otherBuilderKey, identities: [{ role: 'builder', id: OTHER_BUILDER }] },
  { key: rebuilderKey, identities: [{ role: 'rebuilder', id: REBUILDER }] },
  { key: logKey, identities: [{ role: 'log', id: 'https://cairn.dev/log' }] },
]);

const STRICT: VerificationPolicy = policyFromJSON({
  version: 1,
  predicateTypes: [SLSA_PROVENANCE_V1],
  subject: { name: 'service.tgz' },
  threshold: 1,
  maxAge: '30d',
  provenance: {
    builders: [BUILDER],
    buildTypes: [CAIRN_BUILD_TYPE],
    externalParameters: ['source', 'recipe'],
    source: { repository: REPO, commit: COMMIT },
  },
});

function policy(change: Record<string, unknown>): VerificationPolicy {
  return policyFromJSON({
    version: 1,
    predicateTypes: [SLSA_PROVENANCE_V1],
    subject: { name: 'service.tgz' },
    threshold: 1,
    maxAge: '30d',
    provenance: { builders: [BUILDER], buildTypes: [CAIRN_BUILD_TYPE], externalParameters: ['source', 'recipe'], source: { repository: REPO, commit: COMMIT } },
    ...change,
  });
}

function verify(
  attestation: Buffer | string | DsseEnvelope,
  options: { trust?: TrustRoot; policy?: VerificationPolicy; now?: Date; artifact?: typeof ARTIFACT | null; evidenceTime?: Date; keyHint?: string | null } = {},
): AttestationVerification {
  return verifyWithPolicy(
    {
      attestation,
      ...(options.artifact === null ? {} : { artifactDigest: options.artifact ?? ARTIFACT }),
      ...(options.keyHint !== undefined ? { keyHint: options.keyHint } : {}),
    },
    {
      trust: options.trust ?? TRUST,
      policy: options.policy ?? STRICT,
      now: options.now ?? NOW,
      ...(options.evidenceTime ? { evidenceTime: options.evidenceTime } : {}),
    },
  );
}

const codes = (result: AttestationVerification) => result.failures.map((f) => f.code);

describe('verifyWithPolicy', () => {
  it('accepts provenance signed by a key the trust store binds to the builder, and reports the facts', () => {
    const result = verify(sign(provenance(), [builderKey]));
    assert.deepEqual(result.failures, []);
    assert.equal(result.ok, true);
    assert.deepEqual(result.facts.keyids, [builderKey.keyid]);
    assert.equal(result.facts.builderId, BUILDER);
    assert.equal(result.facts.buildType, CAIRN_BUILD_TYPE);
    assert.deepEqual(result.facts.source, { repository: REPO, commit: COMMIT });
    assert.equal(result.facts.subjectName, 'service.tgz');
    assert.equal(result.facts.evidenceTime, '2025-06-01T12:00:00.000Z');
    assert.equal(result.facts.evidenceTimeSource, 'claimed');
  });

  it('reports every check in a fixed order, each passed, failed or skipped', () => {
    const result = verify(sign(provenance(), [builderKey]));
    assert.deepEqual(
      result.checks.map((c) => c.name),
      [...CHECKS],
    );
    for (const check of [
      'envelope',
      'payloadType',
      'signatures',
      'statement',
      'predicate',
      'signers',
      'subject',
      'builder',
      'buildType',
      'externalParameters',
      'source',
      'age',
    ]) {
      assert.equal(result.checks.find((c) => c.name === check)?.outcome, 'pass', check);
    }
  });

  it('verifies ECDSA P-256 provenance the same way', () => {
    assert.deepEqual(codes(verify(sign(provenance(), [builderKey2]))), []);
  });

  it('accepts an envelope already read (e.g. out of a Sigstore bundle)', () => {
    const envelope = signStatement(provenance(), [privateKeyFromPem(builderKey.privateKeyPem)]);
    assert.equal(verify(envelope).ok, true);
  });
});

describe('verifyWithPolicy: distinct signers and thresholds', () => {
  const two = policy({ threshold: 2 });

  it('counts two signatures by one key once, and fails a threshold of 2', () => {
    const result = verify(sign(provenance(), [builderKey, builderKey]), { policy: two });
    assert.deepEqual(codes(result), ['ATTEST_THRESHOLD_NOT_MET']);
    assert.deepEqual(result.facts.keyids, [builderKey.keyid]);
  });

  it('meets a threshold of 2 with two distinct keys bound to the builder, one Ed25519 and one P-256', () => {
    const result = verify(sign(provenance(), [builderKey, builderKey2]), { policy: two });
    assert.deepEqual(codes(result), []);
    assert.deepEqual([...result.facts.keyids].sort(), [builderKey.keyid, builderKey2.keyid].sort());
  });

  it('does not count a second signer bound to another builder toward the threshold', () => {
    const result = verify(sign(provenance(), [builderKey, otherBuilderKey]), { policy: two });
    assert.deepEqual(codes(result), ['ATTEST_BUILDER_UNTRUSTED', 'ATTEST_THRESHOLD_NOT_MET']);
  });

  it('ignores signatures by unknown keys beside enough trusted ones', () => {
    const result = verify(sign(provenance(), [strangerKey, builderKey]));
    assert.deepEqual(codes(result), []);
    assert.deepEqual(result.facts.keyids, [builderKey.keyid]);
  });

  it('fails with ATTEST_SIGNATURE_INVALID when no signature is by a trusted key', () => {
    const result = verify(sign(provenance(), [strangerKey]));
    assert.deepEqual(codes(result), ['ATTEST_SIGNATURE_INVALID']);
    assert.equal(result.failures[0]?.kind, 'evidence');
  });

  it('ignores a revoked key beside enough valid signers, and says so', () => {
    const t = trust([
      { key: builderKey, identities: [{ role: 'builder', id: BUILDER }] },
      { key: builderKey2, identities: [{ role: 'builder', id: BUILDER }], revoked: true },
    ]);
    const result = verify(sign(provenance(), [builderKey, builderKey2]), { trust: t });
    assert.deepEqual(codes(result), []);
    assert.match(result.checks.find((c) => c.name === 'signers')?.detail ?? '', /ignored: key .* is revoked/);
  });
});

describe('verifyWithPolicy: key rotation and revocation', () => {
  // The old key signed until 2025-03-01; the new one from then on.
  const ROTATION = '2025-03-01T00:00:00Z';
  const rotated = trust([
    { key: builderKey, identities: [{ role: 'builder', id: BUILDER }], validFrom: '2024-01-01T00:00:00Z', validUntil: ROTATION },
    { key: builderKey2, identities: [{ role: 'builder', id: BUILDER }], validFrom: ROTATION },
  ]);
  const lenient = policy({ maxAge: null });

  it('keeps accepting the old key for evidence made inside its window, long after rotation', () => {
    const result = verify(sign(provenance({ finishedOn: '2025-02-01T00:00:00Z' }), [builderKey]), { trust: rotated, policy: lenient });
    assert.deepEqual(codes(result), []);
  });

  it('rejects the old key for evidence made after its window (ATTEST_KEY_EXPIRED)', () => {
    const result = verify(sign(provenance({ finishedOn: '2025-04-01T00:00:00Z' }), [builderKey]), { trust: rotated, policy: lenient });
    assert.deepEqual(codes(result), ['ATTEST_KEY_EXPIRED']);
    assert.equal(result.failures[0]?.kind, 'evidence');
  });

  it('rejects the new key for evidence from before its validFrom (ATTEST_KEY_NOT_YET_VALID)', () => {
    const result = verify(sign(provenance({ finishedOn: '2025-02-01T00:00:00Z' }), [builderKey2]), { trust: rotated, policy: lenient });
    assert.deepEqual(codes(result), ['ATTEST_KEY_NOT_YET_VALID']);
  });

  it('accepts the new key for evidence after rotation', () => {
    assert.deepEqual(codes(verify(sign(provenance({ finishedOn: '2025-04-01T00:00:00Z' }), [builderKey2]), { trust: rotated, policy: lenient })), []);
  });

  it('treats the window as half-open: valid at validFrom, expired at validUntil', () => {
    assert.deepEqual(codes(verify(sign(provenance({ finishedOn: ROTATION }), [builderKey2]), { trust: rotated, policy: lenient })), []);
    assert.deepEqual(codes(verify(sign(provenance({ finishedOn: ROTATION }), [builderKey]), { trust: rotated, policy: lenient })), ['ATTEST_KEY_EXPIRED']);
  });

  it('judges windows at a trusted evidence time when one is given, not at the claimed one', () => {
    // A holder of the retired key backdates finishedOn into its window; a log's time says otherwise.
    const backdated = sign(provenance({ finishedOn: '2025-02-01T00:00:00Z' }), [builderKey]);
    const result = verify(backdated, { trust: rotated, policy: lenient, evidenceTime: new Date('2025-05-01T00:00:00Z') });
    assert.deepEqual(codes(result), ['ATTEST_KEY_EXPIRED']);
    assert.equal(result.facts.evidenceTimeSource, 'trusted');
  });

  it('judges windows at now when the evidence claims no time', () => {
    const noTime = sign(provenance({ finishedOn: null }), [builderKey2]);
    const p = policy({ maxAge: null });
    const result = verify(noTime, { trust: rotated, policy: p, now: new Date('2025-04-01T00:00:00Z') });
    assert.deepEqual(codes(result), []);
    assert.equal(result.facts.evidenceTimeSource, 'now');
    const later = verify(noTime, { trust: rotated, policy: p, now: new Date('2025-02-01T00:00:00Z') });
    assert.deepEqual(codes(later), ['ATTEST_KEY_NOT_YET_VALID']);
  });

  it('rejects evidence claiming a time after now, and judges keys at now', () => {
    const future = sign(provenance({ finishedOn: '2025-07-01T00:00:00Z' }), [builderKey]);
    const result = verify(future, { trust: rotated, policy: lenient, now: new Date('2025-02-01T00:00:00Z') });
    assert.deepEqual(codes(result), ['ATTEST_EVIDENCE_TIME_INVALID']);
    assert.equal(result.facts.evidenceTime, '2025-02-01T00:00:00.000Z');
  });

  it('tolerates a few minutes of clock skew', () => {
    const skewed = sign(provenance({ finishedOn: '2025-06-10T00:02:00Z' }), [builderKey]);
    assert.deepEqual(codes(verify(skewed)), []);
  });

  it('rejects a revoked key for all evidence when revokedAt is not given (ATTEST_KEY_REVOKED)', () => {
    const t = trust([{ key: builderKey, identities: [{ role: 'builder', id: BUILDER }], revoked: true }]);
    assert.deepEqual(codes(verify(sign(provenance(), [builderKey]), { trust: t })), ['ATTEST_KEY_REVOKED']);
  });

  it('accepts a revoked key for evidence from before revokedAt, not after', () => {
    const t = trust([{ key: builderKey, identities: [{ role: 'builder', id: BUILDER }], revoked: true, revokedAt: '2025-05-01T00:00:00Z' }]);
    assert.deepEqual(codes(verify(sign(provenance({ finishedOn: '2025-04-30T23:59:59Z' }), [builderKey]), { trust: t, policy: lenient })), []);
    assert.deepEqual(codes(verify(sign(provenance({ finishedOn: '2025-05-01T00:00:00Z' }), [builderKey]), { trust: t, policy: lenient })), [
      'ATTEST_KEY_REVOKED',
    ]);
  });
});

describe('verifyWithPolicy: trust comes from the key, never from the claim', () => {
  it('rejects provenance claiming builder X signed by a trusted key bound to builder Y, though the policy allows X', () => {
    const forged = sign(provenance({ builderId: BUILDER }), [otherBuilderKey]);
    const result = verify(forged);
    assert.deepEqual(codes(result), ['ATTEST_BUILDER_UNTRUSTED']);
    assert.match(result.failures[0]?.message ?? '', /not bound to builder https:\/\/cairn\.dev\/builders\/ci/);
    assert.deepEqual(result.facts.keyids, []);
  });

  it('rejects provenance claiming builder X signed by a key outside the trust store', () => {
    assert.deepEqual(codes(verify(sign(provenance({ builderId: BUILDER }), [strangerKey]))), ['ATTEST_SIGNATURE_INVALID']);
  });

  it('rejects provenance signed by a key that holds the id only as a rebuilder', () => {
    const t = trust([{ key: builderKey, identities: [{ role: 'rebuilder', id: BUILDER }] }]);
    assert.deepEqual(codes(verify(sign(provenance(), [builderKey]), { trust: t })), ['ATTEST_BUILDER_UNTRUSTED']);
  });

  it('rejects a test result signed by a key that signs only log checkpoints (ATTEST_SIGNER_UNTRUSTED)', () => {
    const statement = testResultStatement({
      subject: [{ digest: { sha256: digestHex(ARTIFACT) } }],
      configuration: [{ uri: 'https://ci.example/ci.yml' }],
      passedTests: ['a'],
    });
    const p = policyFromJSON({ version: 1, predicateTypes: [IN_TOTO_TEST_RESULT_V01] });
    assert.deepEqual(codes(verify(sign(statement, [logKey]), { policy: p })), ['ATTEST_SIGNER_UNTRUSTED']);
    assert.deepEqual(codes(verify(sign(statement, [builderKey]), { policy: p })), []);
  });

  it('binds a VSA to its verifier: the rebuilder key passes, a builder key claiming the verifier fails', () => {
    const statement = vsaStatement({
      subject: [{ name: 'service.tgz', digest: { sha256: digestHex(ARTIFACT) } }],
      verifierId: REBUILDER,
      timeVerified: new Date('2025-06-02T00:00:00Z'),
      resourceUri: 'https://deploy.example/prod',
      policy: { uri: 'https://cairn.dev/policy/rebuild' },
      result: 'PASSED',
      verifiedLevels: ['SLSA_BUILD_LEVEL_3'],
    });
    const p = policyFromJSON({
      version: 1,
      predicateTypes: [SLSA_VSA_V1],
      vsa: { verifiers: [REBUILDER], resourceUri: 'https://deploy.example/prod', levels: ['SLSA_BUILD_LEVEL_3'] },
    });
    const good = verify(sign(statement, [rebuilderKey]), { policy: p });
    assert.deepEqual(codes(good), []);
    assert.equal(good.facts.verifierId, REBUILDER);
    assert.deepEqual(codes(verify(sign(statement, [builderKey]), { policy: p })), ['ATTEST_VERIFIER_UNTRUSTED']);
  });

  it('trusts keys given directly for any builder, while a policy builders list still applies', () => {
    const direct = { keys: TRUST.keys.filter((k) => k.keyid === otherBuilderKey.keyid).map((k) => ({ ...k, identities: null })), source: 'keys' as const };
    assert.deepEqual(
      codes(verify(sign(provenance({ builderId: OTHER_BUILDER }), [otherBuilderKey]), { trust: direct, policy: policy({ provenance: {} }) })),
      [],
    );
    assert.deepEqual(codes(verify(sign(provenance({ builderId: OTHER_BUILDER }), [otherBuilderKey]), { trust: direct })), ['ATTEST_BUILDER_NOT_ALLOWED']);
  });
});

describe('verifyWithPolicy: each policy check fails on its own', () => {
  const vsa = (change: { result?: 'PASSED' | 'FAILED'; resourceUri?: string; levels?: string[]; verifierId?: string } = {}) =>
    vsaStatement({
      subject: [{ name: 'service.tgz', digest: { sha256: digestHex(ARTIFACT) } }],
      verifierId: change.verifierId ?? REBUILDER,
      timeVerified: new Date('2025-06-02T00:00:00Z'),
      resourceUri: change.resourceUri ?? 'https://deploy.example/prod',
      policy: { uri: 'https://cairn.dev/policy/rebuild' },
      result: change.result ?? 'PASSED',
      verifiedLevels: change.levels ?? ['SLSA_BUILD_LEVEL_3'],
    });
  const vsaPolicy = policyFromJSON({
    version: 1,
    predicateTypes: [SLSA_VSA_V1],
    vsa: { resourceUri: 'https://deploy.example/prod', levels: ['SLSA_BUILD_LEVEL_3'] },
  });
  const tests = (change: { failed?: string[]; warned?: string[] }) =>
    testResultStatement({
      subject: [{ name: 'service.tgz', digest: { sha256: digestHex(ARTIFACT) } }],
      configuration: [{ uri: 'https://ci.example/ci.yml', digest: { sha256: 'b'.repeat(64) } }],
      passedTests: ['unit'],
      ...(change.failed ? { failedTests: change.failed } : {}),
      ...(change.warned ? { warnedTests: change.warned } : {}),
    });
  const testPolicy = policyFromJSON({ version: 1, predicateTypes: [IN_TOTO_TEST_RESULT_V01] });

  const cases: readonly { what: string; envelope: () => Buffer; options?: Parameters<typeof verify>[1]; code: string }[] = [
    {
      what: 'the artifact is another one',
      envelope: () => sign(provenance(), [builderKey]),
      options: { artifact: OTHER_ARTIFACT },
      code: 'ATTEST_SUBJECT_DIGEST_MISMATCH',
    },
    {
      what: 'the policy pins another subject digest',
      envelope: () => sign(provenance(), [builderKey]),
      options: { policy: policy({ subject: { digest: OTHER_ARTIFACT } }) },
      code: 'ATTEST_SUBJECT_DIGEST_MISMATCH',
    },
    {
      what: 'the subject has another name',
      envelope: () => sign(provenance(), [builderKey]),
      options: { policy: policy({ subject: { name: 'other.tgz' } }) },
      code: 'ATTEST_SUBJECT_NAME_MISMATCH',
    },
    {
      what: 'the predicate type is not allowed',
      envelope: () => sign(provenance(), [builderKey]),
      options: { policy: policy({ predicateTypes: [SLSA_VSA_V1] }) },
      code: 'ATTEST_PREDICATE_TYPE_NOT_ALLOWED',
    },
    {
      what: 'the builder is not in the policy (its key is bound to it)',
      envelope: () => sign(provenance({ builderId: OTHER_BUILDER }), [otherBuilderKey]),
      code: 'ATTEST_BUILDER_NOT_ALLOWED',
    },
    {
      what: 'the buildType is not allowed',
      envelope: () => sign(provenance({ buildType: 'https://other.example/buildtype/v1' }), [builderKey]),
      code: 'ATTEST_BUILD_TYPE_NOT_ALLOWED',
    },
    {
      what: 'externalParameters has a key the policy does not list',
      envelope: () => sign(provenance({ externalParameters: { source: { uri: `git+${REPO}`, commit: COMMIT }, recipe: {}, debugShell: true } }), [builderKey]),
      code: 'ATTEST_EXTERNAL_PARAMETER_UNKNOWN',
    },
    {
      what: 'the source repository is a fork',
      envelope: () => sign(provenance({ externalParameters: { source: { uri: 'git+https://git.example/fork/service', commit: COMMIT } } }), [builderKey]),
      code: 'ATTEST_SOURCE_MISMATCH',
    },
    {
      what: 'the source commit is another one',
      envelope: () => sign(provenance({ externalParameters: { source: { uri: `git+${REPO}`, commit: 'b'.repeat(40) } } }), [builderKey]),
      code: 'ATTEST_SOURCE_MISMATCH',
    },
    {
      what: 'fewer distinct signers than the threshold',
      envelope: () => sign(provenance(), [builderKey]),
      options: { policy: policy({ threshold: 2 }) },
      code: 'ATTEST_THRESHOLD_NOT_MET',
    },
    {
      what: 'the evidence is older than maxAge',
      envelope: () => sign(provenance(), [builderKey]),
      options: { policy: policy({ maxAge: '1d' }) },
      code: 'ATTEST_TOO_OLD',
    },
    {
      what: 'maxAge is set and the evidence carries no time',
      envelope: () => sign(tests({}), [builderKey]),
      options: { policy: policyFromJSON({ version: 1, predicateTypes: [IN_TOTO_TEST_RESULT_V01], maxAge: '1d' }) },
      code: 'ATTEST_TOO_OLD',
    },
    { what: 'the VSA says FAILED', envelope: () => sign(vsa({ result: 'FAILED' }), [rebuilderKey]), options: { policy: vsaPolicy }, code: 'ATTEST_VSA_FAILED' },
    {
      what: 'the VSA is for another resource',
      envelope: () => sign(vsa({ resourceUri: 'https://deploy.example/dev' }), [rebuilderKey]),
      options: { policy: vsaPolicy },
      code: 'ATTEST_VSA_RESOURCE_MISMATCH',
    },
    {
      what: 'the VSA lacks the level',
      envelope: () => sign(vsa({ levels: ['SLSA_BUILD_LEVEL_2'] }), [rebuilderKey]),
      options: { policy: vsaPolicy },
      code: 'ATTEST_VSA_LEVEL_MISSING',
    },
    {
      what: 'the VSA verifier is not in the policy',
      envelope: () => sign(vsa(), [rebuilderKey]),
      options: { policy: policyFromJSON({ version: 1, predicateTypes: [SLSA_VSA_V1], vsa: { verifiers: ['https://cairn.dev/rebuilders/r2'] } }) },
      code: 'ATTEST_VERIFIER_NOT_ALLOWED',
    },
    {
      what: 'a test failed',
      envelope: () => sign(tests({ failed: ['e2e'] }), [builderKey]),
      options: { policy: testPolicy },
      code: 'ATTEST_TEST_RESULT_FAILED',
    },
    {
      what: 'tests warned and the policy wants PASSED',
      envelope: () => sign(tests({ warned: ['lint'] }), [builderKey]),
      options: { policy: testPolicy },
      code: 'ATTEST_TEST_RESULT_FAILED',
    },
  ];
  for (const c of cases) {
    it(`fails only ${c.code} when ${c.what}`, () => {
      const result = verify(c.envelope(), c.options);
      assert.deepEqual(codes(result), [c.code]);
      assert.equal(result.ok, false);
      assert.equal(result.failures[0]?.kind, 'policy');
    });
  }

  it('accepts WARNED tests when the policy allows it', () => {
    const p = policyFromJSON({ version: 1, predicateTypes: [IN_TOTO_TEST_RESULT_V01], testResult: { allowWarned: true } });
    assert.deepEqual(codes(verify(sign(tests({ warned: ['lint'] }), [builderKey]), { policy: p })), []);
  });

  it('fails when neither an artifact nor a pinned digest is given, rather than matching nothing', () => {
    assert.deepEqual(codes(verify(sign(provenance(), [builderKey]), { artifact: null })), ['ATTEST_SUBJECT_DIGEST_MISMATCH']);
  });

  it('matches a subject by a pinned non-sha256 digest, without an artifact', () => {
    const statement = { ...tests({}), subject: [{ digest: { gitCommit: COMMIT } }] };
    const p = policyFromJSON({ version: 1, predicateTypes: [IN_TOTO_TEST_RESULT_V01], subject: { digest: `gitCommit:${COMMIT}` } });
    assert.deepEqual(codes(verify(sign(statement, [builderKey]), { policy: p, artifact: null })), []);
  });

  it('rejects externalParameters keys outside cairn’s own buildType schema even without a policy list', () => {
    const p = policy({ provenance: { builders: [BUILDER] } });
    const extra = sign(provenance({ externalParameters: { source: {}, recipe: {}, injected: 1 } }), [builderKey]);
    assert.deepEqual(codes(verify(extra, { policy: p })), ['ATTEST_EXTERNAL_PARAMETER_UNKNOWN']);
  });
});

describe('verifyWithPolicy: every failure is named at once', () => {
  it('names all the failures of a forged, stale, off-policy provenance, in check order', () => {
    const bad = sign(
      provenance({
        builderId: 'https://unknown.example/builder',
        buildType: 'https://other.example/buildtype/v1',
        externalParameters: { source: { uri: 'git+https://git.example/fork/service', commit: 'c'.repeat(40) }, extra: 1 },
        finishedOn: '2025-01-01T00:00:00Z',
      }),
      [otherBuilderKey, otherBuilderKey],
    );
    const result = verify(bad, { artifact: OTHER_ARTIFACT, policy: policy({ threshold: 2 }) });
    assert.deepEqual(codes(result), [
      'ATTEST_BUILDER_UNTRUSTED',
      'ATTEST_THRESHOLD_NOT_MET',
      'ATTEST_SUBJECT_DIGEST_MISMATCH',
      'ATTEST_BUILDER_NOT_ALLOWED',
      'ATTEST_BUILD_TYPE_NOT_ALLOWED',
      'ATTEST_EXTERNAL_PARAMETER_UNKNOWN',
      'ATTEST_SOURCE_MISMATCH',
      'ATTEST_SOURCE_MISMATCH',
      'ATTEST_TOO_OLD',
    ]);
    for (const f of result.failures) assert.equal(result.checks.find((c) => c.name === f.check)?.outcome, 'fail', f.check);
  });

  it('names invalid evidence and policy failures together, and keeps their kinds apart', () => {
    const statement = provenance({ buildType: 'not a uri' });
    const result = verify(sign(statement, [strangerKey]), { artifact: OTHER_ARTIFACT });
    assert.deepEqual(codes(result), ['ATTEST_SIGNATURE_INVALID', 'ATTEST_PREDICATE_MALFORMED', 'ATTEST_SUBJECT_DIGEST_MISMATCH']);
    assert.deepEqual(
      result.failures.map((f) => f.kind),
      ['evidence', 'evidence', 'policy'],
    );
  });

  it('assertVerified throws an AttestError carrying the first code and every failure as a problem', () => {
    const result = verify(sign(provenance({ buildType: 'https://other.example/bt' }), [builderKey]), { artifact: OTHER_ARTIFACT });
    assert.throws(
      () => assertVerified(result),
      (e: unknown) => {
        assert.ok(e instanceof AttestError);
        assert.equal(e.code, 'ATTEST_SUBJECT_DIGEST_MISMATCH');
        assert.equal(e.category, 'denied');
        assert.deepEqual(
          e.problems.map((p) => p.code),
          ['ATTEST_SUBJECT_DIGEST_MISMATCH', 'ATTEST_BUILD_TYPE_NOT_ALLOWED'],
        );
        assert.match(e.message, /2 checks failed/);
        return true;
      },
    );
  });

  it('classifies every check code as evidence or policy', () => {
    for (const kind of Object.values(CHECK_CODES)) assert.ok(kind === 'evidence' || kind === 'policy');
    assert.equal(CHECK_CODES.ATTEST_SIGNATURE_INVALID, 'evidence');
    assert.equal(CHECK_CODES.ATTEST_BUILD_TYPE_NOT_ALLOWED, 'policy');
  });
});

describe('verifyWithPolicy: malformed evidence', () => {
  it('stops at an envelope it cannot read, skipping the other checks', () => {
    const result = verify('{"payloadType": 1}');
    assert.deepEqual(codes(result), ['ATTEST_ENVELOPE_MALFORMED']);
    assert.ok(result.checks.filter((c) => c.name !== 'envelope').every((c) => c.outcome === 'skip'));
  });

  it('rejects a malformed provenance predicate with ATTEST_PREDICATE_MALFORMED', () => {
    const statement = provenance();
    const broken = { ...statement, predicate: { ...(statement.predicate as object), runDetails: { builder: {} } } };
    const result = verify(sign(broken, [builderKey]));
    assert.deepEqual(codes(result), ['ATTEST_PREDICATE_MALFORMED']);
    assert.match(result.failures[0]?.message ?? '', /predicate\.runDetails\.builder\.id/);
  });

  it('accepts a predicate-specific in-toto payload type, rejects other types', () => {
    const body = Buffer.from(JSON.stringify(provenance()));
    const key = privateKeyFromPem(builderKey.privateKeyPem);
    assert.deepEqual(codes(verify(envelopeBytes(signEnvelope('application/vnd.in-toto.provenance+json', body, [key])))), []);
    assert.deepEqual(codes(verify(envelopeBytes(signEnvelope('application/json', body, [key])))), ['ATTEST_PAYLOAD_TYPE']);
  });

  it('applies the envelope size limit the caller sets', () => {
    const envelope = sign(provenance(), [builderKey]);
    const small = verifyWithPolicy(
      { attestation: envelope, artifactDigest: ARTIFACT },
      { trust: TRUST, policy: STRICT, now: NOW, limits: { maxEnvelopeBytes: 1024 } },
    );
    assert.deepEqual(codes(small), ['ATTEST_ENVELOPE_MALFORMED']);
    assert.match(small.failures[0]?.message ?? '', /1024/);
    const big = Buffer.concat([envelope.subarray(0, -2), Buffer.alloc(17 * 1024 * 1024, 0x20), envelope.subarray(-2)]);
    assert.deepEqual(codes(verify(big)), ['ATTEST_ENVELOPE_MALFORMED']);
    const raised = verifyWithPolicy(
      { attestation: big, artifactDigest: ARTIFACT },
      { trust: TRUST, policy: STRICT, now: NOW, limits: { maxEnvelopeBytes: 32 * 1024 * 1024 } },
    );
    assert.deepEqual(codes(raised), []);
  });

  it('admits a payload as large as the envelope cap allows, not a fixed 8 MiB', () => {
    const base = provenance();
    const large = { ...base, predicate: { ...(base.predicate as object), padding: 'x'.repeat(7 * 1024 * 1024) } } as Statement;
    const envelope = sign(large, [builderKey]);
    assert.ok(envelope.length > 9 * 1024 * 1024);
    assert.deepEqual(codes(verify(envelope)), []);
    const capped = verifyWithPolicy(
      { attestation: envelope, artifactDigest: ARTIFACT },
      { trust: TRUST, policy: STRICT, now: NOW, limits: { maxEnvelopeBytes: 8 * 1024 * 1024 } },
    );
    assert.deepEqual(codes(capped), ['ATTEST_ENVELOPE_MALFORMED']);
  });

  it('throws ATTEST_OPTIONS_INVALID for nonsensical limits or clock', () => {
    const run = (options: Partial<Parameters<typeof verifyWithPolicy>[1]>) => () =>
      verifyWithPolicy({ attestation: '{}', artifactDigest: ARTIFACT }, { trust: TRUST, now: NOW, ...options });
    for (const bad of [run({ limits: { maxEnvelopeBytes: 0 } }), run({ limits: { maxDepth: 10_000 } }), run({ now: new Date(Number.NaN) })]) {
      assert.throws(bad, (e: unknown) => e instanceof InputError && e.code === 'ATTEST_OPTIONS_INVALID');
    }
  });
});

describe('verifyWithPolicy: a container key hint (Sigstore bundle)', () => {
  const envelope = sign(provenance(), [builderKey]);
  it('passes when the hint is the key id of the key that verified', () => {
    assert.deepEqual(codes(verify(envelope, { keyHint: builderKey.keyid })), []);
  });
  it('fails with ATTEST_BUNDLE_HINT_MISMATCH for an empty hint, another key, or a keyid that differs', () => {
    assert.deepEqual(codes(verify(envelope, { keyHint: '' })), ['ATTEST_BUNDLE_HINT_MISMATCH']);
    assert.deepEqual(codes(verify(envelope, { keyHint: builderKey2.keyid })), ['ATTEST_BUNDLE_HINT_MISMATCH']);
  });
});

describe('verifyAttestation (the simple path)', () => {
  const pair = generateKeyPair();
  const other = generateKeyPair();
  const key = publicKeyFromPem(pair.publicKeyPem);
  const statement: Statement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'a.tgz', digest: { sha256: digestHex(sha256Digest(artifact)) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: { buildType: 'https://cairn.dev/build/recipe/v1', externalParameters: {} },
      runDetails: { builder: { id: 'https://cairn.dev/builders/test' } },
    },
  };
  const envelope = envelopeBytes(signStatement(statement, [privateKeyFromPem(pair.privateKeyPem)]));

  function codeOf(fn: () => unknown): string {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof AttestError, `expected an AttestError, got ${String(e)}`);
      assert.equal(e.category, 'denied');
      return e.code;
    }
    return 'VERIFIED';
  }

  it('verifies the artifact, the signature and the subject', () => {
    const result = verifyAttestation(envelope, sha256Digest(artifact), [key]);
    assert.deepEqual(result.keyids, [pair.keyid]);
    assert.equal(result.subjectName, 'a.tgz');
    assert.equal(result.statement.predicateType, 'https://slsa.dev/provenance/v1');
  });

  it('fails after any single byte of the envelope outside the unauthenticated keyid changes', () => {
    const seen = new Map<string, number>();
    const keyidAt = envelope.indexOf(pair.keyid);
    for (let i = 0; i < envelope.length; i++) {
      if (i >= keyidAt && i < keyidAt + pair.keyid.length) continue;
      const tampered = Buffer.from(envelope);
      tampered[i] = ((tampered[i] ?? 0) + 1) % 256;
      const code = codeOf(() => verifyAttestation(tampered, sha256Digest(artifact), [key]));
      assert.notEqual(code, 'VERIFIED', `changing byte ${i} (${JSON.stringify(String.fromCharCode(envelope[i] ?? 0))}) still verified`);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }
    assert.ok(seen.has('ATTEST_ENVELOPE_MALFORMED'));
    assert.ok(seen.has('ATTEST_SIGNATURE_INVALID'));
  });

  it('still verifies when only the keyid changes: the keyid is an unauthenticated hint', () => {
    const text = envelope.toString('utf8').replace(pair.keyid, 'another-scheme-id');
    assert.deepEqual(verifyAttestation(text, sha256Digest(artifact), [key]).keyids, [pair.keyid]);
  });

  it('fails with ATTEST_SUBJECT_DIGEST_MISMATCH after one byte of the artifact changes', () => {
    for (const i of [0, 7, artifact.length - 1]) {
      const tampered = Buffer.from(artifact);
      tampered[i] = ((tampered[i] ?? 0) + 1) % 256;
      assert.equal(
        codeOf(() => verifyAttestation(envelope, sha256Digest(tampered), [key])),
        'ATTEST_SUBJECT_DIGEST_MISMATCH',
      );
    }
  });

  it('fails with ATTEST_SIGNATURE_INVALID for another key', () => {
    assert.equal(
      codeOf(() => verifyAttestation(envelope, sha256Digest(artifact), [publicKeyFromPem(other.publicKeyPem)])),
      'ATTEST_SIGNATURE_INVALID',
    );
  });

  it('rejects another payload type and a statement of another _type', () => {
    const raw = JSON.parse(envelope.toString('utf8'));
    assert.equal(
      codeOf(() => verifyAttestation(JSON.stringify({ ...raw, payloadType: 'text/plain' }), sha256Digest(artifact), [key])),
      'ATTEST_PAYLOAD_TYPE',
    );
    const wrongType = envelopeBytes(
      signStatement({ ...statement, _type: 'https://in-toto.io/Statement/v0.1' } as unknown as Statement, [privateKeyFromPem(pair.privateKeyPem)]),
    );
    assert.equal(
      codeOf(() => verifyAttestation(wrongType, sha256Digest(artifact), [key])),
      'ATTEST_STATEMENT_MALFORMED',
    );
  });

  it('rejects oversized and over-deep envelopes before parsing them', () => {
    assert.equal(
      codeOf(() => verifyAttestation(`${'['.repeat(100)}${']'.repeat(100)}`, sha256Digest(artifact), [key])),
      'ATTEST_ENVELOPE_MALFORMED',
    );
    assert.equal(
      codeOf(() => verifyAttestation(Buffer.alloc(17 * 1024 * 1024, 0x20), sha256Digest(artifact), [key])),
      'ATTEST_ENVELOPE_MALFORMED',
    );
  });

  it('verifies an ECDSA P-256 envelope, and a P1363 one only when allowed', () => {
    const ec = generateKeyPair('ecdsa-p256');
    const ecKey = publicKeyFromPem(ec.publicKeyPem);
    const der = envelopeBytes(signStatement(statement, [privateKeyFromPem(ec.privateKeyPem)]));
    const p1363 = envelopeBytes(signStatement(statement, [privateKeyFromPem(ec.privateKeyPem)], { ecdsaSignatureFormat: 'p1363' }));
    assert.deepEqual(verifyAttestation(der, sha256Digest(artifact), [ecKey]).keyids, [ec.keyid]);
    assert.equal(
      codeOf(() => verifyAttestation(p1363, sha256Digest(artifact), [ecKey])),
      'ATTEST_SIGNATURE_INVALID',
    );
    assert.deepEqual(verifyAttestation(p1363, sha256Digest(artifact), [ecKey], { allowP1363: true }).keyids, [ec.keyid]);
  });
});
