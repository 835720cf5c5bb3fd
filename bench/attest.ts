/**
 * Sign and verify throughput of cairn's attestation path for a 1 KiB in-toto statement,
 * against raw node:crypto signing and verifying the same PAE bytes, measured in the same run
 * (interleaved rounds, median of each). Run: `node dist/bench/attest.js [--seconds N]`.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { policyFromText } from '../src/attest/policy.js';
import { signStatement, envelopeBytes } from '../src/attest/sign.js';
import { trustStoreFromText } from '../src/attest/trust.js';
import { verifyAttestation, verifyWithPolicy } from '../src/attest/verify.js';
import { sha256Digest } from '../src/crypto/digest.js';
import { pae } from '../src/crypto/dsse.js';
import { generateKeyPair, type KeyAlgorithm, privateKeyFromPem, publicKeyFromPem } from '../src/crypto/keys.js';
import { CAIRN_BUILD_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1, type Statement } from '../src/model/attestation.js';
import { digestHex } from '../src/model/digest.js';
import { median, rate } from './measure.js';

const secondsArg = process.argv.indexOf('--seconds');
const TOTAL_SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 2;
const ROUNDS = 21;
const WARM_UP_CALLS = 8000;
const BUILDER = 'https://cairn.dev/builders/ci';
const NOW = new Date('2025-06-02T00:00:00Z');

/** A provenance statement whose compact JSON is 1 KiB. */
function statementOf(size: number): Statement {
  const artifact = sha256Digest('bench artifact');
  const base = (pad: string): Statement => ({
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'service.tgz', digest: { sha256: digestHex(artifact) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: CAIRN_BUILD_TYPE,
        externalParameters: {
          source: { uri: 'git+https://git.example/org/service', commit: 'a'.repeat(40), subdir: '' },
          recipe: { run: 'npm ci && npm run build', output: 'dist' },
        },
        internalParameters: { sourceDateEpoch: 1_700_000_000, pad },
        resolvedDependencies: [{ uri: `git+https://git.example/org/service@${'a'.repeat(40)}`, digest: { gitCommit: 'a'.repeat(40) } }],
      },
      runDetails: { builder: { id: BUILDER, version: { cairn: '0.1.0' } }, metadata: { invocationId: 'run_1', finishedOn: '2025-06-01T00:00:00Z' } },
    },
  });
  const overhead = JSON.stringify(base('')).length;
  return base('x'.repeat(Math.max(0, size - overhead)));
}

/** Interleaves rounds of `reference` and `subject` so that machine noise hits both alike. */
function compare(reference: () => unknown, subject: () => unknown, ms: number): { reference: number; subject: number } {
  // Warm up both until the JIT has settled (the attestation path needs thousands of calls).
  for (let i = 0; i < WARM_UP_CALLS; i++) reference();
  for (let i = 0; i < WARM_UP_CALLS; i++) subject();
  const r: number[] = [];
  const s: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    r.push(rate(reference, ms));
    s.push(rate(subject, ms));
  }
  return { reference: median(r), subject: median(s) };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);

function row(what: string, result: { reference: number; subject: number }): void {
  const ratio = result.subject / result.reference;
  console.log(
    `  ${what.padEnd(38)} raw ${fmt(result.reference)} ops/s   cairn ${fmt(result.subject)} ops/s   ratio ${ratio.toFixed(2)}${ratio < 0.8 ? '  (below 0.8)' : ''}`,
  );
}

const statement = statementOf(1024);
const payload = Buffer.from(JSON.stringify(statement), 'utf8');
const message = pae(IN_TOTO_PAYLOAD_TYPE, payload);
const artifactDigest = sha256Digest('bench artifact');
const perCase = (TOTAL_SECONDS * 1000) / (ROUNDS * 2 * 4 * 2);

console.log(
  `attestation bench: ${payload.length}-byte statement, PAE ${message.length} bytes, node ${process.version}; ops per CPU-second, median of ${ROUNDS} interleaved rounds`,
);
for (const algorithm of ['ed25519', 'ecdsa-p256'] as KeyAlgorithm[]) {
  const pair = generateKeyPair(algorithm);
  const privateKey: KeyObject = privateKeyFromPem(pair.privateKeyPem);
  const publicKey: KeyObject = publicKeyFromPem(pair.publicKeyPem);
  const digest = algorithm === 'ed25519' ? null : 'sha256';
  const rawSig = cryptoSign(digest, message, privateKey);
  const envelope = envelopeBytes(signStatement(statement, [privateKey]));
  const trust = trustStoreFromText(
    JSON.stringify({
      version: 1,
      keys: [{ keyid: pair.keyid, algorithm, publicKey: pair.publicKeyPem, identities: [{ role: 'builder', id: BUILDER }], validFrom: '2025-01-01T00:00:00Z' }],
    }),
  );
  const policy = policyFromText(
    `version: 1\npredicateTypes: [${SLSA_PROVENANCE_V1}]\nmaxAge: 30d\nprovenance:\n  builders: [${BUILDER}]\n  buildTypes: [${CAIRN_BUILD_TYPE}]\n  source: { repository: https://git.example/org/service }\n`,
  );
  if (!verifyWithPolicy({ attestation: envelope, artifactDigest }, { trust, policy, now: NOW }).ok) throw new Error('the bench envelope does not verify');

  console.log(`\n${algorithm}`);
  row(
    'sign (serialise + PAE + sign + base64)',
    compare(
      () => cryptoSign(digest, message, privateKey),
      () => signStatement(statement, [privateKey]),
      perCase,
    ),
  );
  row(
    'verify (parse + PAE + verify + subject)',
    compare(
      () => cryptoVerify(digest, message, publicKey, rawSig),
      () => verifyAttestation(envelope, artifactDigest, [publicKey], { now: NOW }),
      perCase,
    ),
  );
  row(
    'verify with trust store and policy',
    compare(
      () => cryptoVerify(digest, message, publicKey, rawSig),
      () => verifyWithPolicy({ attestation: envelope, artifactDigest }, { trust, policy, now: NOW }),
      perCase,
    ),
  );
  row(
    'sign + verify round trip',
    compare(
      () => cryptoVerify(digest, message, publicKey, cryptoSign(digest, message, privateKey)),
      () => verifyAttestation(envelopeBytes(signStatement(statement, [privateKey])), artifactDigest, [publicKey], { now: NOW }),
      perCase,
    ),
  );
}
