import { InputError, type Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import {
  assertLockfileSize,
  assertPackageCount,
  type DependencyGraph,
  type DependencyNode,
  devOnly,
  LOCKFILE_LIMITS,
  type RootManifest,
  type SourceKind,
  sourceOfResolved,
} from '../model/lockfile.js';
import { parseYamlLockfile, stringRecord } from './lockfile-yaml.js';

export interface YarnLockOptions {
  readonly file?: string;
  /** The project's package.json: which descriptors are the root's, and which of them are dev-only. */
  readonly manifest?: RootManifest;
}

/** `name@range` → name and range; the name may be scoped (`@s/n@^1`). */
export function splitDescriptor(descriptor: string): { name: string; range: string } | null {
  const at = descriptor.indexOf('@', 1);
  if (at <= 0) return null;
  return { name: descriptor.slice(0, at), range: descriptor.slice(at + 1) };
}

/** An `npm:real@range` alias range → the real package name. */
function aliasTarget(range: string): string | null {
  if (!range.startsWith('npm:')) return null;
  const spec = range.slice(4);
  const at = spec.lastIndexOf('@');
  return at > 0 ? spec.slice(0, at) : null;
}

/** True when the text starts like a yarn berry lockfile (`__metadata:` at the top level). */
export function isYarnBerry(text: string): boolean {
  for (const line of text.slice(0, 4096).split('\n')) {
    if (line.startsWith('__metadata:')) return true;
  }
  return text.includes('\n__metadata:');
}

interface ClassicEntry {
  descriptors: string[];
  line: number;
  fields: Record<string, string>;
  sections: Record<string, Record<string, string>>;
}

function malformed(file: string, line: number, message: string): InputError {
  return new InputError('SCAN_LOCKFILE_MALFORMED', `${file}:${line}: ${message}`, { problems: [{ code: 'INVALID_FORMAT', path: `line ${line}`, message }] });
}

/** Reads one token: a JSON-quoted string or a bare word ending at a space (or the end). */
function readToken(text: string, from: number, file: string, line: number): { value: string; end: number } {
  if (text.charCodeAt(from) === 0x22) {
    let i = from + 1;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) i++;
      else if (c === 0x22) break;
    }
    if (i >= text.length) throw malformed(file, line, 'unterminated string');
    try {
      return { value: JSON.parse(text.slice(from, i + 1)) as string, end: i + 1 };
    } catch {
      throw malformed(file, line, 'bad escape in a string');
    }
  }
  const space = text.indexOf(' ', from);
  const end = space < 0 ? text.length : space;
  return { value: text.slice(from, end), end };
}

/** The comma-separated descriptors of a classic entry header, without its final colon. */
function headerDescriptors(header: string, file: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 0x20) i++;
    if (header.charCodeAt(i) === 0x22) {
      const token = readToken(header, i, file, line);
      out.push(token.value);
      i = token.end;
    } else {
      const comma = header.indexOf(',', i);
      const end = comma < 0 ? header.length : comma;
      out.push(header.slice(i, end).trim());
      i = end;
    }
    while (header.charCodeAt(i) === 0x20) i++;
    if (i < header.length) {
      if (header.charCodeAt(i) !== 0x2c) throw malformed(file, line, 'expected "," between descriptors');
      i++;
    }
  }
  return out.filter((d) => d !== '');
}

/** Parses the classic (v1) text format: a linear, line-by-line reader with no regular expressions. */
function readClassic(text: string, file: string): ClassicEntry[] {
  const entries: ClassicEntry[] = [];
  let current: ClassicEntry | null = null;
  let section: Record<string, string> | null = null;
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const number = index + 1;
    let raw = lines[index] as string;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (raw.length > LOCKFILE_LIMITS.maxLineLength) throw malformed(file, number, `line longer than ${LOCKFILE_LIMITS.maxLineLength} characters`);
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    let indent = 0;
    while (raw.charCodeAt(indent) === 0x20) indent++;
    const body = raw.slice(indent);
    if (indent === 0) {
      if (!body.endsWith(':')) throw malformed(file, number, 'expected an entry header ending in ":"');
      current = { descriptors: headerDescriptors(body.slice(0, -1), file, number), line: number, fields: {}, sections: {} };
      section = null;
      entries.push(current);
      assertPackageCount(file, entries.length);
      continue;
    }
    if (!current) throw malformed(file, number, 'indented line outside an entry');
    const key = readToken(body, 0, file, number);
    let name = key.value;
    let rest = body.slice(key.end).trim();
    if (body.charCodeAt(0) !== 0x22 && name.endsWith(':') && rest === '') {
      name = name.slice(0, -1);
      rest = ':';
    }
    if (indent === 2) {
      if (rest === ':') {
        section = {};
        current.sections[name] = section;
      } else {
        section = null;
        current.fields[name] = rest.startsWith('"') ? readToken(rest, 0, file, number).value : rest;
      }
    } else if (indent === 4 && section) {
      section[name] = rest.startsWith('"') ? readToken(rest, 0, file, number).value : rest;
    } else {
      throw malformed(file, number, `unexpected indentation of ${indent}`);
    }
  }
  return entries;
}

function sha1FromFragment(resolved: string | null): string | null {
  const hash = resolved?.split('#')[1];
  if (hash?.length !== 40) return null;
  for (let i = 0; i < 40; i++) {
    const c = hash.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return null;
  }
  return `sha1-${Buffer.from(hash, 'hex').toString('base64')}`;
}

function uniqueId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}#${n}`;
  taken.add(id);
  return id;
}

function rootDependencies(
  manifest: RootManifest | undefined,
  lookup: (name: string, range: string) => string | null,
  heads: () => string[],
): { dependsOn: string[]; prod: string[] | null } {
  if (!manifest) return { dependsOn: heads(), prod: null };
  const resolve = (names: readonly string[]) => names.flatMap((n) => lookup(n, manifest.ranges[n] ?? '') ?? []);
  const all = resolve([...manifest.dependencies, ...manifest.devDependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies]);
  return { dependsOn: [...new Set(all)].sort(), prod: resolve([...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies]) };
}

function finish(nodes: DependencyNode[], edges: Map<string, string[]>, prod: string[] | null): DependencyNode[] {
  if (prod === null) return nodes;
  const dev = devOnly(
    nodes.map((n) => n.path),
    edges,
    prod,
  );
  return nodes.map((n) => (dev.has(n.path) ? { ...n, dev: true } : n));
}

function headsOf(ids: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const targets = new Set<string>();
  for (const list of edges.values()) for (const d of list) targets.add(d);
  return ids.filter((id) => !targets.has(id)).sort();
}

function parseClassic(text: string, file: string, manifest: RootManifest | undefined): DependencyGraph {
  const entries = readClassic(text, file);
  const byDescriptor = new Map<string, string>();
  const taken = new Set<string>();
  const problems: Problem[] = [];
  const drafts = entries.flatMap((entry) => {
    const first = entry.descriptors[0] ? splitDescriptor(entry.descriptors[0]) : null;
    const version = entry.fields.version;
    if (!first || version === undefined) {
      problems.push({
        code: first ? 'MISSING' : 'INVALID_FORMAT',
        path: `line ${entry.line}`,
        message: first ? 'entry has no version' : 'expected name@range',
      });
      return [];
    }
    const name = aliasTarget(first.range) ?? first.name;
    const id = uniqueId(`${name}@${version}`, taken);
    for (const d of entry.descriptors) byDescriptor.set(d, id);
    return [{ entry, id, name, version }];
  });
  if (problems.length > 0) throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: invalid yarn.lock`, { problems });
  const lookup = (name: string, range: string) => byDescriptor.get(`${name}@${range}`) ?? null;
  const edges = new Map<string, string[]>();
  for (const d of drafts) {
    const deps = new Set<string>();
    for (const kind of ['dependencies', 'optionalDependencies'])
      for (const [dep, range] of Object.entries(d.entry.sections[kind] ?? {})) {
        const id = lookup(dep, range);
        if (id && id !== d.id) deps.add(id);
      }
    edges.set(d.id, [...deps].sort());
  }
  const nodes: DependencyNode[] = drafts
    .map((d): DependencyNode => {
      const resolved = d.entry.fields.resolved ?? null;
      const integrity = d.entry.fields.integrity ?? sha1FromFragment(resolved);
      return {
        path: d.id,
        name: d.name,
        version: d.version,
        resolved,
        integrity,
        dev: false,
        optional: false,
        hasInstallScript: false,
        bin: {},
        os: [],
        cpu: [],
        dependsOn: edges.get(d.id) ?? [],
        peer: false,
        line: d.entry.line,
        installScript: null,
        source: sourceOfResolved(resolved, integrity !== null),
        checksum: null,
        license: null,
      };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const ids = nodes.map((n) => n.path);
  const root = rootDependencies(manifest, lookup, () => headsOf(ids, edges));
  return {
    lockfileVersion: 1,
    format: 'yarn-classic',
    file,
    formatVersion: '1',
    root: { name: manifest?.name ?? 'unnamed', version: manifest?.version ?? '0.0.0', dependsOn: root.dependsOn, line: 1 },
    packages: finish(nodes, edges, root.prod),
  };
}

/** Where a berry resolution (`name@npm:1.2.3`, `name@https://…`, `name@patch:…`) comes from. */
function berrySource(resolution: string): { name: string; source: SourceKind; resolved: string | null } | null {
  const parts = splitDescriptor(resolution);
  if (!parts) return null;
  let reference = parts.range;
  if (reference.startsWith('patch:')) {
    const inner = reference.slice('patch:'.length).split('#')[0] ?? '';
    let decoded = inner;
    try {
      decoded = decodeURIComponent(inner);
    } catch {
      return { name: parts.name, source: 'unknown', resolved: null };
    }
    const innerParts = splitDescriptor(decoded);
    reference = innerParts ? innerParts.range : decoded;
  }
  if (reference.startsWith('npm:')) return { name: parts.name, source: 'registry', resolved: null };
  if (reference.startsWith('workspace:')) return { name: parts.name, source: 'workspace', resolved: null };
  if (reference.startsWith('portal:') || reference.startsWith('link:')) return { name: parts.name, source: 'link', resolved: reference };
  if (reference.startsWith('file:')) return { name: parts.name, source: 'file', resolved: reference };
  if (reference.includes('#commit=') || reference.startsWith('git') || reference.startsWith('github:'))
    return { name: parts.name, source: 'git', resolved: reference };
  if (reference.startsWith('https:') || reference.startsWith('http:'))
    return { name: parts.name, source: sourceOfResolved(reference, false), resolved: reference };
  return { name: parts.name, source: 'unknown', resolved: reference };
}

function parseBerry(text: string, file: string, manifest: RootManifest | undefined): DependencyGraph {
  const y = parseYamlLockfile(text, file);
  const f = new Fields();
  const metadata = f.object(y.data.__metadata, '__metadata');
  const versionText = metadata ? f.string(metadata.version, '__metadata.version', { maxLength: 16 }) : undefined;
  if (versionText === undefined) throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: no __metadata.version`, { problems: f.problems });
  const major = Number.parseInt(versionText, 10);
  if (!(major >= 4 && major <= 8))
    throw new InputError('SCAN_LOCKFILE_UNSUPPORTED', `${file}: berry lockfile version ${versionText} is not read (cairn reads 4 to 8)`);
  const lines = y.keyLines('');
  const keys = Object.keys(y.data).filter((k) => k !== '__metadata');
  assertPackageCount(file, keys.length);
  const byDescriptor = new Map<string, string>();
  const taken = new Set<string>();
  interface Draft {
    key: string;
    id: string;
    entry: Record<string, unknown>;
    name: string;
    version: string;
    source: SourceKind;
    resolved: string | null;
    workspace: boolean;
  }
  const drafts: Draft[] = [];
  for (const key of keys.sort()) {
    const entry = f.object(y.data[key], key);
    if (!entry) continue;
    const resolution = f.string(entry.resolution, joinPath(key, 'resolution'), { maxLength: 8192 });
    const version = f.string(entry.version, joinPath(key, 'version'), { maxLength: 2048 });
    if (resolution === undefined || version === undefined) continue;
    const source = berrySource(resolution);
    if (!source) {
      f.report(joinPath(key, 'resolution'), 'INVALID_FORMAT', 'expected name@reference');
      continue;
    }
    const id = uniqueId(source.source === 'workspace' ? resolution : `${source.name}@${version}`, taken);
    for (const d of key.split(',')) byDescriptor.set(d.trim(), id);
    drafts.push({ key, id, entry, name: source.name, version, source: source.source, resolved: source.resolved, workspace: source.source === 'workspace' });
  }
  if (f.problems.length > 0) throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: invalid yarn berry lockfile`, { problems: f.problems });
  const lookup = (name: string, range: string) => byDescriptor.get(`${name}@${range}`) ?? byDescriptor.get(`${name}@npm:${range}`) ?? null;
  const workspaceIds = new Set(drafts.filter((d) => d.workspace).map((d) => d.id));
  const edges = new Map<string, string[]>();
  for (const d of drafts) {
    const deps = new Set<string>();
    for (const [dep, range] of Object.entries(stringRecord(d.entry.dependencies))) {
      const id = lookup(dep, range);
      if (id && id !== d.id && !workspaceIds.has(id)) deps.add(id);
    }
    edges.set(d.id, [...deps].sort());
  }
  const rootDraft = drafts.find((d) => d.workspace && d.id.endsWith('@workspace:.'));
  const rootRanges = stringRecord(rootDraft?.entry.dependencies);
  const nodes: DependencyNode[] = drafts
    .filter((d) => !d.workspace)
    .map((d): DependencyNode => {
      const checksum = typeof d.entry.checksum === 'string' ? d.entry.checksum : null;
      return {
        path: d.id,
        name: d.name,
        version: d.version,
        resolved: d.resolved,
        integrity: null,
        dev: false,
        optional: false,
        hasInstallScript: false,
        bin: stringRecord(d.entry.bin),
        os: [],
        cpu: [],
        dependsOn: edges.get(d.id) ?? [],
        peer: false,
        line: lines.get(d.key) ?? 1,
        installScript: null,
        source: d.source,
        checksum,
        license: null,
      };
    });
  const ids = nodes.map((n) => n.path);
  let dependsOn: string[];
  let prod: string[] | null = null;
  if (rootDraft) {
    dependsOn = edges.get(rootDraft.id) ?? [];
    if (manifest) {
      const names = [...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies];
      prod = names.flatMap((n) => lookup(n, rootRanges[n] ?? manifest.ranges[n] ?? '') ?? []);
      // Other workspaces' own dependencies are production code of the repository too.
      for (const w of drafts) if (w.workspace && w !== rootDraft) prod.push(...(edges.get(w.id) ?? []));
    }
  } else {
    const root = rootDependencies(manifest, lookup, () => headsOf(ids, edges));
    dependsOn = root.dependsOn;
    prod = root.prod;
  }
  return {
    lockfileVersion: major,
    format: 'yarn-berry',
    file,
    formatVersion: versionText,
    root: {
      name: manifest?.name ?? (rootDraft ? rootDraft.name : 'unnamed'),
      version: manifest?.version ?? '0.0.0',
      dependsOn,
      line: rootDraft ? (lines.get(rootDraft.key) ?? 1) : 1,
    },
    packages: finish(nodes, edges, prod),
  };
}

/** Parses a `yarn.lock`, classic (v1) or berry (yarn 2+), into the dependency graph. */
export function parseYarnLock(text: string | Uint8Array, options: YarnLockOptions = {}): DependencyGraph {
  const file = options.file ?? 'yarn.lock';
  assertLockfileSize(file, typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength);
  const source = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: false }).decode(text);
  return isYarnBerry(source) ? parseBerry(source, file, options.manifest) : parseClassic(source, file, options.manifest);
}
