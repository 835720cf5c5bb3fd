import { canonicalDigest } from '../crypto/jcs.js';
import { digestHex } from '../model/digest.js';
import type { GateDecision, GateEvidence, RuleResult } from '../model/gate.js';

export const BUILTIN_EVALUATOR = 'cairn-builtin/1';

export interface GateContext {
  readonly environment: string;
  /** The decision's clock, an input so that a decision can be recomputed exactly. */
  readonly now: Date;
}

type Rule = (evidence: GateEvidence) => RuleResult;

const RULES: readonly Rule[] = [
  (e) => {
    const id = 'provenance-verified';
    if (!e.provenance.present) return { id, outcome: 'fail', message: 'no provenance attestation for this artifact' };
    if (!e.provenance.signatureVerified) return { id, outcome: 'fail', message: `provenance did not verify: ${e.provenance.failure ?? 'unknown reason'}` };
    return { id, outcome: 'pass', message: `DSSE signature verified by key ${e.provenance.keyid ?? '?'}` };
  },
  (e) => {
    const id = 'artifact-digest-matches';
    if (e.artifact.rehashed === null) return { id, outcome: 'fail', message: 'the artifact bytes are not available to rehash' };
    if (e.artifact.rehashed !== e.artifact.digest)
      return { id, outcome: 'fail', message: `stored artifact hashes to ${e.artifact.rehashed}, not ${e.artifact.digest}` };
    if (!e.provenance.subjectDigests.includes(e.artifact.digest)) return { id, outcome: 'fail', message: 'no provenance subject names this artifact digest' };
    return { id, outcome: 'pass', message: `artifact rehashed to ${e.artifact.digest}, equal to the provenance subject` };
  },
  (e) => {
    const id = 'sbom-present';
    if (!e.sbom.present) return { id, outcome: 'fail', message: 'no SBOM for this artifact' };
    return { id, outcome: 'pass', message: `CycloneDX SBOM ${e.sbom.digest ?? ''} with ${e.sbom.components} components` };
  },
];

/**
 * The built-in deploy gate: pure, it reads no file and no clock. Every rule must pass to
 * allow; the decision id is derived from the decision's own canonical content.
 */
export function evaluateBuiltinGate(evidence: GateEvidence, context: GateContext): GateDecision {
  const rules = RULES.map((rule) => rule(evidence));
  const body = {
    subject: evidence.artifact.digest,
    point: 'deploy' as const,
    environment: context.environment,
    allow: rules.every((r) => r.outcome === 'pass'),
    rules,
    inputDigest: canonicalDigest(evidence),
    evaluator: BUILTIN_EVALUATOR,
    decidedAt: context.now.toISOString(),
  };
  return { id: `dec_${digestHex(canonicalDigest(body)).slice(0, 24)}`, ...body };
}
