import { createRequire } from 'node:module';
import type { Problem } from '../model/errors.js';
import type { LockGraph } from '../model/lockfile.js';
import { contentDigest, type SbomContext, sbomModel, uuidFromHex } from './sbom.js';

const parseSpdxExpression = createRequire(import.meta.url)('spdx-expression-parse') as (text: string) => unknown;

const SPDX_ALGORITHM = { sha512: 'SHA512', sha384: 'SHA384', sha256: 'SHA256', sha1: 'SHA1' } as const;
const HEX_LENGTH: Readonly<Record<string, number>> = { SHA512: 128, SHA384: 96, SHA256: 64, SHA1: 40 };

/** Characters an SPDX identifier may hold (`[A-Za-z0-9.-]`); others become `-`. */
function idPart(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const ok = (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || c === '.' || c === '-';
    out += ok ? c : '-';
  }
  return out;
}

/** A licence as SPDX needs it: a valid expression, else NOASSERTION. */
function declaredLicense(text: string | null): string {
  if (!text || text.length > 1024) return 'NOASSERTION';
  try {
    parseSpdxExpression(text);
    return text;
  } catch {
    return 'NOASSERTION';
  }
}

/** An SPDX downloadLocation: an http(s) URL as it is, a git URL in SPDX's `vcs+transport://…@rev` form, else NOASSERTION. */
function downloadLocation(resolved: string | null, vcs: boolean): string {
  if (!resolved || resolved.length > 4096) return 'NOASSERTION';
  for (let i = 0; i < resolved.length; i++) if (resolved.charCodeAt(i) <= 0x20) return 'NOASSERTION';
  if (vcs && resolved.startsWith('git+') && resolved.includes('://')) {
    const [repo, rev] = resolved.split('#');
    return rev ? `${repo}@${rev}` : (repo as string);
  }
  if (!vcs && (resolved.startsWith('https://') || resolved.startsWith('http://'))) return resolved.split('#')[0] as string;
  return 'NOASSERTION';
}

function spdxTime(sourceDateEpoch: number | null): string {
  return new Date((sourceDateEpoch ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * An SPDX 2.3 JSON document of a dependency graph: one package per name and version,
 * DEPENDS_ON / DEV_DEPENDENCY_OF relationships, purls as PACKAGE-MANAGER references.
 * Deterministic like the CycloneDX writer; `created` is SOURCE_DATE_EPOCH (the epoch itself
 * when none is given, since SPDX requires the field).
 */
export function spdxJson(graph: LockGraph, context: SbomContext): string {
  const model = sbomModel(graph);
  const ids = new Map<string, string>();
  const taken = new Set<string>(['SPDXRef-DOCUMENT', 'SPDXRef-Root']);
  for (const c of model.components) {
    const base = `SPDXRef-npm-${idPart(c.name)}-${idPart(c.version)}`;
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    taken.add(id);
    ids.set(c.purl, id);
  }
  const purlRef = (purl: string) => ({ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl });
  const packages = [
    {
      SPDXID: 'SPDXRef-Root',
      name: model.root.name,
      versionInfo: model.root.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      externalRefs: [purlRef(model.root.purl)],
      primaryPackagePurpose: 'APPLICATION',
    },
    ...model.components.map((c) => ({
      SPDXID: ids.get(c.purl) as string,
      name: c.name,
      versionInfo: c.version,
      downloadLocation: downloadLocation(c.resolved, c.vcs),
      filesAnalyzed: false,
      ...(c.hashes.length > 0 ? { checksums: c.hashes.map((h) => ({ algorithm: SPDX_ALGORITHM[h.algorithm], checksumValue: h.hex })) } : {}),
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: declaredLicense(c.license),
      copyrightText: 'NOASSERTION',
      externalRefs: [purlRef(c.purl)],
      primaryPackagePurpose: 'LIBRARY',
    })),
  ];
  const relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Root' },
  ];
  const devOnly = new Set(model.components.filter((c) => c.dev).map((c) => c.purl));
  for (const d of model.root.dependsOn) {
    const id = ids.get(d) as string;
    relationships.push(
      devOnly.has(d)
        ? { spdxElementId: id, relationshipType: 'DEV_DEPENDENCY_OF', relatedSpdxElement: 'SPDXRef-Root' }
        : { spdxElementId: 'SPDXRef-Root', relationshipType: 'DEPENDS_ON', relatedSpdxElement: id },
    );
  }
  for (const c of model.components)
    for (const d of c.dependsOn)
      relationships.push({ spdxElementId: ids.get(c.purl) as string, relationshipType: 'DEPENDS_ON', relatedSpdxElement: ids.get(d) as string });
  const key = (r: (typeof relationships)[number]) => `${r.spdxElementId}\u0000${r.relationshipType}\u0000${r.relatedSpdxElement}`;
  relationships.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const created = spdxTime(context.sourceDateEpoch);
  const uuid = uuidFromHex(contentDigest({ packages, relationships, created, toolVersion: context.toolVersion }));
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${model.root.name}@${model.root.version}`,
    documentNamespace: `https://cairn.dev/spdxdocs/${idPart(model.root.name)}-${idPart(model.root.version)}-${uuid}`,
    creationInfo: { created, creators: [`Tool: cairn-${context.toolVersion}`] },
    packages,
    relationships,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// Space-separated: the relationship types of SPDX 2.3 clause 11 that a dependency SBOM may use.
const RELATIONSHIP_TYPES = new Set(
  'DESCRIBES DESCRIBED_BY CONTAINS CONTAINED_BY DEPENDS_ON DEPENDENCY_OF DEV_DEPENDENCY_OF OPTIONAL_DEPENDENCY_OF BUILD_DEPENDENCY_OF RUNTIME_DEPENDENCY_OF PROVIDED_DEPENDENCY_OF TEST_DEPENDENCY_OF DEPENDENCY_MANIFEST_OF GENERATED_FROM GENERATES OTHER'.split(
    ' ',
  ),
);
const PURPOSES = new Set([
  'APPLICATION',
  'FRAMEWORK',
  'LIBRARY',
  'CONTAINER',
  'OPERATING-SYSTEM',
  'DEVICE',
  'FIRMWARE',
  'SOURCE',
  'ARCHIVE',
  'FILE',
  'INSTALL',
  'OTHER',
]);

function isSpdxId(value: unknown): boolean {
  if (typeof value !== 'string' || !value.startsWith('SPDXRef-') || value.length === 'SPDXRef-'.length) return false;
  return idPart(value.slice('SPDXRef-'.length)) === value.slice('SPDXRef-'.length);
}

function isDateTime(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 20 || !value.endsWith('Z')) return false;
  const d = new Date(value);
  return !Number.isNaN(d.getTime()) && d.toISOString().replace('.000Z', 'Z') === value;
}

function isLicenseField(value: unknown): boolean {
  if (value === 'NOASSERTION' || value === 'NONE') return true;
  return typeof value === 'string' && declaredLicense(value) === value;
}

/**
 * Checks the rules of SPDX 2.3 (clauses 6 and 7 of the specification and its JSON schema)
 * that a dependency SBOM exercises: document fields, creation info, package identifiers,
 * download locations, checksums, licence fields, purposes and relationships whose ends exist.
 */
export function checkSpdx23(doc: unknown): Problem[] {
  const problems: Problem[] = [];
  const report = (path: string, message: string) => problems.push({ code: 'SPDX', path, message });
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return [{ code: 'SPDX', path: '', message: 'expected an object' }];
  const d = doc as Record<string, unknown>;
  if (d.spdxVersion !== 'SPDX-2.3') report('spdxVersion', 'must be SPDX-2.3');
  if (d.dataLicense !== 'CC0-1.0') report('dataLicense', 'must be CC0-1.0');
  if (d.SPDXID !== 'SPDXRef-DOCUMENT') report('SPDXID', 'must be SPDXRef-DOCUMENT');
  if (typeof d.name !== 'string' || d.name === '') report('name', 'required');
  if (typeof d.documentNamespace !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/[^#\s]+$/.test(d.documentNamespace))
    report('documentNamespace', 'must be an absolute URI without #');
  const info = d.creationInfo as Record<string, unknown> | undefined;
  if (!info || typeof info !== 'object') report('creationInfo', 'required');
  else {
    if (!isDateTime(info.created)) report('creationInfo.created', 'must be YYYY-MM-DDThh:mm:ssZ');
    const creators = info.creators;
    if (!Array.isArray(creators) || creators.length === 0) report('creationInfo.creators', 'at least one creator');
    else
      creators.forEach((c, i) => {
        if (typeof c !== 'string' || !/^(Tool|Person|Organization): \S/.test(c))
          report(`creationInfo.creators[${i}]`, 'must start with Tool:, Person: or Organization:');
      });
  }
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  const packages = Array.isArray(d.packages) ? (d.packages as Record<string, unknown>[]) : [];
  if (!Array.isArray(d.packages)) report('packages', 'expected an array');
  packages.forEach((p, i) => {
    const at = `packages[${i}]`;
    if (!isSpdxId(p.SPDXID)) report(`${at}.SPDXID`, 'must be SPDXRef-[A-Za-z0-9.-]+');
    else if (ids.has(p.SPDXID as string)) report(`${at}.SPDXID`, 'duplicate identifier');
    else ids.add(p.SPDXID as string);
    if (typeof p.name !== 'string' || p.name === '') report(`${at}.name`, 'required');
    if (typeof p.downloadLocation !== 'string' || p.downloadLocation === '') report(`${at}.downloadLocation`, 'required (a URL, NONE or NOASSERTION)');
    if (p.filesAnalyzed !== undefined && typeof p.filesAnalyzed !== 'boolean') report(`${at}.filesAnalyzed`, 'must be a boolean');
    if (p.filesAnalyzed !== false && p.packageVerificationCode === undefined) report(`${at}.packageVerificationCode`, 'required unless filesAnalyzed is false');
    for (const field of ['licenseConcluded', 'licenseDeclared'] as const)
      if (p[field] !== undefined && !isLicenseField(p[field])) report(`${at}.${field}`, 'not a valid SPDX licence expression');
    if (p.primaryPackagePurpose !== undefined && !PURPOSES.has(p.primaryPackagePurpose as string)) report(`${at}.primaryPackagePurpose`, 'unknown purpose');
    const checksums = p.checksums;
    if (checksums !== undefined) {
      if (!Array.isArray(checksums)) report(`${at}.checksums`, 'expected an array');
      else
        checksums.forEach((c: { algorithm?: unknown; checksumValue?: unknown }, j) => {
          const length = HEX_LENGTH[c.algorithm as string];
          if (length === undefined) report(`${at}.checksums[${j}].algorithm`, 'unknown algorithm');
          else if (typeof c.checksumValue !== 'string' || c.checksumValue.length !== length || !/^[0-9a-f]+$/.test(c.checksumValue))
            report(`${at}.checksums[${j}].checksumValue`, `must be ${length} lowercase hex digits`);
        });
    }
    const refs = p.externalRefs;
    if (refs !== undefined) {
      if (!Array.isArray(refs)) report(`${at}.externalRefs`, 'expected an array');
      else
        refs.forEach((r: Record<string, unknown>, j) => {
          if (!['SECURITY', 'PACKAGE-MANAGER', 'PERSISTENT-ID', 'OTHER'].includes(r.referenceCategory as string))
            report(`${at}.externalRefs[${j}].referenceCategory`, 'unknown category');
          if (r.referenceType === 'purl' && (typeof r.referenceLocator !== 'string' || !r.referenceLocator.startsWith('pkg:')))
            report(`${at}.externalRefs[${j}].referenceLocator`, 'a purl starts with pkg:');
        });
    }
  });
  const relationships = Array.isArray(d.relationships) ? (d.relationships as Record<string, unknown>[]) : [];
  relationships.forEach((r, i) => {
    const at = `relationships[${i}]`;
    if (!RELATIONSHIP_TYPES.has(r.relationshipType as string)) report(`${at}.relationshipType`, 'unknown relationship type');
    for (const end of ['spdxElementId', 'relatedSpdxElement'] as const)
      if (!ids.has(r[end] as string)) report(`${at}.${end}`, `refers to no element: ${String(r[end])}`);
  });
  if (!relationships.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES'))
    report('relationships', 'the document DESCRIBES no package');
  return problems;
}
