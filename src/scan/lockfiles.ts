import { readdir } from 'node:fs/promises';
import { type DependencyGraph, parsePackageLock, type RootManifest } from '../model/lockfile.js';
import { parsePnpmLock } from './lockfile-pnpm.js';
import { parseYarnLock } from './lockfile-yarn.js';

/** Lockfile names in the order a project's package manager would honour them. */
export const LOCKFILE_NAMES = ['npm-shrinkwrap.json', 'package-lock.json', 'pnpm-lock.yaml', 'yarn.lock'] as const;
export type LockfileName = (typeof LOCKFILE_NAMES)[number];

export function isLockfileName(name: string): name is LockfileName {
  return (LOCKFILE_NAMES as readonly string[]).includes(name);
}

/** The lockfiles present in `dir`, in precedence order. */
export async function findLockfiles(dir: string): Promise<LockfileName[]> {
  const names = new Set(await readdir(dir).catch(() => [] as string[]));
  return LOCKFILE_NAMES.filter((n) => names.has(n));
}

/** Parses a lockfile of any family by its file name (`path` keeps any folder prefix for messages and findings). */
export function parseLockfile(path: string, bytes: string | Uint8Array, manifest?: RootManifest): DependencyGraph {
  const name = path.split('/').at(-1) ?? path;
  const options = { file: path, ...(manifest ? { manifest } : {}) };
  if (name === 'pnpm-lock.yaml') return parsePnpmLock(bytes, options);
  if (name === 'yarn.lock') return parseYarnLock(bytes, options);
  return parsePackageLock(bytes, options);
}

export interface NpmrcFacts {
  /** The default registry's host, when `.npmrc` sets `registry=`. */
  readonly registryHost: string | null;
  /** `@scope` → registry host, from `@scope:registry=` lines. */
  readonly scopeRegistries: Readonly<Record<string, string>>;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url.trim()).host.toLowerCase();
  } catch {
    return null;
  }
}

/** The registry settings of an `.npmrc` (ini `key=value` lines; comments `#` or `;`). Values with `${…}` are skipped. */
export function parseNpmrc(text: string): NpmrcFacts {
  let registryHost: string | null = null;
  const scopeRegistries: Record<string, string> = {};
  for (const raw of text.slice(0, 256 * 1024).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value.includes('${')) continue;
    if (key === 'registry') registryHost = hostOf(value);
    else if (key.startsWith('@') && key.endsWith(':registry')) {
      const host = hostOf(value);
      if (host) scopeRegistries[key.slice(0, -':registry'.length)] = host;
    }
  }
  return { registryHost, scopeRegistries };
}
