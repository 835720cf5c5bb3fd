import { canonicalDigest } from '../crypto/jcs.js';
import type { GateAnswer } from '../deploy/controller.js';
import type { Digest } from '../model/digest.js';
import type { GateInput } from '../policy/evidence.js';
import { evaluateGate, gateDecisionOf } from '../policy/gate.js';
import { FilePolicyRegistry } from '../policy/registry-file.js';
import { gateBundle } from '../policy/rollout.js';
import { stateKey } from './keys.js';
import type { State } from './state.js';

export interface StepGateOptions {
  readonly state: State;
  /** The evidence the release was admitted on; without it every step is denied. */
  readonly input: GateInput | undefined;
  readonly environment: string;
  /** What the `gate.step` audit entries name (the artifact and the release bundle). */
  readonly subjects: readonly Digest[];
  audit(action: string, subjects: readonly Digest[], payloadDigest: Digest): Promise<unknown>;
  readonly clock?: () => Date;
}

/**
 * The gate a rollout asks before every step: the same evidence evaluated again on the policy in
 * force then (read from the signed policy registry each time), so a policy rolled back or
 * tightened mid-rollout stops it. Each answer is stored as a decision and audited as `gate.step`.
 */
export function stepGate(options: StepGateOptions): (step: number, weight: number) => Promise<GateAnswer> {
  const { state, input, environment } = options;
  const clock = options.clock ?? (() => new Date());
  const registry = new FilePolicyRegistry(state.dir);
  return async (step, weight) => {
    if (!input) return { allow: false, decisionId: 'no gate input' };
    const bundle = await gateBundle(registry, [(await stateKey(state.dir, 'policy')).publicKey]);
    const again = evaluateGate(input, bundle, { point: 'deploy', environment, now: clock() });
    const decision = gateDecisionOf(again);
    await registry.putDecision(again, input);
    await state.store.putDecision(decision);
    await options.audit('gate.step', options.subjects, canonicalDigest({ step, weight, decision: decision.id, allow: decision.allow }));
    return { allow: decision.allow, decisionId: decision.id };
  };
}

/** The evidence a stored gate decision was made on, or undefined when the registry no longer has it. */
export async function decisionInput(state: State, decisionId: string): Promise<GateInput | undefined> {
  return (await new FilePolicyRegistry(state.dir).getDecision(decisionId))?.input;
}
