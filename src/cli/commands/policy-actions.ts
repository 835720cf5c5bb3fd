/** The implementations of `cairn policy …`, loaded only when one runs (they pull in the CEL kernel). */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, privateKeyFromPem, publicKeyFromPem } from '../../crypto/keys.js';
import { envelopeFromJSON, type DsseEnvelope } from '../../model/attestation.js';
import { type Digest, isDigest } from '../../model/digest.js';
import { UsageError } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import { parseRfc3339 } from '../../model/trust.js';
import { signTestResult, testResultStatement } from '../../policy/attestation.js';
import { bundleRef, type LoadedBundle, signBundle } from '../../policy/bundle.js';
import { defaultBundle } from '../../policy/default.js';
import { DECISION_POINTS, type DecisionPoint } from '../../policy/documents.js';
import { PolicyError } from '../../policy/errors.js';
import { gateInputFromJSON } from '../../policy/evidence.js';
import { evaluateGate, type PolicyDecision } from '../../policy/gate.js';
import { loadPolicyDirectory } from '../../policy/load.js';
import { FilePolicyRegistry } from '../../policy/registry-file.js';
import { replayDecision } from '../../policy/replay.js';
import {
  type AppliedRollout,
  applyRollout,
  bundleByDigest,
  planActivation,
  planRollback,
  readRollout,
  replayedDecisions,
  type RolloutPlan,
  rollbackTarget,
} from '../../policy/rollout.js';
import { shadowReport } from '../../policy/shadow.js';
import { junitXml, runPolicyTests, type TestReport } from '../../policy/testing.js';
import { openState } from '../../pipeline/state.js';
import { flag, stringOption, type CommandContext } from '../command.js';
import type { Output } from '../io.js';
import { actorFrom } from './shared.js';

const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

function resolve(context: CommandContext, file: string): string {
  return path.resolve(context.io.cwd, file);
}

function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

async function readFileOption(file: string, option: string, max = MAX_ENVELOPE_BYTES): Promise<Buffer> {
  try {
    const bytes = await readFile(file);
    if (bytes.byteLength > max) throw new UsageError('CLI_FILE_UNREADABLE', `${option} ${file}: larger than ${max} bytes`);
    return bytes;
  } catch (cause) {
    if (cause instanceof UsageError) throw cause;
    throw new UsageError('CLI_FILE_UNREADABLE', `${option} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

async function readEnvelope(file: string, option: string): Promise<DsseEnvelope> {
  return envelopeFromJSON(parseJson(await readFileOption(file, option), file, { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 16 }));
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** The state's policy signing key (`keys/policy.key`, Ed25519), created on first use. */
async function statePolicyKey(stateDir: string): Promise<{ privateKey: KeyObject; publicKeyPath: string }> {
  const dir = path.join(stateDir, 'keys');
  const privatePath = path.join(dir, 'policy.key');
  const publicKeyPath = path.join(dir, 'policy.pub');
  if (!(await exists(privatePath))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pair = generateKeyPair('ed25519');
    await writeFile(privatePath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicKeyPath, pair.publicKeyPem, { mode: 0o644 });
  }
  await chmod(privatePath, 0o600);
  return { privateKey: privateKeyFromPem(await readFile(privatePath, 'utf8'), privatePath), publicKeyPath };
}

/** `--key` files, else the state's policy key. */
async function signingKeys(context: CommandContext): Promise<KeyObject[]> {
  const files = listOption(context, 'key');
  if (files.length === 0) return [(await statePolicyKey(context.stateDir)).privateKey];
  return Promise.all(files.map(async (f) => privateKeyFromPem((await readFileOption(resolve(context, f), '--key', 64 * 1024)).toString('utf8'), f)));
}

/** `--trust-key` files, else the public half of the state's policy key. */
async function trustedKeys(context: CommandContext): Promise<KeyObject[]> {
  const files = listOption(context, 'trust-key');
  if (files.length === 0) return [createPublicKey((await statePolicyKey(context.stateDir)).privateKey)];
  return Promise.all(files.map(async (f) => publicKeyFromPem((await readFileOption(resolve(context, f), '--trust-key', 64 * 1024)).toString('utf8'), f)));
}

function nowOption(context: CommandContext): Date {
  const text = stringOption(context, 'now');
  if (text === undefined) return new Date();
  const now = parseRfc3339(text);
  if (now === null) throw new UsageError('CLI_BAD_OPTION', `--now ${text}: expected an RFC 3339 date-time such as 2026-01-31T12:00:00Z`);
  return now;
}

function intOption(context: CommandContext, name: string, min: number, max: number): number | undefined {
  const text = stringOption(context, name);
  if (text === undefined) return undefined;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError('CLI_BAD_OPTION', `--${name} ${text}: expected an integer from ${min} to ${max}`);
  return n;
}

function printReport(out: Output, report: TestReport): void {
  for (const file of report.tests) {
    for (const c of file.cases) {
      out.line(`${c.passed ? 'ok  ' : 'FAIL'} ${file.name} / ${c.name}`);
      if (c.passed) continue;
      for (const f of c.failures) out.line(`       ${f}`);
      for (const t of c.variables)
        out.line(`       variables of ${t.binding} (${t.policy}${t.role === 'candidate' ? ', candidate' : ''}): ${JSON.stringify(t.variables)}`);
    }
  }
  const cov = report.coverage;
  out.line();
  out.line(
    `coverage: ${cov.covered}/${cov.total} validations seen passing and failing (${cov.percent}%, threshold ${cov.threshold}%${cov.enforced ? '' : ', not enforced with --run'})`,
  );
  for (const v of cov.validations.filter((x) => x.pass === 0 || x.fail === 0))
    out.line(`  uncovered ${v.policy}/${v.validation}: pass ${v.pass}, fail ${v.fail}`);
  out.line(
    `${report.result}: ${report.counts.passed}/${report.counts.cases} cases passed${report.counts.skipped > 0 ? `, ${report.counts.skipped} skipped` : ''}; bundle ${report.bundle.name}@${report.bundle.version} ${report.bundle.digest}`,
  );
}

/** `cairn policy test DIR`: runs the PolicyTest files of a policy directory. */
export async function testCommand(context: CommandContext): Promise<number> {
  const dir = resolve(context, context.positionals[0] ?? '.');
  const run = stringOption(context, 'run');
  const minCoverage = intOption(context, 'min-coverage', 0, 100);
  const attest = stringOption(context, 'attest');
  if (attest && run !== undefined) throw new UsageError('CLI_BAD_OPTION', '--attest needs a full run: drop --run');
  const suite = await loadPolicyDirectory(dir);
  const report = runPolicyTests(suite, { ...(run !== undefined ? { run } : {}), ...(minCoverage !== undefined ? { minCoverage } : {}) });
  for (const file of report.tests) for (const c of file.cases) context.out.event('policy-test-case', { test: file.name, file: file.file, ...c });
  context.out.event('policy-test', { result: report.result, bundle: report.bundle, counts: report.counts, coverage: report.coverage });
  printReport(context.out, report);
  const junit = stringOption(context, 'junit');
  if (junit) await writeFile(resolve(context, junit), junitXml(report));
  const reportFile = stringOption(context, 'report');
  if (reportFile) await writeFile(resolve(context, reportFile), `${JSON.stringify(report, null, 2)}\n`);
  if (attest) {
    const envelope = signTestResult(testResultStatement(report, suite.files), await signingKeys(context));
    await writeFile(resolve(context, attest), `${JSON.stringify(envelope, null, 2)}\n`);
    context.out.event('policy-test-attestation', { file: resolve(context, attest), bundle: report.bundle, result: report.result });
    context.out.line(`wrote the signed test-result attestation (${report.result}) for ${report.bundle.digest} to ${attest}`);
  }
  if (report.result !== 'PASSED') {
    throw new PolicyError(
      'POLICY_TEST_FAILED',
      `${report.counts.failed} of ${report.counts.cases} case(s) failed${report.coverage.ok ? '' : `; coverage ${report.coverage.percent}% is below ${report.coverage.threshold}%`}`,
    );
  }
  return 0;
}

/** `cairn policy bundle DIR --out FILE`: compiles a policy directory into a signed bundle. */
export async function bundleCommand(context: CommandContext): Promise<number> {
  const dir = resolve(context, context.positionals[0] ?? '.');
  const outFile = stringOption(context, 'out');
  if (!outFile) throw new UsageError('CLI_MISSING_OPTION', 'cairn policy bundle needs --out FILE');
  const suite = await loadPolicyDirectory(dir);
  const envelope = signBundle(suite.bundle, await signingKeys(context));
  await writeFile(resolve(context, outFile), `${JSON.stringify(envelope, null, 2)}\n`);
  const ref = bundleRef(suite.bundle);
  context.out.event('policy-bundle', {
    ...ref,
    file: resolve(context, outFile),
    policies: suite.bundle.policies.length,
    bindings: suite.bundle.bindings.length,
  });
  context.out.line(`bundle ${ref.name}@${ref.version} ${ref.digest}`);
  context.out.line(
    `  ${suite.bundle.policies.length} policies, ${suite.bundle.bindings.length} bindings, ${suite.bundle.exceptions.length} exceptions → ${outFile}`,
  );
  return 0;
}

function printPlan(out: Output, plan: RolloutPlan): void {
  const r = plan.record;
  out.line(
    `${r.action} #${r.seq}: ${r.previous ? `${r.previous.name}@${r.previous.version} ${r.previous.digest}` : '(nothing)'} → ${r.bundle.name}@${r.bundle.version} ${r.bundle.digest}`,
  );
  for (const c of r.changes) {
    const show = (s: typeof c.from) => (s ? `${s.action} ${s.policy}@${s.policyVersion}` : 'off');
    out.line(
      `  ${c.tightens && r.action !== 'rollback' ? 'tightens' : 'changes '} ${c.binding} at ${c.point}/${c.environment}: ${show(c.from)} → ${show(c.to)}`,
    );
  }
  for (const e of r.exceptions) out.line(`  exception ${e.name} ${e.change} (expires ${e.expiresAt})`);
  for (const s of r.shadowEvidence)
    out.line(`  shadow evidence ${s.binding} at ${s.point}/${s.environment}: ${s.decisions} decisions (${s.required} required), ${s.unexplained} unexplained`);
}

/** Applies a rollout plan and appends its record to the state's audit log, bound to the actor and purpose. */
async function applyAudited(context: CommandContext, registry: FilePolicyRegistry, plan: RolloutPlan): Promise<AppliedRollout> {
  const state = await openState(context.stateDir);
  try {
    const log = await state.audit();
    const actor = actorFrom(context.io, stringOption(context, 'purpose') ?? `policy ${plan.record.action}`);
    return await applyRollout(registry, plan, await signingKeys(context), (action, subjects, payloadDigest) =>
      log.append({ actor, action, subjects, payloadDigest }),
    );
  } finally {
    await state.close();
  }
}

/** Prints the signed record and the audit entry it was appended as. */
function printApplied(out: Output, plan: RolloutPlan, applied: AppliedRollout): void {
  const subjects = [plan.record.bundle.digest, ...(plan.record.previous ? [plan.record.previous.digest] : [])];
  out.event('policy-record', {
    record: plan.record,
    recordDigest: applied.recordDigest,
    head: applied.head,
    audit: { action: `policy.${plan.record.action}`, subjects, payloadDigest: applied.recordDigest },
  });
  out.line(`signed record #${applied.head.seq} ${applied.recordDigest}`);
  out.line(`audit: policy.${plan.record.action} subjects ${subjects.join(' ')} payload ${applied.recordDigest}`);
}

export async function activation(context: CommandContext, action: 'activate' | 'promote'): Promise<number> {
  const attestation = stringOption(context, 'attestation');
  if (!attestation) throw new UsageError('CLI_MISSING_OPTION', `cairn policy ${action} needs --attestation FILE (from cairn policy test --attest)`);
  const registry = new FilePolicyRegistry(context.stateDir);
  const keys = await trustedKeys(context);
  const state = await readRollout(registry, keys);
  let decisions: PolicyDecision[] = [];
  if (action === 'promote' && state.current) {
    const replayed = await replayedDecisions(registry, state.current);
    decisions = replayed.verified;
    if (replayed.rejected.length > 0)
      context.out.progress(
        `warning: ${replayed.rejected.length} stored decision(s) do not replay and are not counted: ${replayed.rejected.slice(0, 5).join(', ')}`,
      );
  }
  const minDecisions = intOption(context, 'min-decisions', 1, 1_000_000);
  const reason = stringOption(context, 'reason');
  const plan = planActivation(state, {
    action,
    bundleEnvelope: await readEnvelope(resolve(context, context.positionals[0] as string), 'BUNDLE'),
    attestation: await readEnvelope(resolve(context, attestation), '--attestation'),
    trustedKeys: keys,
    actor: actorFrom(context.io, stringOption(context, 'purpose') ?? `policy ${action}`),
    ...(reason !== undefined ? { reason } : {}),
    now: new Date(),
    decisions,
    ...(minDecisions !== undefined ? { minDecisions } : {}),
  });
  printPlan(context.out, plan);
  if (flag(context, 'dry-run')) {
    context.out.event('policy-plan', { record: plan.record, dryRun: true });
    context.out.line('dry run: nothing changed');
    return 0;
  }
  printApplied(context.out, plan, await applyAudited(context, registry, plan));
  return 0;
}

export async function rollbackCommand(context: CommandContext): Promise<number> {
  const reason = stringOption(context, 'reason');
  if (!reason) throw new UsageError('CLI_MISSING_OPTION', 'cairn policy rollback needs --reason TEXT (it is recorded and audited)');
  const to = stringOption(context, 'to');
  if (to !== undefined && !isDigest(to)) throw new UsageError('CLI_BAD_OPTION', `--to ${to}: expected sha256:<64 hex>`);
  const registry = new FilePolicyRegistry(context.stateDir);
  const keys = await trustedKeys(context);
  const state = await readRollout(registry, keys);
  const target = rollbackTarget(state.history, to as Digest | undefined);
  const envelope = await registry.getBundle(target.record.bundle.digest);
  if (!envelope) throw new PolicyError('POLICY_ROLLBACK_TARGET', `the bundle ${target.record.bundle.digest} is no longer in the registry`);
  const plan = planRollback(state, {
    target,
    bundleEnvelope: envelope,
    trustedKeys: keys,
    actor: actorFrom(context.io, stringOption(context, 'purpose') ?? 'policy rollback'),
    reason,
    now: new Date(),
  });
  printPlan(context.out, plan);
  if (flag(context, 'dry-run')) {
    context.out.event('policy-plan', { record: plan.record, dryRun: true });
    context.out.line('dry run: nothing changed');
    return 0;
  }
  printApplied(context.out, plan, await applyAudited(context, registry, plan));
  return 0;
}

async function activeOrDefault(context: CommandContext): Promise<{ bundle: LoadedBundle; source: 'active' | 'default' }> {
  const registry = new FilePolicyRegistry(context.stateDir);
  const state = await readRollout(registry, await trustedKeys(context));
  if (state.current) return { bundle: state.current, source: 'active' };
  if (flag(context, 'default')) return { bundle: defaultBundle(), source: 'default' };
  throw new PolicyError('POLICY_NO_ACTIVE', 'no policy bundle is active in this state (activate one, or pass --default for the shipped default set)');
}

export async function evalCommand(context: CommandContext): Promise<number> {
  const inputFile = stringOption(context, 'input');
  const environment = stringOption(context, 'environment');
  if (!inputFile || !environment) throw new UsageError('CLI_MISSING_OPTION', 'cairn policy eval needs --input FILE and --environment ENV');
  const point = stringOption(context, 'point') ?? 'deploy';
  if (!DECISION_POINTS.includes(point as DecisionPoint))
    throw new UsageError('CLI_BAD_OPTION', `--point ${point}: expected one of ${DECISION_POINTS.join(', ')}`);
  const input = gateInputFromJSON(
    parseJson(await readFileOption(resolve(context, inputFile), '--input'), inputFile, { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 64 }),
  );
  const { bundle, source } = await activeOrDefault(context);
  const decision = evaluateGate(input, bundle, { point: point as DecisionPoint, environment, now: nowOption(context) });
  await new FilePolicyRegistry(context.stateDir).putDecision(decision, input);
  context.out.event('policy-decision', { decision, source });
  context.out.line(`${decision.allow ? 'ALLOW' : 'DENY'} ${decision.id} (${bundle.ref.name}@${bundle.ref.version}, ${point}/${environment})`);
  for (const v of decision.violations) context.out.line(`  ${v.action.padEnd(6)} ${v.binding}/${v.validation} ${v.result}: ${v.message}`);
  for (const e of decision.exceptionsApplied) context.out.line(`  waived ${e.binding}/${e.validation} by exception ${e.name} (expires ${e.expiresAt})`);
  for (const s of decision.shadow.filter((x) => x.divergent))
    context.out.line(
      `  shadow ${s.binding} → ${s.policy}@${s.policyVersion}: ${s.explained ? 'explained' : 'UNEXPLAINED'} divergence on ${s.changes.map((c) => `${c.validation} (${c.active} → ${c.candidate})`).join(', ')}`,
    );
  return decision.allow ? 0 : 1;
}

export async function replayCommand(context: CommandContext): Promise<number> {
  const id = context.positionals[0] as string;
  const registry = new FilePolicyRegistry(context.stateDir);
  const stored = await registry.getDecision(id);
  if (!stored) throw new PolicyError('POLICY_NOT_FOUND', `no stored decision ${id}`);
  const bundle = await bundleByDigest(registry, stored.decision.bundle.digest, await trustedKeys(context));
  if (!bundle)
    throw new PolicyError('POLICY_NOT_FOUND', `the decision's bundle ${stored.decision.bundle.digest} is neither in the registry nor the shipped default set`);
  const replay = replayDecision(stored, bundle);
  context.out.event('policy-replay', { id, identical: replay.identical, differences: replay.differences });
  if (replay.identical) {
    context.out.line(`replayed ${id}: byte-identical (${stored.decision.allow ? 'allow' : 'deny'}, ${stored.decision.inputDigest})`);
    return 0;
  }
  throw new PolicyError('POLICY_REPLAY_MISMATCH', `decision ${id} does not replay byte for byte:\n  ${replay.differences.join('\n  ')}`);
}

export async function shadowReportCommand(context: CommandContext): Promise<number> {
  const registry = new FilePolicyRegistry(context.stateDir);
  const state = await readRollout(registry, await trustedKeys(context));
  if (!state.current) throw new PolicyError('POLICY_NO_ACTIVE', 'no policy bundle is active in this state');
  const { verified, rejected } = await replayedDecisions(registry, state.current);
  const report = shadowReport(state.current, verified, intOption(context, 'min-decisions', 1, 1_000_000) ?? 0);
  context.out.event('policy-shadow-report', { ...report, notReplayable: rejected });
  context.out.line(`bundle ${report.bundle.name}@${report.bundle.version} ${report.bundle.digest}: ${report.decisions} replayable decision(s)`);
  if (rejected.length > 0) context.out.line(`  ${rejected.length} stored decision(s) do not replay and are not counted`);
  for (const c of report.candidates) {
    context.out.line(
      `candidate ${c.binding}: ${c.active} → ${c.candidate}: ${c.decisions}/${c.required} decisions, ${c.divergent} divergent, ${c.unexplained} unexplained — ${c.ready ? 'ready to promote' : 'not ready'}`,
    );
    for (const d of c.divergences)
      context.out.line(
        `  ${d.explained ? 'explained  ' : 'UNEXPLAINED'} ${d.decision} ${d.point}/${d.environment} ${d.decidedAt}: ${d.changes.map((x) => `${x.validation} ${x.active} → ${x.candidate}`).join(', ') || 'candidate error'}`,
      );
  }
  for (const s of report.staged)
    context.out.line(
      `staged ${s.binding} (${s.policy}) ${s.action} at ${s.point}/${s.environment}: ${s.decisions} decisions, would deny ${s.wouldDeny}, errors ${s.errors}`,
    );
  if (report.candidates.length === 0 && report.staged.length === 0) context.out.line('nothing runs in shadow');
  return 0;
}

export async function statusCommand(context: CommandContext): Promise<number> {
  const registry = new FilePolicyRegistry(context.stateDir);
  const state = await readRollout(registry, await trustedKeys(context));
  const history = state.history.map((r) => ({
    seq: r.record.seq,
    action: r.record.action,
    bundle: r.record.bundle,
    actor: r.record.actor,
    reason: r.record.reason,
    at: r.record.at,
    digest: r.digest,
  }));
  context.out.event('policy-status', { active: state.current?.ref ?? null, head: state.head, history });
  if (!state.current) {
    context.out.line('no policy bundle is active (the gate uses the shipped default set until one is)');
    return 0;
  }
  const b = state.current;
  context.out.line(`active ${b.ref.name}@${b.ref.version} ${b.ref.digest} (record #${state.head?.seq})`);
  for (const binding of b.bindings) {
    const actions = binding.document.spec.actions.map((a) => `${a.point}${a.environments ? `[${a.environments.join(',')}]` : ''}=${a.action}`).join(' ');
    const candidate = binding.candidate ? `  candidate ${binding.candidate.policy.name}@${binding.candidate.policy.version}` : '';
    context.out.line(`  ${binding.name.padEnd(18)} ${binding.active.policy.name}@${binding.active.policy.version}  ${actions}${candidate}`);
  }
  context.out.line('history (verified):');
  for (const r of history)
    context.out.line(
      `  #${r.seq} ${r.at} ${r.action.padEnd(8)} ${r.bundle.name}@${r.bundle.version} ${r.bundle.digest.slice(0, 19)}… by ${r.actor.identity}${r.reason ? ` — ${r.reason}` : ''}`,
    );
  return 0;
}
