import os from 'node:os';
import path from 'node:path';
import { CommandTarget } from '../deploy/command.js';
import { deployRelease, type DeployOutcome, type GateAnswer, refusePinned } from '../deploy/controller.js';
import { DeployError } from '../deploy/errors.js';
import { LocalTarget } from '../deploy/local.js';
import { planDigest, planRollout, type ReleaseRef, type RolloutPlan } from '../deploy/plan.js';
import { loadRelease } from '../deploy/rollback.js';
import type { DeployTarget } from '../deploy/target.js';
import type { DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import { observeService } from '../runtime/observe.js';
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
      holder: `${os.hostname()}/${process.pid}`,
      target: traffic,
      plan,
      gate: options.gate,
      audit: options.audit,
      ...(options.override ? { override: true } : {}),
    });
  } catch (error) {
    await load?.stop();
    await target.stop(next).catch(() => false);
    throw error;
  }
  await load?.stop();

  const nextRef = { releaseDigest, artifactDigest: release.artifactDigest };
  switch (rollout.phase) {
    case 'Promoted': {
      await store.putDeployment(next);
      const desired = await store.getDesired(environment);
      await store.setDesired(environment, release, releaseDigest, desired?.revision ?? 0, iso());
      await store.appendReleaseHistory({ environment, ...nextRef, event: 'promoted', at: iso(), detail: `plan ${planDigest(plan)}` });
      if (previous) await target.stop(previous.deployment);
      return { environment, outcome: 'promoted', plan, planDigest: planDigest(plan), rollout, deployment: next, endpoint };
    }
    case 'RolledBack': {
      await store.appendReleaseHistory({ environment, ...nextRef, event: 'rolledBack', at: iso(), detail: rollout.reason ?? 'rolled back' });
      await target.stop(next);
      return { environment, outcome: 'rolledBack', plan, planDigest: planDigest(plan), rollout, deployment: previous?.deployment ?? null, endpoint };
    }
    default: {
      const event = rollout.phase === 'Frozen' ? 'frozen' : 'held';
      // A held first deployment already takes all traffic: record it, so it can be seen and stopped.
      if (!previous) await store.putDeployment(next);
      await store.appendReleaseHistory({ environment, ...nextRef, event, at: iso(), detail: rollout.reason ?? event });
      return { environment, outcome: event, plan, planDigest: planDigest(plan), rollout, deployment: next, endpoint };
    }
  }
}
