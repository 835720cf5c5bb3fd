import os from 'node:os';
import path from 'node:path';
import { CommandTarget } from '../deploy/command.js';
import {
  type DeployOutcome,
  deployRelease,
  type GateAnswer,
  recordsRollout,
  refuseLiveLease,
  refusePinned,
  refuseUnfinished,
  resumeRollout,
  rolloutDetail,
  storedRolloutFromJSON,
  undecidedRollout,
} from '../deploy/controller.js';
import { isFinal } from '../deploy/machine.js';
import { DeployError } from '../deploy/errors.js';
import { LocalTarget } from '../deploy/local.js';
import { planDigest, planRollout, type ReleaseRef, type RolloutPlan } from '../deploy/plan.js';
import { loadDeployConfig, loadRelease } from '../deploy/rollback.js';
import type { DeployTarget } from '../deploy/target.js';
import type { DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import { observeService } from '../runtime/observe.js';
import type { ReleaseEvent } from '../store/port.js';
import type { State } from './state.js';

/**
 * Delivers one gated release to one environment: starts it beside what runs, plans the
 * rollout for the target's capabilities and the strategy in `cairn.yaml`, and drives the
 * rollout controller (canary steps, the gate asked again at each step, SPRT analysis on the
 * target's counts, rollback on evidence). Afterwards it records what the environment runs:
 * on promotion the new deployment, desired state and release history; on rollback the
 * release history (the controller pins the environment); a held or frozen rollout leaves
 * both releases running for a person to decide.
 */

/** The target a deploy configuration names, rooted in the state directory. */
export function targetFor(state: State, config: DeployConfig): DeployTarget {
  if (config.target === 'command') {
    if (!config.commands) throw new DeployError('DEPLOY_RELEASE_INVALID', 'the command target needs deploy.commands');
    return new CommandTarget({ dir: path.join(state.runtimeDir, 'command'), commands: config.commands });
  }
  return new LocalTarget({ root: state.runtimeDir });
}

export interface DeliverOptions {
  readonly state: State;
  readonly release: Release;
  readonly releaseDigest: Digest;
  readonly config: DeployConfig;
  /** Distinguishes this delivery's start operation (e.g. the run id). */
  readonly attempt: string;
  /** Asked before every step; a denial rolls back. */
  gate(step: number, weight: number): Promise<GateAnswer>;
  audit(action: string, subjects: readonly Digest[], payloadDigest: Digest, payload: string): Promise<void>;
  /** Deploy even though the environment is pinned against this release. */
  readonly override?: boolean;
  readonly onProgress?: (message: string) => void;
  /** Called once the release runs beside the old one, with the environment's endpoint; the returned stop is awaited when the rollout ends (the demo drives traffic here). */
  readonly duringRollout?: (endpoint: string) => { stop(): Promise<unknown> };
}

export interface DeliverOutcome {
  readonly environment: string;
  readonly outcome: 'promoted' | 'rolledBack' | 'held' | 'frozen' | 'unchanged';
  readonly plan: RolloutPlan | null;
  readonly planDigest: Digest | null;
  readonly rollout: DeployOutcome | null;
  /** The deployment that takes the environment's traffic afterwards. */
  readonly deployment: Deployment | null;
  /** Where the environment answers (the router), or the deployment's own endpoint. */
  readonly endpoint: string | null;
}

const iso = (): string => new Date().toISOString();
const holder = (): string => `${os.hostname()}/${process.pid}`;

/** The running release of an environment, or null when none answers (stopped, or never deployed). */
async function runningPrevious(state: State, environment: string): Promise<{ deployment: Deployment; ref: ReleaseRef } | null> {
  const deployment = await state.store.getDeployment(environment);
  if (deployment?.status !== 'running') return null;
  const seen = await observeService(deployment.endpoint, 1000);
  if (!seen.reachable) return null;
  const release = await loadRelease(state.blobs, deployment.releaseDigest);
  return { deployment, ref: { releaseDigest: deployment.releaseDigest, artifactDigest: release.artifactDigest } };
}

export async function deliverRelease(options: DeliverOptions): Promise<DeliverOutcome> {
  const { state, release, releaseDigest, config } = options;
  const { store, blobs } = state;
  const environment = release.environment;
  const progress = options.onProgress ?? (() => {});
  const target = targetFor(state, config);

  // Checked before anything starts, so a refused release leaves no process behind.
  if (!options.override) await refusePinned(store, environment, { releaseDigest, artifactDigest: release.artifactDigest });
  await refuseUnfinished(store, environment);
  const previous = await runningPrevious(state, environment);
  if (previous && previous.deployment.releaseDigest === releaseDigest) {
    return {
      environment,
      outcome: 'unchanged',
      plan: null,
      planDigest: null,
      rollout: null,
      deployment: previous.deployment,
      endpoint: (await target.endpoint(environment)) ?? previous.deployment.endpoint,
    };
  }

  // A held or frozen canary still running beside the previous release is superseded by this
  // rollout: it gets no traffic from the first step on, and its process stops once this ends.
  const undecided = await undecidedRollout(store, environment);
  const superseded = undecided ? await target.running(environment, undecided.next.releaseDigest) : null;

  const plan = planRollout({ release, releaseDigest, previous: previous?.ref ?? null, capabilities: target.capabilities, strategy: config.strategy });
  progress(
    `plan ${planDigest(plan).slice(0, 19)}…: ${plan.kind} ${plan.steps.map((s) => `${s.weight}%/${s.pauseSeconds}s`).join(' → ')}${plan.notes.length ? ` (${plan.notes.join('; ')})` : ''}`,
  );
  const artifact = await blobs.get(release.artifactDigest);
  const next = await target.start({ release, releaseDigest, artifact, config, opId: `${environment}/start/${releaseDigest.slice(7, 19)}/${options.attempt}` });
  progress(`started ${releaseDigest.slice(0, 19)}… at ${next.endpoint}${previous ? ` beside ${previous.deployment.releaseDigest.slice(0, 19)}…` : ''}`);
  const traffic = await target.traffic(environment, previous?.deployment ?? null, next);
  const endpoint = (await target.endpoint(environment)) ?? next.endpoint;
  const load = options.duringRollout?.(endpoint);
  let rollout: DeployOutcome;
  try {
    rollout = await deployRelease({
      store,
      environment,
      holder: holder(),
      target: traffic,
      plan,
      gate: options.gate,
      audit: options.audit,
      ...(options.override ? { override: true } : {}),
      ...(config.leaseSeconds !== undefined ? { leaseMs: config.leaseSeconds * 1000 } : {}),
    });
  } catch (error) {
    await load?.stop();
    // Stopped only while it takes no traffic: a rollout that failed midway leaves both releases
    // running for `cairn deploy --resume` or `cairn rollback` to finish.
    const weight = await traffic.read().then(
      (r) => r.weight,
      () => null,
    );
    if (weight === 0) await target.stop(next).catch(() => false);
    throw error;
  }
  await load?.stop();
  const outcome = await settle({ state, target, environment, release, releaseDigest, plan, rollout, previous: previous?.deployment ?? null, next, endpoint });
  if (superseded && superseded.handle !== next.handle && superseded.handle !== previous?.deployment.handle) {
    if (await target.stop(superseded))
      progress(`stopped ${superseded.releaseDigest.slice(0, 19)}…, left running by the ${undecided?.state.phase} rollout ${undecided?.rolloutId}`);
  }
  return outcome;
}

/** Whether the outcome of rollout `rolloutId` is already in the environment's release history. */
async function isRecorded(state: State, environment: string, releaseDigest: Digest, rolloutId: string): Promise<boolean> {
  return (await state.store.listReleaseHistory(environment, 1000)).some((e) => e.releaseDigest === releaseDigest && recordsRollout(e.detail, rolloutId));
}

interface Settlement {
  readonly state: State;
  readonly target: DeployTarget;
  readonly environment: string;
  readonly release: Release;
  readonly releaseDigest: Digest;
  readonly plan: RolloutPlan;
  readonly rollout: DeployOutcome;
  readonly previous: Deployment | null;
  readonly next: Deployment;
  readonly endpoint: string;
}

/**
 * Records what a finished rollout left running: on promotion the new deployment, desired state
 * and release history, then stops the old release; on rollback the history, then stops the new
 * one; held or frozen, both keep running. Every history entry names the rollout id, and a rollout
 * already recorded is not recorded twice (a resumed rollout may have finished before its
 * controller died).
 */
async function settle(s: Settlement): Promise<DeliverOutcome> {
  const { state, target, environment, release, releaseDigest, plan, rollout, previous, next, endpoint } = s;
  const { store } = state;
  const digest = planDigest(plan);
  const nextRef = { releaseDigest, artifactDigest: release.artifactDigest };
  const recorded = await isRecorded(state, environment, releaseDigest, rollout.rolloutId);
  const record = async (event: ReleaseEvent, detail: string) => {
    if (!recorded) await store.appendReleaseHistory({ environment, ...nextRef, event, at: iso(), detail: rolloutDetail(rollout.rolloutId, detail) });
  };
  switch (rollout.phase) {
    case 'Promoted': {
      await store.putDeployment(next);
      const desired = await store.getDesired(environment);
      if (desired?.releaseDigest !== releaseDigest) await store.setDesired(environment, release, releaseDigest, desired?.revision ?? 0, iso());
      await record('promoted', `plan ${digest}`);
      if (previous && previous.releaseDigest !== releaseDigest) await target.stop(previous);
      return { environment, outcome: 'promoted', plan, planDigest: digest, rollout, deployment: next, endpoint };
    }
    case 'RolledBack': {
      await record('rolledBack', rollout.reason ?? 'rolled back');
      await target.stop(next);
      return { environment, outcome: 'rolledBack', plan, planDigest: digest, rollout, deployment: previous, endpoint };
    }
    default: {
      const event = rollout.phase === 'Frozen' ? 'frozen' : 'held';
      // A held first deployment already takes all traffic: record it, so it can be seen and stopped.
      if (!previous) await store.putDeployment(next);
      await record(event, rollout.reason ?? event);
      return { environment, outcome: event, plan, planDigest: digest, rollout, deployment: next, endpoint };
    }
  }
}

export interface ResumeDeliveryOptions {
  readonly state: State;
  readonly environment: string;
  /** The gate asked before every remaining step, for the release being rolled out. */
  gateFor(release: Release, releaseDigest: Digest): Promise<(step: number, weight: number) => Promise<GateAnswer>>;
  audit(action: string, subjects: readonly Digest[], payloadDigest: Digest, payload: string): Promise<void>;
  readonly onProgress?: (message: string) => void;
}

/** A resumed delivery: the outcome, and whether a controller had to continue it (false when it had already finished). */
export interface ResumeOutcome extends DeliverOutcome {
  readonly plan: RolloutPlan;
  readonly planDigest: Digest;
  readonly resumed: boolean;
  /** The phase the stored rollout was in when it was found. */
  readonly foundPhase: string;
}

/**
 * `cairn deploy --resume`: continues the environment's rollout after its controller died. The
 * release bundle and deploy configuration are replayed from their blobs; the processes the dead
 * controller started are found at the target (or started again from the same artifact bytes when
 * they are gone); the controller takes the lease under a new epoch once the old one has expired,
 * reads the target before re-sending anything, and drives the rollout to a final phase. Then the
 * outcome is recorded as a delivery would have. A rollout that finished, but whose outcome was
 * never recorded, is only recorded.
 */
export async function resumeDelivery(options: ResumeDeliveryOptions): Promise<ResumeOutcome> {
  const { state, environment } = options;
  const { store, blobs } = state;
  const progress = options.onProgress ?? (() => {});
  const record = await store.getRollout(environment);
  if (!record) throw new DeployError('DEPLOY_NO_ROLLOUT', `${environment} has no stored rollout to resume`);
  const stored = storedRolloutFromJSON(environment, record.body);
  const foundPhase = stored.state.phase;
  const release = await loadRelease(blobs, stored.next.releaseDigest);
  if (release.environment !== environment || release.artifactDigest !== stored.next.artifactDigest) {
    throw new DeployError(
      'DEPLOY_ROLLOUT_CORRUPT',
      `the stored rollout of ${environment} names release ${stored.next.releaseDigest}, which is not a release of its artifact in ${environment}`,
    );
  }
  const config = await loadDeployConfig(blobs, release.configDigest);
  const target = targetFor(state, config);
  const wasFinal = isFinal(foundPhase);
  if (wasFinal && (await isRecorded(state, environment, stored.next.releaseDigest, stored.rolloutId))) {
    // Finished and recorded: nothing to continue, and nothing at the target to touch.
    const deployment = await store.getDeployment(environment);
    const outcomes: Record<string, DeliverOutcome['outcome']> = { Promoted: 'promoted', RolledBack: 'rolledBack', Frozen: 'frozen', Held: 'held' };
    return {
      environment,
      outcome: outcomes[foundPhase] ?? 'held',
      plan: stored.plan,
      planDigest: stored.planDigest,
      rollout: null,
      deployment,
      endpoint: (await target.endpoint(environment)) ?? deployment?.endpoint ?? null,
      resumed: false,
      foundPhase,
    };
  }
  // Before anything starts: a controller that still holds the lease may still be running.
  await refuseLiveLease(store, environment, Date.now());
  const ensure = async (ref: ReleaseRef, which: string): Promise<Deployment> => {
    const found = await target.running(environment, ref.releaseDigest);
    if (found) return found;
    // Gone with the controller: the same bundle and artifact bytes, started again.
    const bundle = ref.releaseDigest === stored.next.releaseDigest ? release : await loadRelease(blobs, ref.releaseDigest);
    const bundleConfig = bundle === release ? config : await loadDeployConfig(blobs, bundle.configDigest);
    progress(`the ${which} release ${ref.releaseDigest.slice(0, 19)}… no longer runs: starting it again`);
    const artifact = await blobs.get(bundle.artifactDigest);
    return target.start({
      release: bundle,
      releaseDigest: ref.releaseDigest,
      artifact,
      config: bundleConfig,
      opId: `${environment}/restart/${ref.releaseDigest.slice(7, 19)}/${stored.rolloutId}/${record.revision}`,
    });
  };
  const next = await ensure(stored.next, 'new');
  const previous = stored.previous ? await ensure(stored.previous, 'previous') : null;
  const traffic = await target.traffic(environment, previous, next);
  const endpoint = (await target.endpoint(environment)) ?? next.endpoint;
  if (!wasFinal) progress(`resuming ${stored.rolloutId} from ${foundPhase} (plan ${stored.planDigest.slice(0, 19)}…)`);
  const rollout = await resumeRollout({
    store,
    environment,
    holder: holder(),
    target: traffic,
    gate: await options.gateFor(release, stored.next.releaseDigest),
    audit: options.audit,
    ...(config.leaseSeconds !== undefined ? { leaseMs: config.leaseSeconds * 1000 } : {}),
  });
  const settled = await settle({
    state,
    target,
    environment,
    release,
    releaseDigest: stored.next.releaseDigest,
    plan: stored.plan,
    rollout,
    previous,
    next,
    endpoint,
  });
  return { ...settled, plan: stored.plan, planDigest: stored.planDigest, resumed: !wasFinal, foundPhase };
}
