import type { CommandTargetConfig, DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import type { VersionMetrics } from './sprt.js';

/** What a target can do; shared code branches on these, never on a target's name. */
export interface TargetCapabilities {
  /** Two releases can run at once with traffic split between them by weight (canary). */
  readonly trafficSplit: boolean;
  /** A running release answers `/version` with the digest of the artifact it runs from. */
  readonly reportsVersion: boolean;
  /** The target counts requests, errors and latency per release (what canary analysis reads). */
  readonly reportsMetrics: boolean;
}

/** The local target splits traffic in its router, which counts per release; each release answers `/version`. */
export const LOCAL_CAPABILITIES: TargetCapabilities = { trafficSplit: true, reportsVersion: true, reportsMetrics: true };

/** The command target's scripts shift traffic; it reports metrics only when a metrics script is configured. */
export function commandCapabilities(commands: CommandTargetConfig): TargetCapabilities {
  return { trafficSplit: true, reportsVersion: false, reportsMetrics: commands.metrics !== undefined };
}

/** What the target a deploy configuration names can do (what a plan is shaped for). */
export function capabilitiesFor(config: DeployConfig): TargetCapabilities {
  return config.target === 'command' && config.commands ? commandCapabilities(config.commands) : LOCAL_CAPABILITIES;
}

export interface StartRequest {
  readonly release: Release;
  readonly releaseDigest: Digest;
  /** The artifact's bytes, already checked against `release.artifactDigest`. */
  readonly artifact: Uint8Array;
  readonly config: DeployConfig;
  /** Idempotency key: starting the same release again under the same id returns the first deployment. */
  readonly opId: string;
}

/** @deprecated the single-step form of {@link StartRequest}: start, then stop `previous`. */
export interface ApplyRequest {
  readonly release: Release;
  readonly releaseDigest: Digest;
  readonly artifact: Uint8Array;
  readonly config: DeployConfig;
  /** The environment's current deployment, which the new one replaces. */
  readonly previous: Deployment | null;
}

/** One traffic change: `weight` percent on `next`, the rest on `previous`. */
export interface ApplyOrder {
  /** The operation id: the idempotency key of this change. */
  readonly opId: string;
  /** The fence: the controller's lease epoch and the operation's sequence number. */
  readonly epoch: number;
  readonly seq: number;
  /** Percent of traffic on the new release (0..100). */
  readonly weight: number;
}

/** What a target reports about the traffic split it applied. */
export interface TrafficReading {
  /** Percent of traffic on `next`. */
  readonly weight: number;
  /** The id of the last operation applied, or null. */
  readonly lastOpId: string | null;
}

/**
 * Traffic control between two started releases of one environment (keyed by release
 * digest). Every implementation keeps the same contract (`target-contract.ts`): an operation
 * id is applied at most once; a fence `(epoch, seq)` below the highest applied is refused
 * and changes nothing; `read` reports what is in force, not what was asked.
 */
export interface TrafficTarget {
  apply(order: ApplyOrder): Promise<'applied' | 'refused'>;
  read(): Promise<TrafficReading>;
  /** Per-release counts since the release was added, keyed by release digest (empty when the target does not report metrics). */
  metrics(): Promise<Readonly<Record<string, VersionMetrics>>>;
}

/** A place releases run. */
export interface DeployTarget {
  readonly name: string;
  readonly capabilities: TargetCapabilities;
  /** Starts a release beside whatever runs, taking no traffic yet when the target splits traffic. */
  start(request: StartRequest): Promise<Deployment>;
  /** Traffic control between the running `previous` (null on a first deployment) and the started `next`. */
  traffic(environment: string, previous: Deployment | null, next: Deployment): Promise<TrafficTarget>;
  /**
   * The newest deployment of `releaseDigest` in `environment` that this target started and
   * that still runs, or null. How a resumed rollout finds the processes its crashed
   * controller left behind.
   */
  running(environment: string, releaseDigest: Digest): Promise<Deployment | null>;
  /** Stops a deployment this target started; false when it was not running (or is not ours). */
  stop(deployment: Deployment): Promise<boolean>;
  /** Where the environment answers whatever release runs (the router), or null when the target has none. */
  endpoint(environment: string): Promise<string | null>;
}
