import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { canonicalDigest } from '../crypto/jcs.js';
import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import type { SourceSnapshot } from '../model/source.js';
import { SourceError } from './errors.js';
import { git, gitText } from './git.js';

export interface SnapshotOptions {
  /** Revision to snapshot (default `HEAD`). */
  readonly rev?: string;
  /** Empty directory the tree is written into. */
  readonly into: string;
  readonly maxFiles?: number;
  readonly maxBytes?: number;
}

export interface Snapshot {
  readonly snapshot: SourceSnapshot;
  /** Directory holding the project tree exactly as committed. */
  readonly dir: string;
  /** Paths under the project with uncommitted changes, which the snapshot ignores. */
  readonly uncommitted: readonly string[];
  /** The repository's top folder on disk (where a rebuilder would read the same commit). */
  readonly repositoryRoot: string;
}

interface TreeEntry {
  readonly mode: string;
  readonly type: string;
  readonly oid: string;
  readonly path: string;
}

function parseLsTree(out: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const record of out.toString('utf8').split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode, type, oid] = record.slice(0, tab).split(' ');
    if (!mode || !type || !oid || tab < 0) throw new SourceError('SOURCE_GIT_OUTPUT', `unexpected git ls-tree line: ${record.slice(0, 80)}`);
    entries.push({ mode, type, oid, path: record.slice(tab + 1) });
  }
  return entries;
}

/** Parses `git cat-file --batch` output into object contents by oid. */
function parseBatch(out: Buffer): Map<string, Buffer> {
  const objects = new Map<string, Buffer>();
  let offset = 0;
  while (offset < out.length) {
    const nl = out.indexOf(0x0a, offset);
    if (nl < 0) throw new SourceError('SOURCE_GIT_OUTPUT', 'truncated git cat-file output');
    const [oid, type, size] = out.subarray(offset, nl).toString('utf8').split(' ');
    if (!oid || type === 'missing' || !size) throw new SourceError('SOURCE_GIT_OUTPUT', `git object ${oid ?? '?'} is missing`);
    const length = Number(size);
    objects.set(oid, out.subarray(nl + 1, nl + 1 + length));
    offset = nl + 1 + length + 1;
  }
  return objects;
}

function isSafeRelative(p: string): boolean {
  return p !== '' && !p.startsWith('/') && !p.split('/').some((s) => s === '' || s === '.' || s === '..' || s === '.git');
}

/**
 * Snapshots a project at a git commit: the tree as committed (never the working copy) is
 * written into `options.into`, and digested entry by entry so the digest names exactly the
 * bytes a build will see.
 */
export async function snapshotCommit(projectDir: string, options: SnapshotOptions): Promise<Snapshot> {
  const rev = options.rev ?? 'HEAD';
  const maxFiles = options.maxFiles ?? 100_000;
  const maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
  const absProject = await realpath(projectDir).catch((cause: unknown) => {
    throw new SourceError('SOURCE_NOT_A_REPOSITORY', `${projectDir}: no such directory`, { cause });
  });
  const top = await gitText(absProject, ['rev-parse', '--show-toplevel'], 'SOURCE_NOT_A_REPOSITORY', `${projectDir} is not inside a git repository`);
  const root = await realpath(top);
  const subdir = path.relative(root, absProject).split(path.sep).join('/');
  if (rev.startsWith('-')) throw new SourceError('SOURCE_BAD_REVISION', `revision "${rev}" must not start with "-"`);
  const commit = await gitText(
    root,
    ['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`],
    'SOURCE_BAD_REVISION',
    `cannot resolve revision "${rev}"`,
  );
  const epochText = await gitText(root, ['show', '-s', '--format=%ct', commit], 'SOURCE_GIT_OUTPUT', 'cannot read commit time');
  const sourceDateEpoch = Number(epochText);
  const treeSpec = subdir === '' ? `${commit}^{tree}` : `${commit}:${subdir}`;
  const gitTree = await gitText(
    root,
    ['rev-parse', '--verify', treeSpec],
    'SOURCE_PATH_NOT_IN_COMMIT',
    `"${subdir}" is not in commit ${commit.slice(0, 12)} (commit the project first)`,
  );

  const listing = await git(root, ['ls-tree', '-r', '-z', gitTree]);
  if (listing.code !== 0) throw new SourceError('SOURCE_GIT_OUTPUT', `git ls-tree failed: ${listing.stderr}`);
  const entries = parseLsTree(listing.stdout);
  if (entries.length > maxFiles) throw new SourceError('SOURCE_TOO_LARGE', `the project has ${entries.length} files, more than ${maxFiles}`);
  for (const e of entries) {
    if (!isSafeRelative(e.path)) throw new SourceError('SOURCE_UNSAFE_PATH', `refusing the committed path ${JSON.stringify(e.path)}`);
  }
  const blobs = entries.filter((e) => e.type === 'blob');
  const batch = await git(root, ['cat-file', '--batch'], Buffer.from(blobs.map((e) => `${e.oid}\n`).join('')), maxBytes + blobs.length * 128);
  if (batch.code !== 0) throw new SourceError('SOURCE_GIT_OUTPUT', `git cat-file failed: ${batch.stderr}`);
  const objects = parseBatch(batch.stdout);

  const listed: [string, string, Digest | string][] = [];
  for (const e of entries) {
    const target = path.join(options.into, ...e.path.split('/'));
    if (e.type === 'commit') {
      listed.push([e.path, e.mode, `gitlink:${e.oid}`]);
      continue;
    }
    const content = objects.get(e.oid);
    if (!content) throw new SourceError('SOURCE_GIT_OUTPUT', `git object ${e.oid} for ${e.path} was not returned`);
    await mkdir(path.dirname(target), { recursive: true });
    if (e.mode === '120000') await symlink(content.toString('utf8'), target);
    else await writeFile(target, content, { mode: e.mode === '100755' ? 0o755 : 0o644 });
    listed.push([e.path, e.mode, sha256Digest(content)]);
  }
  listed.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const treeDigest = canonicalDigest({ format: 'cairn-tree/v1', entries: listed });

  const status = await git(root, ['status', '--porcelain', '-z', '--', absProject]);
  const uncommitted =
    status.code === 0
      ? status.stdout
          .toString('utf8')
          .split('\0')
          .filter((s) => s.length > 3)
          .map((s) => s.slice(3))
      : [];

  return {
    snapshot: {
      repository: `git+${pathToFileURL(root).href}`,
      commit,
      gitTree,
      subdir,
      treeDigest,
      sourceDateEpoch,
      fileCount: entries.length,
    },
    dir: options.into,
    uncommitted,
    repositoryRoot: root,
  };
}
