import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeBase64 } from '../crypto/base64.js';
import { sha256Digest } from '../crypto/digest.js';
import { pae } from '../crypto/dsse.js';
import { generateKeyPair, keyIdOf, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement } from '../model/attestation.js';
import { CairnError } from '../model/errors.js';
import { digestHex } from '../model/digest.js';
import {
  BUNDLE_V03_MEDIA_TYPE,
  bundleBytes,
  bundleFromEnvelope,
  bundleFromJSON,
  envelopeFromBundle,
  isBundle,
  type SigstoreBundle,
  verifyBundle,
} from './bundle.js';
import { AttestError } from './errors.js';
import { envelopeBytes, signStatement } from './sign.js';

const artifact = Buffer.from('the artifact bytes\n');
const digest = sha256Digest(artifact);
const alice = generateKeyPair();
const bob = generateKeyPair();
const alicePrivate = privateKeyFromPem(alice.privateKeyPem);
const alicePublic = publicKeyFromPem(alice.publicKeyPem);
const bobPrivate = privateKeyFromPem(bob.privateKeyPem);
const bobPublic = publicKeyFromPem(bob.publicKeyPem);
const statement: Statement = {
  _type: IN_TOTO_STATEMENT_V1,
  subject: [{ name: 'a.tgz', digest: { sha256: digestHex(digest) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: {
    buildDefinition: { buildType: 'https://cairn.dev/build/recipe/v1', externalParameters: {} },
    runDetails: { builder: { id: 'https://cairn.dev/b' } },
  },
};
const envelope = signStatement(statement, [alicePrivate]);
const bundle = bundleFromEnvelope(envelope, alicePublic);
const text = bundleBytes(bundle);

/** The error code a call throws (asserting it is a denied AttestError), or 'OK'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AttestError, `expected an AttestError, got ${String(e)}`);
    assert.equal(e.category, 'denied');
    return e.code;
  }
  return 'OK';
}

/** The problems a parse reports, as `path code` strings. */
function problemsOf(raw: unknown): string[] {
  try {
    bundleFromJSON(raw);
  } catch (e) {
    assert.ok(e instanceof CairnError && e.code === 'ATTEST_BUNDLE_MALFORMED', `expected ATTEST_BUNDLE_MALFORMED, got ${String(e)}`);
    return e.problems.map((p) => `${p.path} ${p.code}`);
  }
  return [];
}

// biome-ignore lint/suspicious/noExplicitAny: fixtures reach into arbitrary JSON paths to break them
type Editable = any;

/** A deep copy of the bundle's JSON with `edit` applied. */
function edited(edit: (b: Editable) => void, from: SigstoreBundle = bundle): Editable {
  const copy: Editable = JSON.parse(JSON.stringify(from));
  edit(copy);
  return copy;
}

describe('bundleFromEnvelope', () => {
  it('writes a keyed v0.3 bundle whose hint is the DSSE keyid, with no log entries or timestamps', () => {
    assert.deepEqual(JSON.parse(text.toString('utf8')), {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: alice.keyid }, tlogEntries: [] },
      dsseEnvelope: { payload: envelope.payload, payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [{ sig: envelope.signatures[0]?.sig, keyid: alice.keyid }] },
    });
    assert.equal(bundle.mediaType, BUNDLE_V03_MEDIA_TYPE);
    assert.equal(keyIdOf(alicePublic), alice.keyid);
    assert.ok(text.toString('utf8').endsWith('}\n'));
  });

  it('sets an empty DSSE keyid to the hint', () => {
    const anonymous: DsseEnvelope = { ...envelope, signatures: [{ keyid: '', sig: envelope.signatures[0]?.sig ?? '' }] };
    assert.equal(bundleFromEnvelope(anonymous, alicePublic).dsseEnvelope?.signatures[0]?.keyid, alice.keyid);
  });

  it('refuses an envelope without exactly one signature', () => {
    const two = signStatement(statement, [alicePrivate, bobPrivate]);
    assert.equal(
      codeOf(() => bundleFromEnvelope(two, alicePublic)),
      'ATTEST_BUNDLE_MALFORMED',
    );
    assert.equal(
      codeOf(() => bundleFromEnvelope({ ...envelope, signatures: [] }, alicePublic)),
      'ATTEST_BUNDLE_MALFORMED',
    );
  });

  it("refuses another key's keyid and a signature that does not verify with the key", () => {
    assert.equal(
      codeOf(() => bundleFromEnvelope(envelope, bobPublic)),
      'ATTEST_BUNDLE_HINT_MISMATCH',
    );
    const forged: DsseEnvelope = { ...envelope, signatures: [{ keyid: bob.keyid, sig: envelope.signatures[0]?.sig ?? '' }] };
    assert.equal(
      codeOf(() => bundleFromEnvelope(forged, bobPublic)),
      'ATTEST_SIGNATURE_INVALID',
    );
  });

  it('wraps DER ECDSA signatures and refuses IEEE P1363 ones, which Sigstore verifiers reject', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const body = Buffer.from(JSON.stringify(statement));
    const message = pae(IN_TOTO_PAYLOAD_TYPE, body);
    const make = (sig: Buffer): DsseEnvelope => ({
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      payload: encodeBase64(body),
      signatures: [{ keyid: keyIdOf(ec.publicKey), sig: encodeBase64(sig) }],
    });
    const der = make(cryptoSign('sha256', message, ec.privateKey));
    assert.equal(bundleFromEnvelope(der, ec.publicKey).verificationMaterial.publicKey?.hint, keyIdOf(ec.publicKey));
    const p1363 = make(cryptoSign('sha256', message, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
    assert.throws(() => bundleFromEnvelope(p1363, ec.publicKey), /IEEE P1363/);
  });
});

describe('bundleFromJSON', () => {
  it('reads back what bundleBytes wrote', () => {
    assert.deepEqual(bundleFromJSON(JSON.parse(text.toString('utf8'))), bundle);
  });

  it('reads the v0.1, v0.2 and v0.3 legacy media types, and a bundle that omits empty lists', () => {
    for (const v of ['0.1', '0.2', '0.3']) {
      const mediaType = `application/vnd.dev.sigstore.bundle+json;version=${v}`;
      assert.equal(bundleFromJSON(edited((b) => (b.mediaType = mediaType))).mediaType, mediaType);
    }
    const sparse = edited((b) => {
      delete b.verificationMaterial.tlogEntries;
      b.verificationMaterial.timestampVerificationData = {};
      delete b.dsseEnvelope.signatures[0].keyid;
    });
    const read = bundleFromJSON(sparse);
    assert.deepEqual(read.verificationMaterial.tlogEntries, []);
    assert.deepEqual(read.verificationMaterial.timestampVerificationData, { rfc3161Timestamps: [] });
    assert.equal(read.dsseEnvelope?.signatures[0]?.keyid, '');
  });

  it('reports every bad field at once, with its path', () => {
    const bad = edited((b) => {
      b.mediaType = 'application/vnd.dev.sigstore.bundle.v0.9+json';
      b.verificationMaterial.publicKey.hint = 7;
      b.verificationMaterial.extra = true;
      b.dsseEnvelope.payload = 'not base64!';
      b.dsseEnvelope.signatures[0].sig = '';
      b.dsseEnvelope.signer = 'me';
    });
    assert.deepEqual(problemsOf(bad).sort(), [
      'dsseEnvelope.payload INVALID_FORMAT',
      'dsseEnvelope.signatures[0].sig EMPTY',
      'dsseEnvelope.signer UNKNOWN_KEY',
      'mediaType UNSUPPORTED',
      'verificationMaterial.extra UNKNOWN_KEY',
      'verificationMaterial.publicKey.hint WRONG_TYPE',
    ]);
  });

  it('enforces the one-of rules: one key material, one content, one DSSE signature', () => {
    assert.deepEqual(problemsOf(edited((b) => (b.verificationMaterial.certificate = { rawBytes: 'AAAA' }))), ['verificationMaterial INVALID_FORMAT']);
    assert.deepEqual(problemsOf(edited((b) => delete b.verificationMaterial.publicKey)), ['verificationMaterial MISSING']);
    assert.deepEqual(problemsOf(edited((b) => (b.messageSignature = { signature: 'AAAA' }))), [' INVALID_FORMAT']);
    assert.deepEqual(problemsOf(edited((b) => delete b.dsseEnvelope)), [' MISSING']);
    assert.deepEqual(problemsOf(edited((b) => b.dsseEnvelope.signatures.push(b.dsseEnvelope.signatures[0]))), ['dsseEnvelope.signatures INVALID_FORMAT']);
    assert.deepEqual(problemsOf(edited((b) => (b.dsseEnvelope.signatures = []))), ['dsseEnvelope.signatures EMPTY']);
  });

  it('applies the version rules for log entries and certificate chains', () => {
    const entry = { logIndex: '12', logId: { keyId: 'AAAA' }, kindVersion: { kind: 'dsse', version: '0.0.1' }, canonicalizedBody: 'e30=' };
    const proof = { logIndex: '12', rootHash: 'AAAA', treeSize: '13', hashes: ['AAAA'] };
    const withEntry = (mediaType: string, e: object) =>
      edited((b) => {
        b.mediaType = mediaType;
        b.verificationMaterial.tlogEntries = [e];
      });
    const v01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
    assert.deepEqual(problemsOf(withEntry(v01, entry)), ['verificationMaterial.tlogEntries[0].inclusionPromise MISSING']);
    assert.deepEqual(problemsOf(withEntry(v01, { ...entry, inclusionPromise: { signedEntryTimestamp: 'AAAA' } })), []);
    assert.deepEqual(problemsOf(withEntry(BUNDLE_V03_MEDIA_TYPE, entry)), ['verificationMaterial.tlogEntries[0].inclusionProof MISSING']);
    assert.deepEqual(problemsOf(withEntry(BUNDLE_V03_MEDIA_TYPE, { ...entry, inclusionProof: proof })), [
      'verificationMaterial.tlogEntries[0].inclusionProof.checkpoint MISSING',
    ]);
    const good = { ...entry, integratedTime: 1700000000, inclusionProof: { ...proof, checkpoint: { envelope: 'log\n13\nAAAA\n' } } };
    assert.equal(bundleFromJSON(withEntry(BUNDLE_V03_MEDIA_TYPE, good)).verificationMaterial.tlogEntries[0]?.integratedTime, '1700000000');
    assert.deepEqual(problemsOf(withEntry(BUNDLE_V03_MEDIA_TYPE, { ...good, logIndex: '-1' })), ['verificationMaterial.tlogEntries[0].logIndex OUT_OF_RANGE']);
    const chain = (mediaType: string, certificates: object[]) =>
      edited((b) => {
        b.mediaType = mediaType;
        delete b.verificationMaterial.publicKey;
        b.verificationMaterial.x509CertificateChain = { certificates };
      });
    assert.deepEqual(problemsOf(chain('application/vnd.dev.sigstore.bundle+json;version=0.2', [{ rawBytes: 'AAAA' }])), []);
    assert.deepEqual(problemsOf(chain('application/vnd.dev.sigstore.bundle+json;version=0.2', [])), [
      'verificationMaterial.x509CertificateChain.certificates EMPTY',
    ]);
    assert.deepEqual(problemsOf(chain(BUNDLE_V03_MEDIA_TYPE, [{ rawBytes: 'AAAA' }])), ['verificationMaterial.x509CertificateChain UNSUPPORTED']);
  });

  it('caps lists and strings', () => {
    const entry = {
      logIndex: '1',
      logId: { keyId: 'AAAA' },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
      canonicalizedBody: 'e30=',
      inclusionProof: { logIndex: '1', rootHash: 'AAAA', treeSize: '2', hashes: [], checkpoint: { envelope: 'x' } },
    };
    assert.deepEqual(problemsOf(edited((b) => (b.verificationMaterial.tlogEntries = Array.from({ length: 33 }, () => entry)))), [
      'verificationMaterial.tlogEntries TOO_MANY',
    ]);
    assert.deepEqual(problemsOf(edited((b) => (b.verificationMaterial.publicKey.hint = 'h'.repeat(513)))), ['verificationMaterial.publicKey.hint TOO_LONG']);
  });

  it('rejects what is not an object', () => {
    for (const raw of [null, [], 'bundle', 3]) assert.deepEqual(problemsOf(raw), [' WRONG_TYPE']);
  });
});

describe('isBundle', () => {
  it('tells a bundle from a bare DSSE envelope by shape', () => {
    assert.equal(isBundle(JSON.parse(text.toString('utf8'))), true);
    assert.equal(isBundle({ mediaType: 'application/vnd.dev.sigstore.bundle.v9+json' }), true);
    assert.equal(isBundle(JSON.parse(envelopeBytes(envelope).toString('utf8'))), false);
    for (const raw of [null, [], 'x', 1, {}]) assert.equal(isBundle(raw), false);
  });
});

describe('envelopeFromBundle', () => {
  it('returns the envelope and the hint', () => {
    const { envelope: inner, hint } = envelopeFromBundle(bundle);
    assert.equal(hint, alice.keyid);
    assert.equal(inner.payload, envelope.payload);
  });

  it('gives a null hint for certificate key material and refuses a message signature', () => {
    const keyless = bundleFromJSON(
      edited((b) => {
        delete b.verificationMaterial.publicKey;
        b.verificationMaterial.certificate = { rawBytes: 'AAAA' };
      }),
    );
    assert.equal(envelopeFromBundle(keyless).hint, null);
    const message = bundleFromJSON(
      edited((b) => {
        delete b.dsseEnvelope;
        b.messageSignature = { messageDigest: { algorithm: 'SHA2_256', digest: 'AAAA' }, signature: 'AAAA' };
      }),
    );
    assert.equal(
      codeOf(() => envelopeFromBundle(message)),
      'ATTEST_BUNDLE_UNSUPPORTED',
    );
  });
});

describe('verifyBundle', () => {
  it('verifies the signature, the subject and the hint', () => {
    const result = verifyBundle(text, digest, [bobPublic, alicePublic]);
    assert.equal(result.hint, alice.keyid);
    assert.deepEqual(result.keyids, [alice.keyid]);
    assert.equal(result.subjectName, 'a.tgz');
  });

  it('fails after any single byte of the bundle changes', () => {
    const codes = new Map<string, number>();
    for (let i = 0; i < text.length; i++) {
      const tampered = Buffer.from(text);
      tampered[i] = ((tampered[i] ?? 0) + 1) % 256;
      const code = codeOf(() => verifyBundle(tampered, digest, [alicePublic]));
      assert.notEqual(code, 'OK', `changing byte ${i} (${JSON.stringify(String.fromCharCode(text[i] ?? 0))}) still verified`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    for (const code of ['ATTEST_BUNDLE_MALFORMED', 'ATTEST_BUNDLE_HINT_MISMATCH', 'ATTEST_SIGNATURE_INVALID'])
      assert.ok(codes.has(code), `no change gave ${code}`);
  });

  it('rejects a hint that differs from the DSSE keyid, even when the signature verifies', () => {
    const swapped = edited((b) => (b.verificationMaterial.publicKey.hint = bob.keyid));
    assert.equal(
      codeOf(() => verifyBundle(JSON.stringify(swapped), digest, [alicePublic, bobPublic])),
      'ATTEST_BUNDLE_HINT_MISMATCH',
    );
  });

  it('rejects a hint that is not the key that verified, when the DSSE keyid is empty', () => {
    const anonymous = edited((b) => {
      b.verificationMaterial.publicKey.hint = bob.keyid;
      b.dsseEnvelope.signatures[0].keyid = '';
    });
    assert.equal(
      codeOf(() => verifyBundle(JSON.stringify(anonymous), digest, [alicePublic, bobPublic])),
      'ATTEST_BUNDLE_HINT_MISMATCH',
    );
    assert.equal(verifyBundle(JSON.stringify(edited((b) => (b.dsseEnvelope.signatures[0].keyid = ''))), digest, [alicePublic]).hint, alice.keyid);
  });

  it('rejects an empty hint and keyless bundles', () => {
    assert.equal(
      codeOf(() => verifyBundle(JSON.stringify(edited((b) => (b.verificationMaterial.publicKey = {}))), digest, [alicePublic])),
      'ATTEST_BUNDLE_HINT_MISMATCH',
    );
    const keyless = edited((b) => {
      delete b.verificationMaterial.publicKey;
      b.verificationMaterial.certificate = { rawBytes: 'AAAA' };
    });
    assert.equal(
      codeOf(() => verifyBundle(JSON.stringify(keyless), digest, [alicePublic])),
      'ATTEST_BUNDLE_UNSUPPORTED',
    );
  });

  it('keeps the envelope checks: untrusted key, payload type, subject digest', () => {
    assert.equal(
      codeOf(() => verifyBundle(text, digest, [bobPublic])),
      'ATTEST_SIGNATURE_INVALID',
    );
    assert.equal(
      codeOf(() => verifyBundle(JSON.stringify(edited((b) => (b.dsseEnvelope.payloadType = 'text/plain'))), digest, [alicePublic])),
      'ATTEST_PAYLOAD_TYPE',
    );
    assert.equal(
      codeOf(() => verifyBundle(text, sha256Digest('another artifact'), [alicePublic])),
      'ATTEST_SUBJECT_DIGEST_MISMATCH',
    );
  });

  it('rejects oversized, over-deep and non-JSON input as malformed', () => {
    for (const input of [Buffer.alloc(17 * 1024 * 1024, 0x20), `${'['.repeat(40)}${']'.repeat(40)}`, '{"mediaType":']) {
      assert.equal(
        codeOf(() => verifyBundle(input, digest, [alicePublic])),
        'ATTEST_BUNDLE_MALFORMED',
      );
    }
  });
});
