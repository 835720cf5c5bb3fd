import { CairnError, InputError } from './errors.js';
import { Fields, joinPath } from './fields.js';
import { parseJson } from './json.js';

/** One installed package from a lockfile. */
export interface LockedPackage {
  /** Install path, e.g. `node_modules/a/node_modules/b`. */
  readonly path: string;
  readonly name: string;
  readonly version: string;
  readonly resolved: string | null;
  readonly integrity: string | null;
  readonly dev: boolean;
  readonly optional: boolean;
  readonly hasInstallScript: boolean;
  /** Executables the package installs: name → path inside the package. */
  readonly bin: Readonly<Record<string, string>>;
  /** Platforms the package is limited to (`os`, `cpu` in the lockfile), empty when any. */
  readonly os: readonly string[];
  readonly cpu: readonly string[];
  /** Install paths of the packages this one depends on, resolved the way Node does. */
  readonly dependsOn: readonly string[];
}

export interface LockGraph {
  readonly lockfileVersion: number;
  readonly root: { readonly name: string; readonly version: string; readonly dependsOn: readonly string[] };
  readonly packages: readonly LockedPackage[];
}

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxDepth: 16 };
const MAX_PACKAGES = 100_000;

function nameFromPath(p: string): string {
  const at = p.lastIndexOf('node_modules/');
  return p.slice(at + 'node_modules/'.length);
}

/** Resolves `dep` from the package at `from` by walking up node_modules folders. */
function resolveFrom(from: string, dep: string, present: ReadonlySet<string>): string | null {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${dep}` : `${base}/node_modules/${dep}`;
    if (present.has(candidate)) return candidate;
    if (base === '') return null;
    const at = base.lastIndexOf('/node_modules/');
    base = at < 0 ? '' : base.slice(0, at);
  }
}

function dependencyNames(entry: Record<string, unknown>, isRoot: boolean): string[] {
  const names = new Set<string>();
  // Only the root's devDependencies are installed; a dependency's are not.
  const keys = isRoot
    ? (['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] as const)
    : (['dependencies', 'optionalDependencies', 'peerDependencies'] as const);
  for (const key of keys) {
    const deps = entry[key];
    if (deps && typeof deps === 'object' && !Array.isArray(deps)) for (const name of Object.keys(deps)) names.add(name);
  }
  return [...names].sort();
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function binsOf(value: unknown, name: string): Record<string, string> {
  if (typeof value === 'string') return { [name.replace(/^@[^/]+\//, '')]: value };
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Parses an npm `package-lock.json` (lockfileVersion 2 or 3) into a dependency graph. */
export function parsePackageLock(text: string | Uint8Array): LockGraph {
  let raw: unknown;
  try {
    raw = parseJson(text, 'package-lock.json', LIMITS);
  } catch (error) {
    if (error instanceof CairnError) throw new InputError('SCAN_LOCKFILE_MALFORMED', error.message, { cause: error, problems: error.problems });
    throw error;
  }
  const f = new Fields();
  const root = f.object(raw, '');
  const version = root ? f.integer(root.lockfileVersion, 'lockfileVersion', 1, 3) : undefined;
  if (version === 1)
    throw new InputError('SCAN_LOCKFILE_UNSUPPORTED', 'package-lock.json lockfileVersion 1 is not supported yet; run `npm install --lockfile-version 3`');
  const packages = root ? f.object(root.packages, 'packages') : undefined;
  if (!root || !packages || version === undefined) throw new InputError('SCAN_LOCKFILE_MALFORMED', 'package-lock.json is invalid', { problems: f.problems });
  const paths = Object.keys(packages);
  if (paths.length > MAX_PACKAGES) throw new InputError('SCAN_LOCKFILE_MALFORMED', `more than ${MAX_PACKAGES} packages`);
  // Only real installed packages are resolvable; workspace folders and links are not components.
  const isInstalled = (p: string): boolean => {
    const entry = packages[p];
    return (
      (p.startsWith('node_modules/') || p.includes('/node_modules/')) &&
      !(typeof entry === 'object' && entry !== null && (entry as { link?: unknown }).link === true)
    );
  };
  const present = new Set(paths.filter(isInstalled));
  const list: LockedPackage[] = [];
  let rootInfo: LockGraph['root'] = {
    name: typeof root.name === 'string' ? root.name : 'unnamed',
    version: typeof root.version === 'string' ? root.version : '0.0.0',
    dependsOn: [],
  };
  for (const p of paths.sort()) {
    const path = joinPath('packages', p);
    const entry = f.object(packages[p], path);
    if (!entry) continue;
    const deps = dependencyNames(entry, p === '')
      .map((d) => resolveFrom(p, d, present))
      .filter((d): d is string => d !== null);
    if (p === '') {
      rootInfo = {
        name: typeof entry.name === 'string' ? entry.name : rootInfo.name,
        version: typeof entry.version === 'string' ? entry.version : rootInfo.version,
        dependsOn: deps,
      };
      continue;
    }
    if (!p.startsWith('node_modules/') && !p.includes('/node_modules/')) continue; // workspace folders
    if (entry.link === true) continue;
    const name = typeof entry.name === 'string' ? entry.name : nameFromPath(p);
    const pkgVersion = f.string(entry.version, joinPath(path, 'version'), { maxLength: 256 });
    if (pkgVersion === undefined) continue;
    list.push({
      path: p,
      name,
      version: pkgVersion,
      resolved: typeof entry.resolved === 'string' ? entry.resolved : null,
      integrity: typeof entry.integrity === 'string' ? entry.integrity : null,
      dev: entry.dev === true,
      optional: entry.optional === true || entry.devOptional === true,
      hasInstallScript: entry.hasInstallScript === true,
      bin: binsOf(entry.bin, name),
      os: stringList(entry.os),
      cpu: stringList(entry.cpu),
      dependsOn: deps,
    });
  }
  if (f.problems.length > 0) throw new InputError('SCAN_LOCKFILE_MALFORMED', 'package-lock.json is invalid', { problems: f.problems });
  return { lockfileVersion: version, root: rootInfo, packages: list };
}
