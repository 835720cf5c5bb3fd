import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPair, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { encodeBase64 } from '../crypto/base64.js';
import { signEnvelope } from '../crypto/dsse.js';
import { PolicyError } from './errors.js';
import { BUNDLE_PAYLOAD_TYPE, bundleBytes, bundleDigest, bundleFromBytes, openSignedBundle, signBundle } from './bundle.js';
import { bundle, bundleDocument, simplePolicy } from './kit.test.js';

const SIGNER = generateKeyPair();
const KEY = privateKeyFromPem(SIGNER.privateKeyPem);
const PUB = publicKeyFromPem(SIGNER.publicKeyPem);
const STRANGER = publicKeyFromPem(generateKeyPair().publicKeyPem);

function refused(fn: () => unknown, code: string): PolicyError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PolicyError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('policy bundles', () => {
  const doc = bundleDocument(simplePolicy('b', 'input.sbom.present'), simplePolicy('a', 'input.provenance.verified'));

  it('sort their documents by name, so the digest does not depend on file order', () => {
    const reordered = bundleDocument(simplePolicy('a', 'input.provenance.verified'), simplePolicy('b', 'input.sbom.present'));
    assert.deepEqual(
      doc.policies.map((p) => p.metadata.name),
      ['a', 'b'],
    );
    assert.equal(bundleDigest(reordered), bundleDigest(doc));
  });

  it('are addressed by the sha256 of their JCS bytes', () => {
    assert.match(bundleDigest(doc), /^sha256:[0-9a-f]{64}$/);
    assert.equal(bundleFromBytes(bundleBytes(doc)).metadata.name, 'test');
  });

  it('open only when signed by a trusted key', () => {
    const envelope = signBundle(doc, [KEY]);
    assert.equal(openSignedBundle(envelope, [PUB]).digest, bundleDigest(doc));
    refused(() => openSignedBundle(envelope, [STRANGER]), 'POLICY_BUNDLE_SIGNATURE');
    refused(() => openSignedBundle(envelope, []), 'POLICY_BUNDLE_SIGNATURE');
    refused(() => openSignedBundle({ ...envelope, signatures: [] }, [PUB]), 'POLICY_BUNDLE_SIGNATURE');
  });

  it('refuse a payload changed after signing', () => {
    const envelope = signBundle(doc, [KEY]);
    const tampered = Buffer.from(bundleBytes(doc).toString('utf8').replace('input.sbom.present', 'true'));
    refused(() => openSignedBundle({ ...envelope, payload: encodeBase64(tampered) }, [PUB]), 'POLICY_BUNDLE_SIGNATURE');
  });

  it('refuse signed bytes that are not the canonical normalised bundle', () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(bundleBytes(doc).toString('utf8')), null, 2));
    const e = refused(() => openSignedBundle(signEnvelope(BUNDLE_PAYLOAD_TYPE, pretty, [KEY]), [PUB]), 'POLICY_BUNDLE_INVALID');
    assert.equal(e.problems[0]?.code, 'NOT_CANONICAL');
    const extra = JSON.parse(bundleBytes(doc).toString('utf8')) as { policies: Record<string, unknown>[] };
    (extra.policies[0] as Record<string, unknown>).smuggled = true;
    refused(() => bundleFromBytes(Buffer.from(JSON.stringify(extra))), 'POLICY_BUNDLE_INVALID');
  });

  it('refuse another payload type', () => {
    refused(() => openSignedBundle(signEnvelope('application/json', bundleBytes(doc), [KEY]), [PUB]), 'POLICY_BUNDLE_SIGNATURE');
  });
});

describe('loadBundle', () => {
  it('names every expression that does not compile, with its document and position', () => {
    const e = refused(() => bundle(simplePolicy('a', 'input.x ==')), 'POLICY_COMPILE');
    assert.match(e.problems[0]?.path ?? '', /^Policy a@1 spec\.validations\[0\] \(a-check\)\.expression$/);
    assert.match(e.problems[0]?.message ?? '', /^1:\d+: /);
  });

  it('refuses a binding to a policy the bundle lacks, or at another decision point', () => {
    const missing = simplePolicy('a', 'true').replace('policyRef: { name: a, version: 1 }', 'policyRef: { name: a, version: 9 }');
    assert.equal(refused(() => bundle(missing), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'UNKNOWN_POLICY');
    const wrongPoint = simplePolicy('a', 'true').replace('- { point: deploy, action: deny }', '- { point: release, action: deny }');
    assert.equal(refused(() => bundle(wrongPoint), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'WRONG_POINT');
  });

  it('checks params against their declared types, requiring values without a default', () => {
    const withParam = (value: string) =>
      simplePolicy('a', 'size(params.names) > 0', { extra: '  params:\n    names: { type: list<string> }\n' }).replace('  actions:', `${value}  actions:`);
    assert.equal(refused(() => bundle(withParam('')), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'MISSING_PARAM');
    assert.equal(refused(() => bundle(withParam('  params: { names: [1] }\n')), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'WRONG_TYPE');
    assert.equal(refused(() => bundle(withParam('  params: { names: [x], other: 1 }\n')), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'UNKNOWN_PARAM');
    assert.deepEqual(bundle(withParam('  params: { names: [x] }\n')).bindings[0]?.active.params, { names: ['x'] });
  });

  it('refuses an exception for a validation no policy has', () => {
    const exception = `apiVersion: cairn.dev/v1
kind: PolicyException
metadata: { name: e }
spec:
  policyRefs: [{ name: a, validations: [nope] }]
  reason: r
  approvedBy: [x]
  approvedAt: 2026-01-01T00:00:00Z
  expiresAt: 2026-02-01T00:00:00Z
`;
    assert.equal(refused(() => bundle(simplePolicy('a', 'true'), exception), 'POLICY_BUNDLE_INVALID').problems[0]?.code, 'UNKNOWN_VALIDATION');
  });

  it('refuses two documents of the same name, and a second manifest', () => {
    refused(() => bundleDocument(simplePolicy('a', 'true'), simplePolicy('a', 'false')), 'POLICY_BUNDLE_INVALID');
    refused(
      () =>
        bundleDocument(
          'apiVersion: cairn.dev/v1\nkind: PolicyBundle\nmetadata: { name: x, version: 1 }\n',
          'apiVersion: cairn.dev/v1\nkind: PolicyBundle\nmetadata: { name: y, version: 1 }\n',
        ),
      'POLICY_BUNDLE_INVALID',
    );
  });
});
