/**
 * The policy gate's cost, against raw `@bufbuild/cel` evaluating the same expressions in the
 * same run: decisions per second for the default policy set, p50/p99 latency of one decision,
 * what the kernel's instrumentation (step budget, size cap) costs, and how long adversarial
 * input takes to be refused. Run: `node dist/bench/policy.js [--seconds N]`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CelInput, celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { loadBundle } from '../src/policy/bundle.js';
import { defaultBundle, defaultBundleDocument } from '../src/policy/default.js';
import { type GateInput, gateInputFromJSON } from '../src/policy/evidence.js';
import { evaluateGate } from '../src/policy/gate.js';
import { CEL_VERSION, compileExpression, evaluateExpression, newBudget, toCelInput } from '../src/policy/kernel.js';
import { loadPolicyDirectory } from '../src/policy/load.js';
import { EXPRESSION_LIMITS } from '../src/policy/limits.js';
import { median, rate } from './measure.js';

const secondsArg = process.argv.indexOf('--seconds');
const TOTAL_SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 2;
const ROUNDS = 15;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NOW = new Date('2026-03-01T00:00:00Z');
const OPTIONS = { point: 'deploy' as const, environment: 'production', now: NOW };

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Interleaves rounds of each function so that machine noise hits all alike; medians. */
function compare(fns: Record<string, () => unknown>, ms: number): Record<string, number> {
  for (const fn of Object.values(fns)) rate(fn, 100);
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) for (const [k, fn] of Object.entries(fns)) samples[k]?.push(rate(fn, ms));
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

function time(fn: () => unknown): { ms: number; result: unknown } {
  const t0 = performance.now();
  const result = fn();
  return { ms: performance.now() - t0, result };
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
const line = (label: string, value: string) => console.log(`  ${label.padEnd(58)} ${value}`);

const release: GateInput = gateInputFromJSON(JSON.parse(readFileSync(path.join(ROOT, 'policies/default/tests/fixtures/release.json'), 'utf8')));
const bundle = defaultBundle();
const expressionCount = bundle.bindings.reduce(
  (n, b) => n + b.active.policy.matchConditions.length + b.active.policy.variables.length + b.active.policy.validations.length,
  0,
);

// Raw @bufbuild/cel: the same expression texts planned in a plain environment, evaluated
// with the same bindings (input converted once, variables computed in order per policy).
const env = celEnv();
const rawPolicies = bundle.bindings.map((b) => {
  const p = b.active.policy;
  return {
    params: b.active.celParams,
    variables: p.variables.map((v) => ({ name: v.name, run: plan(env, parse(v.expression.source)) })),
    checks: [...p.matchConditions, ...p.validations].map((v) => plan(env, parse(v.expression.source))),
  };
});
const converted = toCelInput(release);
if (!converted.ok) throw new Error(converted.message);
const rawInput = converted.value;
const now = timestampFromDate(NOW);
function rawDecision(): boolean {
  let allow = true;
  for (const p of rawPolicies) {
    const variables = new Map<string, CelInput>();
    const base = { input: rawInput, params: p.params, variables, now, environment: 'production', point: 'deploy' } as Record<string, CelInput>;
    for (const v of p.variables) {
      const value = v.run(base as never);
      if (!isCelError(value)) variables.set(v.name, value as CelInput);
    }
    for (const c of p.checks) if (c(base as never) !== true) allow = false;
  }
  return allow;
}

// The kernel's instrumented expressions, evaluated the same way but through evaluateExpression.
function kernelEvaluationOnly(): boolean {
  const budget = newBudget();
  let allow = true;
  for (const b of bundle.bindings) {
    const p = b.active.policy;
    const variables = new Map<string, CelInput>();
    const base = { input: rawInput, params: b.active.celParams, variables, now, environment: 'production', point: 'deploy' } as Record<string, CelInput>;
    for (const v of p.variables) {
      const o = evaluateExpression(v.expression, base, budget);
      if (o.ok) variables.set(v.name, o.value as CelInput);
    }
    for (const c of [...p.matchConditions, ...p.validations]) {
      const o = evaluateExpression(c.expression, base, budget);
      if (!o.ok || o.value !== true) allow = false;
    }
  }
  return allow;
}

if (!rawDecision() || !kernelEvaluationOnly() || !evaluateGate(release, bundle, OPTIONS).allow) throw new Error('the release fixture should pass every path');

console.log(`policy bench — node ${process.version}, @bufbuild/cel ${CEL_VERSION}, ${ROUNDS} interleaved rounds, CPU time`);
console.log(
  `default set: ${bundle.bindings.length} bindings, ${bundle.policies.reduce((n, p) => n + p.validations.length, 0)} validations, ${expressionCount} expressions evaluated per decision`,
);
console.log();

const ms = Math.max(20, (TOTAL_SECONDS * 1000) / (ROUNDS * 3));
const rates = compare({ raw: rawDecision, kernel: kernelEvaluationOnly, decision: () => evaluateGate(release, bundle, OPTIONS) }, ms);
console.log('throughput (one decision = every expression of the default set on one release)');
line('raw @bufbuild/cel, same expressions', `${fmt(rates.raw ?? 0)} decisions/s`);
line('kernel evaluation (instrumented: step budget + size cap)', `${fmt(rates.kernel ?? 0)} decisions/s`);
line('evaluateGate (+ input caps, JCS input digest, decision id)', `${fmt(rates.decision ?? 0)} decisions/s`);
line('ratio raw / kernel evaluation (instrumentation overhead)', `${((rates.raw ?? 0) / (rates.kernel ?? 1)).toFixed(2)}x`);
line('ratio raw / evaluateGate', `${((rates.raw ?? 0) / (rates.decision ?? 1)).toFixed(2)}x`);

const latencies: number[] = [];
for (let i = 0; i < 3000; i++) {
  const t0 = performance.now();
  evaluateGate(release, bundle, OPTIONS);
  latencies.push(performance.now() - t0);
}
console.log();
console.log('latency of one evaluateGate, 3,000 decisions');
line('p50', `${(quantile(latencies, 0.5) * 1000).toFixed(0)} µs`);
line('p99', `${(quantile(latencies, 0.99) * 1000).toFixed(0)} µs`);
line('max', `${(Math.max(...latencies) * 1000).toFixed(0)} µs`);

console.log();
console.log('one-off costs');
const dirLoad = await (async () => {
  const t0 = performance.now();
  await loadPolicyDirectory(path.join(ROOT, 'policies/default'));
  return performance.now() - t0;
})();
line('load + compile the default set from disk (cold)', `${dirLoad.toFixed(1)} ms`);
line('compile the default set again (warm)', `${time(() => loadBundle(defaultBundleDocument())).ms.toFixed(1)} ms`);

console.log();
console.log('time to refuse adversarial input (each fails closed)');
const SCOPE = { roots: new Set(['input']), params: new Set<string>(), variables: new Set<string>() };
const parens = `${'('.repeat(10_000)}1${')'.repeat(10_000)}`;
const refused = (r: { ok: boolean; problems?: readonly { code: string }[] }) => (r.ok ? 'ACCEPTED' : (r.problems?.[0]?.code ?? '?'));
let t = time(() => compileExpression(parens, SCOPE, { path: 'bench' }));
line('10k nested parentheses → compile (size cap)', `${t.ms.toFixed(2)} ms, ${refused(t.result as never)}`);
t = time(() => compileExpression(parens, SCOPE, { path: 'bench' }, { ...EXPRESSION_LIMITS, maxExpressionBytes: 1 << 20 }));
line('10k nested parentheses → compile, size cap lifted (nesting scan)', `${t.ms.toFixed(2)} ms, ${refused(t.result as never)}`);
t = time(() => {
  try {
    parse(parens);
    return 'parsed';
  } catch (e) {
    return e instanceof Error ? e.message.slice(0, 40) : 'error';
  }
});
line('  reference: raw @bufbuild/cel parse() of the same text', `${t.ms.toFixed(2)} ms, ${String(t.result)}`);

const million = { ...release, findings: new Array(1_000_000).fill(release.findings[0]) };
t = time(() => evaluateGate(million, bundle, OPTIONS));
const d = t.result as ReturnType<typeof evaluateGate>;
line('1M-element findings list → evaluateGate (input cap)', `${t.ms.toFixed(2)} ms, allow=${d.allow}, ${d.inputError?.message}`);

const regexPolicy = compileExpression('input.s.matches("^(a+)+$")', SCOPE, { path: 'bench' });
if (!regexPolicy.ok) throw new Error('regex policy');
for (const n of [30, 10_000, 60_000]) {
  const input = toCelInput({ s: `${'a'.repeat(n)}b` });
  if (!input.ok) throw new Error(input.message);
  t = time(() => evaluateExpression(regexPolicy.expression, { input: input.value }, newBudget()));
  const o = t.result as ReturnType<typeof evaluateExpression>;
  line(`catastrophic regex ^(a+)+$ on ${n.toLocaleString('en-US')} a's + b (RE2)`, `${t.ms.toFixed(2)} ms, ${o.ok ? `matched=${String(o.value)}` : o.code}`);
}

const loop = compileExpression('input.l.all(x, input.l.all(y, x + y >= 0))', SCOPE, { path: 'bench' });
if (!loop.ok) throw new Error('loop policy');
const l = toCelInput({ l: Array.from({ length: 10_000 }, (_, i) => i) });
if (!l.ok) throw new Error(l.message);
t = time(() => evaluateExpression(loop.expression, { input: l.value }, newBudget()));
const lo = t.result as ReturnType<typeof evaluateExpression>;
line('10k × 10k nested comprehension → step budget (100k steps)', `${t.ms.toFixed(2)} ms, ${lo.ok ? 'finished' : lo.code}`);
