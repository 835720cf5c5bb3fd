import type { Digest } from './digest.js';

/** What should run in an environment: immutable, identified by the digest of its JCS form. */
export interface Release {
  readonly environment: string;
  readonly service: string;
  readonly artifactDigest: Digest;
  /** Digest of the canonical deploy configuration. */
  readonly configDigest: Digest;
  readonly decisionId: string;
  readonly provenanceDigest: Digest;
}

/** The desired state of one environment, with a revision for conditional writes. */
export interface DesiredState {
  readonly environment: string;
  readonly release: Release;
  readonly releaseDigest: Digest;
  /** Increases by one on every write; writers state the revision they read. */
  readonly revision: number;
  readonly updatedAt: string;
}

/** What a target reported after applying a release. */
export interface Deployment {
  readonly environment: string;
  readonly releaseDigest: Digest;
  readonly target: string;
  /** Where the running service answers, e.g. `http://127.0.0.1:43123`. */
  readonly endpoint: string;
  readonly pid: number | null;
  /** Target-specific instance handle (for `local`, the token in the process environment that proves a pid is ours). */
  readonly handle: string | null;
  readonly startedAt: string;
  readonly status: 'running' | 'stopped' | 'failed';
}
