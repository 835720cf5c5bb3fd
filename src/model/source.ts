import type { Digest } from './digest.js';

/** Exactly which bytes went into a build: a git commit's tree, not the working copy. */
export interface SourceSnapshot {
  /** Where the repository was read from (a `git+file://` URI for a local repository). */
  readonly repository: string;
  /** Full git object id of the commit. */
  readonly commit: string;
  /** The git tree id of `subdir` at that commit. */
  readonly gitTree: string;
  /** Project directory inside the repository, `''` for its root; POSIX separators. */
  readonly subdir: string;
  /** sha256 over the canonical listing of every entry (path, mode, content digest) under `subdir`. */
  readonly treeDigest: Digest;
  /** Committer time of the commit, in seconds since the epoch. */
  readonly sourceDateEpoch: number;
  readonly fileCount: number;
}
