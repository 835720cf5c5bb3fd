/**
 * Keyed Sigstore bundle verification, from the bundle's bytes to a verdict: cairn's
 * `verifyBundle` (strict parse, hint check, signature, statement, subject) against
 * @sigstore/verify's offline keyed verifier (protobuf-JSON parse, signature), on the same
 * v0.3 bundle, for Ed25519 and ECDSA P-256, with raw node:crypto verification of the same PAE
 * as the floor. No network. Each case runs for a bounded time.
 *
 *   node dist/bench/bundle.js [seconds-per-case, default 2]
 */
import { type KeyObject, verify as nodeVerify } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { bundleBytes, bundleFromEnvelope, verifyBundle } from '../src/attest/bundle.js';
import { signStatement } from '../src/attest/sign.js';
import { sha256Digest } from '../src/crypto/digest.js';
import { pae } from '../src/crypto/dsse.js';
import { generateKeyPair, type KeyAlgorithm, keyIdOf, privateKeyFromPem, publicKeyFromPem } from '../src/crypto/keys.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement } from '../src/model/attestation.js';
import { digestHex } from '../src/model/digest.js';

const seconds = Number(process.argv[2] ?? 2);
if (!(seconds > 0 && seconds <= 60)) throw new Error('seconds per case must be in (0, 60]');

/** Calls `fn` for `seconds` (after a short warm-up) and returns calls per second. */
function measure(fn: () => unknown): number {
  for (let i = 0; i < 200; i++) fn();
  const budget = BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  let calls = 0;
  while (elapsed < budget) {
    for (let i = 0; i < 32; i++) fn();
    calls += 32;
    elapsed = process.hrtime.bigint() - start;
  }
  return calls / (Number(elapsed) / 1e9);
}

function sigstoreVerifier(key: KeyObject): Verifier {
  const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const keys = { [keyIdOf(key)]: { rawBytes: key.export({ type: 'spki', format: 'der' }), keyDetails: 0 } };
  return new Verifier(toTrustMaterial(root as unknown as Parameters<typeof toTrustMaterial>[0], keys as unknown as Parameters<typeof toTrustMaterial>[1]), {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    timestampThreshold: 0,
  });
}

const artifact = Buffer.alloc(1024, 7);
const digest = sha256Digest(artifact);
const statement: Statement = {
  _type: IN_TOTO_STATEMENT_V1,
  subject: [{ name: 'artifact.tgz', digest: { sha256: digestHex(digest) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: {
    buildDefinition: {
      buildType: 'https://cairn.dev/build/recipe/v1',
      externalParameters: { source: { uri: 'git+https://example.invalid/r', commit: 'a'.repeat(40) } },
    },
    runDetails: { builder: { id: 'https://cairn.dev/builders/bench' } },
  },
};

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(8);

console.log(`keyed v0.3 DSSE bundle verification, ${seconds} s per case, node ${process.version}`);
for (const algorithm of ['ed25519', 'ecdsa-p256'] as KeyAlgorithm[]) {
  const pair = generateKeyPair(algorithm);
  const privateKey = privateKeyFromPem(pair.privateKeyPem);
  const publicKey = publicKeyFromPem(pair.publicKeyPem);
  const envelope = signStatement(statement, [privateKey]);
  const text = bundleBytes(bundleFromEnvelope(envelope, publicKey)).toString('utf8');
  const verifier = sigstoreVerifier(publicKey);
  const message = pae(IN_TOTO_PAYLOAD_TYPE, Buffer.from(envelope.payload, 'base64'));
  const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
  const hash = algorithm === 'ed25519' ? null : 'sha256';

  // Both must accept the bundle before their speed means anything.
  verifyBundle(text, digest, [publicKey]);
  verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(text))));

  const cairn = measure(() => verifyBundle(text, digest, [publicKey]));
  const sigstore = measure(() => verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(text)))));
  const floor = measure(() => nodeVerify(hash, message, publicKey, sig));
  console.log(`\n${algorithm} (${text.length} byte bundle)`);
  console.log(`  cairn verifyBundle        ${fmt(cairn)} ops/s`);
  console.log(`  @sigstore/verify keyed    ${fmt(sigstore)} ops/s`);
  console.log(`  node:crypto verify (PAE)  ${fmt(floor)} ops/s`);
  console.log(`  cairn / sigstore-js = ${(cairn / sigstore).toFixed(2)}; cairn / raw verify = ${(cairn / floor).toFixed(2)}`);
}
