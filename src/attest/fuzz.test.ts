/**
 * Property-based fuzzing of every attestation parser: arbitrary JSON and mutations of valid
 * documents must either parse or fail with a CairnError carrying a stable code, never crash
 * otherwise, and finish (a fixed number of runs, each bounded by the parsers' caps).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sha256Digest } from '../crypto/digest.js';
import { generateKeyPair, privateKeyFromPem } from '../crypto/keys.js';
import { CAIRN_BUILD_TYPE, envelopeFromJSON, IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1, type Statement, statementFromJSON } from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import { DEFAULT_POLICY, policyFromJSON } from '../model/policy.js';
import { trustStoreFromJSON } from '../model/trust.js';
import { CHECK_CODES } from './errors.js';
import { policyFromText } from './policy.js';
import { provenanceFromJSON } from './provenance.js';
import { envelopeBytes, signStatement } from './sign.js';
import { testResultFromJSON, testResultStatement } from './test-result.js';
import { resolveTrustStore, trustStoreFromText } from './trust.js';
import { verifyWithPolicy } from './verify.js';
import { vsaFromJSON, vsaStatement } from './vsa.js';

const RUNS = 2000;
const SEED = 20_250_601;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A change to a JSON document: follow `path` (indices taken modulo the children), then act. */
interface Mutation {
  readonly path: readonly number[];
  readonly action: 'replace' | 'delete' | 'insert' | 'retype';
  readonly value: Json;
  readonly key: string;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(), { maxLength: 6 }),
  action: fc.constantFrom('replace', 'delete', 'insert', 'retype'),
  value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'keyid', 'sig', 'digest', 'sha256', 'id', 'role')),
});

function children(node: Json): [string | number, Json][] {
  if (Array.isArray(node)) return node.map((v, i) => [i, v]);
  if (node !== null && typeof node === 'object') return Object.entries(node);
  return [];
}

function setChild(parent: Json, key: string | number, value: Json | undefined): void {
  if (Array.isArray(parent) && typeof key === 'number') {
    if (value === undefined) parent.splice(key, 1);
    else parent[key] = value;
  } else if (parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
    if (value === undefined) delete parent[key as string];
    else Object.defineProperty(parent, key as string, { value, enumerable: true, writable: true, configurable: true });
  }
}

const RETYPE: readonly Json[] = [null, 0, -1, 1.5, true, '', 'x', [], {}, '2025-13-45T99:99:99Z', 'a'.repeat(5000)];

/** Applies mutations to a deep copy of `doc`. */
function mutate(doc: Json, mutations: readonly Mutation[]): Json {
  const root: { doc: Json } = { doc: structuredClone(doc) };
  for (const m of mutations) {
    let parent: Json = root as unknown as Json;
    let key: string | number = 'doc';
    let node: Json = root.doc;
    for (const step of m.path) {
      const list = children(node);
      if (list.length === 0) break;
      const [k, v] = list[step % list.length] as [string | number, Json];
      parent = node;
      key = k;
      node = v;
    }
    if (m.action === 'replace') setChild(parent, key, m.value);
    else if (m.action === 'delete') setChild(parent, key, parent === (root as unknown as Json) ? null : undefined);
    else if (m.action === 'retype') setChild(parent, key, RETYPE[(m.path[0] ?? 0) % RETYPE.length] as Json);
    else if (Array.isArray(node)) node.push(m.value);
    else if (node !== null && typeof node === 'object') setChild(node, m.key, m.value);
  }
  return root.doc;
}

/** Runs `parse` on `input`: it returns, or throws a CairnError with one of `codes`. */
function parsesOrRejects(parse: (raw: unknown) => unknown, codes: readonly string[]): (input: unknown) => void {
  return (input) => {
    try {
      parse(input);
    } catch (error) {
      if (!(error instanceof CairnError)) throw new Error(`crashed with ${String(error)} on ${JSON.stringify(input)?.slice(0, 300)}`);
      assert.ok(codes.includes(error.code), `unexpected code ${error.code}`);
      for (const p of error.problems) assert.equal(typeof p.path, 'string');
    }
  };
}

function fuzz(name: string, parse: (raw: unknown) => unknown, valid: Json, codes: readonly string[]): void {
  describe(name, () => {
    it(`never crashes on ${RUNS} arbitrary JSON values`, () => {
      fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), parsesOrRejects(parse, codes)), { numRuns: RUNS, seed: SEED });
    });

    it(`never crashes on ${RUNS} mutations of a valid document`, () => {
      parse(valid);
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => parsesOrRejects(parse, codes)(mutate(valid, mutations))),
        { numRuns: RUNS, seed: SEED },
      );
    });
  });
}

const artifact = sha256Digest('fuzzed artifact');
const key = generateKeyPair('ed25519');
const ecKey = generateKeyPair('ecdsa-p256');

const provenance: Statement = {
  _type: IN_TOTO_STATEMENT_V1,
  subject: [{ name: 'a.tgz', digest: { sha256: digestHex(artifact) } }],
  predicateType: SLSA_PROVENANCE_V1,
  predicate: {
    buildDefinition: {
      buildType: CAIRN_BUILD_TYPE,
      externalParameters: { source: { uri: 'git+https://git.example/o/r', commit: 'a'.repeat(40) }, recipe: { run: 'make' } },
      resolvedDependencies: [{ uri: 'git+https://git.example/o/r@main', digest: { gitCommit: 'a'.repeat(40) } }],
    },
    runDetails: { builder: { id: 'https://cairn.dev/builders/ci', version: { cairn: '0.1.0' } }, metadata: { finishedOn: '2025-06-01T00:00:00Z' } },
  },
};
const vsa = vsaStatement({
  subject: provenance.subject,
  verifierId: 'https://cairn.dev/rebuilders/r1',
  timeVerified: new Date('2025-06-01T00:00:00Z'),
  resourceUri: 'https://deploy.example/prod',
  policy: { uri: 'https://cairn.dev/policy', digest: { sha256: 'b'.repeat(64) } },
  inputAttestations: [{ uri: 'https://x.example/p', digest: { sha256: 'c'.repeat(64) } }],
  result: 'PASSED',
  verifiedLevels: ['SLSA_BUILD_LEVEL_3'],
  dependencyLevels: { SLSA_BUILD_LEVEL_3: 2 },
});
const tests = testResultStatement({
  subject: provenance.subject,
  configuration: [{ uri: 'https://ci.example/ci.yml', digest: { sha256: 'd'.repeat(64) } }],
  passedTests: ['a'],
});
const envelope = signStatement(provenance, [privateKeyFromPem(key.privateKeyPem)]);
const trustDoc = {
  version: 1,
  keys: [key, ecKey].map((k) => ({
    keyid: k.keyid,
    algorithm: k.algorithm,
    publicKey: k.publicKeyPem,
    identities: [{ role: 'builder', id: 'https://cairn.dev/builders/ci' }],
    validFrom: '2025-01-01T00:00:00Z',
    validUntil: '2026-01-01T00:00:00Z',
    revoked: false,
  })),
};
const policyDoc = {
  version: 1,
  predicateTypes: [SLSA_PROVENANCE_V1],
  subject: { digest: artifact, name: 'a.tgz' },
  threshold: 1,
  maxAge: '30d',
  provenance: {
    builders: ['https://cairn.dev/builders/ci'],
    buildTypes: [CAIRN_BUILD_TYPE],
    externalParameters: ['source', 'recipe'],
    source: { repository: 'https://git.example/o/r' },
  },
  vsa: { verifiers: ['https://cairn.dev/rebuilders/r1'], resourceUri: 'https://deploy.example/prod', levels: ['SLSA_BUILD_LEVEL_3'] },
  testResult: { allowWarned: false },
};

fuzz('envelopeFromJSON', envelopeFromJSON, envelope as unknown as Json, ['ATTEST_ENVELOPE_MALFORMED']);
fuzz('statementFromJSON', statementFromJSON, provenance as unknown as Json, ['ATTEST_STATEMENT_MALFORMED']);
fuzz('provenanceFromJSON', provenanceFromJSON, provenance.predicate as Json, ['ATTEST_PREDICATE_MALFORMED']);
fuzz('vsaFromJSON', vsaFromJSON, vsa.predicate as unknown as Json, ['ATTEST_PREDICATE_MALFORMED']);
fuzz('testResultFromJSON', testResultFromJSON, tests.predicate as unknown as Json, ['ATTEST_PREDICATE_MALFORMED']);
fuzz('trustStoreFromJSON and resolveTrustStore', (raw) => resolveTrustStore(trustStoreFromJSON(raw)), trustDoc as unknown as Json, [
  'ATTEST_TRUST_STORE_INVALID',
]);
fuzz('policyFromJSON', policyFromJSON, policyDoc as unknown as Json, ['ATTEST_POLICY_INVALID']);

describe('text parsers', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  );

  it(`policyFromText never crashes on ${RUNS} arbitrary texts`, () => {
    fc.assert(
      fc.property(
        text,
        parsesOrRejects((t) => policyFromText(t as string), ['ATTEST_POLICY_INVALID']),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it(`trustStoreFromText never crashes on ${RUNS} arbitrary texts`, () => {
    fc.assert(
      fc.property(
        text,
        parsesOrRejects((t) => trustStoreFromText(t as string), ['ATTEST_TRUST_STORE_INVALID']),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe('verifyWithPolicy under fuzzing', () => {
  const trust = resolveTrustStore(trustStoreFromJSON(trustDoc));
  const policy = policyFromJSON(policyDoc);
  const now = new Date('2025-06-02T00:00:00Z');
  const known = Object.keys(CHECK_CODES);
  const check = (attestation: string | Buffer) => {
    const result = verifyWithPolicy({ attestation, artifactDigest: artifact }, { trust, policy, now });
    for (const f of result.failures) assert.ok(known.includes(f.code), f.code);
    assert.equal(result.ok, result.failures.length === 0);
    return result;
  };
  const bytes = envelopeBytes(envelope);

  it('accepts the unmutated envelope (the property can fail)', () => {
    assert.equal(check(bytes).ok, true);
  });

  it(`never throws on ${RUNS} byte-level mutations of a valid envelope, and accepts none that touch the signed bytes`, () => {
    const edit = fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
      minLength: 1,
      maxLength: 3,
    });
    fc.assert(
      fc.property(edit, (edits) => {
        let b = Buffer.from(bytes);
        for (const [at, value, kind] of edits) {
          const i = at % Math.max(1, b.length);
          if (kind === 'set') b[i] = value;
          else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([value]), b.subarray(i)]);
          else b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        }
        const result = check(b);
        if (result.ok) {
          // Only an unchanged payload, payloadType and signature may verify (the keyid is a hint).
          const parsed = JSON.parse(b.toString('utf8')) as typeof envelope;
          assert.equal(Buffer.from(parsed.payload, 'base64').equals(Buffer.from(envelope.payload, 'base64')), true);
          assert.equal(parsed.payloadType, envelope.payloadType);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it(`never throws on ${RUNS} mutated statements, correctly signed`, () => {
    const privateKey = privateKeyFromPem(key.privateKeyPem);
    const docs = fc.constantFrom(provenance, vsa as Statement, tests as Statement);
    fc.assert(
      fc.property(docs, fc.array(mutation, { minLength: 1, maxLength: 3 }), (doc, mutations) => {
        const statement = mutate(doc as unknown as Json, mutations) as unknown as Statement;
        const text = JSON.stringify(statement);
        if (text === undefined) return;
        check(envelopeBytes(signStatement(statement, [privateKey])));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it(`never throws on ${RUNS} arbitrary JSON values as the attestation`, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const result = check(JSON.stringify(v) ?? 'null');
        assert.equal(result.ok, false);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('fails closed with the default policy too', () => {
    const result = verifyWithPolicy({ attestation: '{}' }, { trust, policy: DEFAULT_POLICY, now });
    assert.equal(result.ok, false);
  });
});
