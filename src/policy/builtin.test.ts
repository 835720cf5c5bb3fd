import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import type { GateEvidence } from '../model/gate.js';
import { BUILTIN_EVALUATOR, evaluateBuiltinGate, type GateContext } from './builtin.js';
import { EVALUATOR } from './kernel.js';

const ARTIFACT: Digest = sha256Digest('artifact bytes');
const OTHER: Digest = sha256Digest('other bytes');
const CONTEXT: GateContext = { environment: 'production', now: new Date('2025-06-01T12:00:00.000Z') };

function evidence(
  change: Partial<{ artifact: Partial<GateEvidence['artifact']>; provenance: Partial<GateEvidence['provenance']>; sbom: Partial<GateEvidence['sbom']> }> = {},
): GateEvidence {
  return {
    artifact: { digest: ARTIFACT, rehashed: ARTIFACT, ...change.artifact },
    provenance: { present: true, signatureVerified: true, subjectDigests: [ARTIFACT], keyid: 'k1', failure: null, ...change.provenance },
    sbom: { present: true, digest: sha256Digest('sbom'), components: 3, ...change.sbom },
  };
}

describe('evaluateBuiltinGate (compatibility path over the default CEL policies)', () => {
  it('allows what the skeleton gate allowed, with one rule per validation of the provenance and SBOM policies', () => {
    const d = evaluateBuiltinGate(evidence(), CONTEXT);
    assert.equal(d.allow, true, JSON.stringify(d.rules));
    assert.deepEqual(
      d.rules.map((r) => r.id),
      ['provenance/provenance-verified', 'provenance/artifact-matches-provenance', 'provenance/builder-allowed', 'sbom/sbom-present'],
    );
    assert.equal(BUILTIN_EVALUATOR, EVALUATOR);
    assert.equal(d.evaluator, EVALUATOR);
  });

  const denials: [string, Parameters<typeof evidence>[0], string[]][] = [
    [
      'there is no provenance',
      { provenance: { present: false, signatureVerified: false, subjectDigests: [], keyid: null } },
      ['provenance-verified', 'artifact-matches-provenance', 'builder-allowed'],
    ],
    ['the signature did not verify', { provenance: { signatureVerified: false, failure: 'no trusted key' } }, ['provenance-verified', 'builder-allowed']],
    ['the stored artifact rehashes to another digest', { artifact: { rehashed: OTHER } }, ['artifact-matches-provenance']],
    ['no provenance subject names the artifact', { provenance: { subjectDigests: [OTHER] } }, ['artifact-matches-provenance']],
    ['there is no SBOM', { sbom: { present: false, digest: null, components: 0 } }, ['sbom-present']],
  ];
  for (const [name, change, failing] of denials) {
    it(`denies when ${name}`, () => {
      const d = evaluateBuiltinGate(evidence(change), CONTEXT);
      assert.equal(d.allow, false);
      assert.deepEqual(
        d.rules.filter((r) => r.outcome !== 'pass').map((r) => r.id.split('/')[1]),
        failing,
      );
    });
  }

  it('names the verification failure in the message', () => {
    const d = evaluateBuiltinGate(evidence({ provenance: { signatureVerified: false, failure: 'ATTEST_SIGNATURE_INVALID: nope' } }), CONTEXT);
    assert.match(d.rules[0]?.message ?? '', /provenance did not verify: ATTEST_SIGNATURE_INVALID: nope/);
  });

  it('is pure: the same evidence and clock give the same decision id', () => {
    assert.equal(evaluateBuiltinGate(evidence(), CONTEXT).id, evaluateBuiltinGate(evidence(), { ...CONTEXT }).id);
    assert.notEqual(evaluateBuiltinGate(evidence(), { ...CONTEXT, environment: 'staging' }).id, evaluateBuiltinGate(evidence(), CONTEXT).id);
  });
});
