import { InputError } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import {
  assertPackageCount,
  type DependencyGraph,
  type DependencyNode,
  devOnly,
  type RootManifest,
  type SourceKind,
  sourceOfResolved,
} from '../model/lockfile.js';
import { parseYamlLockfile, recordOf, stringArray } from './lockfile-yaml.js';

export interface PnpmLockOptions {
  readonly file?: string;
  readonly manifest?: RootManifest;
}

/** `name@version(peer@1)` or `/name@version` → name, version, and the key without peers. */
export function splitPnpmKey(key: string): { name: string; version: string; bare: string } | null {
  const k = key.startsWith('/') ? key.slice(1) : key;
  const at = k.indexOf('@', 1);
  if (at <= 0) return null;
  const paren = k.indexOf('(', at);
  const bare = paren < 0 ? k : k.slice(0, paren);
  return { name: k.slice(0, at), version: bare.slice(at + 1), bare: key.startsWith('/') ? `/${bare}` : bare };
}

function looksLikeVersion(text: string): boolean {
  const c = text.charCodeAt(0);
  return c >= 0x30 && c <= 0x39 && !text.includes(':') && !text.includes('/');
}

function sourceOf(resolution: Record<string, unknown>): { source: SourceKind; resolved: string | null; integrity: string | null } {
  const integrity = typeof resolution.integrity === 'string' ? resolution.integrity : null;
  if (resolution.type === 'git' && typeof resolution.repo === 'string') {
    return { source: 'git', resolved: `git+${resolution.repo}#${typeof resolution.commit === 'string' ? resolution.commit : ''}`, integrity };
  }
  if (resolution.type === 'directory' && typeof resolution.directory === 'string')
    return { source: 'file', resolved: `file:${resolution.directory}`, integrity };
  if (typeof resolution.tarball === 'string') {
    const tarball = resolution.tarball;
    return { source: tarball.startsWith('file:') ? 'file' : sourceOfResolved(tarball, integrity !== null), resolved: tarball, integrity };
  }
  return { source: integrity !== null ? 'registry' : 'unknown', resolved: null, integrity };
}

/** The id a `name: version` reference points to, trying the plain form then the alias form. */
function refOf(dep: string, version: string, v6: boolean, ids: ReadonlySet<string>): string | null {
  if (version.startsWith('link:')) return null;
  const plain = v6 ? `/${dep}@${version}` : `${dep}@${version}`;
  if (ids.has(plain)) return plain;
  const alias = v6 && !version.startsWith('/') ? `/${version}` : version;
  return ids.has(alias) ? alias : null;
}

function importerVersions(value: unknown): [string, string][] {
  return Object.entries(recordOf(value)).flatMap(([name, v]): [string, string][] => {
    if (typeof v === 'string') return [[name, v]];
    const version = recordOf(v).version;
    return typeof version === 'string' ? [[name, version]] : [];
  });
}

/**
 * Parses a `pnpm-lock.yaml` (lockfileVersion 9.0, and the 6.x form pnpm 8 writes) into the
 * dependency graph. Nodes are keyed by the lockfile's own package keys (peer suffix kept).
 */
export function parsePnpmLock(text: string | Uint8Array, options: PnpmLockOptions = {}): DependencyGraph {
  const file = options.file ?? 'pnpm-lock.yaml';
  const y = parseYamlLockfile(text, file);
  const f = new Fields();
  const versionText = f.string(y.data.lockfileVersion, 'lockfileVersion', { maxLength: 16 });
  if (versionText === undefined) throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: no lockfileVersion`, { problems: f.problems });
  const major = Number.parseInt(versionText, 10);
  if (major !== 6 && major !== 7 && major !== 9) {
    throw new InputError('SCAN_LOCKFILE_UNSUPPORTED', `${file}: lockfileVersion ${versionText} is not read (cairn reads pnpm lockfile 6.x and 9.0)`);
  }
  const v6 = major < 9;
  const packages = recordOf(y.data.packages);
  const snapshots = v6 ? {} : recordOf(y.data.snapshots);
  const packageLines = y.keyLines('packages');
  const snapshotLines = v6 ? new Map<string, number>() : y.keyLines('snapshots');
  const nodeKeys = v6 || Object.keys(snapshots).length === 0 ? Object.keys(packages) : Object.keys(snapshots);
  assertPackageCount(file, nodeKeys.length);
  const ids = new Set(nodeKeys);

  const importers = recordOf(y.data.importers);
  const rootImporter = Object.keys(importers).length > 0 ? recordOf(importers['.']) : y.data;
  const edges = new Map<string, string[]>();
  const prodRoots: string[] = [];
  for (const importer of Object.keys(importers).length > 0 ? Object.values(importers) : [y.data]) {
    const r = recordOf(importer);
    for (const kind of ['dependencies', 'optionalDependencies'])
      for (const [dep, version] of importerVersions(r[kind])) {
        const id = refOf(dep, version, v6, ids);
        if (id) prodRoots.push(id);
      }
  }
  const rootDeps = new Set<string>();
  for (const kind of ['dependencies', 'devDependencies', 'optionalDependencies'])
    for (const [dep, version] of importerVersions(rootImporter[kind])) {
      const id = refOf(dep, version, v6, ids);
      if (id) rootDeps.add(id);
    }

  interface Draft {
    id: string;
    meta: Record<string, unknown>;
    snapshot: Record<string, unknown>;
    name: string;
    version: string;
    line: number;
  }
  const drafts: Draft[] = [];
  for (const id of [...nodeKeys].sort()) {
    const parts = splitPnpmKey(id);
    const section = v6 || snapshots[id] === undefined ? 'packages' : 'snapshots';
    if (!parts) {
      f.report(joinPath(section, id), 'INVALID_FORMAT', 'expected name@version');
      continue;
    }
    const metaKey = v6 ? id : parts.bare;
    const meta = f.object(packages[metaKey], joinPath('packages', metaKey));
    if (!meta) continue;
    const resolution = f.object(meta.resolution, joinPath(joinPath('packages', metaKey), 'resolution'));
    if (!resolution) continue;
    const snapshot = v6 ? meta : recordOf(snapshots[id]);
    const version = typeof meta.version === 'string' && !looksLikeVersion(parts.version) ? meta.version : parts.version;
    drafts.push({
      id,
      meta,
      snapshot,
      name: typeof meta.name === 'string' ? meta.name : parts.name,
      version,
      line: packageLines.get(metaKey) ?? snapshotLines.get(id) ?? 1,
    });
    const deps = new Set<string>();
    for (const kind of ['dependencies', 'optionalDependencies'])
      for (const [dep, v] of Object.entries(recordOf(snapshot[kind]))) {
        if (typeof v !== 'string') continue;
        const ref = refOf(dep, v, v6, ids);
        if (ref && ref !== id) deps.add(ref);
      }
    edges.set(id, [...deps].sort());
  }
  if (f.problems.length > 0) throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: invalid pnpm lockfile`, { problems: f.problems });

  const computedDev = devOnly(
    drafts.map((d) => d.id),
    edges,
    prodRoots,
  );
  const nodes: DependencyNode[] = drafts.map((d) => {
    const { source, resolved, integrity } = sourceOf(recordOf(d.meta.resolution));
    const devFlag = d.meta.dev;
    const requiresBuild = d.meta.requiresBuild === 'true';
    return {
      path: d.id,
      name: d.name,
      version: d.version,
      resolved,
      integrity,
      dev: devFlag === 'true' ? true : devFlag === 'false' ? false : computedDev.has(d.id),
      optional: d.snapshot.optional === 'true' || d.meta.optional === 'true',
      hasInstallScript: requiresBuild,
      bin: {},
      os: stringArray(d.meta.os),
      cpu: stringArray(d.meta.cpu),
      dependsOn: edges.get(d.id) ?? [],
      peer: false,
      line: d.line,
      installScript: requiresBuild ? true : v6 ? false : null,
      source,
      checksum: null,
      license: null,
    };
  });
  return {
    lockfileVersion: major,
    format: 'pnpm',
    file,
    formatVersion: versionText,
    root: { name: options.manifest?.name ?? 'unnamed', version: options.manifest?.version ?? '0.0.0', dependsOn: [...rootDeps].sort(), line: 1 },
    packages: nodes,
  };
}
