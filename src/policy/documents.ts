import { isNode, LineCounter, parseAllDocuments } from 'yaml';
import type { Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import type { JsonValue } from '../model/json.js';
import { parseRfc3339 } from '../model/trust.js';
import { PolicyError } from './errors.js';
import { DOCUMENT_LIMITS } from './limits.js';

/**
 * The policy documents (apiVersion `cairn.dev/v1`) and their strict parsers: YAML in,
 * typed and normalised values out, every bad field reported with its path and line.
 */
export const API_VERSION = 'cairn.dev/v1';

export const DECISION_POINTS = ['pr-check', 'release', 'deploy', 'audit'] as const;
export type DecisionPoint = (typeof DECISION_POINTS)[number];

/** How a binding's violations count at a point: only `deny` can deny. */
export const ACTIONS = ['deny', 'warn', 'report', 'shadow'] as const;
export type Action = (typeof ACTIONS)[number];

export const PARAM_TYPES = ['string', 'int', 'double', 'bool', 'list<string>', 'list<int>', 'map<string,string>'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface Metadata {
  readonly name: string;
  readonly description?: string;
}

export interface NamedExpression {
  readonly name: string;
  readonly expression: string;
}

export interface Validation {
  readonly id: string;
  readonly expression: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly description?: string;
}

export interface ParamSpec {
  readonly type: ParamType;
  readonly default?: JsonValue;
  readonly description?: string;
}

export interface PolicyDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'Policy';
  readonly metadata: Metadata & { readonly version: number };
  readonly spec: {
    readonly decisionPoint: DecisionPoint;
    readonly params: Readonly<Record<string, ParamSpec>>;
    readonly matchConditions: readonly NamedExpression[];
    readonly variables: readonly NamedExpression[];
    readonly validations: readonly Validation[];
    readonly failurePolicy: 'Fail';
  };
}

export interface PolicyRef {
  readonly name: string;
  readonly version: number;
}

export interface ActionRule {
  readonly point: DecisionPoint;
  /** Absent: every environment not named by an earlier rule for the point. */
  readonly environments?: readonly string[];
  readonly action: Action;
}

export interface CandidateSpec {
  readonly policyRef: PolicyRef;
  /** Default: the binding's params. */
  readonly params?: Readonly<Record<string, JsonValue>>;
  /** Validations the candidate is meant to change; a divergence elsewhere is unexplained. */
  readonly expectedChanges: readonly string[];
}

export interface BindingDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PolicyBinding';
  readonly metadata: Metadata;
  readonly spec: {
    readonly policyRef: PolicyRef;
    readonly params: Readonly<Record<string, JsonValue>>;
    readonly actions: readonly ActionRule[];
    readonly candidate?: CandidateSpec;
    /** Shadow decisions a promotion of this binding needs (default 20). */
    readonly minShadowDecisions: number;
  };
}

export interface ExceptionDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PolicyException';
  readonly metadata: Metadata;
  readonly spec: {
    readonly policyRefs: readonly { readonly name: string; readonly validations: readonly string[] }[];
    readonly matchConditions: readonly NamedExpression[];
    readonly reason: string;
    readonly approvedBy: readonly string[];
    /** RFC 3339, as written. */
    readonly approvedAt: string;
    /** RFC 3339, at most 90 days after approvedAt. */
    readonly expiresAt: string;
  };
}

export interface BundleManifest {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PolicyBundle';
  readonly metadata: Metadata & { readonly version: number };
}

export type PolicySetDocument = PolicyDocument | BindingDocument | ExceptionDocument | BundleManifest;

export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const ENVIRONMENT_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const DEFAULT_MIN_SHADOW = 20;
const MAX_SHADOW = 1_000_000;
const DAY_MS = 86_400_000;

/** One YAML document of a file, with a way to find the line of a path inside it. */
export interface YamlDocument {
  readonly file: string;
  /** 0-based index of the document in its file. */
  readonly index: number;
  readonly value: unknown;
  /** `file:line` of the node at a problem path (or its nearest existing parent). */
  readonly where: (path: string) => string;
}

function pathSegments(p: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const part of p.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) return segments;
    if (match[1]) segments.push(match[1]);
    for (const index of match[2]?.matchAll(/\[(\d+)\]/g) ?? []) segments.push(Number(index[1]));
  }
  return segments;
}

/**
 * Splits YAML text into documents: syntax errors, duplicate keys and alias expansions over the
 * cap are refused (POLICY_YAML), as is a file over the size or document-count cap.
 */
export function parseYaml(text: string, file: string): YamlDocument[] {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > DOCUMENT_LIMITS.maxFileBytes) {
    throw new PolicyError('POLICY_YAML', `${file}: ${bytes} bytes, over the limit of ${DOCUMENT_LIMITS.maxFileBytes}`, {
      problems: [{ code: 'TOO_LARGE', path: file, message: `larger than ${DOCUMENT_LIMITS.maxFileBytes} bytes` }],
    });
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > DOCUMENT_LIMITS.maxDocumentsPerFile) {
    throw new PolicyError('POLICY_YAML', `${file}: more than ${DOCUMENT_LIMITS.maxDocumentsPerFile} documents`, {
      problems: [{ code: 'TOO_MANY', path: file, message: `more than ${DOCUMENT_LIMITS.maxDocumentsPerFile} documents` }],
    });
  }
  const problems: Problem[] = [];
  const out: YamlDocument[] = [];
  list.forEach((doc, index) => {
    for (const e of doc.errors)
      problems.push({ code: 'YAML_SYNTAX', path: `${file}:${lines.linePos(e.pos[0]).line}`, message: e.message.split('\n')[0] ?? '' });
    if (doc.errors.length > 0) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: DOCUMENT_LIMITS.maxYamlAliases });
    } catch (cause) {
      problems.push({ code: 'YAML_ALIASES', path: file, message: cause instanceof Error ? cause.message : String(cause) });
      return;
    }
    if (value === null || value === undefined) return;
    const where = (path: string): string => {
      const segments = pathSegments(path);
      let node = segments.length === 0 ? doc.contents : doc.getIn(segments, true);
      for (let up = segments.length - 1; !isNode(node) && up >= 0; up--) node = up === 0 ? doc.contents : doc.getIn(segments.slice(0, up), true);
      const offset = isNode(node) ? node.range?.[0] : undefined;
      return offset === undefined ? file : `${file}:${lines.linePos(offset).line}`;
    };
    out.push({ file, index, value, where });
  });
  if (problems.length > 0) throw new PolicyError('POLICY_YAML', `${file}: not valid YAML: ${problems[0]?.message ?? ''}`, { problems });
  return out;
}

function description(f: Fields, value: unknown, path: string): { description?: string } {
  const d = f.optionalString(value, path, { maxLength: 4096 });
  return d === undefined ? {} : { description: d };
}

function named(f: Fields, value: unknown, path: string, max: number, nameRe: RegExp): NamedExpression[] {
  if (value === undefined) return [];
  const list = f.array(value, path, max) ?? [];
  const seen = new Set<string>();
  const out: NamedExpression[] = [];
  list.forEach((item, i) => {
    const p = joinPath(path, i);
    const o = f.object(item, p, ['name', 'expression']);
    if (!o) return;
    const name = f.string(o.name, joinPath(p, 'name'), { maxLength: 63, pattern: nameRe });
    const expression = f.string(o.expression, joinPath(p, 'expression'), { maxLength: 65_536 });
    if (name !== undefined && seen.has(name)) f.report(joinPath(p, 'name'), 'DUPLICATE', `"${name}" is declared twice`);
    if (name !== undefined) seen.add(name);
    if (name !== undefined && expression !== undefined) out.push({ name, expression });
  });
  return out;
}

function stringList(f: Fields, value: unknown, path: string, max: number, options: { pattern?: RegExp; maxLength?: number } = {}): string[] {
  const list = f.array(value, path, max) ?? [];
  const out: string[] = [];
  list.forEach((v, i) => {
    const s = f.string(v, joinPath(path, i), { maxLength: options.maxLength ?? 256, ...(options.pattern ? { pattern: options.pattern } : {}) });
    if (s === undefined) return;
    if (out.includes(s)) f.report(joinPath(path, i), 'DUPLICATE', `"${s}" is listed twice`);
    else out.push(s);
  });
  return out;
}

function version(f: Fields, value: unknown, path: string): number | undefined {
  return f.integer(value, path, 1, 1_000_000_000);
}

function policyRef(f: Fields, value: unknown, path: string): PolicyRef | undefined {
  const o = f.object(value, path, ['name', 'version']);
  if (!o) return undefined;
  const name = f.string(o.name, joinPath(path, 'name'), { maxLength: 63, pattern: NAME_RE });
  const v = version(f, o.version, joinPath(path, 'version'));
  return name !== undefined && v !== undefined ? { name, version: v } : undefined;
}

/** A JSON value from YAML: plain data only, depth and size bounded by the file caps. */
function jsonValue(f: Fields, value: unknown, path: string): JsonValue | undefined {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) f.report(path, 'WRONG_TYPE', 'not a finite number');
    return Number.isFinite(value) ? value : undefined;
  }
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (const [i, v] of value.entries()) {
      const j = jsonValue(f, v, joinPath(path, i));
      if (j !== undefined) out.push(j);
    }
    return out;
  }
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const j = jsonValue(f, v, joinPath(path, k));
      if (j !== undefined) Object.defineProperty(out, k, { value: j, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  f.report(path, 'WRONG_TYPE', `a ${typeof value} is not plain data`);
  return undefined;
}

/** Whether `value` fits `type`; returns a message when it does not. */
export function checkParamValue(type: ParamType, value: JsonValue): string | null {
  const isInt = (v: JsonValue) => typeof v === 'number' && Number.isSafeInteger(v);
  switch (type) {
    case 'string':
      return typeof value === 'string' ? null : 'expected a string';
    case 'int':
      return isInt(value) ? null : 'expected an integer';
    case 'double':
      return typeof value === 'number' ? null : 'expected a number';
    case 'bool':
      return typeof value === 'boolean' ? null : 'expected a boolean';
    case 'list<string>':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? null : 'expected a list of strings';
    case 'list<int>':
      return Array.isArray(value) && value.every(isInt) ? null : 'expected a list of integers';
    case 'map<string,string>':
      return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')
        ? null
        : 'expected a map of strings to strings';
  }
}

function params(f: Fields, value: unknown, path: string): Record<string, ParamSpec> {
  if (value === undefined) return {};
  const o = f.object(value, path);
  if (!o) return {};
  const out: Record<string, ParamSpec> = {};
  const names = Object.keys(o).sort();
  if (names.length > DOCUMENT_LIMITS.maxParams) f.report(path, 'TOO_MANY', `more than ${DOCUMENT_LIMITS.maxParams} params`);
  for (const name of names.slice(0, DOCUMENT_LIMITS.maxParams)) {
    const p = joinPath(path, name);
    if (!IDENT_RE.test(name)) f.report(p, 'INVALID_FORMAT', 'a param name is a CEL identifier');
    const spec = f.object(o[name], p, ['type', 'default', 'description']);
    if (!spec) continue;
    const rawType = typeof spec.type === 'string' ? spec.type.replace(/\s+/g, '') : spec.type;
    if (!PARAM_TYPES.includes(rawType as ParamType)) {
      f.report(joinPath(p, 'type'), spec.type === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${PARAM_TYPES.join(', ')}`);
      continue;
    }
    const type = rawType as ParamType;
    let def: JsonValue | undefined;
    if (spec.default !== undefined) {
      def = jsonValue(f, spec.default, joinPath(p, 'default'));
      const wrong = def === undefined ? null : checkParamValue(type, def);
      if (wrong) f.report(joinPath(p, 'default'), 'WRONG_TYPE', wrong);
    }
    Object.defineProperty(out, name, {
      value: { type, ...(def !== undefined ? { default: def } : {}), ...description(f, spec.description, joinPath(p, 'description')) },
      enumerable: true,
    });
  }
  return out;
}

function paramValues(f: Fields, value: unknown, path: string): Record<string, JsonValue> {
  if (value === undefined) return {};
  const o = f.object(value, path);
  if (!o) return {};
  const out: Record<string, JsonValue> = {};
  for (const name of Object.keys(o).sort()) {
    const v = jsonValue(f, o[name], joinPath(path, name));
    if (v !== undefined) Object.defineProperty(out, name, { value: v, enumerable: true });
  }
  return out;
}

function header(f: Fields, o: Record<string, unknown>, withVersion: boolean): (Metadata & { version?: number }) | undefined {
  if (o.apiVersion !== API_VERSION) f.report('apiVersion', o.apiVersion === undefined ? 'MISSING' : 'UNSUPPORTED', `expected "${API_VERSION}"`);
  const m = f.object(o.metadata, 'metadata', withVersion ? ['name', 'version', 'description'] : ['name', 'description']);
  if (!m) return undefined;
  const name = f.string(m.name, 'metadata.name', { maxLength: 63, pattern: NAME_RE });
  const v = withVersion ? version(f, m.version, 'metadata.version') : undefined;
  if (name === undefined || (withVersion && v === undefined)) return undefined;
  return { name, ...(v !== undefined ? { version: v } : {}), ...description(f, m.description, 'metadata.description') };
}

function policyFrom(f: Fields, o: Record<string, unknown>): PolicyDocument | undefined {
  const meta = header(f, o, true);
  const s = f.object(o.spec, 'spec', ['decisionPoint', 'params', 'matchConditions', 'variables', 'validations', 'failurePolicy']);
  if (!s) return undefined;
  const point = DECISION_POINTS.includes(s.decisionPoint as DecisionPoint) ? (s.decisionPoint as DecisionPoint) : undefined;
  if (!point) f.report('spec.decisionPoint', s.decisionPoint === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${DECISION_POINTS.join(', ')}`);
  if (s.failurePolicy !== undefined && s.failurePolicy !== 'Fail')
    f.report('spec.failurePolicy', 'UNSUPPORTED', 'only Fail is supported: an evaluation error counts as a violation');
  const validations: Validation[] = [];
  const list = f.array(s.validations, 'spec.validations', DOCUMENT_LIMITS.maxValidations) ?? [];
  if (list.length === 0 && Array.isArray(s.validations)) f.report('spec.validations', 'EMPTY', 'a policy needs at least one validation');
  const ids = new Set<string>();
  list.forEach((item, i) => {
    const p = joinPath('spec.validations', i);
    const v = f.object(item, p, ['id', 'expression', 'message', 'messageExpression', 'description']);
    if (!v) return;
    const id = f.string(v.id, joinPath(p, 'id'), { maxLength: 63, pattern: NAME_RE });
    const expression = f.string(v.expression, joinPath(p, 'expression'), { maxLength: 65_536 });
    const message = f.optionalString(v.message, joinPath(p, 'message'), { maxLength: 4096 });
    const messageExpression = f.optionalString(v.messageExpression, joinPath(p, 'messageExpression'), { maxLength: 65_536 });
    if (id !== undefined && ids.has(id)) f.report(joinPath(p, 'id'), 'DUPLICATE', `validation id "${id}" is used twice`);
    if (id !== undefined) ids.add(id);
    if (id === undefined || expression === undefined) return;
    validations.push({
      id,
      expression,
      ...(message !== undefined ? { message } : {}),
      ...(messageExpression !== undefined ? { messageExpression } : {}),
      ...description(f, v.description, joinPath(p, 'description')),
    });
  });
  const spec = {
    decisionPoint: point,
    params: params(f, s.params, 'spec.params'),
    matchConditions: named(f, s.matchConditions, 'spec.matchConditions', DOCUMENT_LIMITS.maxMatchConditions, NAME_RE),
    variables: named(f, s.variables, 'spec.variables', DOCUMENT_LIMITS.maxVariables, IDENT_RE),
    validations,
    failurePolicy: 'Fail' as const,
  };
  if (!meta || meta.version === undefined || !point) return undefined;
  return { apiVersion: API_VERSION, kind: 'Policy', metadata: meta as PolicyDocument['metadata'], spec: spec as PolicyDocument['spec'] };
}

function bindingFrom(f: Fields, o: Record<string, unknown>): BindingDocument | undefined {
  const meta = header(f, o, false);
  const s = f.object(o.spec, 'spec', ['policyRef', 'params', 'actions', 'candidate', 'minShadowDecisions']);
  if (!s) return undefined;
  const ref = policyRef(f, s.policyRef, 'spec.policyRef');
  const actions: ActionRule[] = [];
  const list = f.array(s.actions, 'spec.actions', DOCUMENT_LIMITS.maxActions) ?? [];
  const catchAll = new Set<DecisionPoint>();
  list.forEach((item, i) => {
    const p = joinPath('spec.actions', i);
    const a = f.object(item, p, ['point', 'environments', 'action']);
    if (!a) return;
    const point = DECISION_POINTS.includes(a.point as DecisionPoint) ? (a.point as DecisionPoint) : undefined;
    if (!point) f.report(joinPath(p, 'point'), a.point === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${DECISION_POINTS.join(', ')}`);
    const action = ACTIONS.includes(a.action as Action) ? (a.action as Action) : undefined;
    if (!action) f.report(joinPath(p, 'action'), a.action === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${ACTIONS.join(', ')}`);
    const environments =
      a.environments === undefined ? undefined : stringList(f, a.environments, joinPath(p, 'environments'), 64, { pattern: ENVIRONMENT_RE, maxLength: 63 });
    if (environments !== undefined && environments.length === 0)
      f.report(joinPath(p, 'environments'), 'EMPTY', 'omit environments to mean every other environment');
    if (point && catchAll.has(point)) f.report(p, 'UNREACHABLE', `an earlier rule already covers every environment at ${point}`);
    if (point && environments === undefined) catchAll.add(point);
    if (point && action) actions.push({ point, ...(environments !== undefined ? { environments } : {}), action });
  });
  if (list.length === 0 && Array.isArray(s.actions)) f.report('spec.actions', 'EMPTY', 'a binding needs at least one action');
  let candidate: CandidateSpec | undefined;
  if (s.candidate !== undefined) {
    const c = f.object(s.candidate, 'spec.candidate', ['policyRef', 'params', 'expectedChanges']);
    if (c) {
      const cref = policyRef(f, c.policyRef, 'spec.candidate.policyRef');
      const expectedChanges =
        c.expectedChanges === undefined ? [] : stringList(f, c.expectedChanges, 'spec.candidate.expectedChanges', 64, { pattern: NAME_RE });
      if (cref)
        candidate = { policyRef: cref, ...(c.params !== undefined ? { params: paramValues(f, c.params, 'spec.candidate.params') } : {}), expectedChanges };
    }
  }
  const minShadowDecisions =
    s.minShadowDecisions === undefined ? DEFAULT_MIN_SHADOW : f.integer(s.minShadowDecisions, 'spec.minShadowDecisions', 1, MAX_SHADOW);
  if (!meta || !ref || minShadowDecisions === undefined) return undefined;
  return {
    apiVersion: API_VERSION,
    kind: 'PolicyBinding',
    metadata: meta,
    spec: { policyRef: ref, params: paramValues(f, s.params, 'spec.params'), actions, ...(candidate ? { candidate } : {}), minShadowDecisions },
  };
}

function exceptionFrom(f: Fields, o: Record<string, unknown>): ExceptionDocument | undefined {
  const meta = header(f, o, false);
  const s = f.object(o.spec, 'spec', ['policyRefs', 'matchConditions', 'reason', 'approvedBy', 'approvedAt', 'expiresAt']);
  if (!s) return undefined;
  const refs: { name: string; validations: string[] }[] = [];
  const list = f.array(s.policyRefs, 'spec.policyRefs', 64) ?? [];
  if (list.length === 0 && Array.isArray(s.policyRefs)) f.report('spec.policyRefs', 'EMPTY', 'name at least one policy and its validations');
  list.forEach((item, i) => {
    const p = joinPath('spec.policyRefs', i);
    const r = f.object(item, p, ['name', 'validations']);
    if (!r) return;
    const name = f.string(r.name, joinPath(p, 'name'), { maxLength: 63, pattern: NAME_RE });
    const validations = stringList(f, r.validations, joinPath(p, 'validations'), 64, { pattern: NAME_RE });
    if (validations.length === 0 && Array.isArray(r.validations)) f.report(joinPath(p, 'validations'), 'EMPTY', 'name the validations the exception waives');
    if (name !== undefined) refs.push({ name, validations });
  });
  const reason = f.string(s.reason, 'spec.reason', { maxLength: 4096 });
  const approvedBy = stringList(f, s.approvedBy, 'spec.approvedBy', 16, { maxLength: 256 });
  if (approvedBy.length === 0 && Array.isArray(s.approvedBy)) f.report('spec.approvedBy', 'EMPTY', 'an exception needs at least one approver');
  const time = (key: 'approvedAt' | 'expiresAt'): { text: string; date: Date } | undefined => {
    const text = f.string(s[key], `spec.${key}`, { maxLength: 64 });
    if (text === undefined) return undefined;
    const date = parseRfc3339(text);
    if (date === null) f.report(`spec.${key}`, 'INVALID_FORMAT', 'expected an RFC 3339 date-time such as 2026-01-31T00:00:00Z');
    return date === null ? undefined : { text, date };
  };
  const approvedAt = time('approvedAt');
  const expiresAt = time('expiresAt');
  if (approvedAt && expiresAt) {
    const days = (expiresAt.date.getTime() - approvedAt.date.getTime()) / DAY_MS;
    if (days <= 0) f.report('spec.expiresAt', 'OUT_OF_RANGE', 'must be after approvedAt');
    else if (days > DOCUMENT_LIMITS.maxExceptionDays)
      f.report('spec.expiresAt', 'OUT_OF_RANGE', `at most ${DOCUMENT_LIMITS.maxExceptionDays} days after approvedAt (is ${Math.ceil(days)})`);
  }
  const matchConditions = named(f, s.matchConditions, 'spec.matchConditions', DOCUMENT_LIMITS.maxMatchConditions, NAME_RE);
  if (!meta || reason === undefined || !approvedAt || !expiresAt) return undefined;
  return {
    apiVersion: API_VERSION,
    kind: 'PolicyException',
    metadata: meta,
    spec: { policyRefs: refs, matchConditions, reason, approvedBy, approvedAt: approvedAt.text, expiresAt: expiresAt.text },
  };
}

function manifestFrom(f: Fields, o: Record<string, unknown>): BundleManifest | undefined {
  const meta = header(f, o, true);
  if (!meta || meta.version === undefined) return undefined;
  return { apiVersion: API_VERSION, kind: 'PolicyBundle', metadata: meta as BundleManifest['metadata'] };
}

export const POLICY_SET_KINDS = ['Policy', 'PolicyBinding', 'PolicyException', 'PolicyBundle'] as const;

/**
 * Parses one policy-set document by its `kind`, strictly (unknown keys are errors). Throws
 * POLICY_DOCUMENT_INVALID naming every problem with `file:line`.
 */
export function policySetDocumentFrom(doc: YamlDocument): PolicySetDocument {
  const f = new Fields();
  const keys: Record<string, readonly string[]> = {
    Policy: ['apiVersion', 'kind', 'metadata', 'spec'],
    PolicyBinding: ['apiVersion', 'kind', 'metadata', 'spec'],
    PolicyException: ['apiVersion', 'kind', 'metadata', 'spec'],
    PolicyBundle: ['apiVersion', 'kind', 'metadata'],
  };
  const probe = f.object(doc.value, '');
  const kind = probe?.kind;
  let result: PolicySetDocument | undefined;
  if (probe && typeof kind === 'string' && kind in keys) {
    const o = f.object(doc.value, '', keys[kind]) as Record<string, unknown>;
    if (kind === 'Policy') result = policyFrom(f, o);
    else if (kind === 'PolicyBinding') result = bindingFrom(f, o);
    else if (kind === 'PolicyException') result = exceptionFrom(f, o);
    else result = manifestFrom(f, o);
  } else if (probe) {
    f.report('kind', kind === undefined ? 'MISSING' : 'UNSUPPORTED', `expected one of ${POLICY_SET_KINDS.join(', ')}`);
  }
  return finishDocument(f, result, doc);
}

/** Throws POLICY_DOCUMENT_INVALID with every problem located as `file:line path`. */
export function finishDocument<T>(
  f: Fields,
  value: T | undefined,
  doc: YamlDocument,
  code: 'POLICY_DOCUMENT_INVALID' | 'POLICY_TEST_INVALID' = 'POLICY_DOCUMENT_INVALID',
): T {
  if (f.problems.length === 0 && value !== undefined) return value;
  const problems = f.problems.map((p) => ({ ...p, path: `${doc.where(p.path)} ${p.path || '(root)'}`.trim() }));
  const list = problems.map((p) => `  ${p.path}: ${p.message} [${p.code}]`).join('\n');
  throw new PolicyError(
    code,
    `${doc.file}${doc.index > 0 ? ` (document ${doc.index + 1})` : ''} has ${problems.length || 1} problem${problems.length === 1 ? '' : 's'}:\n${list}`,
    {
      problems,
    },
  );
}
