import { Enums, Models, SPDX, Serialize, Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import { createHash } from 'node:crypto';
import { InternalError, type Problem } from '../model/errors.js';
import type { DependencyNode, LockedPackage, LockGraph } from '../model/lockfile.js';
import { parseIntegrity } from './lockfile-rules.js';

export interface SbomContext {
  readonly toolVersion: string;
  /**
   * The build's SOURCE_DATE_EPOCH (seconds): the SBOM's timestamp, so the same input gives
   * the same bytes. `null` leaves the timestamp out.
   */
  readonly sourceDateEpoch: number | null;
}

/** Package URL of an npm package (`@scope/name` → `pkg:npm/%40scope/name@v`), by packageurl-js. */
export function npmPurl(name: string, version: string): string {
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const namespace = slash > 0 ? name.slice(0, slash) : undefined;
  return new PackageURL('npm', namespace, slash > 0 ? name.slice(slash + 1) : name, version || undefined, undefined, undefined).toString();
}

function splitName(name: string): { group?: string; name: string } {
  if (!name.startsWith('@') || !name.includes('/')) return { name };
  const slash = name.indexOf('/');
  return { group: name.slice(0, slash), name: name.slice(slash + 1) };
}

const CDX_ALGORITHM = {
  sha512: Enums.HashAlgorithm['SHA-512'],
  sha384: Enums.HashAlgorithm['SHA-384'],
  sha256: Enums.HashAlgorithm['SHA-256'],
  sha1: Enums.HashAlgorithm['SHA-1'],
} as const;

/** Hex digests of an SRI integrity string, strongest first. */
export function integrityHex(integrity: string | null): { algorithm: keyof typeof CDX_ALGORITHM; hex: string }[] {
  if (!integrity) return [];
  return parseIntegrity(integrity)
    .map((h) => ({ algorithm: h.algorithm, hex: Buffer.from(h.base64, 'base64').toString('hex') }))
    .sort((a, b) => STRENGTH.indexOf(a.algorithm) - STRENGTH.indexOf(b.algorithm));
}

const STRENGTH = ['sha512', 'sha384', 'sha256', 'sha1'];

/**
 * sha256 hex of a value built by this module: its members are always created in the same
 * order, so JSON.stringify is already canonical for it (and far cheaper than JCS on a large graph).
 */
export function contentDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** RFC 4122 form of the first 128 bits of a digest, with the version-5 and variant bits set. */
export function uuidFromHex(hex: string): string {
  const b = hex.slice(0, 32).split('');
  b[12] = '5';
  b[16] = ((Number.parseInt(b[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = b.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One SBOM component per package name and version, merged over every install path of it. */
export interface SbomComponent {
  readonly purl: string;
  readonly name: string;
  readonly version: string;
  readonly hashes: readonly { algorithm: keyof typeof CDX_ALGORITHM; hex: string }[];
  readonly resolved: string | null;
  readonly vcs: boolean;
  readonly license: string | null;
  /** Only dev dependencies reach it. */
  readonly dev: boolean;
  readonly dependsOn: readonly string[];
}

export interface SbomModel {
  readonly root: { readonly purl: string; readonly name: string; readonly version: string; readonly dependsOn: readonly string[] };
  readonly components: readonly SbomComponent[];
}

/** The format-neutral content of an SBOM, sorted by purl in code-point order (never the locale). */
export function sbomModel(graph: LockGraph): SbomModel {
  const purlOf = new Map<string, string>();
  for (const p of graph.packages) purlOf.set(p.path, npmPurl(p.name, p.version));
  const merged = new Map<string, { first: LockedPackage; dev: boolean; hashes: Map<string, SbomComponent['hashes'][number]>; deps: Set<string> }>();
  for (const p of graph.packages) {
    const node = p as Partial<DependencyNode> & LockedPackage;
    if (node.source === 'link' || node.source === 'workspace') continue;
    const purl = purlOf.get(p.path) as string;
    const entry = merged.get(purl) ?? { first: p, dev: true, hashes: new Map(), deps: new Set<string>() };
    entry.dev &&= p.dev;
    for (const h of integrityHex(p.integrity)) if (!entry.hashes.has(`${h.algorithm}:${h.hex}`)) entry.hashes.set(`${h.algorithm}:${h.hex}`, h);
    for (const d of p.dependsOn) {
      const target = purlOf.get(d);
      if (target && target !== purl) entry.deps.add(target);
    }
    merged.set(purl, entry);
  }
  const components = [...merged.entries()]
    .sort(([a], [b]) => byCodePoint(a, b))
    .map(([purl, e]): SbomComponent => {
      const node = e.first as Partial<DependencyNode> & LockedPackage;
      return {
        purl,
        name: e.first.name,
        version: e.first.version,
        hashes: [...e.hashes.values()].sort((a, b) => STRENGTH.indexOf(a.algorithm) - STRENGTH.indexOf(b.algorithm) || byCodePoint(a.hex, b.hex)),
        resolved: e.first.resolved,
        vcs: node.source === 'git',
        license: node.license ?? null,
        dev: e.dev,
        dependsOn: [...e.deps].filter((d) => merged.has(d)).sort(byCodePoint),
      };
    });
  const rootPurl = npmPurl(graph.root.name, graph.root.version);
  const rootDeps = [...new Set(graph.root.dependsOn.flatMap((d) => purlOf.get(d) ?? []))].filter((d) => merged.has(d)).sort(byCodePoint);
  return { root: { purl: rootPurl, name: graph.root.name, version: graph.root.version, dependsOn: rootDeps }, components };
}

function licenseOf(text: string): Models.License {
  const spdxId: unknown = text;
  if (SPDX.isSupportedSpdxId(spdxId)) return new Models.SpdxLicense(spdxId);
  if (isExpression(text)) return new Models.LicenseExpression(text);
  return new Models.NamedLicense(text);
}

function isExpression(text: string): boolean {
  return text.includes(' OR ') || text.includes(' AND ') || text.includes(' WITH ') || text.startsWith('(');
}

/** A URL the CycloneDX schema accepts as an external reference, or null. */
function referenceUrl(resolved: string | null): string | null {
  if (!resolved || resolved.length > 4096) return null;
  for (let i = 0; i < resolved.length; i++) {
    const c = resolved.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return null;
  }
  return resolved;
}

function timestampOf(context: SbomContext): Date | undefined {
  return context.sourceDateEpoch === null ? undefined : new Date(context.sourceDateEpoch * 1000);
}

/**
 * A CycloneDX 1.6 JSON SBOM of a dependency graph, built and serialised with
 * `@cyclonedx/cyclonedx-library`. Deterministic: components, dependencies and hashes are
 * inserted in code-point order and serialised in that order (the library's `sortLists`
 * compares with `localeCompare`, which depends on the machine's locale, so it is not used);
 * the serial number derives from the content; the timestamp is SOURCE_DATE_EPOCH.
 */
export function cycloneDxJson(graph: LockGraph, context: SbomContext): string {
  const model = sbomModel(graph);
  const timestamp = timestampOf(context);
  const serial = `urn:uuid:${uuidFromHex(contentDigest({ model, toolVersion: context.toolVersion, timestamp: timestamp?.toISOString() ?? null }))}`;
  const bom = new Models.Bom({ serialNumber: serial });
  if (timestamp) bom.metadata.timestamp = timestamp;
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, 'cairn', { version: context.toolVersion }));
  const root = new Models.Component(Enums.ComponentType.Application, splitName(model.root.name).name, {
    ...(splitName(model.root.name).group ? { group: splitName(model.root.name).group as string } : {}),
    bomRef: model.root.purl,
    version: model.root.version,
    purl: model.root.purl,
  });
  bom.metadata.component = root;
  const byPurl = new Map<string, Models.Component>();
  for (const c of model.components) {
    const parts = splitName(c.name);
    const component = new Models.Component(Enums.ComponentType.Library, parts.name, {
      ...(parts.group ? { group: parts.group } : {}),
      bomRef: c.purl,
      version: c.version,
      purl: c.purl,
    });
    for (const h of c.hashes) if (!component.hashes.has(CDX_ALGORITHM[h.algorithm])) component.hashes.set(CDX_ALGORITHM[h.algorithm], h.hex);
    const url = referenceUrl(c.resolved);
    if (url)
      component.externalReferences.add(new Models.ExternalReference(url, c.vcs ? Enums.ExternalReferenceType.VCS : Enums.ExternalReferenceType.Distribution));
    if (c.license) component.licenses.add(licenseOf(c.license));
    if (c.dev) component.properties.add(new Models.Property('cdx:npm:package:development', 'true'));
    bom.components.add(component);
    byPurl.set(c.purl, component);
  }
  for (const c of model.components) {
    const component = byPurl.get(c.purl) as Models.Component;
    for (const d of c.dependsOn) component.dependencies.add((byPurl.get(d) as Models.Component).bomRef);
  }
  for (const d of model.root.dependsOn) root.dependencies.add((byPurl.get(d) as Models.Component).bomRef);
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(bom, { sortLists: false, space: 2 })}\n`;
}

/**
 * The CycloneDX SBOM as a JSON value. Kept for callers of the first SBOM writer (the
 * pipeline's scan stage); `cycloneDxJson` gives the bytes.
 */
export function cycloneDxFromLock(
  graph: LockGraph,
  context: { readonly toolVersion: string; readonly sourceDateEpoch: number | null },
): Record<string, unknown> {
  return JSON.parse(cycloneDxJson(graph, context)) as Record<string, unknown>;
}

let strictValidator: Validation.JsonStrictValidator | null = null;

/** Components per validation call: the schema's `uniqueItems` makes one call quadratic in the list length. */
const CHUNK = 64;

function schemaProblems(errors: unknown, shift: (path: string) => string): Problem[] {
  return (Array.isArray(errors) ? errors : [errors]).slice(0, 50).map((e) => {
    const err = e as { instancePath?: string; message?: string; keyword?: string };
    return { code: 'SCHEMA', path: shift(err.instancePath ?? ''), message: `${err.keyword ?? 'schema'}: ${err.message ?? 'invalid'}` };
  });
}

/**
 * Checks a CycloneDX 1.6 JSON document with the library's offline strict validator and
 * returns the problems (empty when valid). `chunked` (default) validates the components and
 * dependencies in slices of 64 and checks their uniqueness itself, in linear time: ajv's
 * `uniqueItems` compares every pair, which takes about a second for 2,000 components. The
 * verdicts are the same (uniqueness is the schema's only constraint across items); `full`
 * validates the document in one call.
 */
export async function validateCycloneDx(json: string, options: { readonly mode?: 'chunked' | 'full' } = {}): Promise<Problem[]> {
  strictValidator ??= new Validation.JsonStrictValidator(Spec.Version.v1dot6);
  const validator = strictValidator;
  const run = async (text: string, shift: (p: string) => string): Promise<Problem[]> => {
    try {
      const errors = await validator.validate(text);
      return errors === null ? [] : schemaProblems(errors, shift);
    } catch (cause) {
      throw new InternalError(
        'SCAN_SBOM_VALIDATOR_UNAVAILABLE',
        `the CycloneDX validator cannot run: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
  };
  if (options.mode === 'full') return run(json, (p) => p);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(json) as Record<string, unknown>;
  } catch (cause) {
    return [{ code: 'JSON_MALFORMED', path: '', message: cause instanceof Error ? cause.message : String(cause) }];
  }
  const components = Array.isArray(doc.components) ? (doc.components as unknown[]) : null;
  const dependencies = Array.isArray(doc.dependencies) ? (doc.dependencies as unknown[]) : null;
  if (!components || !dependencies) return run(json, (p) => p);
  const problems: Problem[] = [];
  const unique = (list: unknown[], name: string) => {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const key = JSON.stringify(item);
      if (seen.has(key)) problems.push({ code: 'SCHEMA', path: `/${name}/${i}`, message: 'uniqueItems: must NOT have duplicate items' });
      seen.add(key);
    });
  };
  unique(components, 'components');
  unique(dependencies, 'dependencies');
  const shiftBy = (name: string, offset: number) => (p: string) => {
    const prefix = `/${name}/`;
    if (!p.startsWith(prefix)) return p;
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf('/');
    const index = Number(slash < 0 ? rest : rest.slice(0, slash));
    return `${prefix}${index + offset}${slash < 0 ? '' : rest.slice(slash)}`;
  };
  const { components: _c, dependencies: _d, ...rest } = doc;
  const chunks = Math.max(1, Math.ceil(components.length / CHUNK), Math.ceil(dependencies.length / CHUNK));
  for (let i = 0; i < chunks; i++) {
    const cs = components.slice(i * CHUNK, (i + 1) * CHUNK);
    const ds = dependencies.slice(i * CHUNK, (i + 1) * CHUNK);
    const part = { ...rest, components: cs, ...(ds.length > 0 ? { dependencies: ds } : {}) };
    const found = await run(JSON.stringify(part), (p) =>
      p.startsWith('/components/') ? shiftBy('components', i * CHUNK)(p) : shiftBy('dependencies', i * CHUNK)(p),
    );
    problems.push(...found);
    if (problems.length >= 50) break;
  }
  return problems;
}
