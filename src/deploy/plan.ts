import type { RollbackTriggers, SprtParams, TrafficBudget } from './sprt.js';
import { trafficBudget } from './sprt.js';

/** The defaults a rollout uses when nothing else is configured. */
export const DEFAULT_WEIGHTS: readonly number[] = [10, 50, 100];
export const DEFAULT_PAUSE_SECONDS = 30;
export const DEFAULT_SPRT: SprtParams = { baselineErrorRate: 0.01, effect: 5, alpha: 0.05, beta: 0.1 };
export const DEFAULT_TRIGGERS: RollbackTriggers = { maxErrorRate: 0.5, minRequests: 20 };

export interface PlanStep {
  readonly step: number;
  /** Percent of traffic on the new release. */
  readonly weight: number;
  readonly pauseSeconds: number;
  /** Canary requests per minute at this weight, from the environment's total rate. */
  readonly canaryRequestsPerMinute: number;
  /** Canary requests expected during the pause. */
  readonly canaryRequestsInPause: number;
  /** Whether the pause is expected to carry enough traffic for a verdict on a bad canary. */
  readonly enoughTraffic: boolean;
}

export interface RolloutPlan {
  readonly steps: readonly PlanStep[];
  readonly sprt: SprtParams;
  readonly triggers: RollbackTriggers;
  readonly budget: TrafficBudget;
  readonly requestsPerMinute: number;
  /** Minimum time to reach 100% if every step passes. */
  readonly minimumSeconds: number;
}

/** What a rollout will do, stated before it starts: steps, weights, pauses and the SPRT's traffic budget. */
export function rolloutPlan(options: {
  readonly weights?: readonly number[];
  readonly pauseSeconds?: number;
  readonly sprt?: SprtParams;
  readonly triggers?: RollbackTriggers;
  /** The environment's total request rate. */
  readonly requestsPerMinute: number;
}): RolloutPlan {
  const weights = options.weights ?? DEFAULT_WEIGHTS;
  const pauseSeconds = options.pauseSeconds ?? DEFAULT_PAUSE_SECONDS;
  const sprt = options.sprt ?? DEFAULT_SPRT;
  if (weights.length === 0 || weights[weights.length - 1] !== 100) throw new RangeError('the last step weight must be 100');
  for (const [i, w] of weights.entries()) {
    if (!Number.isInteger(w) || w < 1 || w > 100 || (i > 0 && w < (weights[i - 1] ?? 0)))
      throw new RangeError(`step weights must be ascending integers in 1..100 (step ${i}: ${w})`);
  }
  if (!(pauseSeconds >= 0) || !(options.requestsPerMinute >= 0)) throw new RangeError('pause and request rate must be non-negative');
  const firstRate = (options.requestsPerMinute * (weights[0] ?? 100)) / 100;
  const budget = trafficBudget(sprt, firstRate);
  const steps = weights.map((weight, step) => {
    const canaryRequestsPerMinute = (options.requestsPerMinute * weight) / 100;
    const canaryRequestsInPause = Math.floor((canaryRequestsPerMinute * pauseSeconds) / 60);
    return { step, weight, pauseSeconds, canaryRequestsPerMinute, canaryRequestsInPause, enoughTraffic: canaryRequestsInPause >= budget.expectedRequestsIfBad };
  });
  return {
    steps,
    sprt,
    triggers: options.triggers ?? DEFAULT_TRIGGERS,
    budget,
    requestsPerMinute: options.requestsPerMinute,
    minimumSeconds: pauseSeconds * weights.length,
  };
}
