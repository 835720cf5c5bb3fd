import type { KeyObject } from 'node:crypto';
import type { CelInput } from '@bufbuild/cel';
import { signEnvelope, verifyEnvelope } from '../crypto/dsse.js';
import { canonicalDigest, canonicalize } from '../crypto/jcs.js';
import type { DsseEnvelope } from '../model/attestation.js';
import type { Digest } from '../model/digest.js';
import type { Problem } from '../model/errors.js';
import { Fields } from '../model/fields.js';
import { parseJson, type JsonValue } from '../model/json.js';
import { parseRfc3339 } from '../model/trust.js';
import {
  API_VERSION,
  type BindingDocument,
  type BundleManifest,
  checkParamValue,
  type ExceptionDocument,
  type PolicyDocument,
  type PolicySetDocument,
  policySetDocumentFrom,
  type YamlDocument,
} from './documents.js';
import { PolicyError } from './errors.js';
import { type CompiledExpression, type CompileScope, compileExpression, toCelInput } from './kernel.js';
import { DOCUMENT_LIMITS, EXPRESSION_LIMITS, type ExpressionLimits } from './limits.js';

/**
 * A policy bundle: the manifest's name and version plus every Policy, PolicyBinding and
 * PolicyException, normalised and sorted. Its identity is the sha256 of its JCS bytes, and it
 * travels as a DSSE envelope over exactly those bytes.
 */
export interface BundleDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PolicyBundle';
  readonly metadata: BundleManifest['metadata'];
  readonly policies: readonly PolicyDocument[];
  readonly bindings: readonly BindingDocument[];
  readonly exceptions: readonly ExceptionDocument[];
}

export const BUNDLE_PAYLOAD_TYPE = 'application/vnd.cairn.policy-bundle+json';
const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;

export interface BundleRef {
  readonly name: string;
  readonly version: number;
  readonly digest: Digest;
}

/** Gathers documents into a bundle: exactly one PolicyBundle manifest, no duplicate names. */
export function assembleBundle(documents: readonly PolicySetDocument[]): BundleDocument {
  const problems: Problem[] = [];
  const manifests = documents.filter((d): d is BundleManifest => d.kind === 'PolicyBundle');
  if (manifests.length !== 1) problems.push({ code: 'MANIFEST', path: '', message: `expected exactly one PolicyBundle document, found ${manifests.length}` });
  const policies = documents.filter((d): d is PolicyDocument => d.kind === 'Policy');
  const bindings = documents.filter((d): d is BindingDocument => d.kind === 'PolicyBinding');
  const exceptions = documents.filter((d): d is ExceptionDocument => d.kind === 'PolicyException');
  const dup = (kind: string, keys: string[]) => {
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) problems.push({ code: 'DUPLICATE', path: `${kind} ${k}`, message: `${kind} ${k} is defined twice` });
      seen.add(k);
    }
  };
  dup(
    'Policy',
    policies.map((p) => `${p.metadata.name}@${p.metadata.version}`),
  );
  dup(
    'PolicyBinding',
    bindings.map((b) => b.metadata.name),
  );
  dup(
    'PolicyException',
    exceptions.map((e) => e.metadata.name),
  );
  if (policies.length > DOCUMENT_LIMITS.maxPolicies)
    problems.push({ code: 'TOO_MANY', path: '', message: `more than ${DOCUMENT_LIMITS.maxPolicies} policies` });
  if (bindings.length > DOCUMENT_LIMITS.maxBindings)
    problems.push({ code: 'TOO_MANY', path: '', message: `more than ${DOCUMENT_LIMITS.maxBindings} bindings` });
  if (exceptions.length > DOCUMENT_LIMITS.maxExceptions)
    problems.push({ code: 'TOO_MANY', path: '', message: `more than ${DOCUMENT_LIMITS.maxExceptions} exceptions` });
  const manifest = manifests[0];
  if (problems.length > 0 || !manifest) throw bundleInvalid(problems);
  const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }) =>
    a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
  return {
    apiVersion: API_VERSION,
    kind: 'PolicyBundle',
    metadata: manifest.metadata,
    policies: [...policies].sort((a, b) => byName(a, b) || a.metadata.version - b.metadata.version),
    bindings: [...bindings].sort(byName),
    exceptions: [...exceptions].sort(byName),
  };
}

function bundleInvalid(problems: readonly Problem[]): PolicyError {
  const list = problems.map((p) => `  ${p.path || '(bundle)'}: ${p.message}`).join('\n');
  return new PolicyError('POLICY_BUNDLE_INVALID', `the policy bundle has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${list}`, {
    problems,
  });
}

/** The JCS bytes a bundle is signed and addressed by. */
export function bundleBytes(bundle: BundleDocument): Buffer {
  return Buffer.from(canonicalize(bundle), 'utf8');
}

export function bundleDigest(bundle: BundleDocument): Digest {
  return canonicalDigest(bundle);
}

export function bundleRef(bundle: BundleDocument): BundleRef {
  return { name: bundle.metadata.name, version: bundle.metadata.version, digest: bundleDigest(bundle) };
}

/** Signs a bundle's JCS bytes into a DSSE envelope (one signature per key). */
export function signBundle(bundle: BundleDocument, keys: readonly KeyObject[]): DsseEnvelope {
  return signEnvelope(BUNDLE_PAYLOAD_TYPE, bundleBytes(bundle), keys);
}

/**
 * Re-reads a bundle from JSON (a decoded envelope payload): every entry goes through the same
 * strict document parsers, and the result must re-serialise to exactly the bytes given, so a
 * bundle cannot carry fields or orderings the parsers would not produce.
 */
export function bundleFromBytes(bytes: Uint8Array): BundleDocument {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw bundleInvalid([{ code: 'TOO_LARGE', path: '', message: `larger than ${MAX_BUNDLE_BYTES} bytes` }]);
  const raw = parseJson(bytes, 'policy bundle', { maxBytes: MAX_BUNDLE_BYTES, maxDepth: 64 });
  const f = new Fields();
  const o = f.object(raw, '', ['apiVersion', 'kind', 'metadata', 'policies', 'bindings', 'exceptions']);
  if (!o) throw bundleInvalid(f.problems);
  const documents: PolicySetDocument[] = [];
  const read = (value: unknown, where: string, kind: string) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { kind?: unknown }).kind !== kind) {
      f.report(where, 'UNSUPPORTED', `expected a ${kind}`);
      return;
    }
    const doc: YamlDocument = { file: 'bundle', index: 0, value, where: () => where };
    try {
      documents.push(policySetDocumentFrom(doc));
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      for (const p of error.problems) f.report(p.path, p.code, p.message);
    }
  };
  read({ apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata }, 'metadata', 'PolicyBundle');
  for (const [key, kind] of [
    ['policies', 'Policy'],
    ['bindings', 'PolicyBinding'],
    ['exceptions', 'PolicyException'],
  ] as const) {
    const list = f.array(o[key], key, 1024) ?? [];
    for (const [i, item] of list.entries()) read(item, `${key}[${i}]`, kind);
  }
  if (f.problems.length > 0) throw bundleInvalid(f.problems);
  const bundle = assembleBundle(documents);
  if (!bundleBytes(bundle).equals(Buffer.from(bytes))) {
    throw bundleInvalid([{ code: 'NOT_CANONICAL', path: '', message: 'the bundle is not in its canonical, normalised form' }]);
  }
  return bundle;
}

export interface OpenedBundle {
  readonly bundle: BundleDocument;
  readonly digest: Digest;
  /** Trusted keys whose signatures verified. */
  readonly keyids: readonly string[];
}

/**
 * Verifies a signed bundle: payload type, at least one signature by a trusted key (always
 * required: there is no unsigned mode), then the strict re-read of its bytes.
 */
export function openSignedBundle(envelope: DsseEnvelope, trustedKeys: readonly KeyObject[]): OpenedBundle {
  if (envelope.payloadType !== BUNDLE_PAYLOAD_TYPE) {
    throw new PolicyError('POLICY_BUNDLE_SIGNATURE', `payloadType is "${envelope.payloadType}", expected "${BUNDLE_PAYLOAD_TYPE}"`);
  }
  const verification = verifyEnvelope(envelope, trustedKeys);
  if (verification.payload === null || verification.verifiedKeyids.length === 0) {
    const why = verification.rejected.map((r) => r.reason).join('; ') || 'no signature';
    throw new PolicyError('POLICY_BUNDLE_SIGNATURE', `the policy bundle is not signed by a trusted policy key (${why})`);
  }
  const bundle = bundleFromBytes(verification.payload);
  return { bundle, digest: bundleDigest(bundle), keyids: verification.verifiedKeyids };
}

/** Names an expression is evaluated with. */
export const POLICY_ROOTS: ReadonlySet<string> = new Set(['input', 'params', 'variables', 'now', 'environment', 'point']);
export const EXCEPTION_ROOTS: ReadonlySet<string> = new Set(['input', 'now', 'environment', 'point']);

export interface CompiledNamed {
  readonly name: string;
  readonly expression: CompiledExpression;
}

export interface CompiledValidation {
  readonly id: string;
  readonly expression: CompiledExpression;
  readonly message: string | null;
  readonly messageExpression: CompiledExpression | null;
}

export interface CompiledPolicy {
  readonly document: PolicyDocument;
  readonly name: string;
  readonly version: number;
  readonly digest: Digest;
  readonly matchConditions: readonly CompiledNamed[];
  readonly variables: readonly CompiledNamed[];
  readonly validations: readonly CompiledValidation[];
}

export interface BoundPolicy {
  readonly policy: CompiledPolicy;
  /** Params after defaults, as JSON and as the CEL map bound to `params`. */
  readonly params: Readonly<Record<string, JsonValue>>;
  readonly paramsDigest: Digest;
  readonly celParams: CelInput;
}

export interface CompiledBinding {
  readonly document: BindingDocument;
  readonly name: string;
  readonly digest: Digest;
  readonly active: BoundPolicy;
  readonly candidate: (BoundPolicy & { readonly expectedChanges: readonly string[] }) | null;
}

export interface CompiledException {
  readonly document: ExceptionDocument;
  readonly name: string;
  readonly digest: Digest;
  readonly matchConditions: readonly CompiledNamed[];
  /** policy name → validation ids waived. */
  readonly waives: ReadonlyMap<string, ReadonlySet<string>>;
  readonly approvedAt: Date;
  readonly expiresAt: Date;
}

/** A bundle compiled and cross-checked, ready for evaluateGate. */
export interface LoadedBundle {
  readonly document: BundleDocument;
  readonly ref: BundleRef;
  readonly policies: readonly CompiledPolicy[];
  readonly bindings: readonly CompiledBinding[];
  readonly exceptions: readonly CompiledException[];
}

function compilePolicy(doc: PolicyDocument, problems: Problem[], limits: ExpressionLimits): CompiledPolicy | null {
  const where = `Policy ${doc.metadata.name}@${doc.metadata.version}`;
  const paramNames = new Set(Object.keys(doc.spec.params));
  const compile = (source: string, path: string, variables: ReadonlySet<string>, roots = POLICY_ROOTS): CompiledExpression | null => {
    const scope: CompileScope = { roots, params: paramNames, variables };
    const result = compileExpression(source, scope, { path: `${where} ${path}` }, limits);
    if (!result.ok) {
      problems.push(...result.problems);
      return null;
    }
    return result.expression;
  };
  const before = problems.length;
  const conditionRoots = new Set([...POLICY_ROOTS].filter((r) => r !== 'variables'));
  const matchConditions = doc.spec.matchConditions.map((m, i) => ({
    name: m.name,
    expression: compile(m.expression, `spec.matchConditions[${i}]`, new Set(), conditionRoots),
  }));
  const declared = new Set<string>();
  const variables = doc.spec.variables.map((v, i) => {
    const expression = compile(v.expression, `spec.variables[${i}] (${v.name})`, new Set(declared));
    declared.add(v.name);
    return { name: v.name, expression };
  });
  const validations = doc.spec.validations.map((v, i) => ({
    id: v.id,
    expression: compile(v.expression, `spec.validations[${i}] (${v.id}).expression`, declared),
    message: v.message ?? null,
    messageExpression: v.messageExpression === undefined ? null : compile(v.messageExpression, `spec.validations[${i}] (${v.id}).messageExpression`, declared),
  }));
  if (problems.length > before) return null;
  return {
    document: doc,
    name: doc.metadata.name,
    version: doc.metadata.version,
    digest: canonicalDigest(doc),
    matchConditions: matchConditions as CompiledNamed[],
    variables: variables as CompiledNamed[],
    validations: validations as CompiledValidation[],
  };
}

function bindParams(policy: CompiledPolicy, given: Readonly<Record<string, JsonValue>>, path: string, problems: Problem[]): BoundPolicy | null {
  const spec = policy.document.spec.params;
  const params: Record<string, JsonValue> = {};
  const before = problems.length;
  for (const name of Object.keys(given)) {
    if (!(name in spec)) problems.push({ code: 'UNKNOWN_PARAM', path, message: `policy ${policy.name} declares no param "${name}"` });
  }
  for (const [name, p] of Object.entries(spec)) {
    const value = Object.hasOwn(given, name) ? given[name] : p.default;
    if (value === undefined) {
      problems.push({ code: 'MISSING_PARAM', path, message: `param "${name}" (${p.type}) has no value and no default` });
      continue;
    }
    const wrong = checkParamValue(p.type, value);
    if (wrong) problems.push({ code: 'WRONG_TYPE', path: `${path}.${name}`, message: wrong });
    else Object.defineProperty(params, name, { value, enumerable: true });
  }
  if (problems.length > before) return null;
  const celParams = new Map<string, CelInput>();
  for (const [name, value] of Object.entries(params)) {
    // A double param stays a CEL double even when its value is integral (2 → 2.0).
    const converted = spec[name]?.type === 'double' ? ({ ok: true, value: value as number } as const) : toCelInput(value);
    if (!converted.ok) {
      problems.push({ code: 'TOO_LARGE', path: `${path}.${name}${converted.path}`, message: converted.message });
      return null;
    }
    celParams.set(name, converted.value);
  }
  return { policy, params, paramsDigest: canonicalDigest(params), celParams };
}

/**
 * Compiles every expression of a bundle and cross-checks its references: bindings name
 * existing policies at their decision point, params match their declared types, expected
 * changes and exceptions name existing validations. Throws POLICY_COMPILE or
 * POLICY_BUNDLE_INVALID with every problem.
 */
export function loadBundle(bundle: BundleDocument, limits: ExpressionLimits = EXPRESSION_LIMITS): LoadedBundle {
  const compileProblems: Problem[] = [];
  const policies = bundle.policies.map((p) => compilePolicy(p, compileProblems, limits));
  const exceptionCompiled = bundle.exceptions.map((e) => {
    const scope: CompileScope = { roots: EXCEPTION_ROOTS, params: new Set(), variables: new Set() };
    return e.spec.matchConditions.map((m, i) => {
      const r = compileExpression(m.expression, scope, { path: `PolicyException ${e.metadata.name} spec.matchConditions[${i}]` }, limits);
      if (!r.ok) compileProblems.push(...r.problems);
      return r.ok ? { name: m.name, expression: r.expression } : null;
    });
  });
  if (compileProblems.length > 0) {
    const list = compileProblems.map((p) => `  ${p.path}: ${p.message.replace(/\n/g, '\n    ')}`).join('\n');
    throw new PolicyError('POLICY_COMPILE', `${compileProblems.length} expression${compileProblems.length === 1 ? '' : 's'} did not compile:\n${list}`, {
      problems: compileProblems,
    });
  }
  const compiled = policies as CompiledPolicy[];
  const find = (name: string, version: number) => compiled.find((p) => p.name === name && p.version === version);
  const problems: Problem[] = [];
  const bindings: CompiledBinding[] = [];
  for (const b of bundle.bindings) {
    const where = `PolicyBinding ${b.metadata.name}`;
    const policy = find(b.spec.policyRef.name, b.spec.policyRef.version);
    if (!policy) {
      problems.push({
        code: 'UNKNOWN_POLICY',
        path: `${where} spec.policyRef`,
        message: `no policy ${b.spec.policyRef.name}@${b.spec.policyRef.version} in the bundle`,
      });
      continue;
    }
    b.spec.actions.forEach((a, i) => {
      if (a.point !== policy.document.spec.decisionPoint)
        problems.push({
          code: 'WRONG_POINT',
          path: `${where} spec.actions[${i}].point`,
          message: `policy ${policy.name} is for ${policy.document.spec.decisionPoint}, not ${a.point}`,
        });
    });
    const active = bindParams(policy, b.spec.params, `${where} spec.params`, problems);
    let candidate: CompiledBinding['candidate'] = null;
    const c = b.spec.candidate;
    if (c) {
      const cp = find(c.policyRef.name, c.policyRef.version);
      if (!cp)
        problems.push({
          code: 'UNKNOWN_POLICY',
          path: `${where} spec.candidate.policyRef`,
          message: `no policy ${c.policyRef.name}@${c.policyRef.version} in the bundle`,
        });
      else {
        if (cp.document.spec.decisionPoint !== policy.document.spec.decisionPoint)
          problems.push({ code: 'WRONG_POINT', path: `${where} spec.candidate.policyRef`, message: 'the candidate must be for the same decision point' });
        const ids = new Set([...policy.validations, ...cp.validations].map((v) => v.id));
        for (const id of c.expectedChanges) {
          if (!ids.has(id))
            problems.push({ code: 'UNKNOWN_VALIDATION', path: `${where} spec.candidate.expectedChanges`, message: `no validation "${id}" in either policy` });
        }
        const bound = bindParams(cp, c.params ?? b.spec.params, `${where} spec.candidate.params`, problems);
        if (bound && active && cp === policy && bound.paramsDigest === active.paramsDigest)
          problems.push({ code: 'SAME_POLICY', path: `${where} spec.candidate`, message: 'the candidate is the active policy with the same params' });
        else if (bound) candidate = { ...bound, expectedChanges: c.expectedChanges };
      }
    }
    if (active) bindings.push({ document: b, name: b.metadata.name, digest: canonicalDigest(b), active, candidate });
  }
  const exceptions: CompiledException[] = bundle.exceptions.map((e, i) => {
    const where = `PolicyException ${e.metadata.name}`;
    const waives = new Map<string, Set<string>>();
    for (const ref of e.spec.policyRefs) {
      const versions = compiled.filter((p) => p.name === ref.name);
      if (versions.length === 0)
        problems.push({ code: 'UNKNOWN_POLICY', path: `${where} spec.policyRefs`, message: `no policy named ${ref.name} in the bundle` });
      for (const id of ref.validations) {
        if (versions.length > 0 && !versions.some((p) => p.validations.some((v) => v.id === id)))
          problems.push({ code: 'UNKNOWN_VALIDATION', path: `${where} spec.policyRefs`, message: `policy ${ref.name} has no validation "${id}"` });
      }
      waives.set(ref.name, new Set([...(waives.get(ref.name) ?? []), ...ref.validations]));
    }
    return {
      document: e,
      name: e.metadata.name,
      digest: canonicalDigest(e),
      matchConditions: exceptionCompiled[i] as CompiledNamed[],
      waives,
      approvedAt: parseRfc3339(e.spec.approvedAt) as Date,
      expiresAt: parseRfc3339(e.spec.expiresAt) as Date,
    };
  });
  if (problems.length > 0) throw bundleInvalid(problems);
  return { document: bundle, ref: bundleRef(bundle), policies: compiled, bindings, exceptions };
}
