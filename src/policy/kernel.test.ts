import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { REPO_ROOT } from '../testkit.js';
import { EVAL_CODES } from './errors.js';
import {
  CEL_VERSION,
  type CompileScope,
  celToJson,
  compileExpression,
  type CompiledExpression,
  evaluateExpression,
  newBudget,
  scanNesting,
  toCelInput,
} from './kernel.js';
import { EVALUATION_LIMITS, EXPRESSION_LIMITS, INPUT_LIMITS } from './limits.js';

const SCOPE: CompileScope = { roots: new Set(['input', 'params', 'variables', 'now']), params: new Set(['allowed']), variables: new Set(['prov']) };
const REF = { path: 'spec.validations[0].expression' };

function compiled(source: string, scope: CompileScope = SCOPE): CompiledExpression {
  const r = compileExpression(source, scope, REF);
  if (!r.ok) assert.fail(`expected ${source} to compile: ${r.problems.map((p) => p.message).join('; ')}`);
  return r.expression;
}

function problems(source: string, scope: CompileScope = SCOPE): { code: string; message: string }[] {
  const r = compileExpression(source, scope, REF);
  assert.equal(r.ok, false, `expected ${source.slice(0, 60)} not to compile`);
  return r.ok ? [] : r.problems.map((p) => ({ code: p.code, message: p.message }));
}

function input(value: unknown) {
  const c = toCelInput(value);
  if (!c.ok) assert.fail(`input rejected: ${c.message}`);
  return c.value;
}

function run(source: string, value: unknown = {}, budget = newBudget()) {
  return evaluateExpression(compiled(source), { input: input(value) }, budget);
}

describe('compileExpression', () => {
  it('refuses an expression over the size cap before parsing it', () => {
    const p = problems(`input.a == "${'x'.repeat(EXPRESSION_LIMITS.maxExpressionBytes)}"`);
    assert.equal(p[0]?.code, 'CEL_TOO_LARGE');
  });

  it('refuses 10,000 nested parentheses by size, and 33 by the nesting scan, without a stack overflow', () => {
    assert.equal(problems(`${'('.repeat(10_000)}1${')'.repeat(10_000)}`)[0]?.code, 'CEL_TOO_LARGE');
    const p = problems(`${'('.repeat(33)}1${')'.repeat(33)}`);
    assert.equal(p[0]?.code, 'CEL_TOO_DEEP');
    assert.match(p[0]?.message ?? '', /^1:33: nested deeper than 32 brackets/);
    compiled(`${'('.repeat(32)}true${')'.repeat(32)}`);
  });

  it('caps the tree depth after macro expansion, which the bracket scan cannot see', () => {
    const chain = `input${'.a'.repeat(40)} == 1`;
    assert.equal(scanNesting(chain, 32).depth, 0);
    assert.equal(problems(chain)[0]?.code, 'CEL_TOO_DEEP');
  });

  it('caps the number of nodes', () => {
    const wide = Array.from({ length: 700 }, (_, i) => `input.a == ${i}`).join(' || ');
    assert.ok(Buffer.byteLength(wide) > 4096 || problems(wide)[0]?.code === 'CEL_TOO_LARGE');
    const tight = compileExpression(Array.from({ length: 60 }, () => 'input.a').join(' + '), SCOPE, REF, { ...EXPRESSION_LIMITS, maxAstNodes: 50 });
    assert.equal(tight.ok, false);
    if (!tight.ok) assert.equal(tight.problems[0]?.code, 'CEL_TOO_LARGE');
  });

  it('refuses comprehensions nested three deep', () => {
    assert.equal(problems('input.l.all(x, input.l.all(y, input.l.all(z, true)))')[0]?.code, 'CEL_TOO_DEEP');
    compiled('input.l.all(x, input.l.exists(y, x == y))');
  });

  it('caps string literals and list and map literals', () => {
    const big = compileExpression(`input.a == "${'x'.repeat(200)}"`, SCOPE, REF, { ...EXPRESSION_LIMITS, maxStringLiteral: 100 });
    assert.equal(big.ok ? 'ok' : big.problems[0]?.code, 'CEL_TOO_LARGE');
    const list = compileExpression(`input.a in [${Array.from({ length: 20 }, (_, i) => i).join(',')}]`, SCOPE, REF, {
      ...EXPRESSION_LIMITS,
      maxAggregateLiteral: 10,
    });
    assert.equal(list.ok ? 'ok' : list.problems[0]?.code, 'CEL_TOO_LARGE');
  });

  it('allows only declared identifiers and names what is declared', () => {
    const p = problems('secrets.token == "x"');
    assert.equal(p[0]?.code, 'CEL_UNDECLARED');
    assert.match(p[0]?.message ?? '', /undeclared identifier "secrets" \(declared: input, params, variables, now\)/);
  });

  it('allows only declared params and variables declared earlier, read by literal name', () => {
    assert.match(problems('params.denied == []')[0]?.message ?? '', /unknown parameter "denied" \(declared: allowed\)/);
    assert.match(problems('variables.later')[0]?.message ?? '', /unknown variable "later"/);
    assert.match(problems('variables[input.name]')[0]?.message ?? '', /literal name/);
    assert.match(problems('size(params) > 0')[0]?.message ?? '', /params must be read as params.NAME/);
    assert.deepEqual(compiled('variables.prov && variables["prov"]').variables, ['prov']);
  });

  it('lets comprehension variables shadow nothing declared, but use their own names', () => {
    compiled('input.l.all(p, p.x == 1)');
    assert.match(problems('input.l.all(input, true)')[0]?.message ?? '', /may not shadow "input"/);
  });

  it('allows only allowlisted functions', () => {
    for (const source of ['type(input.a) == int', 'input.s.lowerAscii() == "a"', 'math.greatest(1, 2) == 2']) {
      const p = problems(source);
      assert.ok(
        p.some((x) => x.code === 'CEL_FUNCTION' || x.code === 'CEL_UNDECLARED'),
        `${source}: ${JSON.stringify(p)}`,
      );
    }
  });

  it('refuses message construction, which could build arbitrary protobuf values', () => {
    assert.match(problems('google.protobuf.Timestamp{seconds: 1} == now')[0]?.message ?? '', /message construction/);
  });

  it('takes matches() patterns only as literals RE2 accepts, with the position of the pattern', () => {
    assert.match(problems('input.s.matches(input.pattern)')[0]?.message ?? '', /literal pattern/);
    const backref = problems('input.s.matches("(a)\\\\1")');
    assert.equal(backref[0]?.code, 'CEL_REGEX');
    assert.match(backref[0]?.message ?? '', /invalid escape sequence/);
    compiled('input.s.matches("^(a+)+$")');
  });

  it('reports syntax errors with a line, a column and a caret', () => {
    const p = problems('input.a &&\n  (input.b ||');
    assert.equal(p[0]?.code, 'CEL_SYNTAX');
    assert.match(p[0]?.message ?? '', /^\d+:\d+: /);
    assert.match(p[0]?.message ?? '', /\n.*\n *\^$/);
  });

  it('reports every problem of an expression, not only the first', () => {
    const p = problems('foo == bar && type(1) == int');
    assert.ok(p.length >= 3, JSON.stringify(p));
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (source) => {
        const r = compileExpression(source, SCOPE, REF);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on deep bracket soup near the cap', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('(', ')', '[', ']', '{', '}', '1', ',', ':', '"', "'", '\\'), { maxLength: 200 }), (chars) => {
        compileExpression(chars.join(''), SCOPE, REF);
      }),
      { numRuns: 300 },
    );
  });
});

describe('scanNesting', () => {
  it('ignores brackets inside string literals and comments', () => {
    assert.equal(scanNesting('"((((((" + \'[[[\' + r"\\((" // ((((\n + (1)', 2).depth, 1);
    assert.equal(scanNesting("'''((('''", 0).exceededAt, null);
  });

  it('agrees with a counting reference on bracket-only text', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('(', ')', '[', ']', 'a'), { maxLength: 200 }), fc.integer({ min: 1, max: 40 }), (chars, max) => {
        let depth = 0;
        let deepest = 0;
        for (const c of chars) {
          if (c === '(' || c === '[') deepest = Math.max(deepest, ++depth);
          else if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
        }
        const r = scanNesting(chars.join(''), max);
        assert.equal(r.exceededAt !== null, deepest > max);
        if (r.exceededAt === null) assert.equal(r.depth, deepest);
      }),
    );
  });
});

describe('toCelInput', () => {
  it('maps JSON integers to CEL int, so arithmetic with int literals works', () => {
    const r = run('input.n + 1 == 4 && input.f * 2.0 == 3.0', { n: 3, f: 1.5 });
    assert.deepEqual(r, { ok: true, value: true });
  });

  it('refuses integers JSON parsing already made inexact', () => {
    const r = toCelInput({ big: 2 ** 60 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.path, 'big');
  });

  it('sorts object keys, so the value depends only on the canonical input', () => {
    const a = run('input.m.map(k, k)', { m: { b: 1, a: 2, c: 3 } });
    assert.ok(a.ok);
    if (a.ok) assert.deepEqual(celToJson(a.value), ['a', 'b', 'c']);
  });

  it('keeps __proto__ as an ordinary key', () => {
    const raw = JSON.parse('{"__proto__": {"polluted": true}}');
    assert.deepEqual(run('input["__proto__"].polluted', raw), { ok: true, value: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('refuses a 1,000,000-element list at once, naming the cap', () => {
    const r = toCelInput({ findings: new Array(1_000_000).fill(0) });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.path, r.message], ['findings', `list longer than ${INPUT_LIMITS.maxListLength} elements`]);
  });

  it('refuses input nested past the depth cap without recursion, at any depth', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const r = toCelInput(deep);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /nested deeper than 32/);
  });

  it('accepts any JSON within the caps and gives it back', () => {
    const json = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(
      fc.property(json, (value) => {
        const c = toCelInput(value);
        const unsafe = JSON.stringify(value).match(/\d{16,}/) !== null;
        if (!c.ok) {
          assert.ok(unsafe || /integer outside/.test(c.message), c.message);
          return;
        }
        const back = celToJson(c.value, Number.MAX_SAFE_INTEGER);
        const sortKeys = (v: unknown): unknown =>
          Array.isArray(v)
            ? v.map(sortKeys)
            : v !== null && typeof v === 'object'
              ? Object.fromEntries(
                  Object.keys(v)
                    .sort()
                    .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
                )
              : Object.is(v, -0)
                ? 0
                : v;
        assert.deepEqual(JSON.stringify(back), JSON.stringify(sortKeys(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every input over a cap and never throws', () => {
    const limits = { maxBytes: 200, maxDepth: 4, maxListLength: 5, maxMapSize: 5, maxStringLength: 20 };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const c = toCelInput(value, limits);
        if (c.ok) {
          const text = JSON.stringify(value);
          assert.ok(text.length < 2000);
        } else {
          assert.equal(typeof c.message, 'string');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('evaluateExpression', () => {
  it('returns CEL errors as values with the position of the failing node', () => {
    const r = run('input.a == 1 &&\n  input.missing.x == 2', { a: 1 });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.code, EVAL_CODES.evaluation);
      assert.match(r.message, /missing/);
      assert.equal(r.position?.line, 2);
    }
  });

  // A backtracking engine would not finish this in the age of the universe; the timeout turns such a hang into a failure.
  it('runs RE2: the catastrophic pattern on 60,000 characters finishes', { timeout: 60_000 }, () => {
    const r = run('input.s.matches("^(a+)+$")', { s: `${'a'.repeat(60_000)}b` });
    assert.deepEqual(r, { ok: true, value: false });
  });

  it('stops a runaway comprehension at the step budget and fails closed', () => {
    const l = Array.from({ length: 1000 }, (_, i) => i);
    const budget = newBudget();
    const r = run('input.l.all(x, input.l.all(y, y >= 0))', { l }, budget);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, EVAL_CODES.budget);
    assert.equal(budget.stepsLeft, EVALUATION_LIMITS.maxStepsPerDecision - EVALUATION_LIMITS.maxStepsPerExpression - 1);
  });

  it('does not let || or && absorb an exhausted budget', () => {
    const l = Array.from({ length: 1000 }, (_, i) => i);
    for (const source of [
      'input.l.all(x, input.l.all(y, y >= 0)) || true',
      'true || input.l.exists(x, input.l.exists(y, y < 0))',
      'input.l.exists(x, input.l.exists(y, y < 0)) || true',
    ]) {
      const r = run(source, { l });
      if (source.startsWith('true ||')) assert.deepEqual(r, { ok: true, value: true }, 'short-circuit never runs the loop');
      else assert.equal(r.ok ? 'passed' : r.code, EVAL_CODES.budget, source);
    }
  });

  it('gives the same budget verdict on every run: the budget counts steps, not time', () => {
    const l = Array.from({ length: 400 }, (_, i) => i);
    const verdicts = [1, 2, 3].map(() => {
      const r = run('input.l.all(x, input.l.all(y, y >= 0))', { l });
      return r.ok ? 'ok' : r.code;
    });
    assert.deepEqual(verdicts, [EVAL_CODES.budget, EVAL_CODES.budget, EVAL_CODES.budget]);
  });

  it('shares one budget across the expressions of a decision', () => {
    const l = Array.from({ length: 200 }, (_, i) => i);
    const budget = newBudget({ ...EVALUATION_LIMITS, maxStepsPerDecision: 50_000 });
    const e = compiled('input.l.all(x, input.l.all(y, y >= 0))');
    const outcomes = [1, 2].map(() => evaluateExpression(e, { input: input({ l }) }, budget));
    assert.equal(outcomes[0]?.ok, true);
    assert.equal(outcomes[1]?.ok ? 'ok' : outcomes[1]?.code, EVAL_CODES.budget);
  });

  it('caps values an expression builds', () => {
    const l = Array.from({ length: 300 }, (_, i) => i);
    const budget = newBudget({ ...EVALUATION_LIMITS, maxValueElements: 1000 });
    const r = evaluateExpression(
      compiled('input.l.map(x, input.l).size() > 0 && (input.l + input.l + input.l + input.l).size() > 0'),
      { input: input({ l }) },
      budget,
    );
    assert.equal(r.ok ? 'ok' : r.code, EVAL_CODES.size);
  });

  it('stops at the wall-clock deadline (injected clock) and marks the budget', () => {
    let t = 0;
    const budget = newBudget({ ...EVALUATION_LIMITS, deadlineMs: 100 }, () => t);
    t = 50;
    assert.equal(run('input.a == 1', { a: 1 }, budget).ok, true);
    t = 101;
    const r = run('input.a == 1', { a: 1 }, budget);
    assert.equal(r.ok ? 'ok' : r.code, EVAL_CODES.deadline);
    assert.equal(budget.deadlineHit, true);
  });

  it('checks the deadline inside long loops too', () => {
    let t = 0;
    const budget = newBudget({ ...EVALUATION_LIMITS, deadlineMs: 10 }, () => (t += 1));
    const r = run('input.l.all(x, x >= 0)', { l: Array.from({ length: 5000 }, (_, i) => i) }, budget);
    assert.equal(r.ok ? 'ok' : r.code, EVAL_CODES.deadline);
  });
});

describe('the evaluator identity', () => {
  it('names the @bufbuild/cel version installed', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules/@bufbuild/cel/package.json'), 'utf8')) as { version: string };
    assert.equal(pkg.version, CEL_VERSION);
  });
});
