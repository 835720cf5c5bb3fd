import { NAME_PATTERN } from './config.js';
import { DIGEST_RE, type Digest } from './digest.js';
import { Fields } from './fields.js';

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

/**
 * Reads a stored release bundle back (the blob's JSON), checking every field, so a replayed
 * release is exactly what was gated; a malformed bundle throws RELEASE_INVALID naming the field.
 */
export function releaseFromJSON(raw: unknown): Release {
  const f = new Fields();
  const r = f.object(raw, '', ['environment', 'service', 'artifactDigest', 'configDigest', 'decisionId', 'provenanceDigest', 'vsaDigest', 'rollbackUnsafe']);
  if (!r) return f.finish<Release>(undefined, 'RELEASE_INVALID', 'the release bundle');
  const digest = (key: string) => f.string(r[key], key, { pattern: DIGEST_RE }) as Digest | undefined;
  const environment = f.string(r.environment, 'environment', { pattern: NAME_PATTERN });
  const service = f.string(r.service, 'service', { pattern: NAME_PATTERN });
  const artifactDigest = digest('artifactDigest');
  const configDigest = digest('configDigest');
  const decisionId = f.string(r.decisionId, 'decisionId', { maxLength: 128 });
  const provenanceDigest = digest('provenanceDigest');
  const vsaDigest = digest('vsaDigest');
  const rollbackUnsafe = f.boolean(r.rollbackUnsafe, 'rollbackUnsafe');
  const release =
    environment !== undefined &&
    service !== undefined &&
    artifactDigest &&
    configDigest &&
    decisionId !== undefined &&
    provenanceDigest &&
    vsaDigest &&
    rollbackUnsafe !== undefined
      ? { environment, service, artifactDigest, configDigest, decisionId, provenanceDigest, vsaDigest, rollbackUnsafe }
      : undefined;
  return f.finish(release, 'RELEASE_INVALID', 'the release bundle');
}
