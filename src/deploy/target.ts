import type { DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';

/** What a target can do; shared code branches on these, never on a target's name. */
export interface TargetCapabilities {
  readonly trafficSplit: boolean;
  readonly reportsVersion: boolean;
}

export interface ApplyRequest {
  readonly release: Release;
  readonly releaseDigest: Digest;
  /** The artifact's bytes, already checked against `release.artifactDigest`. */
  readonly artifact: Uint8Array;
  readonly config: DeployConfig;
  /** The environment's current deployment, which the new one replaces. */
  readonly previous: Deployment | null;
}

/** A place releases run. */
export interface DeployTarget {
  readonly name: string;
  readonly capabilities: TargetCapabilities;
  apply(request: ApplyRequest): Promise<Deployment>;
  stop(deployment: Deployment): Promise<boolean>;
}
