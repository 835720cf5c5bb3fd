import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import { type DeployConfig, deployConfigFromJSON } from '../model/config.js';
import { type Release, releaseFromJSON } from '../model/release.js';
import type { Deployment } from '../model/release.js';
import type { BlobStore, ReleaseHistoryEntry, Store } from '../store/port.js';
import { endSupersededRollout, rolloutDetail, undecidedRollout } from './controller.js';
import { DeployError } from './errors.js';
import type { DeployTarget } from './target.js';

/**
 * `cairn rollback --env ENV`: puts the environment back on the release it ran before the
 * current one. The previous release bundle is replayed from its blob byte for byte (so its
 * digest, gate decision and artifact are exactly those that were allowed), started beside the
 * current one, given all traffic in one fenced operation under the environment's lease, and
 * pinned: the rolled-back artifact cannot come back without an explicit override. A release
 * marked `rollbackUnsafe` is frozen instead, and nothing changes at the target.
 */

export interface RollbackOptions {
  readonly store: Store;
  readonly blobs: BlobStore;
  readonly environment: string;
  /** Who holds the lease while rolling back (e.g. `host/pid`). */
  readonly holder: string;
  /** Why: recorded in the audit entry and the pin. */
  readonly reason: string;
  /** The target a release runs on, for the deploy configuration it was released with. */
  targetFor(config: DeployConfig): DeployTarget;
  audit(action: string, subjects: readonly Digest[], payloadDigest: Digest, payload: string): Promise<void>;
  readonly clock?: () => number;
  readonly leaseMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface RollbackOutcome {
  readonly environment: string;
  readonly outcome: 'rolledBack' | 'frozen';
  readonly from: { readonly releaseDigest: Digest; readonly artifactDigest: Digest };
  readonly to: { readonly releaseDigest: Digest; readonly artifactDigest: Digest } | null;
  readonly opId: string | null;
  readonly deployment: Deployment | null;
  readonly reason: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Reads a stored release bundle; the blob store checks the bytes still hash to the digest. */
export async function loadRelease(blobs: BlobStore, digest: Digest): Promise<Release> {
  const bytes = await blobs.get(digest);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new DeployError('DEPLOY_RELEASE_INVALID', `release ${digest} is not JSON`, { cause });
  }
  try {
    return releaseFromJSON(parsed);
  } catch (cause) {
    throw new DeployError('DEPLOY_RELEASE_INVALID', `release ${digest}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Reads the deploy configuration a release was made with: the blob of its canonical JSON, whose digest is the release's `configDigest`. */
export async function loadDeployConfig(blobs: BlobStore, digest: Digest): Promise<DeployConfig> {
  const bytes = await blobs.get(digest);
  try {
    return deployConfigFromJSON(JSON.parse(bytes.toString('utf8')));
  } catch (cause) {
    throw new DeployError('DEPLOY_RELEASE_INVALID', `deploy configuration ${digest}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The newest release before `current` that all traffic ran on (promoted or restored), or null. */
export function previousGoodRelease(history: readonly ReleaseHistoryEntry[], current: Digest): ReleaseHistoryEntry | null {
  const bad = new Set(history.filter((e) => e.event === 'rolledBack').map((e) => e.releaseDigest));
  return history.find((e) => (e.event === 'promoted' || e.event === 'restored') && e.releaseDigest !== current && !bad.has(e.releaseDigest)) ?? null;
}

export async function rollbackEnvironment(options: RollbackOptions): Promise<RollbackOutcome> {
  const { store, blobs, environment } = options;
  const clock = options.clock ?? Date.now;
  const leaseMs = options.leaseMs ?? 60_000;
  const progress = options.onProgress ?? (() => {});
  // A rollout left undecided (its controller died, or it held or froze) is what gets rolled back:
  // its new release, back to the one it was replacing.
  const undecided = await undecidedRollout(store, environment);
  let current: Deployment | null;
  let fromDigest: Digest;
  if (undecided) {
    if (!undecided.previous) {
      throw new DeployError(
        'DEPLOY_NOTHING_TO_ROLL_BACK',
        `the unfinished rollout ${undecided.rolloutId} is the first deployment of ${environment}: there is nothing to roll back to (continue it with \`cairn deploy --resume --env ${environment}\`)`,
      );
    }
    fromDigest = undecided.next.releaseDigest;
    const nextRelease = await loadRelease(blobs, fromDigest);
    // Null when the process died with its controller: then there is nothing of it to stop.
    current = await options.targetFor(await loadDeployConfig(blobs, nextRelease.configDigest)).running(environment, fromDigest);
  } else {
    current = await store.getDeployment(environment);
    const desired = await store.getDesired(environment);
    if (!current || !desired) throw new DeployError('DEPLOY_NOTHING_TO_ROLL_BACK', `nothing is deployed in ${environment}`);
    fromDigest = current.releaseDigest;
  }
  const currentRelease = await loadRelease(blobs, fromDigest);
  const from = { releaseDigest: fromDigest, artifactDigest: currentRelease.artifactDigest };
  const audit = async (action: string, subjects: readonly Digest[], body: Record<string, unknown>) => {
    const payload = JSON.stringify({ environment, action, ...body });
    await options.audit(action, subjects, sha256Digest(payload), payload);
  };

  if (currentRelease.rollbackUnsafe) {
    await audit('deploy.freeze', [from.releaseDigest, from.artifactDigest], { from, reason: options.reason, trigger: 'manual' });
    await store.appendReleaseHistory({ environment, ...from, event: 'frozen', at: iso(clock()), detail: options.reason });
    return {
      environment,
      outcome: 'frozen',
      from,
      to: null,
      opId: null,
      deployment: null,
      reason: `${from.releaseDigest} is marked rollbackUnsafe: frozen, not rolled back`,
    };
  }

  const previousDigest =
    undecided?.previous?.releaseDigest ?? previousGoodRelease(await store.listReleaseHistory(environment, 1000), fromDigest)?.releaseDigest;
  if (!previousDigest) throw new DeployError('DEPLOY_NO_PREVIOUS_RELEASE', `${environment} has no earlier release that ran all traffic to roll back to`);
  const release = await loadRelease(blobs, previousDigest);
  if (release.environment !== environment) {
    throw new DeployError('DEPLOY_RELEASE_INVALID', `release ${previousDigest} belongs to ${release.environment}, not ${environment}`);
  }
  const decision = await store.getDecision(release.decisionId);
  if (!decision?.allow || decision.environment !== environment || decision.subject !== release.artifactDigest) {
    throw new DeployError('DEPLOY_NOT_ALLOWED', `release ${previousDigest} has no stored allow decision ${release.decisionId} for ${environment}`);
  }
  const to = { releaseDigest: previousDigest, artifactDigest: release.artifactDigest };
  const artifact = await blobs.get(release.artifactDigest);
  const config = await loadDeployConfig(blobs, release.configDigest);
  const target = options.targetFor(config);

  const lease = await store.acquireLease(`deploy/${environment}`, options.holder, iso(clock()), iso(clock() + leaseMs));
  if (!lease) throw new DeployError('DEPLOY_LEASE_HELD', `another controller holds the lease on ${environment}`);
  try {
    const opId = `${environment}/rollback/${from.releaseDigest.slice(7, 19)}-to-${to.releaseDigest.slice(7, 19)}/e${lease.epoch}`;
    await store.putOperation({ id: opId, environment, epoch: lease.epoch, body: JSON.stringify({ kind: 'rollback', from, to, weight: 100 }) });
    await audit('deploy.rollback.start', [from.releaseDigest, to.releaseDigest], { from, to, opId, reason: options.reason, trigger: 'manual' });
    // A rollout left undecided is over now: it can no longer be resumed or block the next.
    const superseded = await endSupersededRollout(store, environment, lease, `superseded by rollback operation ${opId}: ${options.reason}`, clock());
    if (superseded) progress(`ended the undecided rollout ${superseded}`);
    progress(`starting ${to.releaseDigest} beside ${from.releaseDigest}`);
    // Still running when the rollback ends an undecided rollout; started again from its bundle otherwise.
    const started =
      (undecided ? await target.running(environment, to.releaseDigest) : null) ??
      (await target.start({ release, releaseDigest: to.releaseDigest, artifact, config, opId: `${opId}/start` }));
    const traffic = await target.traffic(environment, current, started);
    // The lease epoch is above every epoch a rollout fenced its operations with, so the target takes this order.
    const answer = await traffic.apply({ opId, epoch: lease.epoch, seq: Number.MAX_SAFE_INTEGER, weight: 100 });
    if (answer !== 'applied')
      throw new DeployError('DEPLOY_FENCED', `the target refused rollback operation ${opId}: a newer controller acts on ${environment}`);
    const seen = await traffic.read();
    if (seen.weight !== 100 || seen.lastOpId !== opId) {
      throw new DeployError(
        'DEPLOY_INDETERMINATE',
        `after rollback operation ${opId} the target shows weight ${seen.weight} (last operation ${seen.lastOpId ?? 'none'})`,
      );
    }
    progress(`all traffic on ${to.releaseDigest}; stopping ${from.releaseDigest}`);
    await store.renewLease(lease, iso(clock()), iso(clock() + leaseMs));
    await store.putDeployment(started);
    const now = await store.getDesired(environment);
    await store.setDesired(environment, release, to.releaseDigest, now?.revision ?? 0, iso(clock()));
    await store.putPin({ environment, releaseDigest: to.releaseDigest, blockedDigest: from.artifactDigest, reason: options.reason, pinnedAt: iso(clock()) });
    // Tagged with the rollout it ended, as the rollout's own outcome would have been.
    const detail = superseded ? rolloutDetail(superseded, options.reason) : options.reason;
    await store.appendReleaseHistory({ environment, ...from, event: 'rolledBack', at: iso(clock()), detail });
    await store.appendReleaseHistory({ environment, ...to, event: 'restored', at: iso(clock()), detail: `rollback from ${from.releaseDigest}` });
    if (current) await target.stop(current);
    await audit('deploy.rollback.done', [from.releaseDigest, to.releaseDigest], {
      from,
      to,
      opId,
      reason: options.reason,
      trigger: 'manual',
      pinned: { releaseDigest: to.releaseDigest, blockedDigest: from.artifactDigest },
    });
    return { environment, outcome: 'rolledBack', from, to, opId, deployment: started, reason: options.reason };
  } finally {
    await store.releaseLease(lease).catch(() => {});
  }
}
