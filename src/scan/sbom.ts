import { canonicalDigest } from '../crypto/jcs.js';
import { digestHex } from '../model/digest.js';
import type { LockGraph } from '../model/lockfile.js';

export interface SbomContext {
  readonly toolVersion: string;
  /** The build's SOURCE_DATE_EPOCH: the SBOM's timestamp, so the same input gives the same bytes. */
  readonly sourceDateEpoch: number;
}

/** Package URL for an npm package (`@scope/name` → `pkg:npm/%40scope/name@v`). */
export function npmPurl(name: string, version: string): string {
  const encoded = name.startsWith('@') ? `%40${name.slice(1)}` : name;
  return `pkg:npm/${encoded}@${encodeURIComponent(version)}`;
}

function splitName(name: string): { group?: string; name: string } {
  if (!name.startsWith('@')) return { name };
  const slash = name.indexOf('/');
  return { group: name.slice(0, slash), name: name.slice(slash + 1) };
}

function integrityHashes(integrity: string | null): { alg: string; content: string }[] {
  if (!integrity) return [];
  const algs: Record<string, string> = { sha512: 'SHA-512', sha384: 'SHA-384', sha256: 'SHA-256', sha1: 'SHA-1' };
  return integrity
    .split(/\s+/)
    .map((part) => /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+={0,2})$/.exec(part))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ alg: algs[m[1] as string] as string, content: Buffer.from(m[2] as string, 'base64').toString('hex') }));
}

/** RFC 4122 form of the first 128 bits of a digest, version nibble 5-like, variant 10xx. */
function uuidFromHex(hex: string): string {
  const b = hex.slice(0, 32).split('');
  b[12] = '5';
  b[16] = ((Number.parseInt(b[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = b.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/**
 * A CycloneDX 1.6 JSON SBOM of an npm dependency graph. Deterministic: components are
 * sorted, the serial number derives from the content, the timestamp from SOURCE_DATE_EPOCH.
 */
export function cycloneDxFromLock(graph: LockGraph, context: SbomContext): Record<string, unknown> {
  const refOf = new Map<string, string>();
  for (const p of graph.packages) refOf.set(p.path, npmPurl(p.name, p.version));
  const rootRef = npmPurl(graph.root.name, graph.root.version);
  const byRef = new Map<string, Record<string, unknown>>();
  const depends = new Map<string, Set<string>>([[rootRef, new Set()]]);
  for (const p of graph.packages) {
    const ref = refOf.get(p.path) as string;
    const previous = byRef.get(ref);
    const dev = p.dev && (previous === undefined || previous.dev === true);
    byRef.set(ref, {
      ...splitName(p.name),
      type: 'library',
      'bom-ref': ref,
      version: p.version,
      purl: ref,
      dev,
      hashes: integrityHashes(p.integrity),
      ...(p.resolved ? { externalReferences: [{ type: 'distribution', url: p.resolved }] } : {}),
    });
    const set = depends.get(ref) ?? new Set<string>();
    for (const d of p.dependsOn) set.add(refOf.get(d) as string);
    depends.set(ref, set);
  }
  for (const d of graph.root.dependsOn) depends.get(rootRef)?.add(refOf.get(d) as string);
  const components = [...byRef.values()]
    .sort((a, b) => ((a['bom-ref'] as string) < (b['bom-ref'] as string) ? -1 : 1))
    .map(({ dev, hashes, ...c }) => ({
      ...c,
      ...((hashes as unknown[]).length > 0 ? { hashes } : {}),
      ...(dev ? { properties: [{ name: 'cdx:npm:package:development', value: 'true' }] } : {}),
    }));
  const dependencies = [...depends.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([ref, set]) => ({ ref, dependsOn: [...set].sort() }));
  const body = {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    version: 1,
    metadata: {
      timestamp: new Date(context.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z'),
      tools: { components: [{ type: 'application', name: 'cairn', version: context.toolVersion }] },
      component: { type: 'application', 'bom-ref': rootRef, ...splitName(graph.root.name), version: graph.root.version, purl: rootRef },
    },
    components,
    dependencies,
  };
  const { bomFormat, specVersion, ...rest } = body;
  return { bomFormat, specVersion, serialNumber: `urn:uuid:${uuidFromHex(digestHex(canonicalDigest(body)))}`, ...rest };
}
