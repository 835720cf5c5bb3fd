import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { envelopeBytes, signStatement } from '../attest/sign.js';
import { provenanceStatement } from '../attest/provenance.js';
import { verifyAttestation } from '../attest/verify.js';
import { runBuild } from '../build/run.js';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest, canonicalize } from '../crypto/jcs.js';
import { LocalTarget } from '../deploy/local.js';
import type { Actor } from '../model/audit.js';
import type { ProjectConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import type { GateDecision, GateEvidence } from '../model/gate.js';
import type { Deployment, Release } from '../model/release.js';
import type { RunRecord, StageName, StageOutcome, StageRecord } from '../model/run.js';
import { evaluateBuiltinGate } from '../policy/builtin.js';
import { compareEnvironment, observeService } from '../runtime/observe.js';
import { parsePackageLock } from '../model/lockfile.js';
import { cycloneDxFromLock } from '../scan/sbom.js';
import { loadProjectConfig } from '../source/config.js';
import { snapshotCommit } from '../source/snapshot.js';
import type { PipelineEvent, RunSummary } from './events.js';
import { builderKey, type State } from './state.js';
import { CAIRN_VERSION } from './version.js';

export interface RunOptions {
  readonly projectDir: string;
  readonly state: State;
  readonly rev?: string;
  readonly actor: Actor;
  readonly builderId?: string;
  readonly clock?: () => Date;
  readonly onEvent?: (event: PipelineEvent) => void;
  /** Keep the temporary snapshot and build folders (for debugging). */
  readonly keepScratch?: boolean;
}

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
  emit({ type: 'run-start', runId, project, stateDir: options.state.dir });
  await audit('run.start', [], canonicalDigest({ runId, project, rev: options.rev ?? 'HEAD' }));

  const summary = {
    commit: null as string | null,
    artifact: null as RunSummary['artifact'],
    provenance: null as string | null,
    sbom: null as string | null,
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

    const key = await builderKey(options.state.dir);
    const provenanceDigest = await stage('attest', async () => {
      const statement = provenanceStatement(snap.snapshot, built, {
        builderId: options.builderId ?? `https://cairn.dev/builders/local/${key.keyid.replace(/[^A-Za-z0-9]/g, '').slice(0, 16)}`,
        invocationId: runId,
        cairnVersion: CAIRN_VERSION,
      });
      const envelope = signStatement(statement, [key.privateKey]);
      const digest = await blobs.put(envelopeBytes(envelope));
      await store.putEvidence({
        digest,
        kind: 'provenance',
        subject,
        mediaType: 'application/vnd.dsse.envelope.v1+json',
        runId,
        createdAt: clock().toISOString(),
      });
      await audit('attest.provenance', [subject], digest);
      summary.provenance = digest;
      return {
        value: digest,
        summary: `SLSA v1 provenance in a DSSE envelope ${digest.slice(0, 19)}…, signed by ${key.keyid}${key.created ? ' (new key)' : ''}`,
        data: { envelope: digest, keyid: key.keyid, publicKey: key.publicKeyPath },
      };
    });

    const sbom = await stage('scan', async () => {
      const lockText = await readFile(path.join(snap.dir, 'package-lock.json')).catch(() => null);
      if (lockText === null) return { value: null, summary: 'no package-lock.json: no SBOM', outcome: 'skipped' as const };
      const graph = parsePackageLock(lockText);
      const bom = cycloneDxFromLock(graph, { toolVersion: CAIRN_VERSION, sourceDateEpoch: snap.snapshot.sourceDateEpoch });
      const digest = await blobs.put(Buffer.from(`${canonicalize(bom)}\n`));
      await store.putEvidence({ digest, kind: 'sbom', subject, mediaType: 'application/vnd.cyclonedx+json', runId, createdAt: clock().toISOString() });
      await audit('scan.sbom', [subject], digest);
      summary.sbom = digest;
      return {
        value: { digest, components: graph.packages.length },
        summary: `CycloneDX 1.6 SBOM ${digest.slice(0, 19)}…, ${graph.packages.length} component${graph.packages.length === 1 ? '' : 's'}`,
        data: { sbom: digest, components: graph.packages.length },
      };
    });

    const decisions = await stage('gate', async () => {
      const evidence = await gatherEvidence(options.state, subject, provenanceDigest, sbom, key.publicKey);
      const list: GateDecision[] = [];
      for (const environment of config.deploy.environments) {
        const decision = evaluateBuiltinGate(evidence, { environment, now: clock() });
        await store.putDecision(decision);
        const digest = await blobs.put(jsonBytes({ decision, evidence }));
        await store.putEvidence({ digest, kind: 'decision', subject, mediaType: 'application/json', runId, createdAt: clock().toISOString() });
        await audit('gate.decision', [subject], digest);
        summary.decisions.push({ environment, id: decision.id, allow: decision.allow });
        list.push(decision);
      }
      const denied = list.filter((d) => !d.allow);
      const failed = denied.flatMap((d) => d.rules.filter((r) => r.outcome !== 'pass').map((r) => `${d.environment}/${r.id}: ${r.message}`));
      const passed = list[0]?.rules.map((r) => r.id).join(', ') ?? '';
      return {
        value: list,
        outcome: denied.length > 0 ? ('denied' as const) : ('ok' as const),
        summary: denied.length > 0 ? `denied: ${failed.join('; ')}` : `allowed for ${list.map((d) => `${d.environment} (${d.id})`).join(', ')}: ${passed}`,
        data: { decisions: list },
      };
    });

    const deployed = await stage('deploy', async () => {
      const target = new LocalTarget({ root: options.state.runtimeDir, clock });
      const artifact = await blobs.get(subject);
      const results: { environment: string; deployment: Deployment }[] = [];
      for (const decision of decisions) {
        const environment = decision.environment;
        const release: Release = {
          environment,
          service: config.name,
          artifactDigest: subject,
          configDigest: canonicalDigest(config.deploy),
          decisionId: decision.id,
          provenanceDigest,
        };
        const releaseDigest = await blobs.put(Buffer.from(`${canonicalize(release)}\n`));
        const current = await store.getDesired(environment);
        await store.setDesired(environment, release, releaseDigest, current?.revision ?? 0, clock().toISOString());
        await store.putEvidence({ digest: releaseDigest, kind: 'release', subject, mediaType: 'application/json', runId, createdAt: clock().toISOString() });
        const previous = await store.getDeployment(environment);
        const deployment = await target.apply({ release, releaseDigest, artifact, config: config.deploy, previous });
        await store.putDeployment(deployment);
        await audit('deploy.apply', [subject, releaseDigest], canonicalDigest(deployment));
        summary.deployments.push({ environment, endpoint: deployment.endpoint, releaseDigest });
        results.push({ environment, deployment });
      }
      return {
        value: results,
        summary: results.map((r) => `${r.environment} → ${r.deployment.endpoint} (pid ${r.deployment.pid ?? '?'})`).join(', '),
        data: { deployments: results.map((r) => r.deployment) },
      };
    });

    await stage('runtime', async () => {
      const reports = [];
      for (const { environment, deployment } of deployed) {
        const desired = await store.getDesired(environment);
        if (!desired) throw new CairnError('RUNTIME_NO_DESIRED_STATE', 'internal', `no desired state for ${environment}`);
        reports.push(compareEnvironment(desired, deployment, await observeService(deployment.endpoint)));
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

/** Re-reads the stored evidence (not the values in memory) and establishes the facts the gate decides on. */
async function gatherEvidence(
  state: State,
  subject: Digest,
  provenanceDigest: Digest,
  sbom: { digest: Digest; components: number } | null,
  trusted: import('node:crypto').KeyObject,
): Promise<GateEvidence> {
  const artifactBytes = await state.blobs.get(subject).catch(() => null);
  const envelope = await state.blobs.get(provenanceDigest).catch(() => null);
  let provenance: GateEvidence['provenance'] = {
    present: envelope !== null,
    signatureVerified: false,
    subjectDigests: [],
    keyid: null,
    failure: envelope === null ? 'missing' : null,
  };
  if (envelope) {
    try {
      const verified = verifyAttestation(envelope, subject, [trusted]);
      provenance = {
        present: true,
        signatureVerified: true,
        subjectDigests: verified.statement.subject.map((s) => `sha256:${s.digest.sha256 ?? ''}` as Digest),
        keyid: verified.keyids[0] ?? null,
        failure: null,
      };
    } catch (error) {
      provenance = { ...provenance, failure: error instanceof CairnError ? `${error.code}: ${error.message}` : String(error) };
    }
  }
  return {
    artifact: { digest: subject, rehashed: artifactBytes ? sha256Digest(artifactBytes) : null },
    provenance,
    sbom: { present: sbom !== null, digest: sbom?.digest ?? null, components: sbom?.components ?? 0 },
  };
}
