import type { KeyObject } from 'node:crypto';
import { sha256Digest } from '../crypto/digest.js';
import { signEnvelope, verifyEnvelope } from '../crypto/dsse.js';
import { canonicalDigest, canonicalize } from '../crypto/jcs.js';
import type { DsseEnvelope } from '../model/attestation.js';
import type { Actor } from '../model/audit.js';
import type { Digest } from '../model/digest.js';
import type { Problem } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { verifyTestResult } from './attestation.js';
import { type BundleRef, type LoadedBundle, loadBundle, openSignedBundle } from './bundle.js';
import { defaultBundle } from './default.js';
import { type Action, DECISION_POINTS, type DecisionPoint } from './documents.js';
import { PolicyError } from './errors.js';
import { type PolicyDecision, resolveAction } from './gate.js';
import type { PolicyRegistry, RegistryHead } from './registry.js';
import { replayDecision } from './replay.js';

/**
 * Policy rollout: activation, promotion and rollback are planned purely (a record value that
 * can be printed with --dry-run), then applied by signing the record and appending it to the
 * registry's history with a compare-and-set on the head. Nothing here relaxes a policy on its
 * own: every change is a signed, audited act of someone.
 */
export const RECORD_PAYLOAD_TYPE = 'application/vnd.cairn.policy-record+json';

export type RolloutAction = 'activate' | 'promote' | 'rollback';

/** What a binding enforces at one point and environment. */
export interface EnforcementState {
  readonly action: Action;
  readonly policy: string;
  readonly policyVersion: number;
  readonly policyDigest: Digest;
  readonly paramsDigest: Digest;
}

export interface EnforcementChange {
  readonly binding: string;
  readonly point: DecisionPoint;
  /** An environment named by either bundle, or `*` for every other one. */
  readonly environment: string;
  readonly from: EnforcementState | null;
  readonly to: EnforcementState | null;
  /** `to` denies with a policy or params that did not deny here before: it needs shadow evidence. */
  readonly tightens: boolean;
}

export interface ExceptionChange {
  readonly name: string;
  readonly change: 'added' | 'removed' | 'modified';
  readonly expiresAt: string;
}

/** The shadow decisions a tightening was promoted on. */
export interface ShadowEvidence {
  readonly binding: string;
  readonly point: DecisionPoint;
  readonly environment: string;
  readonly policyDigest: Digest;
  readonly paramsDigest: Digest;
  readonly required: number;
  readonly decisions: number;
  readonly unexplained: number;
  /** Digest of the sorted ids of the decisions counted. */
  readonly decisionsDigest: Digest;
  /** Up to ten decisions with an unexplained divergence or error. */
  readonly examples: readonly string[];
}

/** One signed entry of the rollout history (payload type `application/vnd.cairn.policy-record+json`). */
export interface RolloutRecord {
  readonly apiVersion: 'cairn.dev/v1';
  readonly kind: 'PolicyRolloutRecord';
  readonly seq: number;
  readonly action: RolloutAction;
  readonly bundle: BundleRef;
  /** The bundle active before this record, or null for the first. */
  readonly previous: BundleRef | null;
  /** Digest of the previous record's payload, chaining the history. */
  readonly prevRecord: Digest | null;
  /** The signed test-result attestation that names `bundle.digest` (a rollback reuses the target's). */
  readonly testResult: { readonly envelope: DsseEnvelope; readonly statementDigest: Digest; readonly keyids: readonly string[] };
  readonly changes: readonly EnforcementChange[];
  readonly exceptions: readonly ExceptionChange[];
  readonly shadowEvidence: readonly ShadowEvidence[];
  readonly actor: Actor;
  readonly reason: string | null;
  readonly at: string;
}

export interface VerifiedRecord {
  readonly record: RolloutRecord;
  readonly digest: Digest;
  readonly keyids: readonly string[];
}

const OTHER_ENVIRONMENTS = '*';

function sameState(a: EnforcementState | null, b: EnforcementState | null): boolean {
  return canonicalize(a) === canonicalize(b);
}

function enforcement(bundle: LoadedBundle | null, binding: string, point: DecisionPoint, environment: string): EnforcementState | null {
  const b = bundle?.bindings.find((x) => x.name === binding);
  if (!b) return null;
  const action = resolveAction(b.document, point, environment);
  if (action === null) return null;
  return {
    action,
    policy: b.active.policy.name,
    policyVersion: b.active.policy.version,
    policyDigest: b.active.policy.digest,
    paramsDigest: b.active.paramsDigest,
  };
}

function namedEnvironments(bundles: readonly (LoadedBundle | null)[], point: DecisionPoint): Set<string> {
  const envs = new Set<string>();
  for (const b of bundles)
    for (const binding of b?.bindings ?? [])
      for (const rule of binding.document.spec.actions) if (rule.point === point) for (const e of rule.environments ?? []) envs.add(e);
  return envs;
}

/** Every binding, point and environment whose enforcement differs between two bundles. */
export function diffEnforcement(from: LoadedBundle | null, to: LoadedBundle): EnforcementChange[] {
  const names = [...new Set([...(from?.bindings ?? []), ...to.bindings].map((b) => b.name))].sort();
  const changes: EnforcementChange[] = [];
  for (const point of DECISION_POINTS) {
    const envs = [...namedEnvironments([from, to], point)].sort();
    for (const binding of names) {
      for (const environment of [...envs, OTHER_ENVIRONMENTS]) {
        const a = enforcement(from, binding, point, environment);
        const b = enforcement(to, binding, point, environment);
        if (sameState(a, b)) continue;
        const tightens = b?.action === 'deny' && !(a?.action === 'deny' && a.policyDigest === b.policyDigest && a.paramsDigest === b.paramsDigest);
        changes.push({ binding, point, environment, from: a, to: b, tightens });
      }
    }
  }
  return changes;
}

export function diffExceptions(from: LoadedBundle | null, to: LoadedBundle): ExceptionChange[] {
  const before = new Map((from?.exceptions ?? []).map((e) => [e.name, e]));
  const after = new Map(to.exceptions.map((e) => [e.name, e]));
  const out: ExceptionChange[] = [];
  for (const [name, e] of after) {
    const old = before.get(name);
    if (!old) out.push({ name, change: 'added', expiresAt: e.document.spec.expiresAt });
    else if (old.digest !== e.digest) out.push({ name, change: 'modified', expiresAt: e.document.spec.expiresAt });
  }
  for (const [name, e] of before) if (!after.has(name)) out.push({ name, change: 'removed', expiresAt: e.document.spec.expiresAt });
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The decisions (made under the current bundle) that evaluated what a tightening will
 * enforce at its point and environment: the same policy and params ran there either as the
 * binding's active policy with a non-denying action, or as its shadow candidate. A candidate
 * divergence outside `expectedChanges`, or any evaluation error, is unexplained.
 */
export function shadowEvidenceFor(
  change: EnforcementChange,
  decisions: readonly PolicyDecision[],
  namedEnvs: ReadonlySet<string>,
  required: number,
): ShadowEvidence {
  const to = change.to as EnforcementState;
  const counted: string[] = [];
  const unexplained: string[] = [];
  for (const d of decisions) {
    if (d.point !== change.point) continue;
    if (change.environment === OTHER_ENVIRONMENTS ? namedEnvs.has(d.environment) : d.environment !== change.environment) continue;
    const shadow = d.shadow.find((s) => s.binding === change.binding && s.policyDigest === to.policyDigest && s.paramsDigest === to.paramsDigest);
    const active = d.evaluations.find((e) => e.binding === change.binding && e.policyDigest === to.policyDigest && e.paramsDigest === to.paramsDigest);
    if (shadow) {
      counted.push(d.id);
      if ((shadow.divergent && !shadow.explained) || shadow.results.some((r) => r.result === 'error')) unexplained.push(d.id);
    } else if (active) {
      counted.push(d.id);
      if (active.results.some((r) => r.result === 'error')) unexplained.push(d.id);
    }
  }
  counted.sort();
  return {
    binding: change.binding,
    point: change.point,
    environment: change.environment,
    policyDigest: to.policyDigest,
    paramsDigest: to.paramsDigest,
    required,
    decisions: counted.length,
    unexplained: unexplained.length,
    decisionsDigest: canonicalDigest(counted),
    examples: unexplained.sort().slice(0, 10),
  };
}

function ref(r: unknown, path: string, problems: Problem[]): BundleRef | null {
  const o = r as Partial<BundleRef> | null;
  if (o === null) return null;
  if (typeof o !== 'object' || typeof o.name !== 'string' || !Number.isSafeInteger(o.version) || typeof o.digest !== 'string') {
    problems.push({ code: 'MALFORMED', path, message: 'not a bundle reference { name, version, digest }' });
    return null;
  }
  return o as BundleRef;
}

/** Reads a record from its signed payload, checking the fields the history relies on. */
export function recordFromBytes(bytes: Uint8Array, where: string): RolloutRecord {
  const raw = parseJson(bytes, where, { maxBytes: 8 * 1024 * 1024, maxDepth: 32 }) as Partial<RolloutRecord>;
  const problems: Problem[] = [];
  if (raw.kind !== 'PolicyRolloutRecord' || raw.apiVersion !== 'cairn.dev/v1')
    problems.push({ code: 'MALFORMED', path: 'kind', message: 'not a PolicyRolloutRecord' });
  if (!Number.isSafeInteger(raw.seq) || (raw.seq as number) < 1) problems.push({ code: 'MALFORMED', path: 'seq', message: 'not a positive integer' });
  if (raw.action !== 'activate' && raw.action !== 'promote' && raw.action !== 'rollback')
    problems.push({ code: 'MALFORMED', path: 'action', message: 'unknown action' });
  if (ref(raw.bundle ?? null, 'bundle', problems) === null && !problems.some((p) => p.path === 'bundle'))
    problems.push({ code: 'MALFORMED', path: 'bundle', message: 'missing' });
  ref(raw.previous ?? null, 'previous', problems);
  if (typeof raw.testResult?.envelope !== 'object') problems.push({ code: 'MALFORMED', path: 'testResult.envelope', message: 'missing' });
  for (const key of ['changes', 'exceptions', 'shadowEvidence'] as const)
    if (!Array.isArray(raw[key])) problems.push({ code: 'MALFORMED', path: key, message: 'not a list' });
  if (problems.length > 0)
    throw new PolicyError('POLICY_HISTORY_INVALID', `${where} is not a valid rollout record: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, {
      problems,
    });
  return raw as RolloutRecord;
}

/**
 * Verifies the whole rollout history: every record signed by a trusted key, numbered from 1
 * without a gap, chained by `prevRecord`, with `previous` naming the bundle active before it;
 * every activation or promotion raising the version above all earlier ones and carrying a
 * valid test-result attestation for its bundle; every rollback returning to a bundle that was
 * active before; and the head pointer on the last record. A pointer moved to an older bundle
 * without a signed rollback record fails here (POLICY_HISTORY_INVALID).
 */
export function verifyHistory(envelopes: readonly DsseEnvelope[], head: RegistryHead | null, trustedKeys: readonly KeyObject[]): VerifiedRecord[] {
  const out: VerifiedRecord[] = [];
  const fail = (message: string): never => {
    throw new PolicyError('POLICY_HISTORY_INVALID', message);
  };
  let maxVersion = 0;
  const seen = new Set<string>();
  envelopes.forEach((envelope, i) => {
    const where = `rollout record #${i + 1}`;
    if (envelope.payloadType !== RECORD_PAYLOAD_TYPE) fail(`${where}: payloadType is ${envelope.payloadType}`);
    const v = verifyEnvelope(envelope, trustedKeys);
    if (v.payload === null || v.verifiedKeyids.length === 0) fail(`${where} is not signed by a trusted policy key`);
    const payload = v.payload as Buffer;
    const record = recordFromBytes(payload, where);
    const digest = sha256Digest(payload);
    const prev = out[i - 1];
    if (record.seq !== i + 1) fail(`${where} says seq ${record.seq}`);
    if (record.prevRecord !== (prev?.digest ?? null)) fail(`${where} does not chain to the record before it`);
    if ((record.previous?.digest ?? null) !== (prev?.record.bundle.digest ?? null)) fail(`${where}: previous is not the bundle active before it`);
    if (record.action === 'rollback') {
      if (!seen.has(record.bundle.digest)) fail(`${where} rolls back to ${record.bundle.digest}, which was never active`);
      if (prev && record.bundle.version >= prev.record.bundle.version)
        fail(`${where} "rolls back" to version ${record.bundle.version}, not older than ${prev.record.bundle.version}`);
    } else {
      if (record.bundle.version <= maxVersion)
        fail(`${where} activates version ${record.bundle.version}, not above ${maxVersion}: a downgrade without a rollback record`);
      maxVersion = record.bundle.version;
    }
    try {
      verifyTestResult(record.testResult.envelope, record.bundle.digest, trustedKeys);
    } catch (cause) {
      fail(`${where}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    seen.add(record.bundle.digest);
    out.push({ record, digest, keyids: v.verifiedKeyids });
  });
  const last = out[out.length - 1];
  if ((head === null) !== (last === undefined))
    fail(head === null ? 'there is a rollout history but no active pointer' : 'the active pointer names a record the history lacks');
  if (head && last && (head.seq !== last.record.seq || head.recordDigest !== last.digest))
    fail(`the active pointer (#${head.seq}) is not the last signed record (#${last.record.seq})`);
  return out;
}

/** The highest bundle version ever activated or promoted (rollbacks do not count). */
export function highestVersion(history: readonly VerifiedRecord[]): number {
  return Math.max(0, ...history.filter((r) => r.record.action !== 'rollback').map((r) => r.record.bundle.version));
}

export interface RolloutState {
  readonly history: readonly VerifiedRecord[];
  readonly head: RegistryHead | null;
  /** The active bundle, verified and compiled, or null before the first activation. */
  readonly current: LoadedBundle | null;
}

/** Reads and verifies the history and the active bundle. */
export async function readRollout(registry: PolicyRegistry, trustedKeys: readonly KeyObject[]): Promise<RolloutState> {
  const head = await registry.active();
  const history = verifyHistory(await registry.history(), head, trustedKeys);
  const last = history[history.length - 1];
  if (!last) return { history, head, current: null };
  const envelope = await registry.getBundle(last.record.bundle.digest);
  if (!envelope) throw new PolicyError('POLICY_HISTORY_INVALID', `the active bundle ${last.record.bundle.digest} is not in the registry`);
  const opened = openSignedBundle(envelope, trustedKeys);
  if (opened.digest !== last.record.bundle.digest)
    throw new PolicyError('POLICY_HISTORY_INVALID', 'the stored active bundle does not hash to the digest its record names');
  return { history, head, current: loadBundle(opened.bundle) };
}

/** The active bundle, verified (signature, history, anti-downgrade) and compiled, or null. */
export async function loadActiveBundle(registry: PolicyRegistry, trustedKeys: readonly KeyObject[]): Promise<LoadedBundle | null> {
  return (await readRollout(registry, trustedKeys)).current;
}

/**
 * The bundle the gate decides with: the active one, verified (signature, history,
 * anti-downgrade), else the default policy set shipped with cairn.
 */
export async function gateBundle(registry: PolicyRegistry, trustedKeys: readonly KeyObject[]): Promise<LoadedBundle> {
  return (await loadActiveBundle(registry, trustedKeys)) ?? defaultBundle();
}

/**
 * The bundle a stored decision names, for replay: from the registry (signature verified), or
 * the shipped default set when the digest is its digest. Null when neither has it.
 */
export async function bundleByDigest(registry: PolicyRegistry, digest: Digest, trustedKeys: readonly KeyObject[]): Promise<LoadedBundle | null> {
  const envelope = await registry.getBundle(digest);
  if (envelope) {
    const opened = openSignedBundle(envelope, trustedKeys);
    if (opened.digest !== digest) throw new PolicyError('POLICY_HISTORY_INVALID', `the stored bundle ${digest} hashes to ${opened.digest}`);
    return loadBundle(opened.bundle);
  }
  const shipped = defaultBundle();
  return shipped.ref.digest === digest ? shipped : null;
}

export interface RolloutPlan {
  readonly record: RolloutRecord;
  readonly bundle: LoadedBundle;
  readonly bundleEnvelope: DsseEnvelope;
}

interface Common {
  readonly trustedKeys: readonly KeyObject[];
  readonly actor: Actor;
  readonly reason?: string;
  readonly now: Date;
}

export interface ActivationRequest extends Common {
  readonly action: 'activate' | 'promote';
  readonly bundleEnvelope: DsseEnvelope;
  readonly attestation: DsseEnvelope;
  /** Decisions made under the current bundle, with their inputs verified by replay (promote). */
  readonly decisions?: readonly PolicyDecision[];
  /** Raises (never lowers) each binding's minShadowDecisions. */
  readonly minDecisions?: number;
}

/**
 * Plans an activation or promotion: the bundle signed by a trusted key, its test-result
 * attestation signed and PASSED for exactly its digest, its version above every version
 * activated before (POLICY_DOWNGRADE otherwise), and, once a bundle is active, no tightening
 * without promotion (POLICY_PROMOTION_REQUIRED) nor a promotion without enough shadow
 * decisions free of unexplained divergence (POLICY_SHADOW_INSUFFICIENT).
 */
export function planActivation(state: RolloutState, request: ActivationRequest): RolloutPlan {
  const opened = openSignedBundle(request.bundleEnvelope, request.trustedKeys);
  const bundle = loadBundle(opened.bundle);
  const test = verifyTestResult(request.attestation, opened.digest, request.trustedKeys);
  // approvedAt ≤ now at activation, so no exception can reach more than 90 days past it.
  const early = bundle.exceptions.filter((e) => e.approvedAt.getTime() > request.now.getTime());
  if (early.length > 0) {
    throw new PolicyError(
      'POLICY_BUNDLE_INVALID',
      `exception(s) approved in the future: ${early.map((e) => `${e.name} (${e.document.spec.approvedAt})`).join(', ')}`,
      {
        problems: early.map((e) => ({ code: 'OUT_OF_RANGE', path: `PolicyException ${e.name} spec.approvedAt`, message: 'after the activation time' })),
      },
    );
  }
  const current = state.current;
  const last = state.history[state.history.length - 1] ?? null;
  if (current && current.ref.digest === opened.digest) throw new PolicyError('POLICY_DOWNGRADE', `bundle ${opened.digest} is already active`);
  const highest = highestVersion(state.history);
  if (bundle.ref.version <= highest) {
    throw new PolicyError(
      'POLICY_DOWNGRADE',
      `bundle ${bundle.ref.name} version ${bundle.ref.version} is not above version ${highest}, the highest ever activated; raise metadata.version (to go back to an earlier bundle, use rollback)`,
    );
  }
  const changes = diffEnforcement(current, bundle);
  const tightenings = changes.filter((c) => c.tightens);
  const evidence: ShadowEvidence[] = [];
  if (current && tightenings.length > 0) {
    if (request.action === 'activate') {
      const list = tightenings.map(
        (c) =>
          `${c.binding} at ${c.point}/${c.environment}: ${c.from ? `${c.from.action} ${c.from.policy}@${c.from.policyVersion}` : 'nothing'} → deny ${c.to?.policy}@${c.to?.policyVersion}`,
      );
      throw new PolicyError(
        'POLICY_PROMOTION_REQUIRED',
        `this bundle starts denying with policies that never ran in shadow here; run them in shadow, then promote:\n  ${list.join('\n  ')}`,
        {
          problems: list.map((message) => ({ code: 'TIGHTENS', path: 'bindings', message })),
        },
      );
    }
    const problems: Problem[] = [];
    for (const change of tightenings) {
      const binding = bundle.bindings.find((b) => b.name === change.binding);
      const required = Math.max(binding?.document.spec.minShadowDecisions ?? 0, request.minDecisions ?? 0);
      const named = namedEnvironments([current, bundle], change.point);
      const e = shadowEvidenceFor(change, request.decisions ?? [], named, required);
      evidence.push(e);
      const where = `${change.binding} at ${change.point}/${change.environment}`;
      if (e.decisions < required) problems.push({ code: 'TOO_FEW', path: where, message: `${e.decisions} shadow decision(s), ${required} required` });
      if (e.unexplained > 0)
        problems.push({ code: 'UNEXPLAINED', path: where, message: `${e.unexplained} unexplained divergence(s) or error(s), e.g. ${e.examples.join(', ')}` });
    }
    if (problems.length > 0) {
      throw new PolicyError(
        'POLICY_SHADOW_INSUFFICIENT',
        `not enough clean shadow evidence to promote:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`,
        { problems },
      );
    }
  }
  const record: RolloutRecord = {
    apiVersion: 'cairn.dev/v1',
    kind: 'PolicyRolloutRecord',
    seq: (last?.record.seq ?? 0) + 1,
    action: request.action,
    bundle: bundle.ref,
    previous: current?.ref ?? null,
    prevRecord: last?.digest ?? null,
    testResult: { envelope: request.attestation, statementDigest: test.statementDigest, keyids: test.keyids },
    changes,
    exceptions: diffExceptions(current, bundle),
    shadowEvidence: evidence,
    actor: request.actor,
    reason: request.reason ?? null,
    at: request.now.toISOString(),
  };
  return { record, bundle, bundleEnvelope: request.bundleEnvelope };
}

/**
 * The bundle a rollback returns to: `to` if given (it must have been active before and not be
 * active now), else the bundle that was active before the current one was first activated.
 */
export function rollbackTarget(history: readonly VerifiedRecord[], to?: Digest): VerifiedRecord {
  const last = history[history.length - 1];
  if (!last) throw new PolicyError('POLICY_NO_ACTIVE', 'no policy bundle is active, so there is nothing to roll back');
  const current = last.record.bundle.digest;
  const firstActivation = history.findIndex((r) => r.record.bundle.digest === current && r.record.action !== 'rollback');
  const candidates = history.slice(0, firstActivation < 0 ? history.length - 1 : firstActivation).filter((r) => r.record.action !== 'rollback');
  const target =
    to === undefined ? candidates[candidates.length - 1] : [...history].reverse().find((r) => r.record.bundle.digest === to && r.record.action !== 'rollback');
  if (!target) {
    throw new PolicyError('POLICY_ROLLBACK_TARGET', to === undefined ? 'no earlier bundle to roll back to' : `${to} was never activated here`);
  }
  if (target.record.bundle.digest === current) throw new PolicyError('POLICY_ROLLBACK_TARGET', `${current} is the active bundle`);
  if (target.record.bundle.version >= last.record.bundle.version) {
    throw new PolicyError(
      'POLICY_ROLLBACK_TARGET',
      `version ${target.record.bundle.version} is not older than the active version ${last.record.bundle.version}; going forward needs an activation`,
    );
  }
  return target;
}

export interface RollbackRequest extends Common {
  /** The target's signed bundle, from the registry. */
  readonly bundleEnvelope: DsseEnvelope;
  readonly target: VerifiedRecord;
}

/** Plans a rollback record: re-points to the target with its original test-result attestation; a reason is required. */
export function planRollback(state: RolloutState, request: RollbackRequest): RolloutPlan {
  const last = state.history[state.history.length - 1];
  if (!last || !state.current) throw new PolicyError('POLICY_NO_ACTIVE', 'no policy bundle is active, so there is nothing to roll back');
  if (!request.reason || request.reason.trim() === '') throw new PolicyError('POLICY_ROLLBACK_TARGET', 'a rollback needs a reason');
  const opened = openSignedBundle(request.bundleEnvelope, request.trustedKeys);
  if (opened.digest !== request.target.record.bundle.digest)
    throw new PolicyError('POLICY_ROLLBACK_TARGET', 'the stored target bundle does not hash to its recorded digest');
  const bundle = loadBundle(opened.bundle);
  const record: RolloutRecord = {
    apiVersion: 'cairn.dev/v1',
    kind: 'PolicyRolloutRecord',
    seq: last.record.seq + 1,
    action: 'rollback',
    bundle: bundle.ref,
    previous: state.current.ref,
    prevRecord: last.digest,
    testResult: request.target.record.testResult,
    changes: diffEnforcement(state.current, bundle),
    exceptions: diffExceptions(state.current, bundle),
    shadowEvidence: [],
    actor: request.actor,
    reason: request.reason,
    at: request.now.toISOString(),
  };
  return { record, bundle, bundleEnvelope: request.bundleEnvelope };
}

/** How a rollout is reported to the audit log: `policy.activate|promote|rollback`, subjects, payload digest. */
export type AuditHook = (action: string, subjects: readonly Digest[], payloadDigest: Digest) => unknown;

export interface AppliedRollout {
  readonly head: RegistryHead;
  readonly envelope: DsseEnvelope;
  readonly recordDigest: Digest;
}

/**
 * Applies a plan: stores the bundle, signs the record, appends it if the history has not
 * moved, then reports it through `onAudit` (the caller wires the audit log).
 */
export async function applyRollout(
  registry: PolicyRegistry,
  plan: RolloutPlan,
  signingKeys: readonly KeyObject[],
  onAudit?: AuditHook,
): Promise<AppliedRollout> {
  await registry.putBundle(plan.bundleEnvelope);
  const bytes = Buffer.from(canonicalize(plan.record), 'utf8');
  const envelope = signEnvelope(RECORD_PAYLOAD_TYPE, bytes, signingKeys);
  const head = await registry.setActive(envelope, plan.record.seq - 1);
  const recordDigest = sha256Digest(bytes);
  const subjects = [plan.record.bundle.digest, ...(plan.record.previous ? [plan.record.previous.digest] : [])];
  await onAudit?.(`policy.${plan.record.action}`, subjects, recordDigest);
  return { head, envelope, recordDigest };
}

/**
 * Decisions made under the current bundle that replay byte for byte; those that do not are
 * returned apart (they cannot count as shadow evidence).
 */
export async function replayedDecisions(registry: PolicyRegistry, current: LoadedBundle): Promise<{ verified: PolicyDecision[]; rejected: string[] }> {
  const verified: PolicyDecision[] = [];
  const rejected: string[] = [];
  for (const d of await registry.listDecisions(current.ref.digest)) {
    const stored = await registry.getDecision(d.id);
    if (stored && replayDecision(stored, current).identical) verified.push(stored.decision);
    else rejected.push(d.id);
  }
  return { verified, rejected };
}
