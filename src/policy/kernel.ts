import {
  type CelInput,
  type CelValue,
  CelScalar,
  celEnv,
  celFunc,
  isCelError,
  isCelList,
  isCelMap,
  isCelType,
  isCelUint,
  parse,
  plan,
  run,
} from '@bufbuild/cel';
import type { Problem } from '../model/errors.js';
import { EVAL_CODES, type EvalCode } from './errors.js';
import { EVALUATION_LIMITS, EXPRESSION_LIMITS, type EvaluationLimits, type ExpressionLimits, type InputLimits, INPUT_LIMITS } from './limits.js';

/**
 * The policy kernel: the only code that touches `@bufbuild/cel`. It compiles an expression
 * under structural caps and an identifier/function allowlist, instruments it with a
 * deterministic step budget, and evaluates it against inputs that were normalised under
 * caps (JSON integers become CEL `int`). Nothing here reads a file or the clock, except the
 * wall-clock deadline, which is injected.
 */

/** Pinned evaluator identity, recorded in every decision; a replay on another evaluator cannot be byte-identical. */
export const CEL_VERSION = '0.6.1';
export const KERNEL_VERSION = 'cairn-policy/1';
export const EVALUATOR = `${KERNEL_VERSION} @bufbuild/cel@${CEL_VERSION}`;

type Parsed = ReturnType<typeof parse>;
type Expr = Parsed['expr'];

/** Standard CEL functions and operators a policy may call. Everything else is a compile error. */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set([
  '_&&_',
  '_||_',
  '!_',
  '-_',
  '_?_:_',
  '_==_',
  '_!=_',
  '_<_',
  '_<=_',
  '_>_',
  '_>=_',
  '_+_',
  '_-_',
  '_*_',
  '_/_',
  '_%_',
  '_[_]',
  '@in',
  '@not_strictly_false',
  'size',
  'contains',
  'startsWith',
  'endsWith',
  'matches',
  'int',
  'uint',
  'double',
  'string',
  'bool',
  'bytes',
  'timestamp',
  'duration',
  'dyn',
]);

const TICK = '__cairn_tick';
const SIZE = '__cairn_size';

/** Where an expression sits in its document, for messages: `spec.validations[2].expression`. */
export interface SourceRef {
  readonly path: string;
}

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** What names an expression may use. */
export interface CompileScope {
  /** Root identifiers bound at evaluation (`input`, `params`, `variables`, `now`, …). */
  readonly roots: ReadonlySet<string>;
  /** Names `params.X` may use. */
  readonly params: ReadonlySet<string>;
  /** Names `variables.X` may use (the variables declared before this one). */
  readonly variables: ReadonlySet<string>;
}

/** A compiled, instrumented expression; evaluate it with `evaluateExpression`. */
export interface CompiledExpression {
  readonly source: string;
  /** `variables.X` names it reads, sorted. */
  readonly variables: readonly string[];
  /** @internal */
  readonly run: (activation: Record<string, CelInput>) => unknown;
  /** @internal expression id → offset into `source`. */
  readonly offsets: ReadonlyMap<bigint, number>;
}

export type CompileResult = { readonly ok: true; readonly expression: CompiledExpression } | { readonly ok: false; readonly problems: readonly Problem[] };

/** Line and column (1-based, UTF-16 units) of an offset into `source`. */
export function positionOf(source: string, offset: number): Position {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/** The expression's line with a caret under `offset`, for people. */
export function caret(source: string, offset: number): string {
  const { line, column } = positionOf(source, offset);
  const text = source.split('\n')[line - 1] ?? '';
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  return `${shown}\n${' '.repeat(Math.min(column - 1, 121))}^`;
}

function problem(ref: SourceRef, source: string, offset: number, message: string, code = 'CEL_COMPILE'): Problem {
  const { line, column } = positionOf(source, offset);
  return { code, path: ref.path, message: `${line}:${column}: ${message}\n${caret(source, offset)}` };
}

/**
 * Deepest nesting of `(`, `[` and `{` outside string literals and comments, or the offset
 * where it first exceeds `max`. One linear pass, so 10,000 parentheses are refused before
 * the recursive parser could exhaust the stack.
 */
export function scanNesting(source: string, max: number): { readonly depth: number; readonly exceededAt: number | null } {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'") {
      // A raw prefix is r or R, alone or with b/B on either side (r'…', rb'…', br'…').
      const raw = /[rR]/.test(source.slice(Math.max(0, i - 2), i).replace(/^[^rRbB]*/, ''));
      const triple = source.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      i += close.length;
      while (i < source.length && !source.startsWith(close, i)) {
        if (!raw && source[i] === '\\') i++;
        else if (!triple && source[i] === '\n') break;
        i++;
      }
      i += close.length - 1;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      depth++;
      if (depth > deepest) deepest = depth;
      if (depth > max) return { depth, exceededAt: i };
    } else if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return { depth: deepest, exceededAt: null };
}

interface Frame {
  readonly e: Expr;
  readonly depth: number;
  /** Comprehension variables in scope. */
  readonly bound: readonly string[];
  readonly comprehensions: number;
}

function parseErrorOffset(source: string, message: string): number {
  const m = /^<input>:(\d+):(\d+):/.exec(message);
  if (!m) return 0;
  const lines = source.split('\n');
  let offset = 0;
  for (let l = 1; l < Number(m[1]) && l <= lines.length; l++) offset += (lines[l - 1]?.length ?? 0) + 1;
  return offset + Number(m[2]) - 1;
}

const REGEX_CHECK = parse('"".matches(p)');

/** A regex the CEL engine (RE2) would refuse, with its message; null when it compiles. */
function regexError(pattern: string): string | null {
  const result = plan(PLAIN_ENV, REGEX_CHECK)({ p: pattern });
  return isCelError(result) ? result.message : null;
}

const PLAIN_ENV = celEnv();

/**
 * Compiles an expression: size cap, nesting scan, parse, then one iterative walk that caps
 * nodes, depth, comprehension nesting and literal sizes, and allows only declared names and
 * allowlisted functions (`matches` only with a literal pattern RE2 accepts). Every problem is
 * reported with its line and column. The tree is then instrumented with the step budget.
 */
export function compileExpression(source: string, scope: CompileScope, ref: SourceRef, limits: ExpressionLimits = EXPRESSION_LIMITS): CompileResult {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > limits.maxExpressionBytes) {
    return {
      ok: false,
      problems: [{ code: 'CEL_TOO_LARGE', path: ref.path, message: `expression is ${bytes} bytes, over the limit of ${limits.maxExpressionBytes}` }],
    };
  }
  const nesting = scanNesting(source, limits.maxNesting);
  if (nesting.exceededAt !== null) {
    return { ok: false, problems: [problem(ref, source, nesting.exceededAt, `nested deeper than ${limits.maxNesting} brackets`, 'CEL_TOO_DEEP')] };
  }
  let parsed: Parsed;
  try {
    parsed = parse(source);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    return { ok: false, problems: [problem(ref, source, parseErrorOffset(source, message), message.replace(/^<input>:\d+:\d+: /, ''), 'CEL_SYNTAX')] };
  }
  const offsets = new Map<bigint, number>();
  for (const [id, offset] of Object.entries(parsed.sourceInfo?.positions ?? {})) offsets.set(BigInt(id), offset);
  const at = (e: Expr) => offsets.get(e.id) ?? 0;
  const problems: Problem[] = [];
  const report = (e: Expr, message: string, code = 'CEL_COMPILE') => {
    if (problems.length < 20) problems.push(problem(ref, source, at(e), message, code));
  };
  const usedVariables = new Set<string>();
  const ticks: Expr[] = [];
  const sizes: Expr[] = [];
  const stack: Frame[] = [{ e: parsed.expr, depth: 1, bound: [], comprehensions: 0 }];
  let nodes = 0;
  let maxId = 0n;
  while (stack.length > 0) {
    const { e, depth, bound, comprehensions } = stack.pop() as Frame;
    if (++nodes > limits.maxAstNodes) {
      report(e, `more than ${limits.maxAstNodes} nodes`, 'CEL_TOO_LARGE');
      break;
    }
    if (depth > limits.maxAstDepth) {
      report(e, `nested deeper than ${limits.maxAstDepth} levels`, 'CEL_TOO_DEEP');
      break;
    }
    if (e.id > maxId) maxId = e.id;
    const push = (child: Expr | undefined, extra: readonly string[] = [], comp = comprehensions) => {
      if (child) stack.push({ e: child, depth: depth + 1, bound: extra.length > 0 ? [...bound, ...extra] : bound, comprehensions: comp });
    };
    /** `variables.X` / `params.X`: checks X and reports whether the operand was such a root. */
    const namedRoot = (operand: Expr | undefined, name: string | null): boolean => {
      if (operand?.exprKind.case !== 'identExpr') return false;
      const root = operand.exprKind.value.name;
      if ((root !== 'variables' && root !== 'params') || bound.includes(root) || !scope.roots.has(root)) return false;
      if (name === null) {
        report(operand, `${root} must be read as ${root}.NAME with a literal name`);
      } else if (root === 'variables') {
        if (!scope.variables.has(name))
          report(operand, `unknown variable "${name}" (declared before this expression: ${[...scope.variables].join(', ') || 'none'})`, 'CEL_UNDECLARED');
        else usedVariables.add(name);
      } else if (!scope.params.has(name)) {
        report(operand, `unknown parameter "${name}" (declared: ${[...scope.params].join(', ') || 'none'})`, 'CEL_UNDECLARED');
      }
      return true;
    };
    const kind = e.exprKind;
    switch (kind.case) {
      case 'constExpr': {
        const c = kind.value.constantKind;
        if ((c.case === 'stringValue' || c.case === 'bytesValue') && c.value.length > limits.maxStringLiteral)
          report(e, `literal longer than ${limits.maxStringLiteral} characters`, 'CEL_TOO_LARGE');
        break;
      }
      case 'identExpr': {
        const name = kind.value.name;
        if (bound.includes(name)) break;
        if (name === 'variables' || name === 'params') report(e, `${name} must be read as ${name}.NAME`);
        else if (!scope.roots.has(name)) report(e, `undeclared identifier "${name}" (declared: ${[...scope.roots].join(', ')})`, 'CEL_UNDECLARED');
        break;
      }
      case 'selectExpr':
        if (!namedRoot(kind.value.operand, kind.value.field)) push(kind.value.operand);
        break;
      case 'callExpr': {
        const call = kind.value;
        if (!ALLOWED_FUNCTIONS.has(call.function)) {
          report(e, `function "${call.function}" is not allowed`, 'CEL_FUNCTION');
          break;
        }
        if (call.function === '_[_]' && call.args.length === 2) {
          const index = call.args[1];
          const literal =
            index?.exprKind.case === 'constExpr' && index.exprKind.value.constantKind.case === 'stringValue' ? index.exprKind.value.constantKind.value : null;
          if (namedRoot(call.args[0], literal)) {
            push(index);
            break;
          }
        }
        if (call.function === 'matches') {
          const pattern = call.target ? call.args[0] : call.args[1];
          const literal =
            pattern?.exprKind.case === 'constExpr' && pattern.exprKind.value.constantKind.case === 'stringValue'
              ? pattern.exprKind.value.constantKind.value
              : null;
          if (literal === null) report(pattern ?? e, 'matches() takes a literal pattern', 'CEL_REGEX');
          else {
            const error = regexError(literal);
            if (error !== null) report(pattern ?? e, error, 'CEL_REGEX');
          }
        }
        if (call.function === '_+_') sizes.push(e);
        push(call.target);
        for (const arg of call.args) push(arg);
        break;
      }
      case 'listExpr':
        if (kind.value.optionalIndices.length > 0) report(e, 'optional list elements are not allowed');
        if (kind.value.elements.length > limits.maxAggregateLiteral)
          report(e, `list literal with more than ${limits.maxAggregateLiteral} elements`, 'CEL_TOO_LARGE');
        for (const element of kind.value.elements) push(element);
        break;
      case 'structExpr':
        if (kind.value.messageName !== '') {
          report(e, `message construction (${kind.value.messageName}) is not allowed`);
          break;
        }
        if (kind.value.entries.length > limits.maxAggregateLiteral)
          report(e, `map literal with more than ${limits.maxAggregateLiteral} entries`, 'CEL_TOO_LARGE');
        for (const entry of kind.value.entries) {
          if (entry.optionalEntry) report(e, 'optional map entries are not allowed');
          if (entry.keyKind.case === 'mapKey') push(entry.keyKind.value);
          push(entry.value);
        }
        break;
      case 'comprehensionExpr': {
        const c = kind.value;
        const inner = comprehensions + 1;
        if (inner > limits.maxComprehensionNesting) {
          report(e, `comprehensions nested deeper than ${limits.maxComprehensionNesting}`, 'CEL_TOO_DEEP');
          break;
        }
        if (c.iterVar2 !== '') report(e, 'two-variable comprehensions are not allowed');
        for (const name of [c.iterVar, c.accuVar]) {
          if (scope.roots.has(name)) report(e, `a comprehension variable may not shadow "${name}"`);
        }
        ticks.push(e);
        push(c.iterRange);
        push(c.accuInit);
        push(c.loopCondition, [c.iterVar, c.accuVar], inner);
        push(c.loopStep, [c.iterVar, c.accuVar], inner);
        push(c.result, [c.accuVar], inner);
        break;
      }
      default:
        report(e, 'unsupported expression');
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  // Instrument: every comprehension iteration calls the tick (the step budget), and every
  // `+` result passes the size cap, so a policy cannot loop or grow values without bound.
  let nextId = maxId + 1n;
  const wrap = (inner: Expr, fn: string, offset: number): Expr => {
    const id = nextId++;
    offsets.set(id, offset);
    return {
      $typeName: 'cel.expr.Expr',
      id,
      exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: fn, args: [inner] } },
    } as unknown as Expr;
  };
  for (const e of ticks) {
    if (e.exprKind.case !== 'comprehensionExpr') continue;
    const c = e.exprKind.value;
    if (c.loopCondition) c.loopCondition = wrap(c.loopCondition, TICK, at(e));
  }
  for (const e of sizes) {
    const inner = { $typeName: e.$typeName, id: e.id, exprKind: e.exprKind } as Expr;
    const outer = wrap(inner, SIZE, at(e));
    (e as { id: bigint }).id = outer.id;
    (e as { exprKind: Expr['exprKind'] }).exprKind = outer.exprKind;
  }
  const planned = plan(KERNEL_ENV, parsed);
  return {
    ok: true,
    expression: { source, variables: [...usedVariables].sort(), run: (activation) => planned(activation as never), offsets },
  };
}

/** The state of the evaluation in progress; evaluation is synchronous, so one suffices. */
const meter = {
  steps: 0,
  stepLimit: 0,
  deadline: Number.POSITIVE_INFINITY,
  clock: (() => 0) as () => number,
  maxElements: 0,
  maxChars: 0,
  trip: null as null | { code: EvalCode; message: string },
};

function trip(code: EvalCode, message: string): never {
  meter.trip ??= { code, message };
  throw new Error(meter.trip.message);
}

const KERNEL_ENV = celEnv({
  funcs: [
    celFunc(TICK, [CelScalar.DYN], CelScalar.DYN, (value) => {
      if (meter.trip) throw new Error(meter.trip.message);
      meter.steps++;
      if (meter.steps > meter.stepLimit) trip(EVAL_CODES.budget, `step budget of ${meter.stepLimit} comprehension iterations exhausted`);
      if ((meter.steps & 63) === 0 && meter.clock() > meter.deadline) trip(EVAL_CODES.deadline, 'wall-clock deadline passed');
      return value;
    }),
    celFunc(SIZE, [CelScalar.DYN], CelScalar.DYN, (value) => {
      if (meter.trip) throw new Error(meter.trip.message);
      if (typeof value === 'string' || value instanceof Uint8Array) {
        if (value.length > meter.maxChars) trip(EVAL_CODES.size, `a string or bytes value grew past ${meter.maxChars} characters`);
      } else if ((isCelList(value) || isCelMap(value)) && value.size > meter.maxElements) {
        trip(EVAL_CODES.size, `a list or map grew past ${meter.maxElements} elements`);
      }
      return value;
    }),
  ],
});

/** One decision's shared budget: steps left and the wall-clock deadline. */
export interface Budget {
  stepsLeft: number;
  readonly limits: EvaluationLimits;
  /** Milliseconds on `clock` after which evaluation stops. */
  readonly deadline: number;
  readonly clock: () => number;
  /** Set once the deadline has passed; the decision records it. */
  deadlineHit: boolean;
}

export function newBudget(limits: EvaluationLimits = EVALUATION_LIMITS, clock: () => number = () => performance.now()): Budget {
  return { stepsLeft: limits.maxStepsPerDecision, limits, deadline: clock() + limits.deadlineMs, clock, deadlineHit: false };
}

export type Outcome =
  | { readonly ok: true; readonly value: CelValue }
  | { readonly ok: false; readonly code: EvalCode; readonly message: string; readonly position: Position | null };

/**
 * Evaluates a compiled expression. Never throws: a CEL error, an exhausted budget, an
 * oversized value or a passed deadline comes back as an error outcome, and a tripped budget
 * wins over any value (so `true || <budget error>` cannot pass).
 */
export function evaluateExpression(expression: CompiledExpression, activation: Record<string, CelInput>, budget: Budget): Outcome {
  if (budget.deadlineHit || budget.clock() > budget.deadline) {
    budget.deadlineHit = true;
    return { ok: false, code: EVAL_CODES.deadline, message: 'wall-clock deadline passed before this evaluation', position: null };
  }
  if (budget.stepsLeft <= 0) return { ok: false, code: EVAL_CODES.budget, message: 'the decision step budget is exhausted', position: null };
  meter.steps = 0;
  meter.stepLimit = Math.min(budget.limits.maxStepsPerExpression, budget.stepsLeft);
  meter.deadline = budget.deadline;
  meter.clock = budget.clock;
  meter.maxElements = budget.limits.maxValueElements;
  meter.maxChars = budget.limits.maxValueChars;
  meter.trip = null;
  let result: unknown;
  try {
    result = expression.run(activation);
  } catch (cause) {
    // plan() returns errors as values; this is a last line of defence.
    result = cause instanceof Error ? cause : new Error(String(cause));
  }
  budget.stepsLeft -= meter.steps;
  const tripped = meter.trip as null | { code: EvalCode; message: string };
  meter.trip = null;
  if (tripped) {
    if (tripped.code === EVAL_CODES.deadline) budget.deadlineHit = true;
    return { ok: false, code: tripped.code, message: tripped.message, position: null };
  }
  if (isCelError(result) || result instanceof Error) {
    const exprId = isCelError(result) ? result.exprId : undefined;
    const offset = exprId === undefined ? undefined : expression.offsets.get(exprId);
    return {
      ok: false,
      code: EVAL_CODES.evaluation,
      message: result.message,
      position: offset === undefined ? null : positionOf(expression.source, offset),
    };
  }
  return { ok: true, value: result as CelValue };
}

/** Converts JSON input to CEL values under caps; objects become maps with sorted keys. */
export type InputConversion =
  | { readonly ok: true; readonly value: CelInput; readonly size: number }
  | { readonly ok: false; readonly path: string; readonly message: string };

interface Pending {
  readonly value: unknown;
  readonly depth: number;
  readonly parent: Pending | null;
  readonly key: string | number;
  readonly set: (v: CelInput) => void;
}

function pathOf(item: Pending): string {
  const parts: (string | number)[] = [];
  for (let p: Pending | null = item; p !== null && p.parent !== null; p = p.parent) parts.push(p.key);
  return parts
    .reverse()
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${i === 0 ? '' : '.'}${k}` : `[${JSON.stringify(k)}]`))
    .join('');
}

/**
 * JSON → CEL input in one iterative pass: integral numbers become `int` (bigint), other
 * numbers `double`; integers beyond ±(2^53−1) are refused (JSON parsing already lost their
 * value); object keys are sorted by UTF-16 code units (JCS order), so the value depends only
 * on the canonical input. Size, depth, list length, map size and string length are capped.
 */
export function toCelInput(value: unknown, limits: InputLimits = INPUT_LIMITS): InputConversion {
  let root: CelInput = null;
  let size = 0;
  const stack: Pending[] = [
    {
      value,
      depth: 0,
      parent: null,
      key: '',
      set: (v) => {
        root = v;
      },
    },
  ];
  while (stack.length > 0) {
    const item = stack.pop() as Pending;
    const v = item.value;
    size += 1;
    if (size > limits.maxBytes) return { ok: false, path: pathOf(item), message: `input larger than ${limits.maxBytes} bytes` };
    if (v === null || typeof v === 'boolean') item.set(v);
    else if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) return { ok: false, path: pathOf(item), message: `string longer than ${limits.maxStringLength} characters` };
      size += v.length;
      item.set(v);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { ok: false, path: pathOf(item), message: 'not a finite number' };
      if (Number.isInteger(v)) {
        if (!Number.isSafeInteger(v)) return { ok: false, path: pathOf(item), message: 'integer outside ±(2^53−1) cannot be represented exactly' };
        item.set(BigInt(v));
      } else item.set(v);
    } else if (typeof v === 'bigint') {
      item.set(v);
    } else if (typeof v === 'object') {
      if (item.depth >= limits.maxDepth) return { ok: false, path: pathOf(item), message: `nested deeper than ${limits.maxDepth}` };
      if (Array.isArray(v)) {
        if (v.length > limits.maxListLength) return { ok: false, path: pathOf(item), message: `list longer than ${limits.maxListLength} elements` };
        const out: CelInput[] = new Array(v.length).fill(null);
        item.set(out);
        for (let i = v.length - 1; i >= 0; i--) {
          stack.push({
            value: v[i],
            depth: item.depth + 1,
            parent: item,
            key: i,
            set: (c) => {
              out[i] = c;
            },
          });
        }
      } else {
        const record = v as Record<string, unknown>;
        const keys = Object.keys(record).filter((k) => record[k] !== undefined);
        if (keys.length > limits.maxMapSize) return { ok: false, path: pathOf(item), message: `object with more than ${limits.maxMapSize} keys` };
        keys.sort();
        const out = new Map<string, CelInput>();
        for (const k of keys) {
          if (k.length > limits.maxStringLength) return { ok: false, path: pathOf(item), message: `key longer than ${limits.maxStringLength} characters` };
          size += k.length;
          out.set(k, null);
        }
        item.set(out);
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i] as string;
          stack.push({ value: record[k], depth: item.depth + 1, parent: item, key: k, set: (c) => out.set(k, c) });
        }
      }
    } else {
      return { ok: false, path: pathOf(item), message: `a ${typeof v} is not JSON` };
    }
  }
  return { ok: true, value: root, size };
}

/**
 * A CEL value as JSON for people and traces (not for decisions): ints as numbers when safe,
 * otherwise strings; timestamps as RFC 3339; lists and maps truncated after `maxElements`.
 */
export function celToJson(value: unknown, maxElements = 100, depth = 0): unknown {
  if (depth > 32) return '…';
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (isCelUint(value)) return celToJson(value.value, maxElements, depth);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (isCelList(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      if (out.length >= maxElements) {
        out.push(`… ${value.size - maxElements} more`);
        break;
      }
      out.push(celToJson(v, maxElements, depth + 1));
    }
    return out;
  }
  if (isCelMap(value) || value instanceof Map) {
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const [k, v] of value as ReadonlyMap<unknown, unknown>) {
      if (n++ >= maxElements) {
        out['…'] = `${value.size - maxElements} more`;
        break;
      }
      Object.defineProperty(out, String(celToJson(k, maxElements, depth + 1)), { value: celToJson(v, maxElements, depth + 1), enumerable: true });
    }
    return out;
  }
  if (Array.isArray(value)) return value.slice(0, maxElements).map((v) => celToJson(v, maxElements, depth + 1));
  if (isCelType(value)) return `type(${value.name})`;
  // Timestamps and durations: let CEL format them.
  const text = run('string(v)', { v: value as CelInput });
  return isCelError(text) ? String(value) : text;
}

/** The CEL type name of a value, for messages such as "returned int, want bool". */
export function celTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (isCelUint(value)) return 'uint';
  if (value instanceof Uint8Array) return 'bytes';
  if (isCelList(value)) return 'list';
  if (isCelMap(value)) return 'map';
  const text = run('type(v)', { v: value as CelInput });
  return isCelError(text) ? 'unknown' : String((text as { name?: string }).name ?? 'unknown');
}
