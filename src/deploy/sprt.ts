/**
 * Canary analysis on raw counts: Wald's sequential probability ratio test for a Bernoulli
 * error rate. H0: the canary fails at the baseline rate p0; H1: at p1 = p0 · effect. The
 * log-likelihood ratio moves by ln(p1/p0) per error and ln((1-p1)/(1-p0)) per success, and
 * the test stops at Wald's boundaries ln((1-β)/α) (reject: roll back) and ln(β/(1-α))
 * (accept). Pure: counts in, verdict out.
 */

export interface SprtParams {
  /** The baseline (healthy) error rate, 0 < p0 < 1. */
  readonly baselineErrorRate: number;
  /** The relative rise to detect: p1 = p0 · effect, effect > 1. */
  readonly effect: number;
  /** False-rollback rate of a healthy canary. */
  readonly alpha: number;
  /** Missed-rollback rate of a bad canary. */
  readonly beta: number;
}

export interface Counts {
  readonly requests: number;
  readonly errors: number;
}

export type SprtVerdict = 'reject' | 'accept' | 'continue';

export interface SprtResult {
  readonly verdict: SprtVerdict;
  readonly llr: number;
  readonly upper: number;
  readonly lower: number;
}

/** Throws a RangeError naming the first parameter outside its domain. */
export function checkSprtParams(p: SprtParams): void {
  if (!(p.baselineErrorRate > 0 && p.baselineErrorRate < 1)) throw new RangeError(`baselineErrorRate must be in (0, 1), got ${p.baselineErrorRate}`);
  if (!(p.effect > 1) || !(p.baselineErrorRate * p.effect < 1)) throw new RangeError(`effect must be > 1 with p0 · effect < 1, got ${p.effect}`);
  if (!(p.alpha > 0 && p.alpha < 0.5)) throw new RangeError(`alpha must be in (0, 0.5), got ${p.alpha}`);
  if (!(p.beta > 0 && p.beta < 0.5)) throw new RangeError(`beta must be in (0, 0.5), got ${p.beta}`);
}

/** The per-observation increments and the two stopping boundaries. */
export function sprtShape(p: SprtParams): { readonly onError: number; readonly onSuccess: number; readonly upper: number; readonly lower: number } {
  checkSprtParams(p);
  const p0 = p.baselineErrorRate;
  const p1 = p0 * p.effect;
  return {
    onError: Math.log(p1 / p0),
    onSuccess: Math.log((1 - p1) / (1 - p0)),
    upper: Math.log((1 - p.beta) / p.alpha),
    lower: Math.log(p.beta / (1 - p.alpha)),
  };
}

/**
 * The verdict after `counts` canary requests. Only the totals matter (the statistic is a sum),
 * so a target that reports cumulative counts can be asked after any number of requests.
 * Callers that evaluate repeatedly stop at the first non-`continue` verdict.
 */
export function sprtDecide(counts: Counts, p: SprtParams): SprtResult {
  const shape = sprtShape(p);
  if (!Number.isSafeInteger(counts.requests) || !Number.isSafeInteger(counts.errors) || counts.errors < 0 || counts.errors > counts.requests) {
    throw new RangeError(`counts must be integers with 0 <= errors <= requests, got ${counts.errors}/${counts.requests}`);
  }
  const llr = counts.errors * shape.onError + (counts.requests - counts.errors) * shape.onSuccess;
  const verdict: SprtVerdict = llr >= shape.upper ? 'reject' : llr <= shape.lower ? 'accept' : 'continue';
  return { verdict, llr, upper: shape.upper, lower: shape.lower };
}

export interface TrafficBudget {
  /** Wald's expected number of canary requests to a verdict when the canary is healthy. */
  readonly expectedRequestsIfHealthy: number;
  /** … and when it is bad (error rate p0 · effect). */
  readonly expectedRequestsIfBad: number;
  /** Error-free requests after which a healthy canary is accepted. */
  readonly requestsToAcceptWithoutErrors: number;
  /** The larger expectation turned into minutes at `canaryRequestsPerMinute`; null when that rate is 0. */
  readonly expectedMinutes: number | null;
}

/** Expected LLR increment per request when the true error rate is `p`. */
function drift(p: number, shape: ReturnType<typeof sprtShape>): number {
  return p * shape.onError + (1 - p) * shape.onSuccess;
}

/**
 * The traffic the test needs, stated before the rollout: Wald's approximate average sample
 * numbers under H0 and H1 and, given the canary's expected request rate, minutes to a verdict.
 */
export function trafficBudget(p: SprtParams, canaryRequestsPerMinute: number): TrafficBudget {
  const shape = sprtShape(p);
  const p0 = p.baselineErrorRate;
  const p1 = p0 * p.effect;
  const healthy = (p.alpha * shape.upper + (1 - p.alpha) * shape.lower) / drift(p0, shape);
  const bad = ((1 - p.beta) * shape.upper + p.beta * shape.lower) / drift(p1, shape);
  const worst = Math.max(healthy, bad);
  return {
    expectedRequestsIfHealthy: Math.ceil(healthy),
    expectedRequestsIfBad: Math.ceil(bad),
    requestsToAcceptWithoutErrors: Math.ceil(shape.lower / shape.onSuccess),
    expectedMinutes: canaryRequestsPerMinute > 0 ? worst / canaryRequestsPerMinute : null,
  };
}

/** A threshold on a metric the target reports beside requests, errors and latency. */
export interface CustomThreshold {
  readonly metric: string;
  /** Roll back when the metric exceeds this. */
  readonly max: number;
}

/** Explicit rollback triggers from config: any one breached (with enough requests) rolls back at once. */
export interface RollbackTriggers {
  /** Roll back when the canary's observed error rate exceeds this (0..1). */
  readonly maxErrorRate?: number;
  /** Roll back when the canary's p99 latency exceeds this many milliseconds. */
  readonly maxP99Ms?: number;
  /** Requests the canary must have served before the triggers are read. */
  readonly minRequests: number;
  /** Thresholds on the target's extra metrics (`VersionMetrics.custom`). */
  readonly custom?: readonly CustomThreshold[];
}

export interface VersionMetrics extends Counts {
  readonly p99Ms: number | null;
  /** Extra metrics the target reports for this release, by name. */
  readonly custom?: Readonly<Record<string, number>>;
}

export interface FiredTrigger {
  readonly trigger: 'errorRate' | 'p99Latency' | 'custom';
  /** The metric read: `errorRate`, `p99Ms`, or a custom metric's name. */
  readonly metric: string;
  readonly observed: number;
  readonly limit: number;
}

/** The triggers that fired, in the order error rate, p99, custom (as configured); empty when none did. */
export function firedTriggers(metrics: VersionMetrics, triggers: RollbackTriggers): FiredTrigger[] {
  if (metrics.requests < triggers.minRequests) return [];
  const fired: FiredTrigger[] = [];
  const rate = metrics.errors / metrics.requests;
  if (triggers.maxErrorRate !== undefined && rate > triggers.maxErrorRate) {
    fired.push({ trigger: 'errorRate', metric: 'errorRate', observed: rate, limit: triggers.maxErrorRate });
  }
  if (triggers.maxP99Ms !== undefined && metrics.p99Ms !== null && metrics.p99Ms > triggers.maxP99Ms) {
    fired.push({ trigger: 'p99Latency', metric: 'p99Ms', observed: metrics.p99Ms, limit: triggers.maxP99Ms });
  }
  for (const t of triggers.custom ?? []) {
    // A metric the target did not report is no evidence either way: absent is not a breach.
    const observed = metrics.custom?.[t.metric];
    if (observed !== undefined && Number.isFinite(observed) && observed > t.max) fired.push({ trigger: 'custom', metric: t.metric, observed, limit: t.max });
  }
  return fired;
}

/**
 * The reference rule of threshold-per-window tools (Argo Rollouts-like defaults): every
 * `windowRequests` requests, the window fails when its error rate reaches `threshold`; the
 * canary is aborted once more than `failureLimit` windows failed, and passes after `count` windows.
 */
export interface WindowRule {
  readonly windowRequests: number;
  readonly threshold: number;
  readonly count: number;
  readonly failureLimit: number;
}

/** Requests after which the window rule aborts a canary whose per-window error counts are `windowErrors`, or null if it passes. */
export function windowRuleAbortsAt(windowErrors: readonly number[], rule: WindowRule): number | null {
  let failures = 0;
  for (const [i, errors] of windowErrors.slice(0, rule.count).entries()) {
    if (errors / rule.windowRequests >= rule.threshold) failures += 1;
    if (failures > rule.failureLimit) return (i + 1) * rule.windowRequests;
  }
  return null;
}
