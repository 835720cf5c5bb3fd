import { canonicalDigest } from '../crypto/jcs.js';
import type { CanaryStep, DeployStrategy } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Release } from '../model/release.js';
import type { RollbackTriggers, SprtParams, TrafficBudget } from './sprt.js';
import { trafficBudget } from './sprt.js';
import type { TargetCapabilities } from './target.js';

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

function checkSteps(steps: readonly CanaryStep[]): void {
  if (steps.length === 0 || steps[steps.length - 1]?.weight !== 100) throw new RangeError('the last step weight must be 100');
  for (const [i, s] of steps.entries()) {
    if (!Number.isInteger(s.weight) || s.weight < 1 || s.weight > 100 || (i > 0 && s.weight < (steps[i - 1]?.weight ?? 0)))
      throw new RangeError(`step weights must be ascending integers in 1..100 (step ${i}: ${s.weight})`);
    if (!(s.pauseSeconds >= 0) || !Number.isFinite(s.pauseSeconds)) throw new RangeError(`step ${i}: the pause must be a non-negative number of seconds`);
  }
}

/** Steps with their expected canary traffic, and the SPRT budget at the first step's rate. */
function trafficSteps(steps: readonly CanaryStep[], sprt: SprtParams, requestsPerMinute: number): { steps: PlanStep[]; budget: TrafficBudget } {
  checkSteps(steps);
  if (!(requestsPerMinute >= 0) || !Number.isFinite(requestsPerMinute)) throw new RangeError('the request rate must be a non-negative number');
  const budget = trafficBudget(sprt, (requestsPerMinute * (steps[0]?.weight ?? 100)) / 100);
  const planned = steps.map(({ weight, pauseSeconds }, step) => {
    const canaryRequestsPerMinute = (requestsPerMinute * weight) / 100;
    const canaryRequestsInPause = Math.floor((canaryRequestsPerMinute * pauseSeconds) / 60);
    return { step, weight, pauseSeconds, canaryRequestsPerMinute, canaryRequestsInPause, enoughTraffic: canaryRequestsInPause >= budget.expectedRequestsIfBad };
  });
  return { steps: planned, budget };
}

/** A release as a rollout names it: the release bundle's digest and the artifact it runs. */
export interface ReleaseRef {
  readonly releaseDigest: Digest;
  readonly artifactDigest: Digest;
}

/**
 * Everything a rollout will do, fixed before its first step and digested ({@link planDigest})
 * into the audit log: what replaces what, where, in which steps, judged how.
 */
export interface RolloutPlan {
  readonly environment: string;
  readonly service: string;
  /** The gate decision that admitted the release. */
  readonly decisionId: string;
  readonly next: ReleaseRef;
  /** The release running now; null for a first deployment. */
  readonly previous: ReleaseRef | null;
  /** What the strategy asked for, and what the rollout does on this target. */
  readonly requestedKind: DeployStrategy['kind'];
  readonly kind: DeployStrategy['kind'];
  /** Why `kind` or the steps differ from the strategy, and what the target cannot do; empty when nothing changed. */
  readonly notes: readonly string[];
  readonly steps: readonly PlanStep[];
  readonly analysis: SprtParams;
  readonly triggers: RollbackTriggers;
  readonly onCannotMeasure: DeployStrategy['onCannotMeasure'];
  /** The SPRT's traffic budget at the first step's rate. */
  readonly budget: TrafficBudget;
  readonly requestsPerMinute: number;
  /** Minimum time to reach 100% if every step passes. */
  readonly minimumSeconds: number;
  /** The target's capabilities the plan was made for. */
  readonly capabilities: TargetCapabilities;
  /** A failure freezes the rollout instead of rolling back. */
  readonly rollbackUnsafe: boolean;
}

export interface PlanRolloutInput {
  readonly release: Release;
  readonly releaseDigest: Digest;
  readonly previous: ReleaseRef | null;
  readonly capabilities: TargetCapabilities;
  readonly strategy: DeployStrategy;
}

/** Everything in a plan that does not name the release: what `cairn deploy --dry-run` prints before there is one. */
export type RolloutShape = Omit<RolloutPlan, 'environment' | 'service' | 'decisionId' | 'next'>;

export interface ShapeRolloutInput {
  readonly strategy: DeployStrategy;
  readonly capabilities: TargetCapabilities;
  /** The release running now; null for a first deployment. */
  readonly previous: ReleaseRef | null;
  readonly rollbackUnsafe: boolean;
}

/**
 * The steps, analysis and notes of a rollout; pure. A target that cannot split traffic, or a
 * first deployment (nothing to split with), gets one step at 100 observed for the strategy's
 * last pause, and the notes say so. Throws a RangeError on steps or analysis parameters outside
 * their domain.
 */
export function shapeRollout(input: ShapeRolloutInput): RolloutShape {
  const { strategy, capabilities, previous } = input;
  checkSteps(strategy.steps);
  const notes: string[] = [];
  let steps: readonly CanaryStep[] = strategy.steps;
  let kind = strategy.kind;
  const single: CanaryStep = { weight: 100, pauseSeconds: strategy.steps[strategy.steps.length - 1]?.pauseSeconds ?? 0 };
  if (previous === null) {
    if (steps.length > 1) notes.push('first deployment: no previous release to split traffic with, so one step at 100');
    steps = [single];
    kind = 'blueGreen';
  } else if (!capabilities.trafficSplit) {
    if (strategy.kind === 'canary') notes.push('the target cannot split traffic: the canary becomes a single switch to 100 (blue-green)');
    steps = [single];
    kind = 'blueGreen';
  }
  if (steps.some((s) => s.pauseSeconds === 0)) notes.push('a step with pauseSeconds 0 is not observed: it passes without analysis');
  if (!capabilities.reportsMetrics) notes.push('the target reports no metrics: analysis cannot measure, so every step ends by onCannotMeasure');
  if (previous === null) notes.push('a failure holds (there is nothing to roll back to)');
  else if (input.rollbackUnsafe) notes.push('rollback-unsafe release: a failure freezes instead of rolling back');
  const { steps: planned, budget } = trafficSteps(steps, strategy.analysis, strategy.requestsPerMinute);
  const triggers: RollbackTriggers = {
    ...(strategy.triggers.maxErrorRate !== undefined ? { maxErrorRate: strategy.triggers.maxErrorRate } : {}),
    ...(strategy.triggers.maxP99Ms !== undefined ? { maxP99Ms: strategy.triggers.maxP99Ms } : {}),
    minRequests: strategy.triggers.minRequests,
    custom: strategy.triggers.custom.map((c) => ({ metric: c.metric, max: c.max })),
  };
  return {
    previous: previous === null ? null : { releaseDigest: previous.releaseDigest, artifactDigest: previous.artifactDigest },
    requestedKind: strategy.kind,
    kind,
    notes,
    steps: planned,
    analysis: { ...strategy.analysis },
    triggers,
    onCannotMeasure: strategy.onCannotMeasure,
    budget,
    requestsPerMinute: strategy.requestsPerMinute,
    minimumSeconds: planned.reduce((sum, s) => sum + s.pauseSeconds, 0),
    capabilities: { trafficSplit: capabilities.trafficSplit, reportsVersion: capabilities.reportsVersion, reportsMetrics: capabilities.reportsMetrics },
    rollbackUnsafe: input.rollbackUnsafe,
  };
}

/** Plans a rollout of `release` ({@link shapeRollout} for the release); pure. */
export function planRollout(input: PlanRolloutInput): RolloutPlan {
  const { release } = input;
  return {
    environment: release.environment,
    service: release.service,
    decisionId: release.decisionId,
    next: { releaseDigest: input.releaseDigest, artifactDigest: release.artifactDigest },
    ...shapeRollout({ strategy: input.strategy, capabilities: input.capabilities, previous: input.previous, rollbackUnsafe: release.rollbackUnsafe }),
  };
}

/** sha256 of the plan's JCS canonical form: what the audit log's `deploy.plan` entry digests. */
export function planDigest(plan: RolloutPlan): Digest {
  return canonicalDigest(plan);
}
