/**
 * Interop with sigstore-js (@sigstore/verify 3.1, @sigstore/sign 4.1, @sigstore/bundle 4),
 * offline: keyed bundles only, trust material built from the public keys alone. Each case
 * runs both verifiers on the same bytes; where cairn is stricter, the test asserts cairn's
 * code and records (as a diagnostic) what sigstore-js did.
 */
import assert from 'node:assert/strict';
import { type KeyObject, sign as nodeSign, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ValidationError, bundleFromJSON as sigstoreBundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { dsse as sigstoreDsse } from '@sigstore/core';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';
import { toSignedEntity, toTrustMaterial, VerificationError, Verifier } from '@sigstore/verify';
import { encodeBase64 } from '../crypto/base64.js';
import { sha256Digest } from '../crypto/digest.js';
import { pae, signEnvelope, verifyEnvelope } from '../crypto/dsse.js';
import { generateKeyPair, type KeyAlgorithm, keyIdOf, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement } from '../model/attestation.js';
import { digestHex } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import { REPO_ROOT } from '../testkit.js';
import { bundleBytes, bundleFromEnvelope, bundleFromJSON, envelopeFromBundle, type SigstoreBundle, verifyBundle } from './bundle.js';
import { signStatement } from './sign.js';
import { verifyAttestation } from './verify.js';

const artifact = Buffer.from('interop artifact\n');
const digest = sha256Digest(artifact);

function statementFor(subject: Buffer): Statement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'interop.tgz', digest: { sha256: digestHex(sha256Digest(subject)) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: { buildType: 'https://cairn.dev/build/recipe/v1', externalParameters: {} },
      runDetails: { builder: { id: 'https://cairn.dev/b' } },
    },
  };
}

interface Party {
  readonly algorithm: KeyAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyid: string;
}

function party(algorithm: KeyAlgorithm): Party {
  const pair = generateKeyPair(algorithm);
  return { algorithm, privateKey: privateKeyFromPem(pair.privateKeyPem), publicKey: publicKeyFromPem(pair.publicKeyPem), keyid: pair.keyid };
}

type TrustedRoot = Parameters<typeof toTrustMaterial>[0];
type KeysByHint = Exclude<NonNullable<Parameters<typeof toTrustMaterial>[1]>, (hint: string) => unknown>;

/**
 * sigstore-js's offline verifier for keyed bundles: an empty trusted root, the keys by their
 * hint (cairn's key id), and no log, CT or timestamp required.
 */
function sigstoreVerifier(keys: readonly KeyObject[]): Verifier {
  const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  // keyDetails is not read for keyed bundles (the algorithm comes from the key itself).
  const byHint = Object.fromEntries(keys.map((k) => [keyIdOf(k), { rawBytes: k.export({ type: 'spki', format: 'der' }), keyDetails: 0 }]));
  return new Verifier(toTrustMaterial(root as unknown as TrustedRoot, byHint as unknown as KeysByHint), {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    timestampThreshold: 0,
  });
}

/** What sigstore-js says about a bundle: 'OK', a VerificationError code, or 'INVALID_BUNDLE'. */
function sigstoreOutcome(bundleJson: unknown, keys: readonly KeyObject[]): string {
  try {
    sigstoreVerifier(keys).verify(toSignedEntity(sigstoreBundleFromJSON(bundleJson)));
    return 'OK';
  } catch (error) {
    if (error instanceof VerificationError) return error.code;
    if (error instanceof ValidationError) return 'INVALID_BUNDLE';
    throw error;
  }
}

/** What cairn says: 'OK' or the CairnError code. */
function cairnOutcome(bundleText: string | Uint8Array, keys: readonly KeyObject[], artifactDigest = digest): string {
  try {
    verifyBundle(bundleText, artifactDigest, keys);
    return 'OK';
  } catch (error) {
    if (error instanceof CairnError) return error.code;
    throw error;
  }
}

function json(bundle: SigstoreBundle | Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(bundle)) as Record<string, unknown>;
}

/** A keyed bundle made by @sigstore/sign, signed by a local key through a custom Signer. */
async function sigstoreSignedBundle(signer: Party, payload: Buffer, payloadType = IN_TOTO_PAYLOAD_TYPE): Promise<Record<string, unknown>> {
  const local: Signer = {
    sign: async (data) => ({
      // node:crypto, not cairn, so that this side shares no signing code with cairn.
      signature: nodeSign(signer.algorithm === 'ed25519' ? null : 'sha256', data, signer.privateKey),
      key: { $case: 'publicKey', publicKey: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString(), hint: keyIdOf(signer.publicKey) },
    }),
  };
  const bundle = await new DSSEBundleBuilder({ signer: local, witnesses: [] }).create({ data: payload, type: payloadType });
  return json(bundleToJSON(bundle) as unknown as Record<string, unknown>);
}

function record(t: TestContext, what: string, outcomes: { cairn: string; sigstore: string }): void {
  t.diagnostic(`${what}: cairn ${outcomes.cairn}; sigstore-js ${outcomes.sigstore}`);
}

/** Sigstore-js verdicts on the cases where cairn is stricter, pinned where known and not required. */
function assertSigstoreVerdict(t: TestContext, sigstore: string, usual: string): void {
  if (sigstore !== usual) t.diagnostic(`sigstore-js changed its verdict: ${sigstore} (was ${usual}); cairn's stays the same`);
  assert.match(sigstore, /^(OK|[A-Z_]+)$/);
}

for (const algorithm of ['ed25519', 'ecdsa-p256'] as const) {
  describe(`keyed Sigstore bundles, ${algorithm}`, () => {
    const alice = party(algorithm);
    const bob = party(algorithm);
    const envelope = signStatement(statementFor(artifact), [alice.privateKey]);
    const ours = bundleFromEnvelope(envelope, alice.publicKey);
    const oursText = bundleBytes(ours);

    it("sigstore-js verifies cairn's bundle offline, with the key found by its hint", () => {
      assert.equal(sigstoreOutcome(json(ours), [bob.publicKey, alice.publicKey]), 'OK');
      const signer = sigstoreVerifier([alice.publicKey]).verify(toSignedEntity(sigstoreBundleFromJSON(json(ours))));
      assert.equal(keyIdOf(signer.key), alice.keyid);
      assert.equal(cairnOutcome(oursText, [alice.publicKey]), 'OK');
    });

    it("cairn's bundle survives sigstore-js's parse-and-serialise round trip unchanged", () => {
      const again = json(bundleToJSON(sigstoreBundleFromJSON(json(ours))) as unknown as Record<string, unknown>);
      // protobuf JSON omits the empty tlogEntries list; nothing else changes.
      assert.deepEqual(again, { ...json(ours), verificationMaterial: { publicKey: { hint: alice.keyid } } });
      assert.equal(cairnOutcome(JSON.stringify(again), [alice.publicKey]), 'OK');
    });

    it('cairn verifies a keyed bundle made by @sigstore/sign with a local key and no witnesses', async () => {
      const theirs = await sigstoreSignedBundle(alice, Buffer.from(JSON.stringify(statementFor(artifact))));
      assert.equal(sigstoreOutcome(theirs, [alice.publicKey]), 'OK');
      assert.equal(cairnOutcome(JSON.stringify(theirs), [alice.publicKey]), 'OK');
      const { envelope: inner, hint } = envelopeFromBundle(bundleFromJSON(theirs));
      assert.equal(hint, alice.keyid);
      assert.equal(inner.signatures[0]?.keyid, alice.keyid);
      assert.equal(cairnOutcome(JSON.stringify(theirs), [bob.publicKey]), 'ATTEST_SIGNATURE_INVALID');
    });

    it('both reject a changed payload, another key, and zero or two signatures', (t) => {
      const other = statementFor(Buffer.from('something else'));
      const tampered = { ...json(ours), dsseEnvelope: { ...envelope, payload: encodeBase64(Buffer.from(JSON.stringify(other))) } };
      const cases: [string, Record<string, unknown>, readonly KeyObject[]][] = [
        ['changed payload', tampered, [alice.publicKey]],
        ['only another key trusted', json(ours), [bob.publicKey]],
        ['no signature', { ...json(ours), dsseEnvelope: { ...envelope, signatures: [] } }, [alice.publicKey]],
        ['two signatures', json(bundleWithTwoSignatures(envelope, alice, bob)), [alice.publicKey, bob.publicKey]],
      ];
      for (const [what, bundle, keys] of cases) {
        const outcomes = { cairn: cairnOutcome(JSON.stringify(bundle), keys), sigstore: sigstoreOutcome(bundle, keys) };
        record(t, what, outcomes);
        assert.notEqual(outcomes.cairn, 'OK', `cairn accepted: ${what}`);
        assert.notEqual(outcomes.sigstore, 'OK', `sigstore-js accepted: ${what}`);
      }
    });

    describe('where cairn is stricter than sigstore-js', () => {
      it("rejects a hint that is not the DSSE keyid (sigstore-js trusts the hint's key and ignores the keyid)", (t) => {
        const keyidElsewhere = json(ours);
        (keyidElsewhere.dsseEnvelope as { signatures: { keyid: string }[] }).signatures[0] = { ...envelope.signatures[0], keyid: bob.keyid } as {
          keyid: string;
        };
        const a = {
          cairn: cairnOutcome(JSON.stringify(keyidElsewhere), [alice.publicKey, bob.publicKey]),
          sigstore: sigstoreOutcome(keyidElsewhere, [alice.publicKey, bob.publicKey]),
        };
        record(t, "hint = signer's key id, DSSE keyid = another trusted key", a);
        assert.equal(a.cairn, 'ATTEST_BUNDLE_HINT_MISMATCH');
        assertSigstoreVerdict(t, a.sigstore, 'OK');

        const hintElsewhere = json(ours);
        (hintElsewhere.verificationMaterial as { publicKey: { hint: string } }).publicKey.hint = bob.keyid;
        const b = {
          cairn: cairnOutcome(JSON.stringify(hintElsewhere), [alice.publicKey, bob.publicKey]),
          sigstore: sigstoreOutcome(hintElsewhere, [alice.publicKey, bob.publicKey]),
        };
        record(t, "hint = another trusted key, DSSE keyid = signer's key id", b);
        assert.equal(b.cairn, 'ATTEST_BUNDLE_HINT_MISMATCH');
        // sigstore-js verifies with the hint's key only, so this one fails there too, as a bad signature.
        assertSigstoreVerdict(t, b.sigstore, 'SIGNATURE_ERROR');

        const unknownHint = json(ours);
        (unknownHint.verificationMaterial as { publicKey: { hint: string } }).publicKey.hint = keyIdOf(party(algorithm).publicKey);
        const c = { cairn: cairnOutcome(JSON.stringify(unknownHint), [alice.publicKey]), sigstore: sigstoreOutcome(unknownHint, [alice.publicKey]) };
        record(t, 'hint = an untrusted key', c);
        assert.equal(c.cairn, 'ATTEST_BUNDLE_HINT_MISMATCH');
        assertSigstoreVerdict(t, c.sigstore, 'PUBLIC_KEY_ERROR');
      });

      it('rejects a payload type other than in-toto, even when properly signed', (t) => {
        const body = Buffer.from(JSON.stringify(statementFor(artifact)));
        const plain = bundleFromEnvelope(signEnvelope('text/plain', body, [alice.privateKey]), alice.publicKey);
        const outcomes = { cairn: cairnOutcome(bundleBytes(plain), [alice.publicKey]), sigstore: sigstoreOutcome(json(plain), [alice.publicKey]) };
        record(t, 'payloadType text/plain', outcomes);
        assert.equal(outcomes.cairn, 'ATTEST_PAYLOAD_TYPE');
        assertSigstoreVerdict(t, outcomes.sigstore, 'OK');
      });

      it("rejects a statement whose subject is not the artifact (sigstore-js never reads a DSSE bundle's subject)", (t) => {
        const outcomes = {
          cairn: cairnOutcome(oursText, [alice.publicKey], sha256Digest('another artifact')),
          sigstore: sigstoreOutcome(json(ours), [alice.publicKey]),
        };
        record(t, 'subject digest ≠ artifact digest', outcomes);
        assert.equal(outcomes.cairn, 'ATTEST_SUBJECT_DIGEST_MISMATCH');
        assertSigstoreVerdict(t, outcomes.sigstore, 'OK');
      });

      it('rejects non-canonical base64 and unknown fields, which protobuf JSON parsing lets through', (t) => {
        // The last base64 character carries 4 unused bits; setting one gives other text for the same bytes.
        const payload = envelope.payload.replace(/=+$/, '');
        const last = payload.at(-1) ?? 'A';
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
        const sloppy = `${payload.slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}${envelope.payload.slice(payload.length)}`;
        assert.deepEqual(Buffer.from(sloppy, 'base64'), Buffer.from(envelope.payload, 'base64'), 'the edit must not change the decoded bytes');
        const noncanonical = { ...json(ours), dsseEnvelope: { ...envelope, payload: sloppy } };
        const a = { cairn: cairnOutcome(JSON.stringify(noncanonical), [alice.publicKey]), sigstore: sigstoreOutcome(noncanonical, [alice.publicKey]) };
        record(t, 'non-canonical base64 payload', a);
        assert.equal(a.cairn, 'ATTEST_ENVELOPE_MALFORMED');
        assertSigstoreVerdict(t, a.sigstore, 'OK');

        const extra = { ...json(ours), comment: 'added after signing' };
        const b = { cairn: cairnOutcome(JSON.stringify(extra), [alice.publicKey]), sigstore: sigstoreOutcome(extra, [alice.publicKey]) };
        record(t, 'unknown top-level field', b);
        assert.equal(b.cairn, 'ATTEST_BUNDLE_MALFORMED');
        assertSigstoreVerdict(t, b.sigstore, 'OK');
      });
    });
  });
}

function bundleWithTwoSignatures(envelope: ReturnType<typeof signStatement>, alice: Party, bob: Party): Record<string, unknown> {
  const payload = Buffer.from(envelope.payload, 'base64');
  const both = signEnvelope(envelope.payloadType, payload, [alice.privateKey, bob.privateKey]);
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: alice.keyid }, tlogEntries: [] },
    dsseEnvelope: both,
  };
}

describe('the DSSE pre-authentication encoding', () => {
  it("equals the spec's test vector in cairn and in @sigstore/core", () => {
    const expected = Buffer.from('DSSEv1 29 http://example.com/HelloWorld 11 hello world', 'ascii');
    assert.deepEqual(pae('http://example.com/HelloWorld', Buffer.from('hello world')), expected);
    assert.deepEqual(sigstoreDsse.preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')), expected);
  });

  it('counts UTF-8 bytes, not characters, in both', () => {
    const type = 'application/vnd.exämple+json';
    const body = Buffer.from('ünïcode', 'utf8');
    assert.deepEqual(pae(type, body), sigstoreDsse.preAuthEncoding(type, body));
    assert.ok(pae(type, body).toString('utf8').startsWith('DSSEv1 29 '));
  });
});

const CONFORMANCE = path.resolve(REPO_ROOT, '../shared/data/sigstore-conformance/bundle-verify');
const conformanceSkip = existsSync(CONFORMANCE) ? false : `no sigstore-conformance data at ${CONFORMANCE}`;

interface ConformanceCase {
  readonly name: string;
  readonly dir: string;
  readonly text: string;
}

function conformanceCases(): ConformanceCase[] {
  if (!existsSync(CONFORMANCE)) return [];
  return readdirSync(CONFORMANCE, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(CONFORMANCE, d.name, 'bundle.sigstore.json')))
    .map((d) => ({ name: d.name, dir: path.join(CONFORMANCE, d.name), text: readFileSync(path.join(CONFORMANCE, d.name, 'bundle.sigstore.json'), 'utf8') }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function parses(text: string, parse: (raw: unknown) => unknown): boolean {
  try {
    parse(JSON.parse(text));
    return true;
  } catch {
    return false;
  }
}

describe('the sigstore-conformance bundles (bundle-verify, read-only)', { skip: conformanceSkip }, () => {
  const cases = conformanceCases();

  it('cairn rejects only bundles meant to fail, and exactly these for their structure', (t) => {
    const rejected = cases.filter((c) => !parses(c.text, bundleFromJSON)).map((c) => c.name);
    assert.ok(cases.length >= 60, `expected the conformance corpus, found ${cases.length} cases`);
    assert.deepEqual(
      rejected.filter((n) => !n.endsWith('_fail')),
      [],
      'cairn rejected a valid bundle',
    );
    assert.deepEqual(rejected, [
      'bundle-empty-certificate-chain_fail',
      'bundle-invalid-base64-signature_fail',
      'bundle-malformed-json_fail',
      'bundle-negative-log-index_fail',
      'bundle-unknown-version_fail',
      'intoto-missing-inclusion-proof_fail',
      'invalid-inclusion-proof_fail',
      'rekor2-no-inclusion-proof_fail',
      // Its RFC 3161 timestamp is line-wrapped base64, which protobuf JSON does not write.
      'rekor2-timestamp-with-incorrect-time_fail',
    ]);
    const sigstoreRejected = new Set(cases.filter((c) => !parses(c.text, sigstoreBundleFromJSON)).map((c) => c.name));
    for (const name of rejected.filter((n) => !sigstoreRejected.has(n))) t.diagnostic(`${name}: cairn's parser rejects it, @sigstore/bundle's accepts it`);
    for (const name of [...sigstoreRejected].filter((n) => !rejected.includes(n)))
      t.diagnostic(`${name}: @sigstore/bundle's parser rejects it, cairn's accepts it`);
  });

  it("names each keyed bundle's key by cairn's key id, and the key verifies the bundle's signature", () => {
    const aTxt = readFileSync(path.join(CONFORMANCE, 'a.txt'));
    for (const name of ['managed-key-happy-path', 'managed-key-and-trusted-root']) {
      const c = cases.find((x) => x.name === name);
      assert.ok(c, `missing case ${name}`);
      const bundle = bundleFromJSON(JSON.parse(c.text));
      const key = publicKeyFromPem(readFileSync(path.join(c.dir, 'key.pub'), 'utf8'));
      assert.equal(bundle.verificationMaterial.publicKey?.hint, keyIdOf(key));
      const signature = Buffer.from(bundle.messageSignature?.signature ?? '', 'base64');
      assert.equal(verifyBytesNode(key, aTxt, signature), true);
      // A message signature is not an attestation: cairn verifies DSSE bundles only.
      assert.throws(
        () => envelopeFromBundle(bundle),
        (e: unknown) => e instanceof CairnError && e.code === 'ATTEST_BUNDLE_UNSUPPORTED',
      );
    }
  });

  it('cairn verifies the real DSSE envelopes with the certificate key exactly where the signature is good', (t) => {
    const verdicts: string[] = [];
    for (const c of cases.filter((x) => parses(x.text, bundleFromJSON))) {
      const bundle = bundleFromJSON(JSON.parse(c.text));
      if (!bundle.dsseEnvelope) continue;
      const { envelope, hint } = envelopeFromBundle(bundle);
      assert.equal(hint, null, `${c.name} is keyless`);
      const der = bundle.verificationMaterial.certificate?.rawBytes ?? bundle.verificationMaterial.x509CertificateChain?.certificates[0]?.rawBytes ?? '';
      const key = new X509Certificate(Buffer.from(der, 'base64')).publicKey;
      const good = verifyEnvelope(envelope, [key]).verifiedKeyids.length === 1;
      verdicts.push(`${c.name} ${good ? 'signature ok' : 'signature bad'}`);
      if (good) {
        const subject = existsSync(path.join(c.dir, 'artifact')) ? readFileSync(path.join(c.dir, 'artifact')) : readFileSync(path.join(CONFORMANCE, 'a.txt'));
        let verdict = 'OK';
        try {
          verifyAttestation(Buffer.from(JSON.stringify(envelope)), sha256Digest(subject), [key]);
        } catch (error) {
          verdict = error instanceof CairnError ? error.code : String(error);
        }
        t.diagnostic(`${c.name}: verifyAttestation with the certificate's key as trusted key → ${verdict}`);
      }
    }
    const bad = verdicts.filter((v) => v.endsWith('signature bad')).map((v) => v.split(' ')[0]);
    assert.deepEqual(bad, ['dsse-invalid-sig_fail', 'rekor2-dsse-invalid-sig_fail']);
    assert.ok(verdicts.includes('happy-path-intoto-in-dsse-v3 signature ok'));
    assert.ok(verdicts.includes('rekor2-dsse-happy-path signature ok'));
  });
});

function verifyBytesNode(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  return nodeVerify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key, signature);
}
