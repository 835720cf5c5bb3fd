import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import { generateKeyPair, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { IN_TOTO_STATEMENT_V1, type Statement } from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { AttestError } from './errors.js';
import { envelopeBytes, signStatement } from './sign.js';
import { verifyAttestation } from './verify.js';

const artifact = Buffer.from('the artifact bytes\n');
const pair = generateKeyPair();
const other = generateKeyPair();
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
const key = publicKeyFromPem(pair.publicKeyPem);

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

describe('verifyAttestation', () => {
  it('verifies the artifact, the signature and the subject', () => {
    const result = verifyAttestation(envelope, sha256Digest(artifact), [key]);
    assert.deepEqual(result.keyids, [pair.keyid]);
    assert.equal(result.subjectName, 'a.tgz');
    assert.equal(result.statement.predicateType, 'https://slsa.dev/provenance/v1');
  });

  it('fails after any single byte of the envelope changes', () => {
    const codes = new Map<string, number>();
    for (let i = 0; i < envelope.length; i++) {
      const tampered = Buffer.from(envelope);
      tampered[i] = ((tampered[i] ?? 0) + 1) % 256;
      const code = codeOf(() => verifyAttestation(tampered, sha256Digest(artifact), [key]));
      assert.notEqual(code, 'VERIFIED', `changing byte ${i} (${JSON.stringify(String.fromCharCode(envelope[i] ?? 0))}) still verified`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    assert.ok(codes.has('ATTEST_ENVELOPE_MALFORMED'));
    assert.ok(codes.has('ATTEST_SIGNATURE_INVALID'));
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
});
