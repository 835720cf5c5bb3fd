import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../model/digest.js';
import type { Lease, Store } from '../store/port.js';
import { DeployError } from './errors.js';
import { type Command, type Evidence, initialState, isFinal, type MachineConfig, type MachineEvent, type RolloutState, transition } from './machine.js';
import type { WeightedProxy } from './proxy.js';
import { firedTriggers, type RollbackTriggers, type SprtParams, sprtDecide } from './sprt.js';

/**
 * The rollout controller: drives the pure machine (machine.ts) with real effects. It holds
 * the environment's lease, persists each state under that lease's epoch before running the
 * state's commands, records every operation by id before sending it, and shifts traffic on a
 * weighted proxy between the running (previous) version and the new one.
 */

export interface RunningVersion {
  readonly digest: Digest;
  /** Base URL of the running process, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
}

export interface ApplyOrder {
  readonly opId: string;
  readonly epoch: number;
  readonly seq: number;
  /** Percent of traffic on the new version. */
  readonly weight: number;
}

/** What the controller needs from a place that can split traffic. */
export interface RolloutTarget {
  /** Applies an order at most once per id; refuses a fence `(epoch, seq)` below the highest applied. */
  apply(order: ApplyOrder): Promise<'applied' | 'refused'>;
  read(): Promise<{ readonly weight: number; readonly lastOpId: string | null }>;
}

/**
 * A rollout target over a {@link WeightedProxy} with two versions, keyed by digest: weight `w`
 * sends w% of requests to `next` and the rest to `previous`.
 */
export class ProxyRolloutTarget implements RolloutTarget {
  private readonly applied = new Set<string>();
  private fence: readonly [number, number] = [0, 0];
  private lastOpId: string | null = null;

  constructor(
    readonly proxy: WeightedProxy,
    readonly previous: RunningVersion,
    readonly next: RunningVersion,
  ) {
    proxy.setUpstream({ version: previous.digest, url: previous.url });
    proxy.setUpstream({ version: next.digest, url: next.url });
  }

  async apply(order: ApplyOrder): Promise<'applied' | 'refused'> {
    if (this.applied.has(order.opId)) return 'applied';
    const [epoch, seq] = this.fence;
    if (order.epoch < epoch || (order.epoch === epoch && order.seq < seq)) return 'refused';
    this.proxy.setWeights({ [this.previous.digest]: 100 - order.weight, [this.next.digest]: order.weight });
    this.applied.add(order.opId);
    this.fence = [order.epoch, order.seq];
    this.lastOpId = order.opId;
    return 'applied';
  }

  async read(): Promise<{ weight: number; lastOpId: string | null }> {
    return { weight: this.proxy.weights()[this.next.digest] ?? 0, lastOpId: this.lastOpId };
  }
}

export interface GateAnswer {
  readonly allow: boolean;
  readonly reason: string;
}

export interface DeployReleaseOptions {
  readonly store: Store;
  readonly environment: string;
  /** Who holds the lease (e.g. `host/pid`). */
  readonly holder: string;
  readonly proxy: WeightedProxy;
  readonly previous: RunningVersion;
  readonly next: RunningVersion;
  /** Canary weights per step, ascending, the last 100 (default [10, 50, 100]). */
  readonly weights?: readonly number[];
  /** Milliseconds each step is observed before promotion (default 30 s). */
  readonly pauseMs?: number;
  /** How often the canary's counts are read during a pause (default 50 ms). */
  readonly pollMs?: number;
  readonly sprt: SprtParams;
  readonly triggers: RollbackTriggers;
  /** Milliseconds the gate may take to answer before the step counts as denied (default 60 s). */
  readonly gateTimeoutMs?: number;
  /** Re-evaluated before every promotion step. */
  gate(step: number, weight: number): Promise<GateAnswer>;
  /** Called for every audit command; `payload` is what `payloadDigest` digests (JSON), for callers that keep it. */
  audit(action: string, subjects: readonly string[], payloadDigest: Digest, payload: string): Promise<void>;
  /** Deploy even though a pin blocks `next`. */
  readonly override?: boolean;
  readonly rollbackUnsafe?: boolean;
  readonly clock?: () => number;
  readonly leaseMs?: number;
}

export interface DeployOutcome {
  readonly phase: RolloutState['phase'];
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

function payloadDigest(payload: string): Digest {
  return `sha256:${createHash('sha256').update(payload).digest('hex')}`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Rolls `next` out beside `previous`, step by step, and rolls it back on evidence. */
export async function deployRelease(options: DeployReleaseOptions): Promise<DeployOutcome> {
  const { store, environment, proxy, previous, next } = options;
  const clock = options.clock ?? Date.now;
  const leaseMs = options.leaseMs ?? 60_000;
  const pauseMs = options.pauseMs ?? 30_000;
  const pollMs = options.pollMs ?? 50;
  const pin = await store.getPin(environment);
  if (pin && pin.blockedDigest === next.digest && !options.override) {
    throw new DeployError(
      'DEPLOY_PINNED',
      `${environment} is pinned to ${pin.releaseDigest} after rolling back ${next.digest} (${pin.reason}); deploying it again needs an explicit override`,
    );
  }
  const held = await store.acquireLease(`deploy/${environment}`, options.holder, iso(clock()), iso(clock() + leaseMs));
  if (!held) throw new DeployError('DEPLOY_LEASE_HELD', `another controller holds the lease on ${environment}`);
  const rolloutId = `${environment}/${next.digest.slice(7, 19)}/e${held.epoch}`;
  const config: MachineConfig = {
    rolloutId,
    weights: options.weights ?? [10, 50, 100],
    rollbackUnsafe: options.rollbackUnsafe ?? false,
    onCannotMeasure: 'hold',
    maxAttempts: 3,
    deadlines: { gate: options.gateTimeoutMs ?? 60_000, apply: 10_000, verify: 10_000, analyse: pauseMs + 60_000 },
  };
  const target = new ProxyRolloutTarget(proxy, previous, next);
  const subjects = [environment, next.digest, previous.digest];
  const alerts: string[] = [];
  let revision = (await store.getRollout(environment))?.revision ?? 0;
  let evidence: Evidence | null = null;
  let requestsToDetect: number | null = null;
  let decidedAt: number | null = null;
  let rolledBackAt: number | null = null;
  let current: Lease = held;

  let renewedAt = clock();
  const renew = async (): Promise<void> => {
    current = await store.renewLease(current, iso(clock()), iso(clock() + leaseMs));
    renewedAt = clock();
  };
  const persist = async (state: RolloutState): Promise<void> => {
    await renew();
    const record = await store.putRollout(environment, JSON.stringify({ rolloutId, previous, next, state }), revision, current, iso(clock()));
    revision = record.revision;
  };

  const canaryMetrics = () => {
    const s = proxy.stats()[next.digest];
    return { requests: s?.requests ?? 0, errors: s?.errors ?? 0, p99Ms: s?.p99Ms ?? null };
  };

  const sprtParams = (): SprtParams => {
    // The baseline's own observed rate, when it has served enough, raises p0 so a shared fault is not blamed on the canary.
    const b = proxy.stats()[previous.digest];
    const p0 = options.sprt.baselineErrorRate;
    if (!b || b.requests < options.triggers.minRequests) return options.sprt;
    const observed = b.errors / b.requests;
    const raised = Math.min(Math.max(p0, observed), 0.5 / options.sprt.effect);
    return { ...options.sprt, baselineErrorRate: raised };
  };

  /** Observes the canary for one pause; an early SPRT reject or a fired trigger ends it at once. */
  const analyse = async (step: number, weight: number): Promise<MachineEvent> => {
    const until = clock() + pauseMs;
    for (;;) {
      const m = canaryMetrics();
      const fired = firedTriggers(m, options.triggers);
      if (fired.length > 0) {
        const first = fired[0];
        return {
          type: 'rollbackRequested',
          reason: `trigger ${first?.trigger} fired at step ${step}: ${first?.observed} > ${first?.limit}`,
          evidence: {
            step,
            weight,
            requests: m.requests,
            errors: m.errors,
            p99Ms: m.p99Ms,
            trigger: first?.trigger ?? null,
            observed: first?.observed ?? null,
            limit: first?.limit ?? null,
          },
        };
      }
      const params = sprtParams();
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
      await sleep(Math.min(pollMs, Math.max(1, until - clock())));
    }
  };

  const execute = async (command: Command, state: RolloutState): Promise<MachineEvent | null> => {
    switch (command.type) {
      case 'askGate': {
        // A gate that never answers must not stall the rollout: after the gate deadline the machine's own outcome (roll back) applies.
        const waited = Math.max(0, (state.deadline ?? clock()) - clock());
        const timer = new AbortController();
        const answer = await Promise.race([
          options.gate(command.step, command.weight),
          sleep(waited, null, { signal: timer.signal }).catch(() => null),
        ]).finally(() => timer.abort());
        if (answer === null) return null;
        return { type: 'gateAnswered', step: command.step, allow: answer.allow, decisionId: answer.reason };
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
        const answer = await target.apply(command);
        if (answer === 'applied' && command.kind === 'rollback') rolledBackAt = clock();
        return answer === 'applied' ? { type: 'applied', opId: command.opId } : { type: 'refused', opId: command.opId };
      }
      case 'read': {
        const seen = await target.read();
        return { type: 'observed', opId: command.opId, weight: seen.weight, lastOpId: seen.lastOpId };
      }
      case 'analyse': {
        const event = await analyse(command.step, command.weight);
        if (event.type === 'rollbackRequested' || (event.type === 'analysed' && event.verdict === 'fail')) {
          evidence = event.evidence;
          requestsToDetect = Number(event.evidence.requests);
          decidedAt = clock();
        }
        return event;
      }
      case 'pinPrevious':
        await store.putPin({
          environment,
          releaseDigest: previous.digest,
          blockedDigest: next.digest,
          reason: state.reason ?? 'rolled back',
          pinnedAt: iso(clock()),
        });
        return null;
      case 'alert':
        alerts.push(command.reason);
        return null;
      case 'audit': {
        const payload = JSON.stringify({
          environment,
          rolloutId,
          action: command.action,
          ...command.detail,
          ...(command.action.startsWith('deploy.rollback') ? { evidence } : {}),
        });
        await options.audit(command.action, subjects, payloadDigest(payload), payload);
        return null;
      }
    }
  };

  try {
    let t = initialState(config, held.epoch, clock());
    await persist(t.state);
    let queue: Command[] = [...t.commands];
    for (;;) {
      const command = queue.shift();
      if (command === undefined) {
        if (isFinal(t.state.phase)) break;
        // Nothing left to do but wait for the phase's deadline outcome.
        await sleep(Math.max(0, (t.state.deadline ?? clock()) - clock()));
        const expired = transition(config, t.state, { type: 'deadline' }, clock());
        if (expired.state !== t.state) await persist(expired.state);
        t = expired;
        queue = [...expired.commands];
        continue;
      }
      const event = await execute(command, t.state);
      if (event === null) continue;
      if (event.type === 'gateAnswered' && !event.allow) decidedAt ??= clock();
      const after = transition(config, t.state, event, clock());
      if (after.state !== t.state) await persist(after.state);
      t = after;
      queue = [...queue, ...after.commands];
    }
    return {
      phase: t.state.phase,
      state: t.state,
      rolledBack: t.state.phase === 'RolledBack',
      reason: t.state.reason,
      evidence,
      requestsToDetect,
      decidedAt,
      rolledBackAt,
      alerts,
    };
  } finally {
    await store.releaseLease(current);
  }
}
