import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest } from '../crypto/jcs.js';
import type { Digest } from '../model/digest.js';
import type { GateEvidence } from '../model/gate.js';
import { BUILTIN_EVALUATOR, evaluateBuiltinGate, type GateContext } from './builtin.js';

const ARTIFACT: Digest = sha256Digest('artifact bytes');
const OTHER: Digest = sha256Digest('other bytes');
const SBOM: Digest = sha256Digest('sbom bytes');
const KEYID = 'u0C3V6sC/ZP2JFNEcU89mBPxownJvJloqTBstIBojmw=';
const NOW = new Date('2025-06-01T12:00:00.000Z');
const CONTEXT: GateContext = { environment: 'production', now: NOW };

const RULE_IDS = ['provenance-verified', 'artifact-digest-matches', 'sbom-present'];

interface EvidenceChanges {
  readonly artifact?: Partial<GateEvidence['artifact']>;
  readonly provenance?: Partial<GateEvidence['provenance']>;
  readonly sbom?: Partial<GateEvidence['sbom']>;
}

/** Evidence that every rule accepts, with the given facts changed. */
function evidence(changes: EvidenceChanges = {}): GateEvidence {
  return {
    artifact: { digest: ARTIFACT, rehashed: ARTIFACT, ...changes.artifact },
    provenance: { present: true, signatureVerified: true, subjectDigests: [ARTIFACT], keyid: KEYID, failure: null, ...changes.provenance },
    sbom: { present: true, digest: SBOM, components: 42, ...changes.sbom },
  };
}

const NO_PROVENANCE: EvidenceChanges['provenance'] = { present: false, signatureVerified: false, subjectDigests: [], keyid: null, failure: null };

interface DenyCase {
  readonly name: string;
  readonly changes: EvidenceChanges;
  readonly failing: readonly string[];
  /** Text the failing rule's message must show. */
  readonly mentions?: readonly string[];
}

const DENY_CASES: readonly DenyCase[] = [
  { name: 'there is no provenance', changes: { provenance: NO_PROVENANCE }, failing: ['provenance-verified', 'artifact-digest-matches'] },
  {
    name: 'the provenance signature did not verify',
    changes: { provenance: { signatureVerified: false, keyid: null, failure: 'no trusted key has keyid abc' } },
    failing: ['provenance-verified'],
    mentions: ['no trusted key has keyid abc'],
  },
  {
    name: 'the stored artifact rehashes to another digest',
    changes: { artifact: { rehashed: OTHER } },
    failing: ['artifact-digest-matches'],
    mentions: [OTHER, ARTIFACT],
  },
  { name: 'the artifact bytes could not be rehashed', changes: { artifact: { rehashed: null } }, failing: ['artifact-digest-matches'] },
  {
    name: 'no provenance subject names the artifact digest',
    changes: { provenance: { subjectDigests: [OTHER] } },
    failing: ['artifact-digest-matches'],
  },
  {
    name: 'the artifact and its rehash agree with each other but not with the provenance',
    changes: { artifact: { digest: OTHER, rehashed: OTHER } },
    failing: ['artifact-digest-matches'],
  },
  { name: 'there is no SBOM', changes: { sbom: { present: false, digest: null, components: 0 } }, failing: ['sbom-present'] },
  {
    name: 'nothing is proven',
    changes: { provenance: NO_PROVENANCE, artifact: { rehashed: null }, sbom: { present: false, digest: null, components: 0 } },
    failing: RULE_IDS,
  },
];

describe('evaluateBuiltinGate', () => {
  it('allows when every rule passes, reporting three passes in order', () => {
    const decision = evaluateBuiltinGate(evidence(), CONTEXT);
    assert.equal(decision.allow, true);
    assert.deepEqual(
      decision.rules.map((r) => [r.id, r.outcome]),
      RULE_IDS.map((id) => [id, 'pass']),
    );
  });

  it('names the verifying key and the SBOM in the passing messages', () => {
    const decision = evaluateBuiltinGate(evidence(), CONTEXT);
    assert.match(decision.rules[0]?.message ?? '', new RegExp(KEYID.replace(/[+/=]/g, '\\$&')));
    assert.match(decision.rules[2]?.message ?? '', /42 components/);
  });

  for (const c of DENY_CASES) {
    it(`denies when ${c.name}, failing exactly ${c.failing.join(' and ')}`, () => {
      const decision = evaluateBuiltinGate(evidence(c.changes), CONTEXT);
      assert.equal(decision.allow, false);
      assert.deepEqual(
        decision.rules.map((r) => r.id),
        RULE_IDS,
        'every rule is reported',
      );
      assert.deepEqual(
        decision.rules.filter((r) => r.outcome !== 'pass').map((r) => r.id),
        c.failing,
      );
      for (const r of decision.rules.filter((r) => r.outcome !== 'pass')) assert.equal(r.outcome, 'fail');
      for (const text of c.mentions ?? []) {
        const failed = decision.rules.filter((r) => r.outcome === 'fail').map((r) => r.message);
        assert.ok(
          failed.some((m) => m.includes(text)),
          `no failure message mentions ${text}: ${failed.join(' | ')}`,
        );
      }
    });
  }

  it('records the subject, point, environment, evaluator and the clock it was given', () => {
    const decision = evaluateBuiltinGate(evidence(), { environment: 'staging', now: NOW });
    assert.equal(decision.subject, ARTIFACT);
    assert.equal(decision.point, 'deploy');
    assert.equal(decision.environment, 'staging');
    assert.equal(decision.evaluator, BUILTIN_EVALUATOR);
    assert.equal(decision.decidedAt, '2025-06-01T12:00:00.000Z');
  });

  it('digests the evidence it decided on as its inputDigest', () => {
    const e = evidence({ sbom: { components: 7 } });
    assert.equal(evaluateBuiltinGate(e, CONTEXT).inputDigest, canonicalDigest(e));
  });

  describe('purity', () => {
    it('gives a deep-equal decision with the same id for the same evidence and clock', () => {
      const first = evaluateBuiltinGate(evidence(), CONTEXT);
      const second = evaluateBuiltinGate(evidence(), { environment: 'production', now: new Date(NOW.getTime()) });
      assert.deepEqual(second, first);
      assert.equal(second.id, first.id);
    });

    it('gives the same decision for evidence that went through JSON and came back with its keys reordered', () => {
      const e = evidence();
      const replayed: GateEvidence = {
        sbom: { ...e.sbom },
        provenance: JSON.parse(JSON.stringify(e.provenance)),
        artifact: { rehashed: e.artifact.rehashed, digest: e.artifact.digest },
      };
      assert.deepEqual(evaluateBuiltinGate(replayed, CONTEXT), evaluateBuiltinGate(e, CONTEXT));
    });

    it('derives the id from the canonical decision body', () => {
      const { id, ...body } = evaluateBuiltinGate(evidence(), CONTEXT);
      assert.match(id, /^dec_[0-9a-f]{24}$/);
      assert.equal(id, `dec_${canonicalDigest(body).slice('sha256:'.length, 'sha256:'.length + 24)}`);
    });

    it('gives another id for another clock', () => {
      const later = new Date(NOW.getTime() + 1000);
      assert.notEqual(evaluateBuiltinGate(evidence(), { ...CONTEXT, now: later }).id, evaluateBuiltinGate(evidence(), CONTEXT).id);
    });

    it('gives another id for another environment', () => {
      assert.notEqual(evaluateBuiltinGate(evidence(), { ...CONTEXT, environment: 'staging' }).id, evaluateBuiltinGate(evidence(), CONTEXT).id);
    });

    it('gives another id and inputDigest for other evidence with the same outcome', () => {
      const a = evaluateBuiltinGate(evidence(), CONTEXT);
      const b = evaluateBuiltinGate(evidence({ sbom: { components: 43 } }), CONTEXT);
      assert.equal(b.allow, a.allow);
      assert.notEqual(b.inputDigest, a.inputDigest);
      assert.notEqual(b.id, a.id);
    });

    it('does not modify the evidence', () => {
      const e = evidence();
      const before = JSON.stringify(e);
      evaluateBuiltinGate(e, CONTEXT);
      assert.equal(JSON.stringify(e), before);
    });
  });
});
