import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unpackTgz } from '../crypto/archive.js';
import type { InstalledDependency } from '../model/build.js';
import type { LockedPackage, LockGraph } from '../model/lockfile.js';
import { BuildError } from './errors.js';

export interface InstallOptions {
  /** npm's cache folder (the one holding `_cacache/`). */
  readonly npmCache: string;
  readonly platform?: NodeJS.Platform;
  readonly arch?: string;
  /** Cap on the unpacked size of one package. */
  readonly maxPackageBytes?: number;
}

const ALGORITHMS = ['sha512', 'sha384', 'sha256', 'sha1'] as const;

/** The strongest `algo-base64` part of an SRI string. */
function strongestIntegrity(integrity: string): { algorithm: (typeof ALGORITHMS)[number]; digest: Buffer } | null {
  const parts = integrity.split(/\s+/);
  for (const algorithm of ALGORITHMS) {
    const part = parts.find((p) => p.startsWith(`${algorithm}-`));
    if (part) return { algorithm, digest: Buffer.from(part.slice(algorithm.length + 1), 'base64') };
  }
  return null;
}

function matchesPlatform(list: readonly string[], value: string): boolean {
  if (list.length === 0) return true;
  const denied = list.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
  const allowed = list.filter((v) => !v.startsWith('!'));
  return !denied.includes(value) && (allowed.length === 0 || allowed.includes(value));
}

/** Reads a tarball from npm's content-addressed cache by its integrity and checks the hash. */
async function readCached(pkg: LockedPackage, cache: string): Promise<Buffer> {
  if (!pkg.integrity)
    throw new BuildError(
      'BUILD_DEPENDENCY_NO_INTEGRITY',
      `${pkg.name}@${pkg.version} (${pkg.path}) has no integrity in the lockfile; cairn installs only what it can check`,
    );
  const sri = strongestIntegrity(pkg.integrity);
  if (!sri || sri.algorithm === 'sha1') {
    throw new BuildError(
      'BUILD_DEPENDENCY_NO_INTEGRITY',
      `${pkg.name}@${pkg.version} has only a ${sri?.algorithm ?? 'unreadable'} integrity; sha512 is required`,
    );
  }
  const hex = sri.digest.toString('hex');
  const file = path.join(cache, '_cacache', 'content-v2', sri.algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    throw new BuildError(
      'BUILD_DEPENDENCY_NOT_CACHED',
      `${pkg.name}@${pkg.version} is not in the npm cache ${cache} (run \`npm ci\` in the project once, or \`npm cache add ${pkg.name}@${pkg.version}\`)`,
    );
  }
  if (!createHash(sri.algorithm).update(bytes).digest().equals(sri.digest)) {
    throw new BuildError(
      'BUILD_DEPENDENCY_INTEGRITY',
      `the cached tarball of ${pkg.name}@${pkg.version} does not match the lockfile's ${sri.algorithm} integrity`,
    );
  }
  return bytes;
}

/** Writes one package tarball (whose entries sit under a single top folder, `package/` by convention) into `dir`. */
async function unpackPackage(tarball: Buffer, dir: string, pkg: LockedPackage, maxBytes: number): Promise<void> {
  const members = unpackTgz(tarball, { maxBytes });
  for (const member of members) {
    const slash = member.path.indexOf('/');
    const rel = slash < 0 ? '' : member.path.slice(slash + 1).replace(/\/$/, '');
    if (rel === '') continue;
    const target = path.join(dir, ...rel.split('/'));
    if (member.type === 'directory') await mkdir(target, { recursive: true });
    else if (member.type === 'file') {
      await mkdir(path.dirname(target), { recursive: true });
      // Modes are normalised as npm does: executable bits survive, nothing else.
      await writeFile(target, member.data ?? new Uint8Array(), { mode: member.mode & 0o111 ? 0o755 : 0o644 });
    } else {
      throw new BuildError('BUILD_DEPENDENCY_UNSUPPORTED', `${pkg.name}@${pkg.version} contains a symlink (${member.path}); npm does not install those either`);
    }
  }
}

async function linkBins(root: string, pkg: LockedPackage): Promise<void> {
  const parent = path.dirname(path.join(root, ...pkg.path.split('/')));
  const binDir = path.join(pkg.name.startsWith('@') ? path.dirname(parent) : parent, '.bin');
  for (const [name, file] of Object.entries(pkg.bin)) {
    if (name.includes('/') || name.startsWith('.') || file.startsWith('/') || file.split('/').includes('..')) {
      throw new BuildError(
        'BUILD_DEPENDENCY_UNSUPPORTED',
        `${pkg.name}@${pkg.version} declares an unsafe bin ${JSON.stringify(name)} → ${JSON.stringify(file)}`,
      );
    }
    await mkdir(binDir, { recursive: true });
    const target = path.relative(binDir, path.join(root, ...pkg.path.split('/'), ...path.posix.normalize(file).split('/')));
    await symlink(target, path.join(binDir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/**
 * Installs a lockfile's packages into `root/node_modules` from npm's content-addressed cache
 * only: every tarball is found by, and checked against, its lockfile integrity; nothing is
 * fetched and no install script runs. Packages for another platform are skipped, as npm does.
 */
export async function installFromLock(root: string, graph: LockGraph, options: InstallOptions): Promise<InstalledDependency[]> {
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  const installed: InstalledDependency[] = [];
  for (const pkg of graph.packages) {
    if (!pkg.path.startsWith('node_modules/')) continue;
    if (!matchesPlatform(pkg.os, platform) || !matchesPlatform(pkg.cpu, arch)) {
      if (pkg.optional) continue;
      throw new BuildError('BUILD_DEPENDENCY_UNSUPPORTED', `${pkg.name}@${pkg.version} does not support ${platform}-${arch}`);
    }
    const tarball = await readCached(pkg, options.npmCache);
    await unpackPackage(tarball, path.join(root, ...pkg.path.split('/')), pkg, options.maxPackageBytes ?? 512 * 1024 * 1024);
    installed.push({ path: pkg.path, name: pkg.name, version: pkg.version, integrity: pkg.integrity ?? '' });
  }
  for (const pkg of graph.packages) if (installed.some((i) => i.path === pkg.path)) await linkBins(root, pkg);
  return installed;
}
