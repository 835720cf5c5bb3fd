import type { GateDecision, GateEvidence } from '../model/gate.js';
import { transitionalBundle } from './default.js';
import { gateInputFromEvidence } from './evidence.js';
import { evaluateGate, gateDecisionOf } from './gate.js';
import { EVALUATOR } from './kernel.js';

/**
 * Compatibility path for the skeleton pipeline. The three hand-written rules are gone: this
 * maps the skeleton's GateEvidence onto the gate input and evaluates the provenance and SBOM
 * policies of the default CEL policy set (`policies/default`), the part whose evidence the
 * skeleton gathers. Use `evaluateGate(input, bundle, { point, environment, now })` with a
 * full `GateInput` instead; this shim goes once the pipeline fills one.
 */
export const BUILTIN_EVALUATOR = EVALUATOR;

export interface GateContext {
  readonly environment: string;
  /** The decision's clock, an input so that a decision can be recomputed exactly. */
  readonly now: Date;
}

/** @deprecated Use evaluateGate with a GateInput and the active (or default) bundle. */
export function evaluateBuiltinGate(evidence: GateEvidence, context: GateContext): GateDecision {
  const decision = evaluateGate(gateInputFromEvidence(evidence), transitionalBundle(), { point: 'deploy', environment: context.environment, now: context.now });
  return gateDecisionOf(decision);
}
