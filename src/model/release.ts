import type { Digest } from './digest.js';

/**
 * The release bundle: what should run in an environment. Immutable, stored as a blob of its
 * JCS form and identified by that blob's digest, so replaying it (a rollback) deploys the
 * very same bytes.
 */
export interface Release {
  readonly environment: string;
  readonly service: string;
  readonly artifactDigest: Digest;
  /** Digest of the canonical deploy configuration. */
  readonly configDigest: Digest;
  /** The gate decision that allowed this release into this environment. */
  readonly decisionId: string;
  /** The signed provenance envelope (a blob). */
  readonly provenanceDigest: Digest;
  /** The independent rebuilder's signed VSA (a blob). */
  readonly vsaDigest: Digest;
  /** The release cannot be undone (e.g. it migrates data): a failed rollout freezes instead of rolling back. */
  readonly rollbackUnsafe: boolean;
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
