import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalize } from '../crypto/jcs.js';
import type { Digest } from '../model/digest.js';
import type { Lease, Store } from '../store/port.js';
import { DeployError } from './errors.js';
import {
  type Command,
  type Evidence,
  FINAL_PHASES,
  initialState,
  isFinal,
  type MachineConfig,
  type MachineEvent,
  type Phase,
  type RolloutState,
  type Transition,
  transition,
} from './machine.js';
import { planDigest, type ReleaseRef, type RolloutPlan } from './plan.js';
import type { WeightedProxy } from './proxy.js';
import { firedTriggers, type SprtParams, sprtDecide, type VersionMetrics } from './sprt.js';
import type { ApplyOrder, TrafficReading, TrafficTarget } from './target.js';

/**
 * The rollout controller: drives the pure machine (machine.ts) with real effects. It holds
 * the environment's lease, audits the plan's digest before anything else, persists each state
 * under that lease's epoch before running the state's commands, records every operation by id
 * before sending it, and shifts traffic on any {@link TrafficTarget} between the running
 * (previous) release and the new one. A rollout whose controller died is continued by
 * {@link resumeRollout} from the stored record once its lease has expired.
 */

/** A release running in this process's reach: its release digest and base URL. */
export interface RunningRelease {
  readonly releaseDigest: Digest;
  /** Base URL of the running process, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
}

/**
 * The in-process traffic target: a {@link WeightedProxy} with upstreams keyed by release
 * digest; weight `w` sends w% of requests to `next` and the rest to `previous` (if any).
 */
export class ProxyRolloutTarget implements TrafficTarget {
  private readonly applied = new Set<string>();
  private fence: readonly [number, number] = [0, 0];
  private lastOpId: string | null = null;

  constructor(
    readonly proxy: WeightedProxy,
    readonly previous: RunningRelease | null,
    readonly next: RunningRelease,
  ) {
    if (previous) proxy.setUpstream({ version: previous.releaseDigest, url: previous.url });
    proxy.setUpstream({ version: next.releaseDigest, url: next.url });
  }

  async apply(order: ApplyOrder): Promise<'applied' | 'refused'> {
    if (this.applied.has(order.opId)) return 'applied';
    const [epoch, seq] = this.fence;
    if (order.epoch < epoch || (order.epoch === epoch && order.seq < seq)) return 'refused';
    this.proxy.setWeights({ ...(this.previous ? { [this.previous.releaseDigest]: 100 - order.weight } : {}), [this.next.releaseDigest]: order.weight });
    this.applied.add(order.opId);
    this.fence = [order.epoch, order.seq];
    this.lastOpId = order.opId;
    return 'applied';
  }

  async read(): Promise<TrafficReading> {
    return { weight: this.proxy.weights()[this.next.releaseDigest] ?? 0, lastOpId: this.lastOpId };
  }

  async metrics(): Promise<Record<string, VersionMetrics>> {
    const stats = this.proxy.stats();
    const out: Record<string, VersionMetrics> = {};
    for (const digest of [this.previous?.releaseDigest, this.next.releaseDigest]) {
      const s = digest === undefined ? undefined : stats[digest];
      if (digest !== undefined && s) out[digest] = { requests: s.requests, errors: s.errors, p99Ms: s.p99Ms };
    }
    return out;
  }
}

/** Throws DEPLOY_PINNED when the environment was pinned after rolling back this release's artifact (or this very release). */
export async function refusePinned(store: Store, environment: string, next: ReleaseRef): Promise<void> {
  const pin = await store.getPin(environment);
  if (pin && (pin.blockedDigest === next.artifactDigest || pin.blockedDigest === next.releaseDigest)) {
    throw new DeployError(
      'DEPLOY_PINNED',
      `${environment} is pinned to ${pin.releaseDigest} after rolling back ${pin.blockedDigest} (${pin.reason}); deploying it again needs an explicit override`,
    );
  }
}

export interface GateAnswer {
  readonly allow: boolean;
  /** The stored gate decision's id; it goes into the `deploy.gate` audit entry (or the rollback's, on a denial). */
  readonly decisionId: string;
}

/** The effects a rollout runs with; the same for a fresh rollout and a resumed one. */
export interface RolloutEffects {
  readonly store: Store;
  /** Who holds the lease (e.g. `host/pid`). */
  readonly holder: string;
  readonly target: TrafficTarget;
  /** Asked before every promotion step. */
  gate(step: number, weight: number): Promise<GateAnswer>;
  /** Called for every audit command; `payload` is what `payloadDigest` digests, for callers that keep it. */
  audit(action: string, subjects: readonly string[], payloadDigest: Digest, payload: string): Promise<void>;
  /** How often the canary's counts are read during a pause (default 50 ms). */
  readonly pollMs?: number;
  readonly clock?: () => number;
  /** Lease length in milliseconds (default 60 s); renewed at every state write and during pauses. */
  readonly leaseMs?: number;
  /**
   * Stops the controller where it is, as a crash would: it throws DEPLOY_ABORTED, the stored
   * state stays, and the lease is left to expire so {@link resumeRollout} can continue.
   */
  readonly signal?: AbortSignal;
}

export interface DeployReleaseOptions extends RolloutEffects {
  /** Must be the plan's environment. */
  readonly environment: string;
  /**
   * What to do, from {@link planRollout}: the previous (null on a first deployment) and next
   * release refs, the steps and their pauses, analysis, triggers and rollback-unsafety.
   */
  readonly plan: RolloutPlan;
  /** Milliseconds the gate may take to answer before the step counts as denied (default 60 s). */
  readonly gateTimeoutMs?: number;
  /** Deploy even though a pin blocks `next`. */
  readonly override?: boolean;
}

export interface ResumeRolloutOptions extends RolloutEffects {
  readonly environment: string;
}

export interface DeployOutcome {
  readonly rolloutId: string;
  readonly planDigest: Digest;
  readonly phase: Phase;
  readonly state: RolloutState;
  readonly rolledBack: boolean;
  readonly reason: string | null;
  /** Evidence of the analysis or trigger that decided a rollback, if any. */
  readonly evidence: Evidence | null;
  /** Canary requests seen when the rollback was decided. */
  readonly requestsToDetect: number | null;
  /** Milliseconds since the epoch: rollback decided, and all traffic back on `previous`. */
  readonly decidedAt: number | null;
  readonly rolledBackAt: number | null;
  readonly alerts: readonly string[];
}

/** What the rollout record stores: everything {@link resumeRollout} needs to continue. */
export interface StoredRollout {
  readonly format: 'cairn.rollout/v1';
  readonly rolloutId: string;
  readonly environment: string;
  readonly plan: RolloutPlan;
  readonly planDigest: Digest;
  readonly previous: ReleaseRef | null;
  readonly next: ReleaseRef;
  readonly config: MachineConfig;
  readonly state: RolloutState;
  readonly report: Report;
}

interface Report {
  evidence: Evidence | null;
  requestsToDetect: number | null;
  decidedAt: number | null;
  rolledBackAt: number | null;
  alerts: string[];
}

const ROLLOUT_FORMAT = 'cairn.rollout/v1';
const DEFAULT_LEASE_MS = 60_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const leaseName = (environment: string): string => `deploy/${environment}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a stored rollout record; throws DEPLOY_ROLLOUT_CORRUPT on a body this controller did not write or that changed since. */
export function storedRolloutFromJSON(environment: string, body: string): StoredRollout {
  const bad = (what: string, cause?: unknown): DeployError =>
    new DeployError('DEPLOY_ROLLOUT_CORRUPT', `the stored rollout of ${environment} cannot be resumed: ${what}`, cause === undefined ? undefined : { cause });
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (cause) {
    throw bad('not JSON', cause);
  }
  if (!isObject(raw) || raw.format !== ROLLOUT_FORMAT) throw bad(`not a ${ROLLOUT_FORMAT} record`);
  const { plan, state, config, report } = raw;
  if (typeof raw.rolloutId !== 'string' || raw.environment !== environment) throw bad('rollout id or environment missing');
  if (!isObject(plan) || !isObject(state) || !isObject(config) || !isObject(report)) throw bad('plan, state, machine config or report missing');
  if (typeof state.phase !== 'string' || !(['Gating', 'Applying', 'Verifying', 'Analyzing', ...FINAL_PHASES] as string[]).includes(state.phase))
    throw bad(`unknown phase ${String(state.phase)}`);
  if (!Array.isArray(config.weights) || !Array.isArray(config.pausesMs) || !isObject(config.deadlines)) throw bad('machine config incomplete');
  if (!isObject(raw.next) || (raw.previous !== null && !isObject(raw.previous))) throw bad('release refs missing');
  let digest: Digest;
  try {
    digest = planDigest(plan as unknown as RolloutPlan);
  } catch (cause) {
    throw bad('the plan is not canonical JSON', cause);
  }
  // The plan audited before the first step is the plan resumed: a record edited since does not resume.
  if (digest !== raw.planDigest) throw bad(`the plan digests to ${digest}, the record says ${String(raw.planDigest)}`);
  return raw as unknown as StoredRollout;
}

/**
 * Throws DEPLOY_ROLLOUT_UNFINISHED when the environment's last rollout stopped before a final
 * phase (its controller died): a new rollout must not start over it. Called before anything
 * is started, and again under the lease.
 */
export async function refuseUnfinished(store: Store, environment: string): Promise<void> {
  const record = await store.getRollout(environment);
  if (record) refuseUnfinishedBody(environment, record.body);
}

function refuseUnfinishedBody(environment: string, body: string): void {
  const phase = storedPhase(body);
  if (phase !== null && !FINAL_PHASES.includes(phase as Phase)) {
    throw new DeployError(
      'DEPLOY_ROLLOUT_UNFINISHED',
      `the last rollout of ${environment} stopped in phase ${phase} without finishing: continue it with \`cairn deploy --resume --env ${environment}\` (or put the environment back with \`cairn rollback --env ${environment}\`) before starting another`,
    );
  }
}

/** The phase of a stored rollout body of any format, or null when it names none. */
function storedPhase(body: string): string | null {
  try {
    const raw: unknown = JSON.parse(body);
    const phase = isObject(raw) && isObject(raw.state) ? raw.state.phase : null;
    return typeof phase === 'string' ? phase : null;
  } catch {
    return null;
  }
}

/**
 * Rolls `plan.next` out on `target` beside `plan.previous`, step by step as planned by
 * {@link planRollout}, and rolls it back on evidence (a first deployment holds instead). Audits `deploy.plan` (payload: the plan's
 * JCS form, digest: {@link planDigest}) before any gate question or traffic change.
 */
export async function deployRelease(options: DeployReleaseOptions): Promise<DeployOutcome> {
  const { store, environment, plan } = options;
  const { next } = plan;
  const clock = options.clock ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  if (plan.environment !== environment) {
    throw new DeployError('DEPLOY_PLAN_MISMATCH', `the plan is for ${plan.environment}, not ${environment}`);
  }
  const digest = planDigest(plan);
  if (!options.override) await refusePinned(store, environment, next);
  const held = await store.acquireLease(leaseName(environment), options.holder, iso(clock()), iso(clock() + leaseMs));
  if (!held) throw new DeployError('DEPLOY_LEASE_HELD', `another controller holds the lease on ${environment}`);
  let existing: Awaited<ReturnType<Store['getRollout']>>;
  try {
    existing = await store.getRollout(environment);
    if (existing) refuseUnfinishedBody(environment, existing.body);
  } catch (error) {
    await store.releaseLease(held);
    throw error;
  }
  const rolloutId = `${environment}/${next.releaseDigest.slice(7, 19)}/e${held.epoch}`;
  const config: MachineConfig = {
    rolloutId,
    weights: plan.steps.map((s) => s.weight),
    pausesMs: plan.steps.map((s) => Math.round(s.pauseSeconds * 1000)),
    hasPrevious: plan.previous !== null,
    rollbackUnsafe: plan.rollbackUnsafe,
    onCannotMeasure: plan.onCannotMeasure,
    maxAttempts: 3,
    deadlines: { gate: options.gateTimeoutMs ?? 60_000, apply: 10_000, verify: 10_000, analyse: 60_000 },
  };
  const run: Run = {
    effects: options,
    rollout: { rolloutId, environment, plan, planDigest: digest, previous: plan.previous, next, config },
    lease: held,
    revision: existing?.revision ?? 0,
    report: { evidence: null, requestsToDetect: null, decidedAt: null, rolledBackAt: null, alerts: [] },
  };
  return drive(run, async () => {
    // The plan is on the record before the first gate question or traffic change.
    await options.audit('deploy.plan', subjectsOf(run.rollout), digest, canonicalize(plan));
    return initialState(config, held.epoch, clock());
  });
}

/**
 * Continues the environment's stored rollout after its controller died: once the rollout's
 * lease has expired (or was released) it takes the lease under a new epoch, applies the
 * machine's `resumed` event (which reads the target before re-sending anything) and drives the
 * rollout to a final phase. A rollout already in a final phase is reported as stored, and
 * nothing is done. Throws DEPLOY_NO_ROLLOUT, DEPLOY_LEASE_HELD (the lease is still live) or
 * DEPLOY_ROLLOUT_CORRUPT.
 */
export async function resumeRollout(options: ResumeRolloutOptions): Promise<DeployOutcome> {
  const { store, environment } = options;
  const clock = options.clock ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const record = await store.getRollout(environment);
  if (!record) throw new DeployError('DEPLOY_NO_ROLLOUT', `${environment} has no stored rollout to resume`);
  const stored = storedRolloutFromJSON(environment, record.body);
  if (isFinal(stored.state.phase)) return outcomeOf(stored, stored.state, { ...stored.report, alerts: [...stored.report.alerts] });
  await refuseLiveLease(store, environment, clock());
  const held = await store.acquireLease(leaseName(environment), options.holder, iso(clock()), iso(clock() + leaseMs));
  if (!held) throw new DeployError('DEPLOY_LEASE_HELD', `another controller took the lease on ${environment}`);
  const { format: _format, state, report, ...rollout } = stored;
  const run: Run = { effects: options, rollout, lease: held, revision: record.revision, report: { ...report, alerts: [...report.alerts] } };
  return drive(run, async () => {
    const payload = JSON.stringify({ environment, rolloutId: rollout.rolloutId, planDigest: rollout.planDigest, phase: state.phase, epoch: held.epoch });
    await options.audit('deploy.resume', subjectsOf(rollout), sha256Digest(payload), payload);
    return transition(rollout.config, state, { type: 'resumed', epoch: held.epoch }, clock());
  });
}

/** Throws DEPLOY_LEASE_HELD while the environment's rollout lease is live: it may belong to a controller that still runs, this holder's included. */
export async function refuseLiveLease(store: Store, environment: string, now: number): Promise<void> {
  const live = await store.getLease(leaseName(environment));
  if (live && now < Date.parse(live.expiresAt)) {
    throw new DeployError('DEPLOY_LEASE_HELD', `the rollout of ${environment} is still leased to ${live.holder} until ${live.expiresAt}`);
  }
}

/** A release-history detail naming the rollout it records the outcome of (how a resumed rollout knows it was recorded). */
export function rolloutDetail(rolloutId: string, text: string): string {
  return `rollout ${rolloutId}: ${text}`;
}

/** Whether a release-history detail records the outcome of rollout `rolloutId`. */
export function recordsRollout(detail: string, rolloutId: string): boolean {
  return detail.startsWith(rolloutDetail(rolloutId, ''));
}

/** The stored rollout when it stopped before a final phase (its controller died), else null. */
function unfinishedFrom(environment: string, body: string): StoredRollout | null {
  const phase = storedPhase(body);
  if (phase === null || FINAL_PHASES.includes(phase as Phase)) return null;
  return storedRolloutFromJSON(environment, body);
}

/**
 * The environment's stored rollout when it left its new release running beside the previous
 * one with nobody deciding: unfinished (its controller died), or held or frozen with a previous
 * release. What `cairn rollback` undoes first. Null otherwise.
 */
export async function undecidedRollout(store: Store, environment: string): Promise<StoredRollout | null> {
  const record = await store.getRollout(environment);
  return record ? undecidedFrom(environment, record.body) : null;
}

function undecidedFrom(environment: string, body: string): StoredRollout | null {
  const phase = storedPhase(body);
  if (phase === 'Held' || phase === 'Frozen') {
    const stored = storedRolloutFromJSON(environment, body);
    return stored.previous !== null ? stored : null;
  }
  return unfinishedFrom(environment, body);
}

/**
 * Ends the environment's undecided stored rollout ({@link undecidedRollout}) as RolledBack,
 * under `lease` (which the caller holds at a newer epoch than the rollout's controller): what a
 * manual rollback does, so the superseded rollout can neither be resumed nor block the next one.
 * Returns the rollout id it ended, or null when there was none.
 */
export async function endSupersededRollout(store: Store, environment: string, lease: Lease, reason: string, now: number): Promise<string | null> {
  const record = await store.getRollout(environment);
  const stored = record ? undecidedFrom(environment, record.body) : null;
  if (!record || !stored) return null;
  const state: RolloutState = { ...stored.state, phase: 'RolledBack', op: null, deadline: null, epoch: lease.epoch, reason };
  const body: StoredRollout = { ...stored, state, report: { ...stored.report, rolledBackAt: now } };
  await store.putRollout(environment, JSON.stringify(body), record.revision, lease, iso(now));
  return stored.rolloutId;
}

type RolloutIdentity = Omit<StoredRollout, 'format' | 'state' | 'report'>;

interface Run {
  readonly effects: RolloutEffects;
  readonly rollout: RolloutIdentity;
  lease: Lease;
  revision: number;
  readonly report: Report;
}

function subjectsOf(r: RolloutIdentity): string[] {
  return [r.environment, r.next.releaseDigest, ...(r.previous ? [r.previous.releaseDigest] : [])];
}

function outcomeOf(r: RolloutIdentity, state: RolloutState, report: Report): DeployOutcome {
  return {
    rolloutId: r.rolloutId,
    planDigest: r.planDigest,
    phase: state.phase,
    state,
    rolledBack: state.phase === 'RolledBack',
    reason: state.reason,
    evidence: report.evidence,
    requestsToDetect: report.requestsToDetect,
    decidedAt: report.decidedAt,
    rolledBackAt: report.rolledBackAt,
    alerts: [...report.alerts],
  };
}

const NO_METRICS: VersionMetrics = { requests: 0, errors: 0, p99Ms: null };

/** Runs the machine from `start` to a final phase, persisting every state before its commands. */
async function drive(run: Run, start: () => Promise<Transition>): Promise<DeployOutcome> {
  const { effects, rollout, report } = run;
  const { store, target } = effects;
  const { environment, config, plan, next, previous } = rollout;
  const clock = effects.clock ?? Date.now;
  const leaseMs = effects.leaseMs ?? DEFAULT_LEASE_MS;
  const pollMs = effects.pollMs ?? 50;
  const signal = effects.signal;
  const subjects = subjectsOf(rollout);
  let aborted = false;

  const checkAbort = (): void => {
    if (signal?.aborted) {
      aborted = true;
      throw new DeployError('DEPLOY_ABORTED', `the rollout of ${environment} was stopped in flight; resume it once its lease expires`, {
        cause: signal.reason,
      });
    }
  };
  const wait = async (ms: number): Promise<void> => {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch {
      checkAbort();
    }
  };

  let renewedAt = clock();
  const renew = async (): Promise<void> => {
    run.lease = await store.renewLease(run.lease, iso(clock()), iso(clock() + leaseMs));
    renewedAt = clock();
  };
  const persist = async (state: RolloutState): Promise<void> => {
    if (!isFinal(state.phase)) checkAbort();
    await renew();
    const body: StoredRollout = { format: ROLLOUT_FORMAT, ...rollout, state, report };
    const record = await store.putRollout(environment, JSON.stringify(body), run.revision, run.lease, iso(clock()));
    run.revision = record.revision;
  };

  const readMetrics = async (): Promise<Readonly<Record<string, VersionMetrics>>> => {
    // A failed read is no reading: the step ends as "cannot measure" if nothing better arrives.
    return target.metrics().catch(() => ({}));
  };

  const sprtParams = (baseline: VersionMetrics | undefined): SprtParams => {
    // The baseline's own observed rate, when it has served enough, raises p0 so a shared fault is not blamed on the canary.
    const p0 = plan.analysis.baselineErrorRate;
    if (!baseline || baseline.requests < plan.triggers.minRequests) return plan.analysis;
    const observed = baseline.errors / baseline.requests;
    const raised = Math.min(Math.max(p0, observed), 0.5 / plan.analysis.effect);
    return { ...plan.analysis, baselineErrorRate: raised };
  };

  /** Observes the canary for the step's pause; an early SPRT reject or a fired trigger ends it at once. */
  const analyse = async (step: number, weight: number): Promise<MachineEvent> => {
    const pauseMs = config.pausesMs[step] ?? 0;
    // A step configured with no pause is not observed: it passes, and its evidence says so.
    if (pauseMs === 0) return { type: 'analysed', step, verdict: 'pass', evidence: { step, weight, observed: 'no (pauseSeconds 0)' } };
    const until = clock() + pauseMs;
    for (;;) {
      const all = await readMetrics();
      const m = all[next.releaseDigest] ?? NO_METRICS;
      const first = firedTriggers(m, plan.triggers)[0];
      if (first) {
        return {
          type: 'rollbackRequested',
          reason: `trigger ${first.trigger === 'custom' ? `custom:${first.metric}` : first.trigger} fired at step ${step}: ${first.observed} > ${first.limit}`,
          evidence: {
            step,
            weight,
            requests: m.requests,
            errors: m.errors,
            p99Ms: m.p99Ms,
            trigger: first.trigger,
            metric: first.metric,
            observed: first.observed,
            limit: first.limit,
          },
        };
      }
      const params = sprtParams(previous ? all[previous.releaseDigest] : undefined);
      const result = sprtDecide({ requests: m.requests, errors: m.errors }, params);
      const detail: Evidence = {
        step,
        weight,
        requests: m.requests,
        errors: m.errors,
        p99Ms: m.p99Ms,
        baselineErrorRate: params.baselineErrorRate,
        llr: Number(result.llr.toFixed(4)),
        upper: Number(result.upper.toFixed(4)),
        lower: Number(result.lower.toFixed(4)),
        verdict: result.verdict,
      };
      if (result.verdict === 'reject') return { type: 'analysed', step, verdict: 'fail', evidence: detail };
      if (clock() >= until) {
        if (weight > 0 && m.requests === 0) return { type: 'analysed', step, verdict: 'cannotMeasure', evidence: detail };
        return { type: 'analysed', step, verdict: 'pass', evidence: detail };
      }
      // A long pause must not outlive the lease: renew once half of it has passed.
      if (clock() - renewedAt > leaseMs / 2) await renew();
      await wait(Math.min(pollMs, Math.max(1, until - clock())));
    }
  };

  const execute = async (command: Command, state: RolloutState): Promise<MachineEvent | null> => {
    switch (command.type) {
      case 'askGate': {
        // A gate that never answers must not stall the rollout: after the gate deadline the machine's own outcome (roll back) applies.
        const waited = Math.max(0, (state.deadline ?? clock()) - clock());
        const timer = new AbortController();
        // A slow gate must not outlive the lease: it is kept alive while the gate thinks (a lost lease shows at the next write).
        const keepAlive = setInterval(() => void renew().catch(() => {}), Math.max(10, Math.floor(leaseMs / 3)));
        const answer = await Promise.race([
          effects.gate(command.step, command.weight),
          sleep(waited, null, { signal: timer.signal }).catch(() => null),
        ]).finally(() => {
          clearInterval(keepAlive);
          timer.abort();
        });
        if (answer === null) return null;
        return { type: 'gateAnswered', step: command.step, allow: answer.allow, decisionId: answer.decisionId };
      }
      case 'apply': {
        const existing = await store.getOperation(command.opId);
        if (!existing) {
          await store.putOperation({
            id: command.opId,
            environment,
            epoch: command.epoch,
            body: JSON.stringify({ kind: command.kind, seq: command.seq, weight: command.weight }),
          });
        }
        const answer = await target.apply({ opId: command.opId, epoch: command.epoch, seq: command.seq, weight: command.weight });
        if (answer === 'applied' && command.kind === 'rollback') report.rolledBackAt = clock();
        return answer === 'applied' ? { type: 'applied', opId: command.opId } : { type: 'refused', opId: command.opId };
      }
      case 'read': {
        const seen = await target.read();
        return { type: 'observed', opId: command.opId, weight: seen.weight, lastOpId: seen.lastOpId };
      }
      case 'analyse': {
        const event = await analyse(command.step, command.weight);
        if (event.type === 'rollbackRequested' || (event.type === 'analysed' && event.verdict === 'fail')) {
          report.evidence = event.evidence;
          report.requestsToDetect = Number(event.evidence.requests);
          report.decidedAt = clock();
        }
        return event;
      }
      case 'pinPrevious':
        // The machine never rolls back a first deployment, so there is always a previous release here.
        if (previous) {
          await store.putPin({
            environment,
            releaseDigest: previous.releaseDigest,
            blockedDigest: next.artifactDigest,
            reason: state.reason ?? 'rolled back',
            pinnedAt: iso(clock()),
          });
        }
        return null;
      case 'alert':
        report.alerts.push(command.reason);
        return null;
      case 'audit': {
        const payload = JSON.stringify({
          environment,
          rolloutId: rollout.rolloutId,
          planDigest: rollout.planDigest,
          action: command.action,
          ...command.detail,
          ...(command.action.startsWith('deploy.rollback') ? { evidence: report.evidence } : {}),
        });
        await effects.audit(command.action, subjects, sha256Digest(payload), payload);
        return null;
      }
    }
  };

  try {
    checkAbort();
    let t = await start();
    await persist(t.state);
    let queue: Command[] = [...t.commands];
    for (;;) {
      checkAbort();
      const command = queue.shift();
      if (command === undefined) {
        if (isFinal(t.state.phase)) break;
        // Nothing left to do but wait for the phase's deadline outcome.
        await wait(Math.max(0, (t.state.deadline ?? clock()) - clock()));
        const expired = transition(config, t.state, { type: 'deadline' }, clock());
        if (expired.state !== t.state) await persist(expired.state);
        t = expired;
        queue = [...expired.commands];
        continue;
      }
      const event = await execute(command, t.state);
      if (event === null) continue;
      if (event.type === 'gateAnswered' && !event.allow) report.decidedAt ??= clock();
      const after = transition(config, t.state, event, clock());
      if (after.state !== t.state) await persist(after.state);
      t = after;
      queue = [...queue, ...after.commands];
    }
    // The final state was stored before its commands ran; store once more so the record holds their report (alerts, rollback time).
    await persist(t.state);
    return outcomeOf(rollout, t.state, report);
  } finally {
    // A stopped controller behaves like a crashed one: its lease expires rather than being handed over.
    if (!aborted) await store.releaseLease(run.lease);
  }
}
