import { RE2JS } from 're2js';
import type { Digest } from '../model/digest.js';
import { Fields, joinPath } from '../model/fields.js';
import type { JsonValue } from '../model/json.js';
import { parseRfc3339 } from '../model/trust.js';
import { assembleBundle, type BundleDocument, type BundleRef, type LoadedBundle, loadBundle } from './bundle.js';
import {
  ACTIONS,
  API_VERSION,
  type Action,
  DECISION_POINTS,
  type DecisionPoint,
  ENVIRONMENT_RE,
  type ExceptionDocument,
  finishDocument,
  NAME_RE,
  type YamlDocument,
} from './documents.js';
import { type EvaluationTrace, evaluateGateTraced, type PolicyDecision } from './gate.js';
import { gateInputFromJSON } from './evidence.js';
import { DOCUMENT_LIMITS } from './limits.js';
import { applyPatch, PATCH_OPS, type PatchOperation } from './patch.js';
import { isCairnError } from '../model/errors.js';

/** Decision context of a test or case; `now` is pinned, never the clock. */
export interface TestContext {
  readonly point: DecisionPoint;
  readonly environment: string;
  /** RFC 3339. */
  readonly now: string;
}

export interface ViolationExpectation {
  readonly validation: string;
  readonly binding?: string;
  readonly policy?: string;
  readonly result?: 'fail' | 'error';
  readonly action?: Action;
  /** An RE2 pattern the message must contain a match of. */
  readonly message?: string;
}

export interface DivergenceExpectation {
  readonly validation: string;
  readonly binding?: string;
}

export interface TestCase {
  readonly name: string;
  readonly context?: Partial<TestContext>;
  readonly input: { readonly fixture?: string; readonly value?: JsonValue; readonly patch: readonly PatchOperation[] };
  readonly expect: {
    readonly decision: 'allow' | 'deny';
    readonly violations: readonly ViolationExpectation[];
    readonly exceptionsApplied: readonly string[];
    readonly errors: number;
    readonly divergences: readonly DivergenceExpectation[];
  };
}

/** A PolicyTest document (apiVersion `cairn.dev/v1`). */
export interface PolicyTestDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PolicyTest';
  readonly metadata: { readonly name: string; readonly description?: string };
  readonly spec: {
    /** Evaluate only these bindings (default: every binding of the bundle). */
    readonly bindings?: readonly string[];
    /** Test-only PolicyException files, relative to the test file. */
    readonly exceptions: readonly string[];
    readonly context: TestContext;
    /** Fixture name → JSON file, relative to the test file. */
    readonly fixtures: Readonly<Record<string, string>>;
    readonly cases: readonly TestCase[];
  };
}

function optional<T>(value: T | undefined, key: string): Record<string, T> {
  return value === undefined ? {} : { [key]: value };
}

function contextFrom(f: Fields, value: unknown, path: string, partial: boolean): Partial<TestContext> | undefined {
  const o = f.object(value, path, ['point', 'environment', 'now']);
  if (!o) return undefined;
  const out: { point?: DecisionPoint; environment?: string; now?: string } = {};
  if (o.point !== undefined || !partial) {
    if (o.point === undefined) out.point = 'deploy';
    else if (DECISION_POINTS.includes(o.point as DecisionPoint)) out.point = o.point as DecisionPoint;
    else f.report(joinPath(path, 'point'), 'UNSUPPORTED', `expected one of ${DECISION_POINTS.join(', ')}`);
  }
  if (o.environment !== undefined || !partial) {
    const env = f.string(o.environment, joinPath(path, 'environment'), { maxLength: 63, pattern: ENVIRONMENT_RE });
    if (env !== undefined) out.environment = env;
  }
  if (o.now !== undefined || !partial) {
    const now = f.string(o.now, joinPath(path, 'now'), { maxLength: 64 });
    if (now !== undefined && parseRfc3339(now) === null) f.report(joinPath(path, 'now'), 'INVALID_FORMAT', 'expected an RFC 3339 date-time');
    else if (now !== undefined) out.now = now;
  }
  return out;
}

function regex(f: Fields, value: unknown, path: string): string | undefined {
  const pattern = f.optionalString(value, path, { maxLength: 1024 });
  if (pattern === undefined) return undefined;
  try {
    RE2JS.compile(pattern);
  } catch (cause) {
    f.report(path, 'INVALID_FORMAT', `not an RE2 pattern: ${cause instanceof Error ? cause.message : String(cause)}`);
    return undefined;
  }
  return pattern;
}

function patchFrom(f: Fields, value: unknown, path: string): PatchOperation[] {
  if (value === undefined) return [];
  const list = f.array(value, path, DOCUMENT_LIMITS.maxPatchOps) ?? [];
  const out: PatchOperation[] = [];
  list.forEach((item, i) => {
    const p = joinPath(path, i);
    const o = f.object(item, p, ['op', 'path', 'value', 'from']);
    if (!o) return;
    const op = PATCH_OPS.includes(o.op as (typeof PATCH_OPS)[number]) ? (o.op as (typeof PATCH_OPS)[number]) : undefined;
    if (!op) f.report(joinPath(p, 'op'), o.op === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${PATCH_OPS.join(', ')}`);
    const target = f.string(o.path, joinPath(p, 'path'), { maxLength: 1024, empty: true });
    if (op === 'move' || op === 'copy') {
      const from = f.string(o.from, joinPath(p, 'from'), { maxLength: 1024, empty: true });
      if (o.value !== undefined) f.report(joinPath(p, 'value'), 'UNKNOWN_KEY', `${op} takes from, not value`);
      if (target !== undefined && from !== undefined) out.push({ op, from, path: target });
    } else if (op === 'remove') {
      if (o.value !== undefined || o.from !== undefined) f.report(p, 'UNKNOWN_KEY', 'remove takes only a path');
      if (target !== undefined) out.push({ op, path: target });
    } else if (op) {
      if (o.from !== undefined) f.report(joinPath(p, 'from'), 'UNKNOWN_KEY', `${op} takes value, not from`);
      if (!Object.hasOwn(o, 'value')) f.report(joinPath(p, 'value'), 'MISSING', 'required');
      else if (target !== undefined) out.push({ op, path: target, value: o.value as JsonValue });
    }
  });
  return out;
}

function caseFrom(f: Fields, value: unknown, path: string, fixtures: ReadonlySet<string>): TestCase | undefined {
  const o = f.object(value, path, ['name', 'context', 'input', 'expect']);
  if (!o) return undefined;
  const name = f.string(o.name, joinPath(path, 'name'), { maxLength: 256 });
  const context = o.context === undefined ? undefined : contextFrom(f, o.context, joinPath(path, 'context'), true);
  const i = f.object(o.input, joinPath(path, 'input'), ['fixture', 'value', 'patch']);
  let input: TestCase['input'] | undefined;
  if (i) {
    if ((i.fixture === undefined) === (i.value === undefined)) f.report(joinPath(path, 'input'), 'INVALID_FORMAT', 'give exactly one of fixture and value');
    const fixture = f.optionalString(i.fixture, joinPath(path, 'input.fixture'), { maxLength: 63 });
    if (fixture !== undefined && !fixtures.has(fixture))
      f.report(joinPath(path, 'input.fixture'), 'UNKNOWN_FIXTURE', `no fixture "${fixture}" in spec.fixtures`);
    input = {
      ...optional(fixture, 'fixture'),
      ...(i.value !== undefined ? { value: i.value as JsonValue } : {}),
      patch: patchFrom(f, i.patch, joinPath(path, 'input.patch')),
    };
  }
  const e = f.object(o.expect, joinPath(path, 'expect'), ['decision', 'violations', 'exceptionsApplied', 'errors', 'divergences']);
  let expect: TestCase['expect'] | undefined;
  if (e) {
    const ep = (k: string) => joinPath(joinPath(path, 'expect'), k);
    const decision = e.decision === 'allow' || e.decision === 'deny' ? e.decision : undefined;
    if (!decision) f.report(ep('decision'), e.decision === undefined ? 'MISSING' : 'UNSUPPORTED', 'expected allow or deny');
    const violations: ViolationExpectation[] = [];
    (e.violations === undefined ? [] : (f.array(e.violations, ep('violations'), 256) ?? [])).forEach((item, n) => {
      const p = joinPath(ep('violations'), n);
      const v = f.object(item, p, ['validation', 'binding', 'policy', 'result', 'action', 'message']);
      if (!v) return;
      const validation = f.string(v.validation, joinPath(p, 'validation'), { maxLength: 63, pattern: NAME_RE });
      const binding = f.optionalString(v.binding, joinPath(p, 'binding'), { maxLength: 63, pattern: NAME_RE });
      const policy = f.optionalString(v.policy, joinPath(p, 'policy'), { maxLength: 63, pattern: NAME_RE });
      if (v.result !== undefined && v.result !== 'fail' && v.result !== 'error') f.report(joinPath(p, 'result'), 'UNSUPPORTED', 'expected fail or error');
      if (v.action !== undefined && !ACTIONS.includes(v.action as Action))
        f.report(joinPath(p, 'action'), 'UNSUPPORTED', `expected one of ${ACTIONS.join(', ')}`);
      const message = regex(f, v.message, joinPath(p, 'message'));
      if (validation !== undefined)
        violations.push({
          validation,
          ...optional(binding, 'binding'),
          ...optional(policy, 'policy'),
          ...optional(v.result as 'fail' | 'error' | undefined, 'result'),
          ...optional(v.action as Action | undefined, 'action'),
          ...optional(message, 'message'),
        });
    });
    const exceptionsApplied =
      e.exceptionsApplied === undefined
        ? []
        : (f.array(e.exceptionsApplied, ep('exceptionsApplied'), 64) ?? []).map(
            (x, n) => f.string(x, joinPath(ep('exceptionsApplied'), n), { maxLength: 63, pattern: NAME_RE }) ?? '',
          );
    const errors = e.errors === undefined ? 0 : f.integer(e.errors, ep('errors'), 0, 10_000);
    const divergences: DivergenceExpectation[] = [];
    (e.divergences === undefined ? [] : (f.array(e.divergences, ep('divergences'), 256) ?? [])).forEach((item, n) => {
      const p = joinPath(ep('divergences'), n);
      const d = f.object(item, p, ['validation', 'binding']);
      if (!d) return;
      const validation = f.string(d.validation, joinPath(p, 'validation'), { maxLength: 63, pattern: NAME_RE });
      const binding = f.optionalString(d.binding, joinPath(p, 'binding'), { maxLength: 63, pattern: NAME_RE });
      if (validation !== undefined) divergences.push({ validation, ...optional(binding, 'binding') });
    });
    if (decision && errors !== undefined) expect = { decision, violations, exceptionsApplied, errors, divergences };
  }
  if (name === undefined || !input || !expect) return undefined;
  return { name, ...(context ? { context } : {}), input, expect };
}

/** Parses a PolicyTest document strictly: unknown keys, unknown fixtures and bad regexes are errors. */
export function policyTestFrom(doc: YamlDocument): PolicyTestDocument {
  const f = new Fields();
  const o = f.object(doc.value, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  let result: PolicyTestDocument | undefined;
  if (o) {
    if (o.apiVersion !== API_VERSION) f.report('apiVersion', o.apiVersion === undefined ? 'MISSING' : 'UNSUPPORTED', `expected "${API_VERSION}"`);
    if (o.kind !== 'PolicyTest') f.report('kind', 'UNSUPPORTED', 'expected PolicyTest');
    const m = f.object(o.metadata, 'metadata', ['name', 'description']);
    const name = m ? f.string(m.name, 'metadata.name', { maxLength: 63, pattern: NAME_RE }) : undefined;
    const description = m ? f.optionalString(m.description, 'metadata.description', { maxLength: 4096 }) : undefined;
    const s = f.object(o.spec, 'spec', ['bindings', 'exceptions', 'context', 'fixtures', 'cases']);
    if (s) {
      const bindings =
        s.bindings === undefined
          ? undefined
          : (f.array(s.bindings, 'spec.bindings', 256) ?? []).map((b, i) => f.string(b, `spec.bindings[${i}]`, { maxLength: 63, pattern: NAME_RE }) ?? '');
      const exceptions =
        s.exceptions === undefined
          ? []
          : (f.array(s.exceptions, 'spec.exceptions', 64) ?? []).map((x, i) => f.string(x, `spec.exceptions[${i}]`, { maxLength: 1024 }) ?? '');
      const context = contextFrom(f, s.context, 'spec.context', false) as TestContext | undefined;
      const fixtures: Record<string, string> = {};
      if (s.fixtures !== undefined) {
        const fx = f.object(s.fixtures, 'spec.fixtures');
        for (const [k, v] of Object.entries(fx ?? {})) {
          if (!NAME_RE.test(k)) f.report(joinPath('spec.fixtures', k), 'INVALID_FORMAT', 'a fixture name is lowercase letters, digits and dashes');
          const file = f.string(v, joinPath('spec.fixtures', k), { maxLength: 1024 });
          if (file !== undefined) Object.defineProperty(fixtures, k, { value: file, enumerable: true });
        }
      }
      const names = new Set(Object.keys(fixtures));
      const list = f.array(s.cases, 'spec.cases', DOCUMENT_LIMITS.maxCases) ?? [];
      if (list.length === 0 && Array.isArray(s.cases)) f.report('spec.cases', 'EMPTY', 'a test needs at least one case');
      const cases = list.map((c, i) => caseFrom(f, c, `spec.cases[${i}]`, names));
      const seen = new Set<string>();
      for (const [i, c] of cases.entries()) {
        if (c && seen.has(c.name)) f.report(`spec.cases[${i}].name`, 'DUPLICATE', `case "${c.name}" appears twice`);
        if (c) seen.add(c.name);
      }
      if (name !== undefined && context && cases.every((c) => c !== undefined))
        result = {
          apiVersion: API_VERSION,
          kind: 'PolicyTest',
          metadata: { name, ...optional(description, 'description') },
          spec: { ...(bindings ? { bindings } : {}), exceptions, context, fixtures, cases: cases as TestCase[] },
        };
    }
  }
  return finishDocument(f, result, doc, 'POLICY_TEST_INVALID');
}

/** A test file with what it refers to already read. */
export interface LoadedTest {
  /** Path relative to the policy directory. */
  readonly file: string;
  readonly document: PolicyTestDocument;
  readonly fixtures: ReadonlyMap<string, JsonValue>;
  readonly exceptions: readonly ExceptionDocument[];
}

/** A policy directory: its bundle, its tests, and the digest of every file read (for the attestation). */
export interface PolicySuite {
  readonly bundle: BundleDocument;
  readonly loaded: LoadedBundle;
  readonly tests: readonly LoadedTest[];
  readonly files: readonly { readonly path: string; readonly digest: Digest }[];
}

export interface CaseReport {
  readonly name: string;
  readonly passed: boolean;
  readonly failures: readonly string[];
  readonly decisionId: string | null;
  readonly allow: boolean | null;
  readonly violations: readonly { readonly binding: string; readonly validation: string; readonly result: string; readonly message: string }[];
  /** Variable values of every evaluated policy, shown for failing cases only. */
  readonly variables: readonly EvaluationTrace[];
}

export interface TestFileReport {
  readonly file: string;
  readonly name: string;
  readonly cases: readonly CaseReport[];
}

export interface CoverageReport {
  readonly total: number;
  readonly covered: number;
  /** Floor of the exact percentage: 199/200 is 99, never 100. */
  readonly percent: number;
  readonly threshold: number;
  /** Coverage is enforced only on a full run (no --run filter). */
  readonly enforced: boolean;
  readonly ok: boolean;
  /** Every validation of every policy in the bundle, with how often it passed and failed. */
  readonly validations: readonly { readonly policy: string; readonly validation: string; readonly pass: number; readonly fail: number }[];
}

export interface TestReport {
  readonly bundle: BundleRef;
  readonly result: 'PASSED' | 'FAILED';
  readonly tests: readonly TestFileReport[];
  readonly coverage: CoverageReport;
  readonly counts: { readonly cases: number; readonly passed: number; readonly failed: number; readonly skipped: number };
}

export interface TestOptions {
  /** Run only cases whose `test/case` name matches this RE2 pattern. */
  readonly run?: string;
  /** Percent of validations that must be seen both passing and failing (default 100). */
  readonly minCoverage?: number;
}

function matchesViolation(e: ViolationExpectation, v: PolicyDecision['violations'][number]): boolean {
  if (e.validation !== v.validation) return false;
  if (e.binding !== undefined && e.binding !== v.binding) return false;
  if (e.policy !== undefined && e.policy !== v.policy) return false;
  if (e.result !== undefined && e.result !== v.result) return false;
  if (e.action !== undefined && e.action !== v.action) return false;
  return e.message === undefined || RE2JS.compile(e.message).test(v.message);
}

function describeViolation(v: { binding: string; validation: string; result: string; message: string }): string {
  return `${v.binding}/${v.validation} ${v.result}: ${v.message}`;
}

/** Every difference between what a case expects and the decision, as sentences; empty when it passes. */
export function compareCase(expect: TestCase['expect'], decision: PolicyDecision): string[] {
  const failures: string[] = [];
  const actual = decision.allow ? 'allow' : 'deny';
  if (actual !== expect.decision) failures.push(`expected decision ${expect.decision}, got ${actual}`);
  const unmatched = [...decision.violations];
  for (const e of expect.violations) {
    const i = unmatched.findIndex((v) => matchesViolation(e, v));
    if (i < 0)
      failures.push(
        `expected a violation of ${e.binding ? `${e.binding}/` : ''}${e.validation}${e.message ? ` with a message matching /${e.message}/` : ''}, none found`,
      );
    else unmatched.splice(i, 1);
  }
  for (const v of unmatched) failures.push(`unexpected violation ${describeViolation(v)}`);
  const applied = [...new Set(decision.exceptionsApplied.map((a) => a.name))].sort();
  const wanted = [...new Set(expect.exceptionsApplied)].sort();
  if (applied.join(',') !== wanted.join(',')) failures.push(`expected exceptions applied [${wanted.join(', ')}], got [${applied.join(', ')}]`);
  const errors = [...decision.evaluations.flatMap((e) => e.results), ...decision.shadow.flatMap((s) => s.results)].filter((r) => r.result === 'error');
  if (errors.length !== expect.errors)
    failures.push(
      `expected ${expect.errors} evaluation error(s), got ${errors.length}${errors.length > 0 ? `: ${errors.map((r) => `${r.validation}: ${r.message}`).join('; ')}` : ''}`,
    );
  const changes = decision.shadow.flatMap((s) => s.changes.map((c) => ({ binding: s.binding, ...c })));
  const pending = [...changes];
  for (const d of expect.divergences) {
    const i = pending.findIndex((c) => c.validation === d.validation && (d.binding === undefined || d.binding === c.binding));
    if (i < 0) failures.push(`expected a shadow divergence on ${d.binding ? `${d.binding}/` : ''}${d.validation}, none found`);
    else pending.splice(i, 1);
  }
  for (const c of pending) failures.push(`unexpected shadow divergence on ${c.binding}/${c.validation}: active ${c.active}, candidate ${c.candidate}`);
  return failures;
}

/**
 * Runs every case of every test against the suite's bundle through the same evaluateGate the
 * gate uses, strictly: a wrong decision, a missing or extra violation, a message that does
 * not match, an exception set that differs, an unexpected error or divergence each fail the
 * case. Then checks that every validation was seen both passing and failing.
 */
export function runPolicyTests(suite: PolicySuite, options: TestOptions = {}): TestReport {
  const filter = options.run === undefined ? null : RE2JS.compile(options.run);
  const threshold = options.minCoverage ?? 100;
  const tally = new Map<string, { policy: string; validation: string; pass: number; fail: number }>();
  for (const p of suite.loaded.policies) {
    for (const v of p.validations) tally.set(`${p.name}@${p.version}/${v.id}`, { policy: `${p.name}@${p.version}`, validation: v.id, pass: 0, fail: 0 });
  }
  const knownValidations = new Set(suite.loaded.policies.flatMap((p) => p.validations.map((v) => v.id)));
  const knownBindings = new Set(suite.loaded.bindings.map((b) => b.name));
  const files: TestFileReport[] = [];
  let skipped = 0;
  for (const test of suite.tests) {
    const doc = test.document;
    const invalid: string[] = [];
    for (const b of doc.spec.bindings ?? []) if (!knownBindings.has(b)) invalid.push(`spec.bindings names no binding of the bundle: ${b}`);
    doc.spec.cases.forEach((c, i) => {
      for (const v of c.expect.violations) {
        if (!knownValidations.has(v.validation)) invalid.push(`spec.cases[${i}] expects validation "${v.validation}", which no policy of the bundle has`);
        if (v.binding !== undefined && !knownBindings.has(v.binding)) invalid.push(`spec.cases[${i}] names binding "${v.binding}", which the bundle lacks`);
      }
      for (const d of c.expect.divergences)
        if (!knownValidations.has(d.validation)) invalid.push(`spec.cases[${i}] expects a divergence on unknown validation "${d.validation}"`);
    });
    let bundle: LoadedBundle = suite.loaded;
    if (invalid.length === 0 && test.exceptions.length > 0) {
      try {
        bundle = loadBundle(
          assembleBundle([
            { apiVersion: API_VERSION, kind: 'PolicyBundle', metadata: suite.bundle.metadata },
            ...suite.bundle.policies,
            ...suite.bundle.bindings,
            ...suite.bundle.exceptions,
            ...test.exceptions,
          ]),
        );
      } catch (error) {
        invalid.push(`its exceptions do not load: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (doc.spec.bindings) {
      const scope = new Set(doc.spec.bindings);
      bundle = { ...bundle, bindings: bundle.bindings.filter((b) => scope.has(b.name)) };
    }
    const cases: CaseReport[] = [];
    for (const c of doc.spec.cases) {
      if (filter && !filter.test(`${doc.metadata.name}/${c.name}`)) {
        skipped++;
        continue;
      }
      const fail = (failures: string[], extra: Partial<CaseReport> = {}): CaseReport => ({
        name: c.name,
        passed: false,
        failures,
        decisionId: null,
        allow: null,
        violations: [],
        variables: [],
        ...extra,
      });
      if (invalid.length > 0) {
        cases.push(fail(invalid.map((m) => `the test file is invalid: ${m}`)));
        continue;
      }
      const base = c.input.fixture !== undefined ? test.fixtures.get(c.input.fixture) : c.input.value;
      const patched = applyPatch(base ?? null, c.input.patch);
      if (!patched.ok) {
        cases.push(fail([patched.message]));
        continue;
      }
      let input: ReturnType<typeof gateInputFromJSON>;
      try {
        input = gateInputFromJSON(patched.value);
      } catch (error) {
        const problems = isCairnError(error) ? error.problems.map((p) => `${p.path}: ${p.message}`) : [String(error)];
        cases.push(fail(problems.map((p) => `input invalid: ${p}`)));
        continue;
      }
      const context = { ...doc.spec.context, ...c.context };
      const trace: EvaluationTrace[] = [];
      const decision = evaluateGateTraced(
        input,
        bundle,
        { point: context.point, environment: context.environment, now: parseRfc3339(context.now) as Date },
        trace,
      );
      for (const e of decision.evaluations) count(tally, `${e.policy}@${e.policyVersion}`, e.results);
      for (const s of decision.shadow) count(tally, `${s.policy}@${s.policyVersion}`, s.results);
      const failures = compareCase(c.expect, decision);
      cases.push({
        name: c.name,
        passed: failures.length === 0,
        failures,
        decisionId: decision.id,
        allow: decision.allow,
        violations: decision.violations.map((v) => ({ binding: v.binding, validation: v.validation, result: v.result, message: v.message })),
        variables: failures.length === 0 ? [] : trace,
      });
    }
    files.push({ file: test.file, name: doc.metadata.name, cases });
  }
  const validations = [...tally.values()];
  const covered = validations.filter((v) => v.pass > 0 && v.fail > 0).length;
  const total = validations.length;
  const enforced = filter === null;
  const ok = !enforced || covered * 100 >= threshold * total;
  const all = files.flatMap((f) => f.cases);
  const failed = all.filter((c) => !c.passed).length;
  return {
    bundle: suite.loaded.ref,
    result: failed === 0 && ok && all.length > 0 ? 'PASSED' : 'FAILED',
    tests: files,
    coverage: { total, covered, percent: total === 0 ? 100 : Math.floor((covered * 100) / total), threshold, enforced, ok, validations },
    counts: { cases: all.length, passed: all.length - failed, failed, skipped },
  };
}

function count(tally: Map<string, { pass: number; fail: number }>, policy: string, results: readonly { validation: string; result: string }[]): void {
  for (const r of results) {
    const entry = tally.get(`${policy}/${r.validation}`);
    if (!entry) continue;
    if (r.result === 'pass') entry.pass++;
    else if (r.result === 'fail') entry.fail++;
  }
}

function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The report as JUnit XML: one testsuite per test file, one testcase per case, plus coverage. */
export function junitXml(report: TestReport): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failures = report.counts.failed + (report.coverage.ok ? 0 : 1);
  lines.push(`<testsuites name="cairn policy test" tests="${report.counts.cases + 1}" failures="${failures}">`);
  for (const file of report.tests) {
    const failed = file.cases.filter((c) => !c.passed).length;
    lines.push(`  <testsuite name="${xml(file.name)}" file="${xml(file.file)}" tests="${file.cases.length}" failures="${failed}">`);
    for (const c of file.cases) {
      if (c.passed) {
        lines.push(`    <testcase classname="${xml(file.name)}" name="${xml(c.name)}"/>`);
        continue;
      }
      lines.push(`    <testcase classname="${xml(file.name)}" name="${xml(c.name)}">`);
      const detail = [...c.failures, ...c.variables.map((t) => `variables of ${t.binding} (${t.policy}, ${t.role}): ${JSON.stringify(t.variables)}`)].join(
        '\n',
      );
      lines.push(`      <failure message="${xml(c.failures[0] ?? 'failed')}">${xml(detail)}</failure>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  const cov = report.coverage;
  lines.push(`  <testsuite name="coverage" tests="1" failures="${cov.ok ? 0 : 1}">`);
  if (cov.ok) lines.push(`    <testcase classname="coverage" name="validations seen passing and failing: ${cov.covered}/${cov.total}"/>`);
  else {
    const missing = cov.validations.filter((v) => v.pass === 0 || v.fail === 0).map((v) => `${v.policy}/${v.validation} (pass ${v.pass}, fail ${v.fail})`);
    lines.push(`    <testcase classname="coverage" name="validations seen passing and failing: ${cov.covered}/${cov.total}">`);
    lines.push(`      <failure message="coverage ${cov.percent}% is below ${cov.threshold}%">${xml(missing.join('\n'))}</failure>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>');
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
