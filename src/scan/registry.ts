import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { unpackTgz } from '../crypto/archive.js';
import { canonicalize } from '../crypto/jcs.js';
import type { Digest } from '../model/digest.js';
import { CairnError, InputError } from '../model/errors.js';
import type { Finding, Severity } from '../model/finding.js';
import type { DependencyGraph, DependencyNode } from '../model/lockfile.js';
import { parseJson } from '../model/json.js';
import { finding, packageOf } from './findings.js';
import { parseIntegrity } from './lockfile-rules.js';

/** What a manifest (packument version or tarball package.json) says about installing the package. */
export interface ManifestFacts {
  readonly name: string | null;
  readonly version: string | null;
  /** Lifecycle scripts that run on install: preinstall, install, postinstall, prepare. */
  readonly installScripts: Readonly<Record<string, string>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly optionalDependencies: Readonly<Record<string, string>>;
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly bin: Readonly<Record<string, string>>;
  /** A `binding.gyp` at the package root (tarball), or `gypfile: true` (packument): npm runs `node-gyp rebuild`. */
  readonly gyp: boolean;
}

export interface PackumentVersion {
  readonly integrity: string | null;
  readonly shasum: string | null;
  readonly tarball: string | null;
  readonly published: string | null;
  readonly manifest: ManifestFacts;
}

export interface RegistrySnapshot {
  /** name → the versions the lockfile asked about (others are not kept); null when no packument was found. */
  readonly packuments: ReadonlyMap<string, ReadonlyMap<string, PackumentVersion> | null>;
  /** sha256 over the sorted `sha256  file` list of the packuments read. */
  readonly digest: Digest;
  readonly read: number;
}

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];
export const PACKUMENT_LIMITS = { maxBytes: 256 * 1024 * 1024, maxDepth: 64 } as const;

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function strings(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The install-relevant facts of a manifest object. */
export function manifestFacts(raw: unknown, gypFile = false): ManifestFacts {
  const m = record(raw);
  const scripts = strings(m.scripts);
  const name = typeof m.name === 'string' ? m.name : null;
  let bin = strings(m.bin);
  if (typeof m.bin === 'string' && name) bin = { [name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name]: m.bin };
  return {
    name,
    version: typeof m.version === 'string' ? m.version : null,
    installScripts: Object.fromEntries(Object.entries(scripts).filter(([k]) => INSTALL_SCRIPTS.includes(k))),
    dependencies: strings(m.dependencies),
    optionalDependencies: strings(m.optionalDependencies),
    peerDependencies: strings(m.peerDependencies),
    bin,
    gyp: gypFile || m.gypfile === true,
  };
}

/** Whether npm would run something on install: a lifecycle script, or node-gyp for a gyp file without its own install scripts. */
export function runsOnInstall(m: ManifestFacts): boolean {
  return Object.keys(m.installScripts).some((k) => k !== 'prepare') || m.gyp;
}

function packumentFiles(dir: string, name: string): string[] {
  const flat = [`${name.replace('/', '%2f')}.json`, `${name.replace('/', '%2F')}.json`];
  return [path.join(dir, `${name}.json`), ...(name.includes('/') ? flat.map((f) => path.join(dir, f)) : []), path.join(dir, name, 'index.json')];
}

function snapshotError(file: string, cause: unknown): InputError {
  const detail = cause instanceof CairnError ? cause.message : ((cause as NodeJS.ErrnoException)?.code ?? String(cause));
  return new InputError('SCAN_REGISTRY_SNAPSHOT_INVALID', `registry snapshot ${file}: ${detail}`, {
    cause,
    problems: cause instanceof CairnError ? cause.problems : [],
  });
}

/**
 * Reads, offline, the packuments of the given names from a folder (`<name>.json`, scoped as
 * `@scope/name.json` or `@scope%2fname.json`, or `<name>/index.json`), keeping only the versions asked for.
 */
export async function loadRegistrySnapshot(dir: string, wanted: ReadonlyMap<string, ReadonlySet<string>>): Promise<RegistrySnapshot> {
  const info = await stat(dir).catch((cause) => {
    throw snapshotError(dir, cause);
  });
  if (!info.isDirectory()) throw snapshotError(dir, new Error('not a folder'));
  const packuments = new Map<string, Map<string, PackumentVersion> | null>();
  const manifest: string[] = [];
  for (const name of [...wanted.keys()].sort()) {
    if (name.includes('..') || name.includes('\\') || name.includes('\0')) {
      packuments.set(name, null);
      continue;
    }
    let text: Buffer | null = null;
    let file = '';
    for (const candidate of packumentFiles(dir, name)) {
      const st = await stat(candidate).catch(() => null);
      if (!st?.isFile()) continue;
      if (st.size > PACKUMENT_LIMITS.maxBytes) throw snapshotError(candidate, new Error(`larger than ${PACKUMENT_LIMITS.maxBytes} bytes`));
      text = await readFile(candidate);
      file = candidate;
      break;
    }
    if (text === null) {
      packuments.set(name, null);
      continue;
    }
    manifest.push(`${createHash('sha256').update(text).digest('hex')}  ${path.relative(dir, file).split(path.sep).join('/')}\n`);
    let raw: unknown;
    try {
      raw = parseJson(text, file, PACKUMENT_LIMITS);
    } catch (cause) {
      throw snapshotError(file, cause);
    }
    const p = record(raw);
    if (typeof p.versions !== 'object' || p.versions === null) throw snapshotError(file, new Error('no "versions" object'));
    const versions = record(p.versions);
    const time = record(p.time);
    const kept = new Map<string, PackumentVersion>();
    for (const version of wanted.get(name) ?? []) {
      if (!Object.hasOwn(versions, version)) continue;
      const v = record(versions[version]);
      const dist = record(v.dist);
      kept.set(version, {
        integrity: typeof dist.integrity === 'string' ? dist.integrity : null,
        shasum: typeof dist.shasum === 'string' ? dist.shasum : null,
        tarball: typeof dist.tarball === 'string' ? dist.tarball : null,
        published: typeof time[version] === 'string' ? (time[version] as string) : null,
        manifest: manifestFacts(v),
      });
    }
    packuments.set(name, kept);
  }
  return { packuments, digest: `sha256:${createHash('sha256').update(manifest.join('')).digest('hex')}`, read: manifest.length };
}

/** A tarball's manifest, read from npm's content-addressed cache by the lockfile's sha512 integrity. */
export interface TarballManifest {
  readonly manifest: ManifestFacts;
  readonly integrity: string;
}

/**
 * Finds the tarball of `integrity` in an npm cache folder (`~/.npm` or its `_cacache`),
 * checks its sha512 and returns its package.json facts; null when it is not cached or
 * cannot be read as an npm tarball.
 */
export async function readCachedManifest(cacheDir: string, integrity: string): Promise<TarballManifest | null> {
  const sha512 = parseIntegrity(integrity).find((h) => h.algorithm === 'sha512');
  if (!sha512) return null;
  const hex = Buffer.from(sha512.base64, 'base64').toString('hex');
  const base = path.basename(cacheDir) === '_cacache' ? cacheDir : path.join(cacheDir, '_cacache');
  const file = path.join(base, 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
  const bytes = await readFile(file).catch(() => null);
  if (bytes === null || bytes.length > 512 * 1024 * 1024) return null;
  if (createHash('sha512').update(bytes).digest('hex') !== hex) return null;
  try {
    const members = unpackTgz(bytes, { maxEntries: 100_000, maxBytes: 1024 * 1024 * 1024 });
    // npm strips the first path segment, whatever it is called.
    const strip = (p: string) => p.slice(p.indexOf('/') + 1);
    const pkg = members.find((m) => m.type === 'file' && m.path.includes('/') && strip(m.path) === 'package.json');
    if (!pkg?.data) return null;
    const gyp = members.some((m) => m.type === 'file' && strip(m.path) === 'binding.gyp');
    return { manifest: manifestFacts(parseJson(pkg.data, 'package.json', { maxBytes: 4 * 1024 * 1024, maxDepth: 32 }), gyp), integrity };
  } catch {
    return null;
  }
}

export interface RegistryCheckOptions {
  readonly now: Date;
  /** Versions published more recently than this are reported (0 turns the rule off). */
  readonly minReleaseAgeDays: number;
  /** `name@version` keys that are new (from `--base`); null when every version counts as new. */
  readonly newVersions: ReadonlySet<string> | null;
}

function sriOf(integrity: string | null, shasum: string | null): ReturnType<typeof parseIntegrity> {
  const list = integrity ? parseIntegrity(integrity) : [];
  if (shasum && shasum.length === 40) list.push({ algorithm: 'sha1', base64: Buffer.from(shasum, 'hex').toString('base64') });
  return list;
}

/**
 * Compares the lockfile with registry metadata, offline: integrity equal to the registry's
 * (a forged sha512 fails here), the version exists, and new versions are older than the
 * minimum release age.
 */
export function checkRegistry(graph: DependencyGraph, snapshot: RegistrySnapshot, options: RegistryCheckOptions): Finding[] {
  const out: Finding[] = [];
  const missing = new Set<string>();
  const seen = new Set<string>();
  for (const node of graph.packages) {
    const key = `${node.name}@${node.version}`;
    if (node.source !== 'registry' || seen.has(key)) continue;
    seen.add(key);
    const packument = snapshot.packuments.get(node.name);
    if (!packument) {
      missing.add(node.name);
      continue;
    }
    const where = { package: packageOf(node), location: { file: graph.file, line: node.line } };
    const meta = packument.get(node.version);
    if (!meta) {
      out.push(
        finding({
          ruleId: 'registry-version-missing',
          severity: 'high',
          message: `the registry snapshot has no ${key}: the lockfile names a version the registry never published (or unpublished)`,
          ...where,
          evidence: {},
        }),
      );
      continue;
    }
    const lock = node.integrity ? parseIntegrity(node.integrity) : [];
    const registry = sriOf(meta.integrity, meta.shasum);
    const shared = lock.filter((l) => registry.some((r) => r.algorithm === l.algorithm));
    const differing = shared.filter((l) => !registry.some((r) => r.algorithm === l.algorithm && r.base64 === l.base64));
    if (differing.length > 0) {
      out.push(
        finding({
          ruleId: 'registry-integrity-mismatch',
          severity: 'critical',
          message: `${key}: the lockfile's ${differing[0]?.algorithm} integrity differs from the registry's; the lockfile pins other bytes than the published package`,
          ...where,
          evidence: { lockfile: node.integrity, registry: meta.integrity ?? `sha1:${meta.shasum}` },
          key: { lockfile: node.integrity, registry: meta.integrity },
        }),
      );
    }
    const isNew = options.newVersions === null || options.newVersions.has(key);
    if (isNew && options.minReleaseAgeDays > 0 && meta.published) {
      const published = Date.parse(meta.published);
      const ageDays = (options.now.getTime() - published) / 86_400_000;
      if (Number.isFinite(ageDays) && ageDays < options.minReleaseAgeDays) {
        out.push(
          finding({
            ruleId: 'registry-release-too-new',
            severity: 'high',
            message: `${key} was published ${meta.published}, less than ${options.minReleaseAgeDays} day(s) before ${options.now.toISOString()}`,
            ...where,
            evidence: {
              published: meta.published,
              now: options.now.toISOString(),
              minReleaseAgeDays: options.minReleaseAgeDays,
              ageHours: Math.round(ageDays * 240) / 10,
            },
          }),
        );
      }
    }
  }
  if (missing.size > 0) {
    const names = [...missing].sort();
    out.push(
      finding({
        ruleId: 'registry-metadata-missing',
        severity: 'info',
        message: `the registry snapshot has no packument for ${names.length} package name(s), so their integrity and age were not checked`,
        location: { file: graph.file, line: 1 },
        evidence: { count: names.length, names: names.slice(0, 50) },
        key: names,
      }),
    );
  }
  return out;
}

function differences(packument: ManifestFacts, tarball: ManifestFacts): Record<string, { packument: unknown; tarball: unknown }> {
  const diff: Record<string, { packument: unknown; tarball: unknown }> = {};
  for (const field of ['name', 'version', 'installScripts', 'dependencies', 'optionalDependencies', 'peerDependencies', 'bin', 'gyp'] as const) {
    if (canonicalize(packument[field]) !== canonicalize(tarball[field])) diff[field] = { packument: packument[field], tarball: tarball[field] };
  }
  return diff;
}

/**
 * Manifest confusion: the registry's metadata for a version (what `npm view` and most
 * scanners read) against the package.json inside the tarball actually installed. Critical
 * when the tarball runs install code that the metadata hides.
 */
export function checkManifests(graph: DependencyGraph, snapshot: RegistrySnapshot, tarballs: ReadonlyMap<string, TarballManifest>): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const node of graph.packages) {
    const key = `${node.name}@${node.version}`;
    if (seen.has(key) || node.integrity === null) continue;
    seen.add(key);
    const meta = snapshot.packuments.get(node.name)?.get(node.version);
    const tarball = tarballs.get(node.integrity);
    if (!meta || !tarball) continue;
    const diff = differences(meta.manifest, tarball.manifest);
    const fields = Object.keys(diff);
    if (fields.length === 0) continue;
    const hidden = runsOnInstall(tarball.manifest) && !runsOnInstall(meta.manifest);
    const severity: Severity = hidden ? 'critical' : 'high';
    out.push(
      finding({
        ruleId: 'manifest-confusion',
        severity,
        message: `${key}: the tarball's package.json differs from the registry metadata in ${fields.join(', ')}${hidden ? ', and it runs install code the metadata does not show' : ''}`,
        package: packageOf(node),
        location: { file: graph.file, line: node.line },
        evidence: { fields: diff, hiddenInstallCode: hidden, lockfileSaysInstallScript: node.installScript },
        key: fields,
      }),
    );
  }
  return out;
}

/** The `name → versions` a snapshot read needs for a graph (registry packages only). */
export function wantedVersions(graph: DependencyGraph): Map<string, Set<string>> {
  const wanted = new Map<string, Set<string>>();
  for (const n of graph.packages as readonly DependencyNode[]) {
    if (n.source !== 'registry') continue;
    const set = wanted.get(n.name) ?? new Set<string>();
    set.add(n.version);
    wanted.set(n.name, set);
  }
  return wanted;
}
