import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { envelopeBytes, signStatement } from '../attest/sign.js';
import { provenanceStatement } from '../attest/provenance.js';
import { type AttestationVerification, verifyWithPolicy } from '../attest/verify.js';
import { runBuild } from '../build/run.js';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest, canonicalize } from '../crypto/jcs.js';
import type { Actor } from '../model/audit.js';
import type { ProjectConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import type { GateDecision } from '../model/gate.js';
import type { Finding } from '../model/finding.js';
import { digestFromHex, isDigest, isSha256Hex } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import type { RunRecord, StageName, StageOutcome, StageRecord } from '../model/run.js';
import { type GateInput, GATE_INPUT_SCHEMA, NO_PROVENANCE, NO_REBUILD } from '../policy/evidence.js';
import { evaluateGate, gateDecisionOf } from '../policy/gate.js';
import { FilePolicyRegistry } from '../policy/registry-file.js';
import { gateBundle } from '../policy/rollout.js';
import { auditCi } from '../scan/ci/audit.js';
import { scanProject } from '../scan/project.js';
import { scanSecrets } from '../scan/secrets/scan.js';
import { compareEnvironment, observeService } from '../runtime/observe.js';
import { loadProjectConfig } from '../source/config.js';
import { snapshotCommit } from '../source/snapshot.js';
import type { PipelineEvent, RunSummary } from './events.js';
import { stateKey } from './keys.js';
import { type RebuildOutcome, rebuildFromProvenance } from './rebuild.js';
import { stepGate } from './gate-step.js';
import type { State } from './state.js';
import { type StateTrust, stateTrust } from './trust.js';
import { CAIRN_VERSION } from './version.js';

export interface RunOptions {
  readonly projectDir: string;
  readonly state: State;
  readonly rev?: string;
  readonly actor: Actor;
  readonly clock?: () => Date;
  readonly onEvent?: (event: PipelineEvent) => void;
  /** Keep the temporary snapshot and build folders (for debugging). */
  readonly keepScratch?: boolean;
  /** Called while a rollout runs, with the environment's endpoint (the demo drives loopback traffic there so the canary can be measured). */
  readonly duringRollout?: (endpoint: string) => { stop(): Promise<unknown> };
  /** Deploy even though an environment is pinned against this artifact after a rollback. */
  readonly overridePin?: boolean;
  /** An OSV advisory database (folder or zip); without one the vulnerability scan does not run and the default policy denies. */
  readonly osv?: string;
}
const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

class StageDenied extends Error {}

function newRunId(now: Date): string {
  return `run_${now
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}_${randomBytes(4).toString('hex')}`;
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
}

/**
 * Runs the whole pipeline for a project: source → build → attest → scan → gate → deploy →
 * runtime. Each stage's evidence is stored as a blob, indexed, and recorded as an audit
 * event bound to the actor and purpose. Never throws for a stage failure: the summary says
 * what happened (`outcome` and `error`).
 */
export async function runPipeline(options: RunOptions): Promise<RunSummary> {
  const clock = options.clock ?? (() => new Date());
  const emit = options.onEvent ?? (() => {});
  const { store, blobs } = options.state;
  const started = clock();
  const runId = newRunId(started);
  const project = path.resolve(options.projectDir);
  const stages: StageRecord[] = [];
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'cairn-run-'));
  const log = await options.state.audit();
  const logged: { action: string; index: number }[] = [];
  const audit = async (action: string, subjects: readonly Digest[], payloadDigest: Digest) => {
    const entry = await log.append({ actor: options.actor, action, subjects, payloadDigest }, clock());
    logged.push({ action, index: entry.index });
    return entry;
  };

  let run: RunRecord = { id: runId, project, startedAt: started.toISOString(), finishedAt: null, outcome: 'running', stages, artifactDigest: null };
  await store.putRun(run);
  const keys = await stateTrust(options.state.dir);
  emit({ type: 'run-start', runId, project, stateDir: options.state.dir });
  await audit('run.start', [], canonicalDigest({ runId, project, rev: options.rev ?? 'HEAD' }));

  const summary = {
    commit: null as string | null,
    artifact: null as RunSummary['artifact'],
    provenance: null as string | null,
    vsa: null as string | null,
    sbom: null as string | null,
    scan: null as string | null,
    decisions: [] as { environment: string; id: string; allow: boolean }[],
    deployments: [] as { environment: string; endpoint: string; releaseDigest: string }[],
  };

  async function stage<T>(
    name: StageName,
    body: () => Promise<{ value: T; summary: string; data?: Record<string, unknown>; outcome?: StageOutcome }>,
  ): Promise<T> {
    emit({ type: 'stage-start', stage: name });
    const t0 = performance.now();
    try {
      const result = await body();
      const ms = Math.round(performance.now() - t0);
      const outcome = result.outcome ?? 'ok';
      stages.push({ stage: name, outcome, ms, summary: result.summary });
      emit({ type: 'stage', stage: name, outcome, ms, summary: result.summary, data: result.data ?? {} });
      if (outcome === 'denied') throw new StageDenied(result.summary);
      return result.value;
    } catch (error) {
      if (error instanceof StageDenied) throw error;
      const ms = Math.round(performance.now() - t0);
      const message = error instanceof Error ? error.message : String(error);
      stages.push({ stage: name, outcome: 'failed', ms, summary: message.split('\n')[0] ?? message });
      emit({ type: 'stage', stage: name, outcome: 'failed', ms, summary: message, data: error instanceof CairnError ? { code: error.code } : {} });
      throw error;
    }
  }

  let outcome: RunSummary['outcome'] = 'ok';
  let failure: RunSummary['error'] = null;
  try {
    const snap = await stage('source', async () => {
      const snapshot = await snapshotCommit(project, { rev: options.rev ?? 'HEAD', into: path.join(scratch, 'src') });
      if (snapshot.uncommitted.length > 0) {
        emit({
          type: 'warning',
          stage: 'source',
          message: `${snapshot.uncommitted.length} uncommitted change(s) under the project are not in the snapshot (first: ${snapshot.uncommitted[0]})`,
        });
      }
      const { config, text } = await loadProjectConfig(snapshot.dir);
      const digest = await blobs.put(jsonBytes(snapshot.snapshot));
      await audit('source.snapshot', [snapshot.snapshot.treeDigest], digest);
      summary.commit = snapshot.snapshot.commit;
      const s = snapshot.snapshot;
      return {
        value: { ...snapshot, config, configText: text },
        summary: `commit ${s.commit.slice(0, 12)} (${s.subdir || '.'}), ${s.fileCount} files, tree ${s.treeDigest.slice(0, 19)}…, SOURCE_DATE_EPOCH=${s.sourceDateEpoch}`,
        data: { snapshot: s },
      };
    });
    const config: ProjectConfig = snap.config;

    const built = await stage('build', async () => {
      await mkdir(path.join(scratch, 'build'), { recursive: true });
      const output = await runBuild({
        dir: snap.dir,
        scratch: path.join(scratch, 'build'),
        name: config.name,
        recipe: config.build,
        sourceDateEpoch: snap.snapshot.sourceDateEpoch,
        clock,
        onLine: (line) => emit({ type: 'progress', stage: 'build', message: line }),
      });
      const stored = await blobs.put(output.artifact);
      const logDigest = await blobs.put(output.log);
      const resultDigest = await blobs.put(jsonBytes(output.result));
      const subject = output.result.artifact.digest;
      await store.putEvidence({ digest: stored, kind: 'artifact', subject, mediaType: 'application/gzip', runId, createdAt: clock().toISOString() });
      await store.putEvidence({ digest: logDigest, kind: 'build-log', subject, mediaType: 'text/plain', runId, createdAt: clock().toISOString() });
      await audit('build.complete', [subject, snap.snapshot.treeDigest], resultDigest);
      run = { ...run, artifactDigest: subject };
      summary.artifact = { name: output.result.artifact.name, digest: subject };
      return {
        value: output.result,
        summary: `${output.result.artifact.name} ${subject} (${output.result.artifact.size} bytes, ${output.result.entries} entries, isolation ${output.result.environment.isolation})`,
        data: { artifact: output.result.artifact, environment: output.result.environment },
      };
    });
    const subject = built.artifact.digest;

    const provenanceDigest = await stage('attest', async () => {
      const statement = provenanceStatement(snap.snapshot, built, { builderId: keys.builderId, invocationId: runId, cairnVersion: CAIRN_VERSION });
      const envelope = signStatement(statement, [keys.builder.privateKey]);
      const digest = await blobs.put(envelopeBytes(envelope));
      await store.putEvidence({ digest, kind: 'provenance', subject, mediaType: DSSE_MEDIA_TYPE, runId, createdAt: clock().toISOString() });
      await audit('attest.provenance', [subject], digest);
      summary.provenance = digest;
      return {
        value: digest,
        summary: `SLSA v1 provenance in a DSSE envelope ${digest.slice(0, 19)}…, builder ${keys.builderId}, key ${keys.builder.keyid}`,
        data: { envelope: digest, keyid: keys.builder.keyid, trust: keys.trustPath },
      };
    });

    const rebuilt = await stage('rebuild', async () => {
      const outcome = await rebuildFromProvenance({
        provenance: await blobs.get(provenanceDigest),
        repository: snap.repositoryRoot,
        claimedArtifact: await blobs.get(subject),
        rebuilderKey: keys.rebuilder.privateKey,
        rebuilderId: keys.rebuilderId,
        now: clock,
        cairnVersion: CAIRN_VERSION,
        onLine: (line) => emit({ type: 'progress', stage: 'rebuild', message: line }),
      });
      const digest = await blobs.put(outcome.vsa);
      await store.putEvidence({ digest, kind: 'vsa', subject, mediaType: DSSE_MEDIA_TYPE, runId, createdAt: clock().toISOString() });
      await audit('rebuild.vsa', [subject], digest);
      summary.vsa = digest;
      const why = [...outcome.differences.map((d) => `${d.kind}: ${d.detail}`), ...outcome.causes.map((c) => `cause ${c.kind}: ${c.detail}`)];
      return {
        value: { digest, outcome },
        outcome: outcome.result === 'PASSED' ? ('ok' as const) : ('failed' as const),
        summary:
          outcome.result === 'PASSED'
            ? `independent rebuild matches ${subject.slice(0, 19)}…, VSA PASSED signed by rebuilder key ${keys.rebuilder.keyid}`
            : `independent rebuild differs, VSA FAILED: ${why.join('; ')}`,
        data: {
          vsa: digest,
          result: outcome.result,
          differences: outcome.differences,
          causes: outcome.causes,
          rebuilt: outcome.rebuilt?.artifact.digest ?? null,
        },
      };
    });

    const scanned = await stage('scan', async () => {
      const now = clock();
      const project = await scanProject(snap.dir, {
        toolVersion: CAIRN_VERSION,
        now,
        sourceDateEpoch: snap.snapshot.sourceDateEpoch,
        ...(options.osv ? { osv: options.osv } : {}),
      });
      const secrets = await scanSecrets(snap.dir, { now, target: 'tree', toolVersion: CAIRN_VERSION });
      const ci = await auditCi(snap.dir, { now, toolVersion: CAIRN_VERSION });
      let sbom: { digest: Digest; components: number } | null = null;
      if (project.sbom) {
        const digest = await blobs.put(project.sbom.bytes);
        await store.putEvidence({ digest, kind: 'sbom', subject, mediaType: project.sbom.mediaType, runId, createdAt: now.toISOString() });
        await audit('scan.sbom', [subject], digest);
        sbom = { digest, components: project.sbom.components };
        summary.sbom = digest;
      }
      const findings = [...project.report.findings, ...secrets.report.findings, ...ci.report.findings];
      const reports = { dependencies: project.report, secrets: secrets.report, ci: ci.report, blastRadius: ci.blastRadius };
      const reportDigest = await blobs.put(jsonBytes(reports));
      await store.putEvidence({ digest: reportDigest, kind: 'scan-report', subject, mediaType: 'application/json', runId, createdAt: now.toISOString() });
      await audit('scan.report', [subject], reportDigest);
      summary.scan = reportDigest;
      const scans = { vulnerabilities: project.advisories !== null, lockfile: project.lockfile !== null, secrets: true };
      const counts = countBySeverity(findings);
      return {
        value: { sbom, findings, scans },
        summary:
          `${sbom ? `CycloneDX 1.6 SBOM ${sbom.digest.slice(0, 19)}…, ${sbom.components} component${sbom.components === 1 ? '' : 's'}` : 'no lockfile: no SBOM'}; ` +
          `${findings.length} finding${findings.length === 1 ? '' : 's'}${counts ? ` (${counts})` : ''}; ` +
          `${project.advisories ? `${project.advisories.records} advisor${project.advisories.records === 1 ? 'y' : 'ies'} ${project.advisories.digest.slice(0, 19)}…` : 'no advisory database (--osv)'}; ` +
          `secrets ${secrets.filesScanned} files; CI ${ci.blastRadius.shortestPath ? 'has a path to production' : 'no path to production'}`,
        data: { report: reportDigest, findings: findings.length, scans, advisories: project.advisories },
      };
    });

    let stepGateInput: GateInput | undefined;
    const decisions = await stage('gate', async () => {
      const registry = new FilePolicyRegistry(options.state.dir);
      const bundle = await gateBundle(registry, [(await stateKey(options.state.dir, 'policy')).publicKey]);
      const input = await gateInput(options.state, keys, {
        subject,
        name: built.artifact.name,
        provenanceDigest,
        vsaDigest: rebuilt.digest,
        rebuild: rebuilt.outcome,
        scanned,
        now: clock(),
      });
      stepGateInput = input;
      const list: GateDecision[] = [];
      const denials: string[] = [];
      for (const environment of config.deploy.environments) {
        const decision = evaluateGate(input, bundle, { point: 'deploy', environment, now: clock() });
        await registry.putDecision(decision, input);
        const gateDecision = gateDecisionOf(decision);
        await store.putDecision(gateDecision);
        const digest = await blobs.put(jsonBytes({ decision, input }));
        await store.putEvidence({ digest, kind: 'decision', subject, mediaType: 'application/json', runId, createdAt: clock().toISOString() });
        await audit('gate.decision', [subject], digest);
        summary.decisions.push({ environment, id: gateDecision.id, allow: gateDecision.allow });
        list.push(gateDecision);
        for (const r of gateDecision.rules) if (r.outcome !== 'pass' && r.outcome !== 'notApplicable') denials.push(`${environment}/${r.id}: ${r.message}`);
      }
      const denied = list.filter((d) => !d.allow);
      return {
        value: list,
        outcome: denied.length > 0 ? ('denied' as const) : ('ok' as const),
        summary:
          denied.length > 0
            ? `denied by policy ${bundle.ref.digest.slice(0, 19)}…: ${denials.join('; ')}`
            : `allowed by policy ${bundle.ref.digest.slice(0, 19)}… for ${list.map((d) => `${d.environment} (${d.id})`).join(', ')}: ${list[0]?.rules.filter((r) => r.outcome === 'pass').length ?? 0} validations pass`,
        data: { decisions: list, policy: bundle.ref },
      };
    });

    const deployed = await stage('deploy', async () => {
      const { deliverRelease } = await import('./deliver.js');
      const configBytes = Buffer.from(canonicalize(config.deploy));
      const configDigest = await blobs.put(configBytes);
      const results: { environment: string; deployment: Deployment; endpoint: string; outcome: string }[] = [];
      const notes: string[] = [];
      let worst: StageOutcome = 'ok';
      for (const decision of decisions) {
        const environment = decision.environment;
        const release: Release = {
          environment,
          service: config.name,
          artifactDigest: subject,
          configDigest,
          decisionId: decision.id,
          provenanceDigest,
          vsaDigest: rebuilt.digest,
          rollbackUnsafe: config.deploy.rollbackUnsafe,
        };
        const releaseDigest = await blobs.put(Buffer.from(`${canonicalize(release)}\n`));
        await store.putEvidence({ digest: releaseDigest, kind: 'release', subject, mediaType: 'application/json', runId, createdAt: clock().toISOString() });
        await audit('deploy.release', [subject, releaseDigest], releaseDigest);
        // The gate is asked again before every step, on the policy in force then: a policy rolled back mid-rollout stops it.
        const gate = stepGate({ state: options.state, input: stepGateInput, environment, subjects: [subject, releaseDigest], audit, clock });
        const outcome = await deliverRelease({
          state: options.state,
          release,
          releaseDigest,
          config: config.deploy,
          attempt: runId,
          gate,
          audit: async (action, subjects, payloadDigest, payload) => {
            await blobs.put(Buffer.from(payload));
            await audit(action, [...new Set([subject, releaseDigest, ...subjects.filter(isDigest)])], payloadDigest);
          },
          onProgress: (message) => emit({ type: 'progress', stage: 'deploy', message }),
          ...(options.duringRollout ? { duringRollout: options.duringRollout } : {}),
          ...(options.overridePin ? { override: true } : {}),
        });
        if (outcome.deployment) {
          results.push({ environment, deployment: outcome.deployment, endpoint: outcome.endpoint ?? outcome.deployment.endpoint, outcome: outcome.outcome });
          if (outcome.outcome === 'promoted' || outcome.outcome === 'unchanged')
            summary.deployments.push({ environment, endpoint: outcome.endpoint ?? outcome.deployment.endpoint, releaseDigest });
        }
        const steps = outcome.plan ? outcome.plan.steps.map((s) => `${s.weight}%`).join('→') : '';
        const r = outcome.rollout;
        notes.push(
          outcome.outcome === 'unchanged'
            ? `${environment}: already running this release`
            : `${environment} ${outcome.plan?.kind} ${steps}: ${outcome.outcome}${r?.reason ? ` (${r.reason})` : ''}, plan ${outcome.planDigest?.slice(0, 19)}…`,
        );
        if (outcome.outcome === 'rolledBack' || outcome.outcome === 'held' || outcome.outcome === 'frozen') worst = 'failed';
      }
      return {
        value: results.filter((r) => r.outcome === 'promoted' || r.outcome === 'unchanged'),
        outcome: worst,
        summary: notes.join('; '),
        data: { deployments: results.map((r) => ({ ...r.deployment, environmentEndpoint: r.endpoint, outcome: r.outcome })) },
      };
    });

    await stage('runtime', async () => {
      const reports = [];
      // Observed where users reach the environment: through the router, not the process.
      for (const { environment, deployment, endpoint } of deployed) {
        const desired = await store.getDesired(environment);
        if (!desired) throw new CairnError('RUNTIME_NO_DESIRED_STATE', 'internal', `no desired state for ${environment}`);
        reports.push(compareEnvironment(desired, deployment, await observeService(endpoint)));
      }
      const drift = reports.filter((r) => r.status !== 'in-sync');
      await audit('runtime.check', [subject], canonicalDigest(reports));
      return {
        value: reports,
        outcome: drift.length > 0 ? ('failed' as const) : ('ok' as const),
        summary: reports.map((r) => `${r.environment}: ${r.status} (${r.observed.artifactDigest ?? r.observed.error ?? '?'})`).join(', '),
        data: { reports },
      };
    });
    if (stages.some((s) => s.outcome === 'failed')) outcome = 'failed';
  } catch (error) {
    if (error instanceof StageDenied) {
      outcome = 'denied';
      failure = { code: 'GATE_DENIED', message: error.message, category: 'denied' };
    } else {
      outcome = error instanceof CairnError && error.category === 'denied' ? 'denied' : 'failed';
      failure =
        error instanceof CairnError
          ? { code: error.code, message: error.message, category: error.category }
          : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), category: 'internal' };
    }
  } finally {
    if (!options.keepScratch) await rm(scratch, { recursive: true, force: true });
  }

  run = { ...run, stages, outcome, finishedAt: clock().toISOString() };
  await store.updateRun(run);
  await audit('run.finish', run.artifactDigest ? [run.artifactDigest] : [], canonicalDigest(run));
  const { checkpoint, receipts } = await log.receiptsFor(logged);
  return {
    runId,
    outcome,
    project,
    ...summary,
    audit: { size: checkpoint.size, rootHash: checkpoint.rootHash.toString('base64'), published: checkpoint.published },
    receipts,
    stateDir: options.state.dir,
    error: failure,
  };
}

interface GateFacts {
  readonly subject: Digest;
  readonly name: string;
  readonly provenanceDigest: Digest;
  readonly vsaDigest: Digest;
  readonly rebuild: RebuildOutcome;
  readonly scanned: { readonly sbom: { digest: Digest; components: number } | null; readonly findings: readonly Finding[]; readonly scans: GateInput['scans'] };
  readonly now: Date;
}

function failureText(result: AttestationVerification): string | null {
  return result.failures.length === 0 ? null : result.failures.map((f) => `${f.code}: ${f.message}`).join('; ');
}

/**
 * Re-reads the stored evidence (not the values in memory) and establishes the facts the gate
 * decides on: signatures are checked against the state's trust store, where the builder key
 * is bound to the builder id and the rebuilder key to the rebuilder id.
 */
async function gateInput(state: State, keys: StateTrust, facts: GateFacts): Promise<GateInput> {
  const artifactBytes = await state.blobs.get(facts.subject).catch(() => null);
  const envelope = await state.blobs.get(facts.provenanceDigest).catch(() => null);
  const vsa = await state.blobs.get(facts.vsaDigest).catch(() => null);
  let provenance: GateInput['provenance'] = {
    ...NO_PROVENANCE,
    present: envelope !== null,
    failure: envelope === null ? 'the stored provenance is missing or corrupt' : null,
  };
  if (envelope) {
    const result = verifyWithPolicy({ attestation: envelope, artifactDigest: facts.subject }, { trust: keys.trust, now: facts.now });
    const statement = result.statement;
    provenance = {
      present: true,
      verified: result.ok,
      failure: failureText(result),
      keyids: result.facts.keyids,
      builderId: result.facts.builderId,
      builderTrusted:
        result.ok && result.facts.signers.some((s) => s.counted && (s.identities ?? []).some((i) => i.role === 'builder' && i.id === result.facts.builderId)),
      subjectDigests: (statement?.subject ?? []).flatMap((sub) => (isSha256Hex(sub.digest.sha256) ? [digestFromHex(sub.digest.sha256)] : [])),
      buildType: result.facts.buildType,
      sourceUri: result.facts.source?.repository ?? null,
      sourceCommit: result.facts.source?.commit ?? null,
    };
  }
  let rebuild: GateInput['rebuild'] = { ...NO_REBUILD, present: vsa !== null, failure: vsa === null ? 'the stored VSA is missing or corrupt' : null };
  if (vsa) {
    const result = verifyWithPolicy({ attestation: vsa, artifactDigest: facts.subject }, { trust: keys.trust, now: facts.now });
    // A FAILED summary is still authentic evidence: only its verdict is negative.
    const authentic = result.failures.every((f) => f.code === 'ATTEST_VSA_FAILED' || f.code === 'ATTEST_VSA_LEVEL_MISSING');
    const verdict = (result.statement?.predicate as { verificationResult?: unknown } | undefined)?.verificationResult;
    rebuild = {
      present: true,
      verified: authentic && result.facts.keyids.length > 0,
      failure: authentic ? null : failureText(result),
      result: verdict === 'PASSED' || verdict === 'FAILED' ? verdict : null,
      rebuilderId: result.facts.verifierId,
      rebuilderKeyid: result.facts.keyids[0] ?? null,
      rebuiltDigest: facts.rebuild.rebuilt?.artifact.digest ?? null,
      digestsMatch: facts.rebuild.rebuilt?.artifact.digest === facts.subject && facts.rebuild.differences.length === 0,
      causes: [...facts.rebuild.causes.map((c) => `${c.kind}: ${c.detail}`), ...facts.rebuild.differences.map((d) => `${d.kind}: ${d.detail}`)],
    };
  }
  return {
    schema: GATE_INPUT_SCHEMA,
    artifact: { name: facts.name, digest: facts.subject, rehashed: artifactBytes ? sha256Digest(artifactBytes) : null },
    provenance,
    rebuild,
    sbom: { present: facts.scanned.sbom !== null, digest: facts.scanned.sbom?.digest ?? null, components: facts.scanned.sbom?.components ?? 0 },
    scans: facts.scanned.scans,
    findings: facts.scanned.findings,
  };
}

function countBySeverity(findings: readonly Finding[]): string {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1);
  return [...counts.entries()].map(([k, v]) => `${v} ${k}`).join(', ');
}
