import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explore, type TransitionFn } from './explore.js';
import { initialState, type MachineConfig, type RolloutState, transition } from './machine.js';

const config: MachineConfig = {
  rolloutId: 'r1',
  weights: [10, 100],
  pausesMs: [500, 2000],
  hasPrevious: true,
  rollbackUnsafe: false,
  onCannotMeasure: 'rollback',
  maxAttempts: 2,
  deadlines: { gate: 1000, apply: 1000, verify: 1000, analyse: 1000 },
};

function at(state: Partial<RolloutState>): RolloutState {
  return { ...initialState(config, 1, 0).state, ...state };
}

describe('rollout machine', () => {
  it('asks the gate before the first step and shifts only after an allow', () => {
    const start = initialState(config, 1, 0);
    assert.deepEqual(start.commands, [{ type: 'askGate', step: 0, weight: 10 }]);
    const t = transition(config, start.state, { type: 'gateAnswered', step: 0, allow: true, decisionId: 'd' }, 5);
    assert.equal(t.state.phase, 'Applying');
    assert.equal(t.state.approved, 10);
    const apply = t.commands.find((c) => c.type === 'apply');
    assert.deepEqual(apply, { type: 'apply', opId: 'r1/1-shift-10', epoch: 1, seq: 1, weight: 10, kind: 'shift' });
  });

  it('reads the target after an ambiguous timeout instead of re-sending', () => {
    const applying = transition(config, initialState(config, 1, 0).state, { type: 'gateAnswered', step: 0, allow: true, decisionId: 'd' }, 0).state;
    const t = transition(config, applying, { type: 'deadline' }, 1000);
    assert.equal(t.state.phase, 'Verifying');
    assert.deepEqual(t.commands, [{ type: 'read', opId: 'r1/1-shift-10' }]);
  });

  it('classifies a read: done, not done (re-sent under the same id), conflict (Indeterminate hold)', () => {
    const op = { id: 'r1/1-shift-10', seq: 1, kind: 'shift' as const, from: 0, to: 10, step: 0, attempts: 1 };
    const verifying = at({ phase: 'Verifying', op, seq: 1, approved: 10, deadline: 10 });
    assert.equal(transition(config, verifying, { type: 'observed', opId: op.id, weight: 10, lastOpId: op.id }, 0).state.phase, 'Analyzing');
    const retry = transition(config, verifying, { type: 'observed', opId: op.id, weight: 0, lastOpId: null }, 0);
    assert.equal(retry.state.phase, 'Applying');
    assert.equal(retry.commands[0]?.type === 'apply' && retry.commands[0].opId, op.id);
    const conflict = transition(config, verifying, { type: 'observed', opId: op.id, weight: 50, lastOpId: 'other' }, 0);
    assert.equal(conflict.state.phase, 'Held');
    assert.match(conflict.state.reason ?? '', /Indeterminate/);
  });

  it('ignores a late or duplicated reply for an operation that is no longer pending', () => {
    const analysing = at({ phase: 'Analyzing', weight: 10, approved: 10, seq: 1 });
    const t = transition(config, analysing, { type: 'applied', opId: 'r1/1-shift-10' }, 0);
    assert.equal(t.state, analysing);
    assert.deepEqual(t.commands, []);
  });

  it('freezes a rollback-unsafe release instead of rolling it back', () => {
    const analysing = at({ phase: 'Analyzing', weight: 10, approved: 10, seq: 1 });
    const t = transition({ ...config, rollbackUnsafe: true }, analysing, { type: 'analysed', step: 0, verdict: 'fail', evidence: { errors: 3 } }, 0);
    assert.equal(t.state.phase, 'Frozen');
    assert.equal(t.state.weight, 10);
    assert.ok(!t.commands.some((c) => c.type === 'apply'));
  });

  it("gives each step's analysis its own pause before the deadline", () => {
    const gating = at({ phase: 'Gating', step: 1, weight: 10, approved: 10, seq: 1 });
    const applying = transition(config, gating, { type: 'gateAnswered', step: 1, allow: true, decisionId: 'd' }, 0).state;
    const analysing = transition(config, applying, { type: 'applied', opId: applying.op?.id ?? '' }, 100);
    assert.equal(analysing.state.phase, 'Analyzing');
    assert.equal(analysing.state.deadline, 100 + 2000 + 1000);
    const first = transition(config, initialState(config, 1, 0).state, { type: 'gateAnswered', step: 0, allow: true, decisionId: 'd' }, 0).state;
    assert.equal(transition(config, first, { type: 'applied', opId: first.op?.id ?? '' }, 0).state.deadline, 500 + 1000);
  });

  it('holds a failing first deployment with an alert instead of rolling back to nothing', () => {
    const first: MachineConfig = { ...config, weights: [100], pausesMs: [0], hasPrevious: false };
    const analysing: RolloutState = { ...initialState(first, 1, 0).state, phase: 'Analyzing', weight: 100, approved: 100, seq: 1 };
    const t = transition(first, analysing, { type: 'analysed', step: 0, verdict: 'fail', evidence: { errors: 9 } }, 0);
    assert.equal(t.state.phase, 'Held');
    assert.equal(t.state.weight, 100);
    assert.match(t.state.reason ?? '', /^no previous release to roll back to: analysis failed at step 0/);
    assert.deepEqual(
      t.commands.map((c) => c.type),
      ['alert', 'audit'],
    );
    assert.equal(transition(first, analysing, { type: 'rollbackRequested', reason: 'operator', evidence: {} }, 0).state.phase, 'Held');
    assert.throws(() => initialState({ ...first, weights: [10, 100], pausesMs: [0, 0] }, 1, 0), RangeError);
  });

  it('holds on "cannot measure" when so configured, and rolls back otherwise', () => {
    const analysing = at({ phase: 'Analyzing', weight: 10, approved: 10, seq: 1 });
    const event = { type: 'analysed', step: 0, verdict: 'cannotMeasure', evidence: {} } as const;
    assert.equal(transition({ ...config, onCannotMeasure: 'hold' }, analysing, event, 0).state.phase, 'Held');
    const rb = transition(config, analysing, event, 0);
    assert.equal(rb.state.op?.kind, 'rollback');
    assert.ok(rb.commands.some((c) => c.type === 'audit' && c.action === 'deploy.rollback.start'));
  });
});

describe('rollout machine, every schedule up to a bound', () => {
  for (const faults of [0, 1, 2]) {
    it(`keeps the five invariants with ${faults} fault(s) (crash/restart, lease loss, drop, duplicate, operator rollback)`, () => {
      const result = explore(config, faults);
      console.log(
        `# model check (${config.weights.length} steps, ${faults} faults): ${result.states} states explored, ${result.terminalStates} end states`,
        result.finalPhases,
      );
      assert.deepEqual(result.violations, []);
      assert.ok(result.states > 10);
    });
  }

  for (const faults of [0, 1, 2]) {
    it(`never rolls back a first deployment (no previous release) with ${faults} fault(s)`, () => {
      const first: MachineConfig = { ...config, weights: [100], pausesMs: [0], hasPrevious: false };
      const result = explore(first, faults);
      console.log(
        `# model check (first deployment, 1 step, ${faults} faults): ${result.states} states explored, ${result.terminalStates} end states`,
        result.finalPhases,
      );
      assert.deepEqual(result.violations, []);
      assert.equal(result.finalPhases.RolledBack, undefined);
      assert.ok((result.finalPhases.Held ?? 0) > 0 && (result.finalPhases.Promoted ?? 0) > 0);
    });
  }

  it('catches a controller that rolls a first deployment back to nothing', () => {
    const first: MachineConfig = { ...config, weights: [100], pausesMs: [0], hasPrevious: false };
    const careless: TransitionFn = (c, s, e, now) => transition({ ...c, hasPrevious: true }, s, e, now);
    const result = explore(first, 0, careless);
    assert.ok(
      result.violations.some((v) => v.includes('first deployment') || v.includes('without a previous release')),
      result.violations.join('\n'),
    );
  });

  it('explores a three-step canary with rollback-unsafe freezing and hold-on-cannot-measure', () => {
    const result = explore({ ...config, weights: [5, 50, 100], pausesMs: [0, 0, 0], rollbackUnsafe: true, onCannotMeasure: 'hold' }, 1);
    console.log(`# model check (3 steps, unsafe, 1 fault): ${result.states} states explored`);
    assert.deepEqual(result.violations, []);
    assert.ok((result.finalPhases.Frozen ?? 0) > 0);
  });

  it('catches a controller that re-sends under a fresh operation id after a timeout', () => {
    const naive: TransitionFn = (c, s, e, now) => {
      if (e.type === 'deadline' && s.phase === 'Applying' && s.op) {
        const op = { ...s.op, id: `${s.op.id}+retry`, seq: s.seq + 1 };
        return { state: { ...s, seq: op.seq, op }, commands: [{ type: 'apply', opId: op.id, epoch: s.epoch, seq: op.seq, weight: op.to, kind: op.kind }] };
      }
      return transition(c, s, e, now);
    };
    const result = explore(config, 0, naive);
    assert.ok(
      result.violations.some((v) => v.includes('applied 2 times')),
      result.violations.join('\n'),
    );
  });

  it('catches a controller that shifts traffic without waiting for the gate', () => {
    const eager: TransitionFn = (c, s, e, now) => {
      const t = transition(c, s, e, now);
      if (t.commands.some((x) => x.type === 'askGate')) {
        return transition(c, t.state, { type: 'gateAnswered', step: t.state.step, allow: true, decisionId: 'self' }, now);
      }
      return t;
    };
    const result = explore(config, 0, eager);
    assert.ok(
      result.violations.some((v) => v.includes('above the last allowed')),
      result.violations.join('\n'),
    );
  });
});
