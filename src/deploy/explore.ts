import { type Command, isFinal, type MachineConfig, type MachineEvent, type RolloutState, type Transition, initialState, transition } from './machine.js';

/**
 * A bounded model checker for the rollout machine. The world around the machine is a fenced,
 * idempotent target, a gate and an analysis that answer either way, and a network that may
 * reorder, drop, duplicate or delay any message; up to `faults` times the controller crashes
 * and restarts, loses its lease to a successor (its last operation is re-sent by the zombie),
 * or an operator asks for a rollback. Every schedule is explored; the invariants are checked
 * in every state, and the state graph must be acyclic, so every schedule ends. A configuration
 * without a previous release (a first deployment) adds one invariant: nothing is ever rolled back.
 */

export type TransitionFn = (config: MachineConfig, state: RolloutState, event: MachineEvent, now: number) => Transition;

type Message =
  | { readonly to: 'target'; readonly epoch: number; readonly cmd: Extract<Command, { type: 'apply' | 'read' }> }
  | { readonly to: 'gate'; readonly epoch: number; readonly step: number; readonly weight: number }
  | { readonly to: 'analysis'; readonly epoch: number; readonly step: number }
  | { readonly to: 'local'; readonly epoch: number; readonly cmd: Extract<Command, { type: 'pinPrevious' }> }
  | { readonly to: 'ctl'; readonly epoch: number; readonly event: MachineEvent };

interface TargetModel {
  readonly weight: number;
  readonly lastOpId: string | null;
  readonly fence: readonly [number, number];
  /** Effective applications per operation id and per transition (kind and step). */
  readonly byOp: Readonly<Record<string, number>>;
  readonly byTransition: Readonly<Record<string, number>>;
}

interface World {
  readonly s: RolloutState;
  readonly net: readonly Message[];
  readonly target: TargetModel;
  /** Highest weight the gate has allowed so far. */
  readonly allowed: number;
  readonly pinned: boolean;
  readonly faults: number;
  readonly storeEpoch: number;
  /** The gate's answer and the analysis verdict of each step, chosen either way when first asked, then fixed. */
  readonly gates: Readonly<Record<number, boolean>>;
  readonly verdicts: Readonly<Record<number, 'pass' | 'fail' | 'cannotMeasure'>>;
}

export interface ExploreResult {
  readonly states: number;
  readonly terminalStates: number;
  readonly violations: readonly string[];
  readonly finalPhases: Readonly<Record<string, number>>;
}

const NOW = 0;

function key(w: World): string {
  const net = w.net.map((m) => JSON.stringify(m)).sort();
  // Deadlines fire at any moment in the model, so only whether one is set matters.
  const s = { ...w.s, deadline: w.s.deadline === null ? null : 0 };
  return JSON.stringify([s, net, w.target, w.allowed, w.pinned, w.faults, w.storeEpoch, w.gates, w.verdicts]);
}

function emit(net: readonly Message[], epoch: number, commands: readonly Command[]): { net: Message[]; pinned: boolean } {
  const out = [...net];
  for (const c of commands) {
    if (c.type === 'apply' || c.type === 'read') out.push({ to: 'target', epoch, cmd: c });
    else if (c.type === 'askGate') out.push({ to: 'gate', epoch, step: c.step, weight: c.weight });
    else if (c.type === 'analyse') out.push({ to: 'analysis', epoch, step: c.step });
    else if (c.type === 'pinPrevious') out.push({ to: 'local', epoch, cmd: c });
    // alerts and audit entries carry no state the invariants read
  }
  return { net: out, pinned: false };
}

function without(net: readonly Message[], i: number): Message[] {
  return net.filter((_, j) => j !== i);
}

function step(fn: TransitionFn, config: MachineConfig, w: World, net: readonly Message[], event: MachineEvent, extra: Partial<World> = {}): World {
  const t = fn(config, w.s, event, event.type === 'deadline' ? (w.s.deadline ?? NOW) : NOW);
  return { ...w, ...extra, s: t.state, net: emit(net, t.state.epoch, t.commands).net };
}

/** What the target does with one command: the fenced, idempotent contract every target implements. */
function deliverToTarget(target: TargetModel, m: Extract<Message, { to: 'target' }>): { target: TargetModel; reply: MachineEvent } {
  const c = m.cmd;
  if (c.type === 'read') return { target, reply: { type: 'observed', opId: c.opId, weight: target.weight, lastOpId: target.lastOpId } };
  if (target.byOp[c.opId] !== undefined) return { target, reply: { type: 'applied', opId: c.opId } };
  const [fe, fs] = target.fence;
  if (c.epoch < fe || (c.epoch === fe && c.seq <= fs)) return { target, reply: { type: 'refused', opId: c.opId } };
  const transitionKey = `${c.kind}:${c.kind === 'shift' ? c.weight : 0}`;
  return {
    target: {
      weight: c.weight,
      lastOpId: c.opId,
      fence: [c.epoch, c.seq],
      byOp: { ...target.byOp, [c.opId]: (target.byOp[c.opId] ?? 0) + 1 },
      byTransition: { ...target.byTransition, [transitionKey]: (target.byTransition[transitionKey] ?? 0) + 1 },
    },
    reply: { type: 'applied', opId: c.opId },
  };
}

/**
 * Drops messages whose delivery can no longer change anything: replies for an operation that is
 * not pending (ids are never reused), answers for a step the machine has left, reads of old
 * operations, and operations the target already applied or will refuse, unless still pending.
 * Stale gate requests are dropped too, which can only tighten the "allowed" invariant.
 */
function gc(w: World): World {
  const s = w.s;
  const pending = s.op?.id;
  const [fe, fs] = w.target.fence;
  const keep = (m: Message): boolean => {
    switch (m.to) {
      case 'ctl': {
        if (m.epoch !== s.epoch) return false;
        const e = m.event;
        if (e.type === 'applied' || e.type === 'refused' || e.type === 'observed') return !isFinal(s.phase) && e.opId === pending;
        if (e.type === 'gateAnswered') return s.phase === 'Gating' && e.step === s.step;
        if (e.type === 'analysed') return s.phase === 'Analyzing' && e.step === s.step;
        return true;
      }
      case 'gate':
        return m.step >= s.step && !isFinal(s.phase);
      case 'analysis':
        return m.step >= s.step && !isFinal(s.phase);
      case 'target': {
        const c = m.cmd;
        if (c.opId === pending && !isFinal(s.phase)) return true;
        if (c.type === 'read') return false;
        const refused = c.epoch < fe || (c.epoch === fe && c.seq <= fs);
        return w.target.byOp[c.opId] === undefined && !refused;
      }
      case 'local':
        return true;
    }
  };
  return w.net.every(keep) ? w : { ...w, net: w.net.filter(keep) };
}

/** Every world reachable in one step. */
function successors(fn: TransitionFn, config: MachineConfig, w: World): World[] {
  const out: World[] = [];
  const epoch = w.s.epoch;
  for (const [i, m] of w.net.entries()) {
    const rest = without(w.net, i);
    // Replies to a process that crashed or lost its lease go nowhere.
    if (m.to === 'ctl') {
      if (m.epoch === epoch) out.push(step(fn, config, w, rest, m.event));
    } else if (m.to === 'target') {
      const r = deliverToTarget(w.target, m);
      out.push({ ...w, target: r.target, net: [...rest, { to: 'ctl', epoch: m.epoch, event: r.reply }] });
    } else if (m.to === 'gate') {
      const known = w.gates[m.step];
      for (const allow of known === undefined ? [true, false] : [known]) {
        out.push({
          ...w,
          gates: { ...w.gates, [m.step]: allow },
          allowed: allow ? Math.max(w.allowed, m.weight) : w.allowed,
          net: [...rest, { to: 'ctl', epoch: m.epoch, event: { type: 'gateAnswered', step: m.step, allow, decisionId: `d${m.step}` } }],
        });
      }
    } else if (m.to === 'analysis') {
      const known = w.verdicts[m.step];
      for (const verdict of known === undefined ? (['pass', 'fail', 'cannotMeasure'] as const) : [known]) {
        out.push({
          ...w,
          verdicts: { ...w.verdicts, [m.step]: verdict },
          net: [...rest, { to: 'ctl', epoch: m.epoch, event: { type: 'analysed', step: m.step, verdict, evidence: {} } }],
        });
      }
    } else if (m.epoch === epoch) {
      out.push({ ...w, pinned: true, net: rest });
    } else out.push({ ...w, net: rest });
    if (w.faults > 0 && m.to !== 'local') {
      // Lost message, and a message delivered now and again later.
      out.push({ ...w, faults: w.faults - 1, net: rest });
      if (m.to === 'target') out.push({ ...w, faults: w.faults - 1, net: [...w.net, m] });
    }
  }
  // A deadline may pass at any moment: the ambiguous timeout.
  if (!isFinal(w.s.phase)) out.push(step(fn, config, w, w.net, { type: 'deadline' }));
  if (w.faults > 0) {
    const restarted = w.storeEpoch + 1;
    const survivors = w.net.filter((m) => m.to === 'target');
    // Crash and restart: in-process work and replies are lost; messages already on the wire may still land.
    out.push(step(fn, config, w, survivors, { type: 'resumed', epoch: restarted }, { faults: w.faults - 1, storeEpoch: restarted }));
    // Lease loss: a successor takes over while the old holder, not yet aware, re-sends its operation.
    const op = w.s.op;
    const zombie: Message[] = op ? [{ to: 'target', epoch, cmd: { type: 'apply', opId: op.id, epoch, seq: op.seq, weight: op.to, kind: op.kind } }] : [];
    out.push(step(fn, config, w, [...survivors, ...zombie], { type: 'resumed', epoch: restarted }, { faults: w.faults - 1, storeEpoch: restarted }));
    if (!isFinal(w.s.phase)) {
      out.push(step(fn, config, w, w.net, { type: 'rollbackRequested', reason: 'operator', evidence: {} }, { faults: w.faults - 1 }));
    }
  }
  return out.map(gc);
}

function check(config: MachineConfig, w: World): string[] {
  const v: string[] = [];
  for (const [id, n] of Object.entries(w.target.byOp)) if (n > 1) v.push(`operation ${id} applied ${n} times`);
  for (const [t, n] of Object.entries(w.target.byTransition)) if (n > 1) v.push(`transition ${t} applied ${n} times (under different operations)`);
  if (w.target.weight > w.allowed) v.push(`target weight ${w.target.weight} above the last allowed ${w.allowed}`);
  if (w.s.weight > w.s.approved) v.push(`controller weight ${w.s.weight} above its approved ${w.s.approved}`);
  const pendingLocal = w.net.some((m) => m.to === 'local' && m.epoch === w.s.epoch);
  if (w.s.phase === 'RolledBack' && !pendingLocal) {
    if (w.target.weight !== 0) v.push(`rolled back but ${w.target.weight}% of traffic is on the new bundle`);
    if (!w.pinned) v.push('rolled back without pinning the previous bundle');
  }
  if (!config.hasPrevious) {
    // A first deployment has nothing to roll back to: a failure must hold, never move traffic to no release.
    if (w.s.phase === 'RolledBack') v.push('rolled back a first deployment (there is no previous release)');
    if (Object.keys(w.target.byTransition).some((t) => t.startsWith('rollback:'))) v.push('sent a rollback without a previous release');
  }
  if (w.s.phase === 'Promoted' && w.target.weight !== (config.weights[config.weights.length - 1] ?? 100)) v.push(`promoted at weight ${w.target.weight}`);
  return v;
}

/** Explores every schedule from a fresh rollout with `faults` faults allowed. */
export function explore(config: MachineConfig, faults: number, fn: TransitionFn = transition, maxStates = 2_000_000): ExploreResult {
  const init = initialState(config, 1, NOW);
  const start: World = {
    s: init.state,
    net: emit([], 1, init.commands).net,
    target: { weight: 0, lastOpId: null, fence: [0, 0], byOp: {}, byTransition: {} },
    allowed: 0,
    pinned: false,
    faults,
    storeEpoch: 1,
    gates: {},
    verdicts: {},
  };
  // Iterative DFS with colours: grey on the stack, black when all successors are done; a grey successor is a cycle.
  const colour = new Map<string, 1 | 2>();
  const violations: string[] = [];
  const finalPhases: Record<string, number> = {};
  let terminal = 0;
  const stack: { w: World; k: string; next: World[] | null; i: number }[] = [{ w: start, k: key(start), next: null, i: 0 }];
  colour.set(stack[0]?.k ?? '', 1);
  while (stack.length > 0 && violations.length < 10) {
    const top = stack[stack.length - 1];
    if (!top) break;
    if (top.next === null) {
      for (const msg of check(config, top.w)) violations.push(`${msg} in phase ${top.w.s.phase}`);
      top.next = successors(fn, config, top.w);
      if (top.next.length === 0) {
        terminal += 1;
        finalPhases[top.w.s.phase] = (finalPhases[top.w.s.phase] ?? 0) + 1;
        if (!isFinal(top.w.s.phase)) violations.push(`schedule ends in non-final phase ${top.w.s.phase}`);
      }
    }
    const child = top.next[top.i];
    if (child === undefined) {
      colour.set(top.k, 2);
      stack.pop();
      continue;
    }
    top.i += 1;
    const k = key(child);
    const c = colour.get(k);
    if (c === 1) violations.push(`a schedule can loop forever through phase ${child.s.phase}`);
    if (c !== undefined) continue;
    if (colour.size >= maxStates) {
      violations.push(`more than ${maxStates} states: raise the bound or shrink the model`);
      break;
    }
    colour.set(k, 1);
    stack.push({ w: child, k, next: null, i: 0 });
  }
  return { states: colour.size, terminalStates: terminal, violations, finalPhases };
}
