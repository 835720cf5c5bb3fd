import type { Digest } from './digest.js';

/** What isolation was actually in force while the recipe ran; never more than was true. */
export type Isolation = 'none' | 'unshare-net' | 'bubblewrap';

/** The normalised environment a build ran with, recorded as evidence. */
export interface BuildEnvironment {
  readonly variables: Readonly<Record<string, string>>;
  readonly umask: string;
  readonly node: string;
  readonly npm: string | null;
  readonly platform: string;
  readonly arch: string;
  readonly isolation: Isolation;
  /** Why stronger isolation was not in force (empty under bubblewrap). */
  readonly isolationNotes: readonly string[];
  /** The build directory as the recipe saw it (`/build` in the sandbox, a temporary path otherwise). */
  readonly buildDir: string;
  /**
   * Present only on the diagnostic builds of `cairn build --vary`: each normalisation that was
   * deliberately overridden (axis → what it was set to). Such a build is never shipped.
   */
  readonly variation?: Readonly<Record<string, string>>;
}

/** A dependency cairn installed from the cache before the recipe ran. */
export interface InstalledDependency {
  readonly path: string;
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
}

export interface Artifact {
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: 'application/gzip' | 'application/zip';
}

export interface BuildResult {
  readonly artifact: Artifact;
  readonly recipe: { readonly run: string; readonly output: string; readonly install: 'none' | 'npm'; readonly format?: 'tgz' | 'zip' };
  /** Packages installed by cairn from `package-lock.json` (empty unless `install: npm`). */
  readonly dependencies: readonly InstalledDependency[];
  readonly environment: BuildEnvironment;
  /** Files packed into the artifact. */
  readonly entries: number;
  /** Digest of `package-lock.json` in the snapshot, if there is one. */
  readonly lockfileDigest: Digest | null;
  readonly startedAt: string;
  readonly finishedAt: string;
}
