import type { CelInput } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { canonicalDigest } from '../crypto/jcs.js';
import { type Digest, digestHex } from '../model/digest.js';
import type { GateDecision, RuleResult } from '../model/gate.js';
import type { BindingDocument, Action, DecisionPoint } from './documents.js';
import type { BoundPolicy, BundleRef, CompiledException, CompiledNamed, LoadedBundle } from './bundle.js';
import { EVAL_CODES, type EvalCode } from './errors.js';
import type { GateInput } from './evidence.js';
import { type Budget, celToJson, celTypeName, EVALUATOR, evaluateExpression, newBudget, type Outcome, toCelInput } from './kernel.js';
import { EVALUATION_LIMITS, type EvaluationLimits, INPUT_LIMITS, type InputLimits } from './limits.js';

export type ValidationOutcome = 'pass' | 'fail' | 'error' | 'notApplicable';

export interface ValidationResult {
  readonly validation: string;
  readonly result: ValidationOutcome;
  /** Empty on pass; why it failed, errored or did not apply otherwise. */
  readonly message: string;
  /** For `error`: which kind (POLICY_EVAL_ERROR, POLICY_EVAL_BUDGET, …). */
  readonly code?: EvalCode;
  /** For a waived `fail`: the exception that waived it. */
  readonly exception?: string;
  /** The messageExpression failed and `message` was used instead; recorded, never silent. */
  readonly messageError?: string;
}

export interface PolicyEvaluation {
  readonly binding: string;
  readonly bindingDigest: Digest;
  readonly policy: string;
  readonly policyVersion: number;
  readonly policyDigest: Digest;
  readonly paramsDigest: Digest;
  readonly action: Action;
  readonly results: readonly ValidationResult[];
}

export interface Violation {
  readonly binding: string;
  readonly policy: string;
  readonly validation: string;
  readonly result: 'fail' | 'error';
  readonly action: Action;
  readonly message: string;
}

export interface AppliedException {
  readonly name: string;
  readonly digest: Digest;
  readonly binding: string;
  readonly policy: string;
  readonly validation: string;
  readonly expiresAt: string;
  /** The evaluation it waived in: the active policy, or the shadow candidate. */
  readonly role: 'active' | 'candidate';
}

export interface IgnoredException {
  readonly name: string;
  readonly why: 'expired' | 'not-yet-approved' | 'conditions-false' | 'conditions-error';
  readonly message: string;
}

export interface Divergence {
  readonly validation: string;
  readonly active: ValidationOutcome | 'waived' | 'absent';
  readonly candidate: ValidationOutcome | 'waived' | 'absent';
}

/** A candidate policy evaluated beside the active one; never enforced. */
export interface ShadowEvaluation {
  readonly binding: string;
  readonly action: Action;
  readonly policy: string;
  readonly policyVersion: number;
  readonly policyDigest: Digest;
  readonly paramsDigest: Digest;
  readonly results: readonly ValidationResult[];
  /** Validations whose outcome differs from the active policy's. */
  readonly changes: readonly Divergence[];
  readonly divergent: boolean;
  /** Every change is among the binding's `expectedChanges` and the candidate had no error. */
  readonly explained: boolean;
  /** Whether the active and the candidate evaluation each hold a violation (fail or error, not waived). */
  readonly activeViolates: boolean;
  readonly candidateViolates: boolean;
}

/**
 * A gate decision: the record `cairn policy replay` must reproduce byte for byte. Its id is
 * derived from its own canonical content.
 */
export interface PolicyDecision {
  readonly apiVersion: 'cairn.dev/v1';
  readonly kind: 'PolicyDecision';
  /** `dec_` + the first 24 hex of the digest of every other field, canonicalised. */
  readonly id: string;
  /** The artifact digest decided on. */
  readonly subject: Digest;
  readonly point: DecisionPoint;
  readonly environment: string;
  /** The decision's clock (an input), RFC 3339 with milliseconds. */
  readonly decidedAt: string;
  readonly allow: boolean;
  /** sha256 of the JCS bytes of the gate input. */
  readonly inputDigest: Digest;
  readonly bundle: BundleRef;
  readonly evaluator: string;
  readonly evaluations: readonly PolicyEvaluation[];
  /** Non-waived fails and errors of every evaluation, with the action that governs them. */
  readonly violations: readonly Violation[];
  readonly exceptionsApplied: readonly AppliedException[];
  readonly exceptionsIgnored: readonly IgnoredException[];
  readonly shadow: readonly ShadowEvaluation[];
  readonly counts: { readonly pass: number; readonly fail: number; readonly error: number; readonly notApplicable: number; readonly waived: number };
  /** Bindings that could deny here; a decision with none denies (except at `audit`). */
  readonly enforcing: number;
  /** The input broke a cap: every validation is an error and the decision denies. */
  readonly inputError: { readonly path: string; readonly message: string } | null;
  /** The wall-clock backstop fired: the decision denies and cannot be replayed exactly. */
  readonly deadlineExceeded: boolean;
}

export interface GateOptions {
  readonly point: DecisionPoint;
  readonly environment: string;
  /** The decision's clock: exceptions and `now` in expressions read only this. */
  readonly now: Date;
  readonly limits?: EvaluationLimits;
  readonly inputLimits?: InputLimits;
  /** Milliseconds, for the wall-clock deadline only (default `performance.now`). */
  readonly clock?: () => number;
}

/** Variable values of each evaluated policy, for test output (`--var-values`); not part of a decision. */
export interface EvaluationTrace {
  readonly binding: string;
  readonly policy: string;
  readonly role: 'active' | 'candidate';
  readonly variables: Readonly<Record<string, unknown>>;
}

/** The action a binding takes at a point and environment: the first rule that matches, else null. */
export function resolveAction(binding: BindingDocument, point: DecisionPoint, environment: string): Action | null {
  for (const rule of binding.spec.actions) {
    if (rule.point === point && (rule.environments === undefined || rule.environments.includes(environment))) return rule.action;
  }
  return null;
}

interface Run {
  readonly input: CelInput | null;
  readonly inputError: PolicyDecision['inputError'];
  readonly base: Record<string, CelInput>;
  readonly budget: Budget;
  readonly now: Date;
  readonly exceptions: readonly CompiledException[];
  /** Exception name → whether it applies in this decision (evaluated at most once). */
  readonly exceptionState: Map<string, { applies: boolean; ignored: IgnoredException | null }>;
  readonly trace: EvaluationTrace[] | null;
}

function describeError(outcome: Extract<Outcome, { ok: false }>): string {
  return outcome.position ? `${outcome.message} (at ${outcome.position.line}:${outcome.position.column})` : outcome.message;
}

function evaluatePolicy(bound: BoundPolicy, binding: string, role: 'active' | 'candidate', run: Run): ValidationResult[] {
  const { policy } = bound;
  const all = (result: ValidationOutcome, message: string, code?: EvalCode): ValidationResult[] =>
    policy.validations.map((v) => ({ validation: v.id, result, message, ...(code ? { code } : {}) }));
  if (run.inputError) return all('error', `input ${run.inputError.path || '(root)'}: ${run.inputError.message}`, EVAL_CODES.input);
  const activation: Record<string, CelInput> = { ...run.base, params: bound.celParams };

  let conditionError: { message: string; code: EvalCode } | null = null;
  for (const m of policy.matchConditions) {
    const outcome = evaluateExpression(m.expression, activation, run.budget);
    if (outcome.ok && outcome.value === false) return all('notApplicable', `matchCondition ${m.name} is false`);
    if (!outcome.ok) conditionError ??= { message: `matchCondition ${m.name}: ${describeError(outcome)}`, code: outcome.code };
    else if (outcome.value !== true)
      conditionError ??= { message: `matchCondition ${m.name} returned ${celTypeName(outcome.value)}, want bool`, code: EVAL_CODES.type };
  }
  if (conditionError) return all('error', conditionError.message, conditionError.code);

  const values = new Map<string, CelInput>();
  const failed = new Map<string, { message: string; code: EvalCode }>();
  activation.variables = values;
  for (const v of policy.variables) {
    const broken = v.expression.variables.find((name) => failed.has(name));
    if (broken) {
      failed.set(v.name, { message: `variable ${broken} failed`, code: failed.get(broken)?.code ?? EVAL_CODES.evaluation });
      continue;
    }
    const outcome = evaluateExpression(v.expression, activation, run.budget);
    if (outcome.ok) values.set(v.name, outcome.value as CelInput);
    else failed.set(v.name, { message: describeError(outcome), code: outcome.code });
  }
  if (run.trace) {
    const shown: Record<string, unknown> = {};
    for (const v of policy.variables) {
      const error = failed.get(v.name);
      Object.defineProperty(shown, v.name, { value: error ? { error: error.message } : celToJson(values.get(v.name)), enumerable: true });
    }
    run.trace.push({ binding, policy: `${policy.name}@${policy.version}`, role, variables: shown });
  }

  return policy.validations.map((v): ValidationResult => {
    const broken = v.expression.variables.find((name) => failed.has(name));
    if (broken) {
      const error = failed.get(broken) as { message: string; code: EvalCode };
      return { validation: v.id, result: 'error', message: `variable ${broken}: ${error.message}`, code: error.code };
    }
    const outcome = evaluateExpression(v.expression, activation, run.budget);
    if (!outcome.ok) return { validation: v.id, result: 'error', message: describeError(outcome), code: outcome.code };
    if (outcome.value === true) return { validation: v.id, result: 'pass', message: '' };
    if (outcome.value !== false)
      return { validation: v.id, result: 'error', message: `returned ${celTypeName(outcome.value)}, want bool`, code: EVAL_CODES.type };
    const fallback = v.message ?? `failed: ${v.expression.source}`;
    if (!v.messageExpression) return { validation: v.id, result: 'fail', message: fallback };
    const message = evaluateExpression(v.messageExpression, activation, run.budget);
    if (message.ok && typeof message.value === 'string') return { validation: v.id, result: 'fail', message: message.value };
    const why = message.ok ? `returned ${celTypeName(message.value)}, want string` : describeError(message);
    return { validation: v.id, result: 'fail', message: fallback, messageError: why };
  });
}

/**
 * Whether an exception applies in this decision: approved no later than `now`, not yet
 * expired, and every matchCondition true. One code path for tests, shadow, enforcement and
 * audit, evaluated with the decision's own clock.
 */
function exceptionApplies(exception: CompiledException, run: Run): boolean {
  const known = run.exceptionState.get(exception.name);
  if (known) return known.applies;
  const ignore = (why: IgnoredException['why'], message: string) => {
    run.exceptionState.set(exception.name, { applies: false, ignored: { name: exception.name, why, message } });
    return false;
  };
  if (run.now.getTime() < exception.approvedAt.getTime()) return ignore('not-yet-approved', `approved for ${exception.document.spec.approvedAt}`);
  if (run.now.getTime() >= exception.expiresAt.getTime()) return ignore('expired', `expired at ${exception.document.spec.expiresAt}`);
  if (run.inputError) return ignore('conditions-error', 'the input broke a cap');
  for (const m of exception.matchConditions as CompiledNamed[]) {
    const outcome = evaluateExpression(m.expression, run.base, run.budget);
    if (!outcome.ok) return ignore('conditions-error', `matchCondition ${m.name}: ${describeError(outcome)}`);
    if (outcome.value !== true)
      return ignore(
        outcome.value === false ? 'conditions-false' : 'conditions-error',
        `matchCondition ${m.name} is ${outcome.value === false ? 'false' : 'not a bool'}`,
      );
  }
  run.exceptionState.set(exception.name, { applies: true, ignored: null });
  return true;
}

function applyExceptions(
  results: ValidationResult[],
  policyName: string,
  binding: string,
  role: 'active' | 'candidate',
  run: Run,
  applied: AppliedException[],
): ValidationResult[] {
  return results.map((r) => {
    if (r.result !== 'fail') return r;
    for (const e of run.exceptions) {
      if (!e.waives.get(policyName)?.has(r.validation)) continue;
      if (!exceptionApplies(e, run)) continue;
      applied.push({ name: e.name, digest: e.digest, binding, policy: policyName, validation: r.validation, expiresAt: e.document.spec.expiresAt, role });
      return { ...r, exception: e.name };
    }
    return r;
  });
}

function effective(r: ValidationResult | undefined): Divergence['active'] {
  if (!r) return 'absent';
  return r.result === 'fail' && r.exception !== undefined ? 'waived' : r.result;
}

function violates(results: readonly ValidationResult[]): boolean {
  return results.some((r) => r.result === 'error' || (r.result === 'fail' && r.exception === undefined));
}

function compare(active: readonly ValidationResult[], candidate: readonly ValidationResult[]): Divergence[] {
  const a = new Map(active.map((r) => [r.validation, r]));
  const c = new Map(candidate.map((r) => [r.validation, r]));
  const ids = [...a.keys(), ...[...c.keys()].filter((id) => !a.has(id))];
  return ids
    .map((validation) => ({ validation, active: effective(a.get(validation)), candidate: effective(c.get(validation)) }))
    .filter((d) => d.active !== d.candidate);
}

/**
 * Decides on gate input with a bundle, purely: no file, no clock but `options.now` (and the
 * injected wall-clock backstop). Each binding that has an action at the point and environment
 * is evaluated; its candidate, if any, is evaluated beside it in shadow and compared. The
 * decision allows only if at least one binding could deny, none of them did, and the input
 * was within its caps.
 */
export function evaluateGate(evidence: GateInput, bundle: LoadedBundle, options: GateOptions): PolicyDecision {
  return evaluateGateTraced(evidence, bundle, options, null);
}

/** evaluateGate that also collects variable values into `trace` (for test output). */
export function evaluateGateTraced(evidence: GateInput, bundle: LoadedBundle, options: GateOptions, trace: EvaluationTrace[] | null): PolicyDecision {
  const converted = toCelInput(evidence, options.inputLimits ?? INPUT_LIMITS);
  const inputError = converted.ok ? null : { path: converted.path, message: converted.message };
  const input = converted.ok ? converted.value : null;
  // The digest of input over a cap could itself be huge or fail: name the cap instead.
  const inputDigest = converted.ok ? canonicalDigest(evidence) : canonicalDigest({ rejected: inputError });
  const run: Run = {
    input,
    inputError,
    base: { input, now: timestampFromDate(options.now), environment: options.environment, point: options.point },
    budget: newBudget(options.limits ?? EVALUATION_LIMITS, options.clock),
    now: options.now,
    exceptions: bundle.exceptions,
    exceptionState: new Map(),
    trace,
  };
  const evaluations: PolicyEvaluation[] = [];
  const shadow: ShadowEvaluation[] = [];
  const applied: AppliedException[] = [];
  let enforcing = 0;
  for (const binding of bundle.bindings) {
    const action = resolveAction(binding.document, options.point, options.environment);
    if (action === null) continue;
    if (action === 'deny') enforcing++;
    const active = binding.active;
    const results = applyExceptions(evaluatePolicy(active, binding.name, 'active', run), active.policy.name, binding.name, 'active', run, applied);
    evaluations.push({
      binding: binding.name,
      bindingDigest: binding.digest,
      policy: active.policy.name,
      policyVersion: active.policy.version,
      policyDigest: active.policy.digest,
      paramsDigest: active.paramsDigest,
      action,
      results,
    });
    const candidate = binding.candidate;
    if (candidate) {
      const shadowResults = applyExceptions(
        evaluatePolicy(candidate, binding.name, 'candidate', run),
        candidate.policy.name,
        binding.name,
        'candidate',
        run,
        applied,
      );
      const changes = compare(results, shadowResults);
      const expected = new Set(candidate.expectedChanges);
      shadow.push({
        binding: binding.name,
        action,
        policy: candidate.policy.name,
        policyVersion: candidate.policy.version,
        policyDigest: candidate.policy.digest,
        paramsDigest: candidate.paramsDigest,
        results: shadowResults,
        changes,
        divergent: changes.length > 0,
        explained: changes.every((c) => expected.has(c.validation)) && !shadowResults.some((r) => r.result === 'error'),
        activeViolates: violates(results),
        candidateViolates: violates(shadowResults),
      });
    }
  }
  const violations: Violation[] = evaluations.flatMap((e) =>
    e.results
      .filter((r) => r.result === 'error' || (r.result === 'fail' && r.exception === undefined))
      .map((r) => ({
        binding: e.binding,
        policy: e.policy,
        validation: r.validation,
        result: r.result as 'fail' | 'error',
        action: e.action,
        message: r.message,
      })),
  );
  const all = evaluations.flatMap((e) => e.results);
  const counts = {
    pass: all.filter((r) => r.result === 'pass').length,
    fail: all.filter((r) => r.result === 'fail' && r.exception === undefined).length,
    error: all.filter((r) => r.result === 'error').length,
    notApplicable: all.filter((r) => r.result === 'notApplicable').length,
    waived: all.filter((r) => r.exception !== undefined).length,
  };
  const deadlineExceeded = run.budget.deadlineHit;
  const allow = inputError === null && !deadlineExceeded && (enforcing > 0 || options.point === 'audit') && !violations.some((v) => v.action === 'deny');
  const ignored = [...run.exceptionState.values()].flatMap((s) => (s.ignored ? [s.ignored] : []));
  const body = {
    apiVersion: 'cairn.dev/v1' as const,
    kind: 'PolicyDecision' as const,
    subject: evidence.artifact.digest,
    point: options.point,
    environment: options.environment,
    decidedAt: options.now.toISOString(),
    allow,
    inputDigest,
    bundle: bundle.ref,
    evaluator: EVALUATOR,
    evaluations,
    violations,
    exceptionsApplied: applied,
    exceptionsIgnored: ignored.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    shadow,
    counts,
    enforcing,
    inputError,
    deadlineExceeded,
  };
  return { ...body, id: decisionId(body) };
}

/** `dec_` + 24 hex of the digest of the canonical decision without its id. */
export function decisionId(body: Omit<PolicyDecision, 'id'>): string {
  return `dec_${digestHex(canonicalDigest(body)).slice(0, 24)}`;
}

/**
 * The skeleton's GateDecision view of a deploy decision, for stores and summaries that read
 * that shape: one rule per validation of every enforced (non-shadow) evaluation, named
 * `policy/validation`. The id is the decision's, so replay finds it.
 */
export function gateDecisionOf(decision: PolicyDecision): GateDecision {
  const rules: RuleResult[] = decision.evaluations
    .filter((e) => e.action !== 'shadow')
    .flatMap((e) =>
      e.results.map((r) => ({
        id: `${e.policy}/${r.validation}`,
        outcome: r.result,
        message: r.exception ? `waived by exception ${r.exception}: ${r.message}` : r.message || (r.result === 'pass' ? 'passed' : ''),
      })),
    );
  return {
    id: decision.id,
    subject: decision.subject,
    point: 'deploy',
    environment: decision.environment,
    allow: decision.allow,
    rules,
    inputDigest: decision.inputDigest,
    evaluator: decision.evaluator,
    decidedAt: decision.decidedAt,
  };
}
