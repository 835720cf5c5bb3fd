/**
 * The rollout controller's transition function: `(state, event, now) → (state', commands)`,
 * pure and total. The controller persists `state'` (a conditional write under its lease epoch)
 * before it executes any command, so a crash between the two loses commands but never state;
 * `resumed` re-derives what must be done from the state alone, and never re-sends an operation
 * blindly: it reads the target first.
 *
 * Every change to the target is an operation with an id (its idempotency key) and a fence
 * `(epoch, seq)`; targets apply an id at most once and refuse fences lower than the highest
 * they have applied, so late or duplicated deliveries change nothing.
 */

export type Phase = 'Gating' | 'Applying' | 'Verifying' | 'Analyzing' | 'Promoted' | 'RolledBack' | 'Held' | 'Frozen';

/** Phases a rollout ends in: done, or stopped and waiting for a person. */
export const FINAL_PHASES: readonly Phase[] = ['Promoted', 'RolledBack', 'Held', 'Frozen'];

export function isFinal(phase: Phase): boolean {
  return FINAL_PHASES.includes(phase);
}

export interface MachineConfig {
  readonly rolloutId: string;
  /** Canary weight (percent of traffic on the new bundle) of each step, ascending, the last 100. */
  readonly weights: readonly number[];
  /** Milliseconds each step is observed before promotion, one per step. */
  readonly pausesMs: readonly number[];
  /**
   * Whether a previous release runs to roll back to. Without one (a first deployment) the
   * rollout has a single step at 100, and a failure holds instead of rolling back.
   */
  readonly hasPrevious: boolean;
  /** The bundle must not be rolled back (e.g. it migrated data): a failure freezes instead. */
  readonly rollbackUnsafe: boolean;
  /** What "cannot measure" leads to. */
  readonly onCannotMeasure: 'hold' | 'rollback';
  /** How many times one operation may be re-sent after the target was read as "not done". */
  readonly maxAttempts: number;
  /**
   * Milliseconds each phase may last before its deadline outcome; `analyse` is how long an
   * analysis may run past its step's pause.
   */
  readonly deadlines: { readonly gate: number; readonly apply: number; readonly verify: number; readonly analyse: number };
}

export interface Operation {
  readonly id: string;
  readonly seq: number;
  readonly kind: 'shift' | 'rollback';
  /** Weight the target had when the operation was made, and the one it sets. */
  readonly from: number;
  readonly to: number;
  readonly step: number;
  readonly attempts: number;
}

export interface RolloutState {
  readonly phase: Phase;
  readonly step: number;
  /** Canary weight last confirmed at the target. */
  readonly weight: number;
  /** Highest weight the gate allowed. */
  readonly approved: number;
  readonly epoch: number;
  /** Sequence number of the last operation made. */
  readonly seq: number;
  readonly op: Operation | null;
  /** When the current phase's deadline passes (ms since the epoch); null in final phases. */
  readonly deadline: number | null;
  readonly reason: string | null;
}

export type Evidence = Readonly<Record<string, string | number | null>>;

export type MachineEvent =
  | { readonly type: 'gateAnswered'; readonly step: number; readonly allow: boolean; readonly decisionId: string }
  | { readonly type: 'applied'; readonly opId: string }
  | { readonly type: 'refused'; readonly opId: string }
  | { readonly type: 'observed'; readonly opId: string; readonly weight: number; readonly lastOpId: string | null }
  | { readonly type: 'analysed'; readonly step: number; readonly verdict: 'pass' | 'fail' | 'cannotMeasure'; readonly evidence: Evidence }
  | { readonly type: 'deadline' }
  | { readonly type: 'resumed'; readonly epoch: number }
  | { readonly type: 'rollbackRequested'; readonly reason: string; readonly evidence: Evidence };

export type Command =
  | { readonly type: 'askGate'; readonly step: number; readonly weight: number }
  | { readonly type: 'apply'; readonly opId: string; readonly epoch: number; readonly seq: number; readonly weight: number; readonly kind: Operation['kind'] }
  | { readonly type: 'read'; readonly opId: string }
  | { readonly type: 'analyse'; readonly step: number; readonly weight: number }
  | { readonly type: 'pinPrevious' }
  | { readonly type: 'alert'; readonly reason: string }
  | { readonly type: 'audit'; readonly action: string; readonly detail: Evidence };

export interface Transition {
  readonly state: RolloutState;
  readonly commands: readonly Command[];
}

/** The first state of a rollout and its first commands: ask the gate for step 0. */
export function initialState(config: MachineConfig, epoch: number, now: number): Transition {
  checkConfig(config);
  const state: RolloutState = {
    phase: 'Gating',
    step: 0,
    weight: 0,
    approved: 0,
    epoch,
    seq: 0,
    op: null,
    deadline: now + config.deadlines.gate,
    reason: null,
  };
  return { state, commands: [{ type: 'askGate', step: 0, weight: stepWeight(config, 0) }] };
}

function checkConfig(config: MachineConfig): void {
  const w = config.weights;
  if (w.length === 0 || w[w.length - 1] !== 100) throw new RangeError('a rollout needs at least one step and its last weight must be 100');
  for (const [i, x] of w.entries()) {
    if (!Number.isInteger(x) || x < 0 || x > 100 || (i > 0 && x < (w[i - 1] ?? 0)))
      throw new RangeError(`step weights must be ascending integers in 0..100 (step ${i}: ${x})`);
  }
  if (!Number.isSafeInteger(config.maxAttempts) || config.maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  if (config.pausesMs.length !== w.length || config.pausesMs.some((p) => !(p >= 0) || !Number.isFinite(p)))
    throw new RangeError('a rollout needs one non-negative pause per step');
  if (!config.hasPrevious && w.length !== 1) throw new RangeError('a first deployment (no previous release) has a single step at 100');
}

/** When the analysis of `step`, started at `now`, is out of time: the step's pause plus the analysis margin. */
function analyseDeadline(config: MachineConfig, step: number, now: number): number {
  return now + (config.pausesMs[step] ?? 0) + config.deadlines.analyse;
}

function stepWeight(config: MachineConfig, step: number): number {
  return config.weights[step] ?? 100;
}

const unchanged = (state: RolloutState): Transition => ({ state, commands: [] });

function applyCommand(state: RolloutState, op: Operation): Command {
  return { type: 'apply', opId: op.id, epoch: state.epoch, seq: op.seq, weight: op.to, kind: op.kind };
}

function newOperation(config: MachineConfig, state: RolloutState, kind: Operation['kind'], to: number, now: number): Transition {
  const seq = state.seq + 1;
  // The id names the transition, not the attempt: every re-send of it carries the same key.
  const op: Operation = { id: `${config.rolloutId}/${seq}-${kind}-${to}`, seq, kind, from: state.weight, to, step: state.step, attempts: 1 };
  const next: RolloutState = { ...state, phase: 'Applying', seq, op, deadline: now + config.deadlines.apply };
  return { state: next, commands: [applyCommand(next, op)] };
}

function hold(state: RolloutState, reason: string, detail: Evidence = {}): Transition {
  return {
    state: { ...state, phase: 'Held', deadline: null, reason },
    commands: [
      { type: 'alert', reason },
      { type: 'audit', action: 'deploy.hold', detail: { reason, ...detail } },
    ],
  };
}

function startRollback(config: MachineConfig, state: RolloutState, reason: string, evidence: Evidence, now: number): Transition {
  // Rolling back a first deployment would send traffic to nothing: stop where it is and call a person.
  if (!config.hasPrevious) return hold(state, `no previous release to roll back to: ${reason}`, evidence);
  if (config.rollbackUnsafe) {
    return {
      state: { ...state, phase: 'Frozen', deadline: null, reason },
      commands: [
        { type: 'alert', reason: `rollback-unsafe release frozen: ${reason}` },
        { type: 'audit', action: 'deploy.freeze', detail: { reason, ...evidence } },
      ],
    };
  }
  // The rollback is itself an operation with a higher fence, so any older operation still in flight is refused.
  const started = newOperation(config, { ...state, reason }, 'rollback', 0, now);
  return {
    state: started.state,
    commands: [{ type: 'audit', action: 'deploy.rollback.start', detail: { reason, weight: state.weight, ...evidence } }, ...started.commands],
  };
}

function completed(config: MachineConfig, state: RolloutState, op: Operation, now: number): Transition {
  const done: RolloutState = { ...state, weight: op.to, op: null };
  if (op.kind === 'rollback') {
    return {
      state: { ...done, phase: 'RolledBack', deadline: null },
      commands: [{ type: 'pinPrevious' }, { type: 'audit', action: 'deploy.rollback.done', detail: { opId: op.id, reason: state.reason } }],
    };
  }
  return {
    state: { ...done, phase: 'Analyzing', deadline: analyseDeadline(config, state.step, now) },
    commands: [
      { type: 'audit', action: 'deploy.step', detail: { opId: op.id, step: op.step, weight: op.to, epoch: state.epoch } },
      { type: 'analyse', step: state.step, weight: op.to },
    ],
  };
}

/** The next state and the commands to run after it is persisted. Events that no longer apply (stale, duplicated, late) change nothing. */
export function transition(config: MachineConfig, state: RolloutState, event: MachineEvent, now: number): Transition {
  if (event.type === 'resumed') return resume(config, state, event.epoch, now);
  if (isFinal(state.phase)) return unchanged(state);
  switch (event.type) {
    case 'gateAnswered': {
      if (state.phase !== 'Gating' || event.step !== state.step) return unchanged(state);
      if (!event.allow) return startRollback(config, state, `gate denied step ${state.step}`, { decisionId: event.decisionId }, now);
      const weight = stepWeight(config, state.step);
      const approved = Math.max(state.approved, weight);
      const started = newOperation(config, { ...state, approved }, 'shift', weight, now);
      return {
        state: started.state,
        commands: [{ type: 'audit', action: 'deploy.gate', detail: { step: state.step, weight, decisionId: event.decisionId } }, ...started.commands],
      };
    }
    case 'applied': {
      const op = state.op;
      if (!op || op.id !== event.opId || (state.phase !== 'Applying' && state.phase !== 'Verifying')) return unchanged(state);
      return completed(config, state, op, now);
    }
    case 'refused': {
      const op = state.op;
      if (!op || op.id !== event.opId) return unchanged(state);
      return hold(state, `the target refused operation ${op.id}: a holder with a newer lease epoch is acting`);
    }
    case 'observed': {
      const op = state.op;
      if (!op || op.id !== event.opId || state.phase !== 'Verifying') return unchanged(state);
      if (event.lastOpId === op.id && event.weight === op.to) return completed(config, state, op, now);
      const notDone = event.lastOpId !== op.id && (event.weight === op.from || (op.kind === 'rollback' && event.weight !== op.to));
      if (!notDone) return hold(state, `Indeterminate: operation ${op.id} expected weight ${op.from} or ${op.to}, the target shows ${event.weight}`);
      if (op.attempts >= config.maxAttempts) return hold(state, `Indeterminate: operation ${op.id} not applied after ${op.attempts} attempts`);
      const retried: Operation = { ...op, attempts: op.attempts + 1 };
      const next: RolloutState = { ...state, phase: 'Applying', op: retried, deadline: now + config.deadlines.apply };
      return { state: next, commands: [applyCommand(next, retried)] };
    }
    case 'analysed': {
      if (state.phase !== 'Analyzing' || event.step !== state.step) return unchanged(state);
      if (event.verdict === 'fail') return startRollback(config, state, `analysis failed at step ${state.step}`, event.evidence, now);
      if (event.verdict === 'cannotMeasure') return cannotMeasure(config, state, event.evidence, now);
      if (state.step + 1 >= config.weights.length) {
        return {
          state: { ...state, phase: 'Promoted', deadline: null },
          commands: [{ type: 'audit', action: 'deploy.promoted', detail: { step: state.step, weight: state.weight, ...event.evidence } }],
        };
      }
      const step = state.step + 1;
      return {
        state: { ...state, phase: 'Gating', step, deadline: now + config.deadlines.gate },
        commands: [{ type: 'askGate', step, weight: stepWeight(config, step) }],
      };
    }
    case 'deadline':
      if (state.deadline === null || now < state.deadline) return unchanged(state);
      return expire(config, state, now);
    case 'rollbackRequested':
      if (state.op?.kind === 'rollback') return unchanged(state);
      return startRollback(config, state, event.reason, event.evidence, now);
  }
}

function cannotMeasure(config: MachineConfig, state: RolloutState, evidence: Evidence, now: number): Transition {
  if (config.onCannotMeasure === 'rollback') return startRollback(config, state, `Indeterminate: cannot measure step ${state.step}`, evidence, now);
  return hold(state, `Indeterminate: cannot measure step ${state.step}`, evidence);
}

/** Each phase's defined outcome when its deadline passes. */
function expire(config: MachineConfig, state: RolloutState, now: number): Transition {
  switch (state.phase) {
    case 'Gating':
      return startRollback(config, state, `no gate decision for step ${state.step} before the deadline`, {}, now);
    case 'Applying': {
      // Ambiguous: the operation may or may not have landed. Read before anything else.
      const op = state.op;
      if (!op) return hold(state, 'applying without an operation');
      return { state: { ...state, phase: 'Verifying', deadline: now + config.deadlines.verify }, commands: [{ type: 'read', opId: op.id }] };
    }
    case 'Verifying':
      return hold(state, `Indeterminate: could not read the target to classify operation ${state.op?.id ?? '?'}`);
    case 'Analyzing':
      return cannotMeasure(config, state, { reason: 'analysis deadline' }, now);
    default:
      return unchanged(state);
  }
}

/** After a restart or a new lease: adopt the new epoch and re-derive the next command from state alone. */
function resume(config: MachineConfig, state: RolloutState, epoch: number, now: number): Transition {
  if (epoch <= state.epoch) return unchanged(state);
  const next: RolloutState = { ...state, epoch };
  switch (state.phase) {
    case 'Gating':
      return {
        state: { ...next, deadline: now + config.deadlines.gate },
        commands: [{ type: 'askGate', step: state.step, weight: stepWeight(config, state.step) }],
      };
    case 'Applying':
    case 'Verifying':
      if (!state.op) return hold(next, 'resumed without an operation');
      return { state: { ...next, phase: 'Verifying', deadline: now + config.deadlines.verify }, commands: [{ type: 'read', opId: state.op.id }] };
    case 'Analyzing':
      return {
        state: { ...next, deadline: analyseDeadline(config, state.step, now) },
        commands: [{ type: 'analyse', step: state.step, weight: state.weight }],
      };
    case 'RolledBack':
      // Pinning is idempotent; the pin may have been lost with the process.
      return { state: next, commands: [{ type: 'pinPrevious' }] };
    default:
      return unchanged(next);
  }
}
