import { CairnError, InputError, type Problem } from './errors.js';
import { Fields, joinPath } from './fields.js';
import { parseJson } from './json.js';

/** One installed package from a lockfile. */
export interface LockedPackage {
  /** Install path, e.g. `node_modules/a/node_modules/b`; for pnpm and yarn, the lockfile's own key. */
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

/** The lockfile families cairn reads. */
export type LockfileFormat = 'npm' | 'pnpm' | 'yarn-classic' | 'yarn-berry';

/**
 * Where a package's bytes come from, judged from the lockfile alone: `registry` is a
 * registry-shaped tarball URL (or a registry resolution without a URL), `tarball` any other
 * http(s) archive, `git` a git repository, `file` a local folder or archive, `link` a
 * symlink, `workspace` a package of the same repository.
 */
export type SourceKind = 'registry' | 'tarball' | 'git' | 'file' | 'link' | 'workspace' | 'unknown';

/** A package of the unified dependency graph every lockfile family is read into. */
export interface DependencyNode extends LockedPackage {
  /** Installed only to satisfy a peer dependency (npm `peer`). */
  readonly peer: boolean;
  /** 1-based line of the package's entry in the lockfile. */
  readonly line: number;
  /** Whether the package runs an install script, when the lockfile says; `null` when the format does not record it. */
  readonly installScript: boolean | null;
  readonly source: SourceKind;
  /** yarn berry's checksum of its cache zip (not comparable with a registry integrity). */
  readonly checksum: string | null;
  /** The licence the lockfile records, when it does (npm v2/v3). */
  readonly license: string | null;
}

export interface DependencyGraph extends LockGraph {
  readonly format: LockfileFormat;
  /** The lockfile's name relative to the project folder, e.g. `package-lock.json`. */
  readonly file: string;
  /** For pnpm, `'9.0'`; for yarn berry, the `__metadata.version`; else the number as text. */
  readonly formatVersion: string;
  readonly root: LockGraph['root'] & { readonly line: number };
  readonly packages: readonly DependencyNode[];
}

/** The manifest facts a lockfile reader may use (package.json of the project). */
export interface RootManifest {
  readonly name?: string;
  readonly version?: string;
  readonly dependencies: readonly string[];
  readonly devDependencies: readonly string[];
  readonly optionalDependencies: readonly string[];
  readonly peerDependencies: readonly string[];
  /** `name → range` over every kind, for readers that resolve descriptors (yarn). */
  readonly ranges: Readonly<Record<string, string>>;
}

/** Caps for every lockfile reader: bytes, nesting, packages. */
export const LOCKFILE_LIMITS = { maxBytes: 64 * 1024 * 1024, maxDepth: 128, maxPackages: 100_000, maxLineLength: 64 * 1024 } as const;

export interface PackageLockOptions {
  /** The file's name in error messages and in the graph (default `package-lock.json`). */
  readonly file?: string;
  /** The project's package.json: for lockfile v1, which names are the root's direct dependencies. */
  readonly manifest?: RootManifest;
}

function lockfileError(
  code: 'SCAN_LOCKFILE_MALFORMED' | 'SCAN_LOCKFILE_TOO_LARGE',
  file: string,
  message: string,
  problems: readonly Problem[] = [],
  cause?: unknown,
) {
  return new InputError(code, `${file}: ${message}`, { problems, ...(cause === undefined ? {} : { cause }) });
}

/** Throws SCAN_LOCKFILE_TOO_LARGE when a lockfile is over the byte cap, before anything reads it. */
export function assertLockfileSize(file: string, bytes: number): void {
  if (bytes > LOCKFILE_LIMITS.maxBytes) {
    throw lockfileError('SCAN_LOCKFILE_TOO_LARGE', file, `${bytes} bytes is over the limit of ${LOCKFILE_LIMITS.maxBytes}`, [
      { code: 'TOO_LARGE', path: '', message: `larger than ${LOCKFILE_LIMITS.maxBytes} bytes` },
    ]);
  }
}

/** Throws SCAN_LOCKFILE_TOO_LARGE when a lockfile lists more packages than the cap. */
export function assertPackageCount(file: string, count: number): void {
  if (count > LOCKFILE_LIMITS.maxPackages) {
    throw lockfileError('SCAN_LOCKFILE_TOO_LARGE', file, `more than ${LOCKFILE_LIMITS.maxPackages} packages`, [
      { code: 'TOO_MANY', path: 'packages', message: `more than ${LOCKFILE_LIMITS.maxPackages} packages` },
    ]);
  }
}

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

function dependencyNames(entry: Record<string, unknown>, isRoot: boolean, keys?: readonly string[]): string[] {
  const names = new Set<string>();
  // Only the root's devDependencies are installed; a dependency's are not.
  const kinds =
    keys ??
    (isRoot ? ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] : ['dependencies', 'optionalDependencies', 'peerDependencies']);
  for (const key of kinds) {
    const deps = entry[key];
    if (deps && typeof deps === 'object' && !Array.isArray(deps)) for (const name of Object.keys(deps)) names.add(name);
  }
  return [...names].sort();
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function binsOf(value: unknown, name: string): Record<string, string> {
  if (typeof value === 'string') {
    const slash = name.startsWith('@') ? name.indexOf('/') : -1;
    return { [slash >= 0 ? name.slice(slash + 1) : name]: value };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * Calls `visit` with the line of every object key in a JSON text, and the keys leading to
 * the object that holds it. One linear pass; the text must already have passed
 * `parseJson` (so it is valid and within the depth cap).
 */
export function forEachJsonKeyLine(text: string, visit: (path: readonly string[], key: string, line: number) => void): void {
  const path: string[] = [];
  const isObject: boolean[] = [];
  const lastKey: string[] = [];
  let expectKey = false;
  let line = 1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) line++;
    else if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      if (expectKey) {
        const key = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
        lastKey[lastKey.length - 1] = key;
        visit(path, key, line);
        expectKey = false;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (isObject.length > 0) path.push(isObject[isObject.length - 1] ? (lastKey[lastKey.length - 1] ?? '') : '[]');
      isObject.push(c === 0x7b);
      lastKey.push('');
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      isObject.pop();
      lastKey.pop();
      if (isObject.length > 0) path.pop();
      expectKey = false;
    } else if (c === 0x2c) expectKey = isObject[isObject.length - 1] === true;
  }
}

/** The hosts of a URL-like `resolved` value, or null when it has none (a path, `file:`). */
export function resolvedUrl(resolved: string): URL | null {
  const git = resolved.startsWith('git+') ? resolved.slice(4) : resolved;
  if (!git.includes('://')) return null;
  try {
    return new URL(git);
  } catch {
    return null;
  }
}

/**
 * The package name and tarball file a registry-shaped URL names:
 * `…/<name>/-/<file>.tgz` or `…/@scope/<name>/-/<file>.tgz` (`%2f` for the slash accepted).
 */
export function registryTarballOf(url: URL): { name: string; file: string } | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  const parts = url.pathname.split('/');
  const dash = parts.lastIndexOf('-');
  if (dash < 1 || dash !== parts.length - 2) return null;
  const file = parts[parts.length - 1] ?? '';
  if (!file.endsWith('.tgz')) return null;
  let decode = (s: string) => s;
  try {
    decodeURIComponent(url.pathname);
    decode = decodeURIComponent;
  } catch {
    return null;
  }
  const last = decode(parts[dash - 1] ?? '');
  if (last.startsWith('@') && last.includes('/')) return { name: last, file: decode(file) };
  const before = dash >= 2 ? decode(parts[dash - 2] ?? '') : '';
  return { name: before.startsWith('@') ? `${before}/${last}` : last, file: decode(file) };
}

/** Classifies a `resolved` value (npm, yarn v1) by its form. */
export function sourceOfResolved(resolved: string | null, hasIntegrity: boolean): SourceKind {
  if (resolved === null || resolved === '') return hasIntegrity ? 'registry' : 'unknown';
  if (
    resolved.startsWith('git+') ||
    resolved.startsWith('git:') ||
    resolved.startsWith('git@') ||
    resolved.startsWith('github:') ||
    resolved.startsWith('gitlab:') ||
    resolved.startsWith('bitbucket:')
  )
    return 'git';
  if (resolved.startsWith('file:')) return 'file';
  if (resolved.startsWith('link:')) return 'link';
  const url = resolvedUrl(resolved);
  if (url === null) return resolved.startsWith('.') || resolved.startsWith('/') ? 'file' : 'unknown';
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'unknown';
  // codeload/archive tarballs of hosted git repositories are git sources.
  if (url.hostname === 'codeload.github.com' || url.pathname.includes('/archive/')) return 'git';
  return registryTarballOf(url) ? 'registry' : 'tarball';
}

/**
 * Marks packages `dev` when only the root's dev dependencies reach them. `prodRoots` and
 * `devRoots` are ids of the root's direct dependencies; `edges` maps an id to its dependencies.
 */
export function devOnly(ids: readonly string[], edges: ReadonlyMap<string, readonly string[]>, prodRoots: readonly string[]): Set<string> {
  const prod = new Set<string>();
  const stack = [...prodRoots];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (prod.has(id)) continue;
    prod.add(id);
    for (const d of edges.get(id) ?? []) if (!prod.has(d)) stack.push(d);
  }
  return new Set(ids.filter((id) => !prod.has(id)));
}

/** Reads the facts a lockfile reader needs from a project's package.json text (capped at 4 MiB). */
export function rootManifestFromJson(text: string | Uint8Array, file = 'package.json'): RootManifest {
  let raw: unknown;
  try {
    raw = parseJson(text, file, { maxBytes: 4 * 1024 * 1024, maxDepth: 32 });
  } catch (error) {
    if (error instanceof CairnError) throw new InputError('SCAN_MANIFEST_MALFORMED', `${file}: ${error.message}`, { cause: error, problems: error.problems });
    throw error;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError('SCAN_MANIFEST_MALFORMED', `${file}: expected an object`, {
      problems: [{ code: 'WRONG_TYPE', path: '', message: 'expected an object' }],
    });
  }
  const m = raw as Record<string, unknown>;
  const ranges: Record<string, string> = {};
  const names = (key: string): string[] => {
    const deps = m[key];
    if (!deps || typeof deps !== 'object' || Array.isArray(deps)) return [];
    const out: string[] = [];
    for (const [name, range] of Object.entries(deps)) {
      out.push(name);
      if (typeof range === 'string' && !(name in ranges)) ranges[name] = range;
    }
    return out.sort();
  };
  return {
    ...(typeof m.name === 'string' ? { name: m.name } : {}),
    ...(typeof m.version === 'string' ? { version: m.version } : {}),
    dependencies: names('dependencies'),
    devDependencies: names('devDependencies'),
    optionalDependencies: names('optionalDependencies'),
    peerDependencies: names('peerDependencies'),
    ranges,
  };
}

interface NpmContext {
  readonly file: string;
  readonly f: Fields;
  readonly lines: ReadonlyMap<string, number>;
}

function npmNode(ctx: NpmContext, p: string, entry: Record<string, unknown>, deps: string[], path: string, lockfileVersion: number): DependencyNode | null {
  const { f } = ctx;
  let name = typeof entry.name === 'string' ? entry.name : nameFromPath(p);
  let version = f.string(entry.version, joinPath(path, 'version'), { maxLength: 2048 });
  if (version === undefined) return null;
  let resolved = typeof entry.resolved === 'string' ? entry.resolved : null;
  // lockfile v1: an alias is `"version": "npm:real@1.2.3"`; a git or file dependency keeps its spec in `version`.
  if (lockfileVersion === 1 && version.startsWith('npm:')) {
    const spec = version.slice(4);
    const at = spec.lastIndexOf('@');
    if (at > 0) {
      name = spec.slice(0, at);
      version = spec.slice(at + 1);
    }
  } else if (lockfileVersion === 1 && resolved === null && (version.includes(':') || version.includes('/'))) {
    resolved = version;
  }
  const integrity = typeof entry.integrity === 'string' ? entry.integrity : null;
  return {
    path: p,
    name,
    version,
    resolved,
    integrity,
    dev: entry.dev === true,
    optional: entry.optional === true || entry.devOptional === true,
    hasInstallScript: entry.hasInstallScript === true,
    bin: binsOf(entry.bin, name),
    os: stringList(entry.os),
    cpu: stringList(entry.cpu),
    dependsOn: deps,
    peer: entry.peer === true,
    line: ctx.lines.get(p) ?? 1,
    installScript: lockfileVersion === 1 ? null : entry.hasInstallScript === true,
    source: entry.link === true ? 'link' : sourceOfResolved(resolved, integrity !== null),
    checksum: null,
    license: typeof entry.license === 'string' ? entry.license : null,
  };
}

/** Flattens lockfile v1's nested `dependencies` tree into install paths. */
function flattenV1(tree: Record<string, unknown>, f: Fields, file: string): { entries: Map<string, Record<string, unknown>>; order: string[] } {
  const entries = new Map<string, Record<string, unknown>>();
  const order: string[] = [];
  const stack: { base: string; deps: Record<string, unknown>; fieldPath: string }[] = [{ base: '', deps: tree, fieldPath: 'dependencies' }];
  while (stack.length > 0) {
    const { base, deps, fieldPath } = stack.pop() as (typeof stack)[number];
    for (const [name, value] of Object.entries(deps)) {
      const p = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
      const entry = f.object(value, joinPath(fieldPath, name));
      if (!entry) continue;
      entries.set(p, entry);
      order.push(p);
      assertPackageCount(file, order.length);
      const nested = entry.dependencies;
      if (nested && typeof nested === 'object' && !Array.isArray(nested))
        stack.push({ base: p, deps: nested as Record<string, unknown>, fieldPath: joinPath(joinPath(fieldPath, name), 'dependencies') });
    }
  }
  return { entries, order };
}

/**
 * Parses an npm `package-lock.json` or `npm-shrinkwrap.json` (lockfileVersion 1, 2 or 3)
 * into a dependency graph; every bad package is reported at once.
 */
export function parsePackageLock(text: string | Uint8Array, options: PackageLockOptions = {}): DependencyGraph {
  const file = options.file ?? 'package-lock.json';
  assertLockfileSize(file, typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength);
  const source = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: false }).decode(text);
  let raw: unknown;
  try {
    raw = parseJson(source, file, LOCKFILE_LIMITS);
  } catch (error) {
    if (error instanceof CairnError) throw new InputError('SCAN_LOCKFILE_MALFORMED', error.message, { cause: error, problems: error.problems });
    throw error;
  }
  const f = new Fields();
  const root = f.object(raw, '');
  const rawVersion = root?.lockfileVersion;
  if (typeof rawVersion === 'number' && Number.isSafeInteger(rawVersion) && rawVersion > 3) {
    throw new InputError('SCAN_LOCKFILE_UNSUPPORTED', `${file}: lockfileVersion ${rawVersion} is newer than cairn reads (1, 2 and 3)`);
  }
  const version = root ? f.integer(rawVersion, 'lockfileVersion', 1, 3) : undefined;
  const v1 = version === 1;
  const packages = root ? (v1 ? f.object(root.dependencies ?? {}, 'dependencies') : f.object(root.packages, 'packages')) : undefined;
  if (!root || !packages || version === undefined) throw lockfileError('SCAN_LOCKFILE_MALFORMED', file, 'not a valid npm lockfile', f.problems);

  const lines = new Map<string, number>();
  forEachJsonKeyLine(source, (path, key, line) => {
    if (!v1) {
      if (path.length === 1 && path[0] === 'packages') lines.set(key, line);
      return;
    }
    // v1: dependencies.a.dependencies.b… → node_modules/a/node_modules/b
    if (path.length % 2 !== 1) return;
    let p = '';
    for (let i = 0; i < path.length; i += 2) {
      if (path[i] !== 'dependencies') return;
      const seg = path[i + 1];
      if (seg !== undefined) p = p === '' ? `node_modules/${seg}` : `${p}/node_modules/${seg}`;
    }
    lines.set(p === '' ? `node_modules/${key}` : `${p}/node_modules/${key}`, line);
  });
  const ctx: NpmContext = { file, f, lines };

  let entries: Map<string, Record<string, unknown>>;
  let paths: string[];
  if (v1) {
    ({ entries, order: paths } = flattenV1(packages, f, file));
  } else {
    paths = Object.keys(packages);
    assertPackageCount(file, paths.length);
    entries = new Map();
    for (const p of paths) {
      const entry = f.object(packages[p], joinPath('packages', p));
      if (entry) entries.set(p, entry);
    }
  }
  // Only real installed packages are resolvable; workspace folders and links are not components.
  const isInstalled = (p: string): boolean => (p.startsWith('node_modules/') || p.includes('/node_modules/')) && entries.get(p)?.link !== true;
  const present = new Set(paths.filter(isInstalled));
  const rootEntry = v1 ? undefined : entries.get('');
  const manifest = options.manifest;
  let rootInfo: DependencyGraph['root'] = {
    name: typeof rootEntry?.name === 'string' ? rootEntry.name : typeof root.name === 'string' ? root.name : (manifest?.name ?? 'unnamed'),
    version: typeof rootEntry?.version === 'string' ? rootEntry.version : typeof root.version === 'string' ? root.version : (manifest?.version ?? '0.0.0'),
    dependsOn: [],
    line: lines.get('') ?? 1,
  };
  if (rootEntry) {
    rootInfo = { ...rootInfo, dependsOn: dependencyNames(rootEntry, true).flatMap((d) => resolveFrom('', d, present) ?? []) };
  } else if (v1) {
    const declared = manifest ? [...manifest.dependencies, ...manifest.devDependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies] : null;
    const required = new Set<string>();
    if (!declared) for (const [p, e] of entries) for (const d of dependencyNames(e, false, ['requires'])) required.add(resolveFrom(p, d, present) ?? '');
    const direct = declared
      ? [...new Set(declared)].sort().flatMap((d) => resolveFrom('', d, present) ?? [])
      : [...present].filter((p) => !p.includes('/node_modules/') && !required.has(p)).sort();
    rootInfo = { ...rootInfo, dependsOn: direct };
  }

  const list: DependencyNode[] = [];
  for (const p of [...paths].sort()) {
    if (p === '' || !present.has(p)) continue;
    const entry = entries.get(p);
    if (!entry) continue;
    const deps = dependencyNames(entry, false, v1 ? ['requires'] : undefined)
      .map((d) => resolveFrom(p, d, present))
      .filter((d): d is string => d !== null);
    const path = v1 ? `dependencies.${p.slice('node_modules/'.length).split('/node_modules/').join('.dependencies.')}` : joinPath('packages', p);
    const node = npmNode(ctx, p, entry, deps, path, version);
    if (node) list.push(node);
  }
  if (f.problems.length > 0) throw lockfileError('SCAN_LOCKFILE_MALFORMED', file, 'invalid npm lockfile', f.problems);
  return { lockfileVersion: version, format: 'npm', file, formatVersion: String(version), root: rootInfo, packages: list };
}
