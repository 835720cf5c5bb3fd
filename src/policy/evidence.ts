import { isDigest, type Digest } from '../model/digest.js';
import { Fields, joinPath } from '../model/fields.js';
import { type Finding, SEVERITIES, type Severity } from '../model/finding.js';

/**
 * The evidence a gate decision reads (schema `cairn.dev/gate-input/v1`): facts earlier stages
 * established and the pipeline re-read from stored evidence. Policies see it as `input`.
 * Every field is always present (absent facts are `false`, `null` or `[]`), so a policy
 * never needs `has()` except inside findings. docs/policy.md documents each field.
 */
export const GATE_INPUT_SCHEMA = 'cairn.dev/gate-input/v1';

export interface ProvenanceFacts {
  /** A provenance attestation for the artifact was found. */
  readonly present: boolean;
  /** Its DSSE signature verified against the trust store, at the evidence time. */
  readonly verified: boolean;
  /** Why it did not verify (code: message), else null. */
  readonly failure: string | null;
  /** Key ids whose signatures verified. */
  readonly keyids: readonly string[];
  /** `runDetails.builder.id`. */
  readonly builderId: string | null;
  /** The trust store binds one of `keyids` to `builderId` with the builder role. */
  readonly builderTrusted: boolean;
  /** Every subject digest of the statement, as `sha256:<hex>`. */
  readonly subjectDigests: readonly Digest[];
  readonly buildType: string | null;
  readonly sourceUri: string | null;
  readonly sourceCommit: string | null;
}

export type RebuildResult = 'PASSED' | 'FAILED';

export interface RebuildFacts {
  /** A rebuild verification summary (VSA) for the artifact was found. */
  readonly present: boolean;
  /** Its signature verified against a key the trust store holds for a rebuilder. */
  readonly verified: boolean;
  readonly failure: string | null;
  /** The VSA's `verificationResult`. */
  readonly result: RebuildResult | null;
  readonly rebuilderId: string | null;
  /** The key that signed the VSA; an independent rebuild has one the builder did not use. */
  readonly rebuilderKeyid: string | null;
  /** Digest the rebuilder produced. */
  readonly rebuiltDigest: Digest | null;
  /** Every digest the rebuild produced equals the one the builder claimed. */
  readonly digestsMatch: boolean;
  /** Named causes of a difference (timestamps, file order, …) when FAILED. */
  readonly causes: readonly string[];
}

export interface GateInput {
  readonly schema: typeof GATE_INPUT_SCHEMA;
  readonly artifact: {
    readonly name: string | null;
    readonly digest: Digest;
    /** The stored bytes rehashed by the pipeline just before the gate, or null if unreadable. */
    readonly rehashed: Digest | null;
  };
  readonly provenance: ProvenanceFacts;
  readonly rebuild: RebuildFacts;
  readonly sbom: { readonly present: boolean; readonly digest: Digest | null; readonly components: number };
  /** Which scanners ran to completion: "no finding" means clean only when its scanner ran. */
  readonly scans: { readonly vulnerabilities: boolean; readonly lockfile: boolean; readonly secrets: boolean };
  /**
   * Findings from every scanner (model/finding.ts): vulnerabilities `osv-vulnerability`,
   * malware `osv-malware`, lockfile tampering `lockfile-*`, leaked secrets `secret-*`, …
   */
  readonly findings: readonly Finding[];
}

export const NO_PROVENANCE: ProvenanceFacts = {
  present: false,
  verified: false,
  failure: null,
  keyids: [],
  builderId: null,
  builderTrusted: false,
  subjectDigests: [],
  buildType: null,
  sourceUri: null,
  sourceCommit: null,
};

export const NO_REBUILD: RebuildFacts = {
  present: false,
  verified: false,
  failure: null,
  result: null,
  rebuilderId: null,
  rebuilderKeyid: null,
  rebuiltDigest: null,
  digestsMatch: false,
  causes: [],
};

const MAX_FINDINGS = 10_000;
const TEXT = { maxLength: 4096, empty: true } as const;

function nullable<T>(value: unknown, path: string, read: (v: unknown, p: string) => T | undefined): T | null | undefined {
  return value === null ? null : read(value, path);
}

function digest(f: Fields, value: unknown, path: string): Digest | undefined {
  if (isDigest(value)) return value;
  f.report(path, value === undefined ? 'MISSING' : 'INVALID_FORMAT', value === undefined ? 'required' : 'expected sha256:<64 lowercase hex>');
  return undefined;
}

function strings(f: Fields, value: unknown, path: string, max = 1024): string[] | undefined {
  const list = f.array(value, path, max);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((v, i) => {
    const s = f.string(v, joinPath(path, i), TEXT);
    if (s !== undefined) out.push(s);
  });
  return out;
}

function provenanceFrom(f: Fields, raw: unknown, path: string): ProvenanceFacts | undefined {
  const o = f.object(raw, path, Object.keys(NO_PROVENANCE));
  if (!o) return undefined;
  const at = (k: string) => joinPath(path, k);
  const subjectList = f.array(o.subjectDigests, at('subjectDigests'), 1024);
  const subjectDigests = subjectList?.map((v, i) => digest(f, v, joinPath(at('subjectDigests'), i))).filter((d): d is Digest => d !== undefined);
  const facts = {
    present: f.boolean(o.present, at('present')),
    verified: f.boolean(o.verified, at('verified')),
    failure: nullable(o.failure, at('failure'), (v, p) => f.string(v, p, TEXT)),
    keyids: strings(f, o.keyids, at('keyids'), 64),
    builderId: nullable(o.builderId, at('builderId'), (v, p) => f.string(v, p, TEXT)),
    builderTrusted: f.boolean(o.builderTrusted, at('builderTrusted')),
    subjectDigests,
    buildType: nullable(o.buildType, at('buildType'), (v, p) => f.string(v, p, TEXT)),
    sourceUri: nullable(o.sourceUri, at('sourceUri'), (v, p) => f.string(v, p, TEXT)),
    sourceCommit: nullable(o.sourceCommit, at('sourceCommit'), (v, p) => f.string(v, p, TEXT)),
  };
  return Object.values(facts).includes(undefined) ? undefined : (facts as ProvenanceFacts);
}

function rebuildFrom(f: Fields, raw: unknown, path: string): RebuildFacts | undefined {
  const o = f.object(raw, path, Object.keys(NO_REBUILD));
  if (!o) return undefined;
  const at = (k: string) => joinPath(path, k);
  let result: RebuildResult | null | undefined = null;
  if (o.result !== null) {
    result = o.result === 'PASSED' || o.result === 'FAILED' ? o.result : undefined;
    if (result === undefined) f.report(at('result'), o.result === undefined ? 'MISSING' : 'INVALID_FORMAT', 'expected PASSED, FAILED or null');
  }
  const facts = {
    present: f.boolean(o.present, at('present')),
    verified: f.boolean(o.verified, at('verified')),
    failure: nullable(o.failure, at('failure'), (v, p) => f.string(v, p, TEXT)),
    result,
    rebuilderId: nullable(o.rebuilderId, at('rebuilderId'), (v, p) => f.string(v, p, TEXT)),
    rebuilderKeyid: nullable(o.rebuilderKeyid, at('rebuilderKeyid'), (v, p) => f.string(v, p, TEXT)),
    rebuiltDigest: nullable(o.rebuiltDigest, at('rebuiltDigest'), (v, p) => digest(f, v, p)),
    digestsMatch: f.boolean(o.digestsMatch, at('digestsMatch')),
    causes: strings(f, o.causes, at('causes'), 256),
  };
  return Object.values(facts).includes(undefined) ? undefined : (facts as RebuildFacts);
}

function findingFrom(f: Fields, raw: unknown, path: string): Finding | undefined {
  const o = f.object(raw, path, ['ruleId', 'severity', 'message', 'package', 'location', 'evidence', 'fingerprint']);
  if (!o) return undefined;
  const at = (k: string) => joinPath(path, k);
  const ruleId = f.string(o.ruleId, at('ruleId'), { maxLength: 256 });
  const severity = SEVERITIES.includes(o.severity as Severity) ? (o.severity as Severity) : undefined;
  if (severity === undefined) f.report(at('severity'), o.severity === undefined ? 'MISSING' : 'INVALID_FORMAT', `expected one of ${SEVERITIES.join(', ')}`);
  const message = f.string(o.message, at('message'), { maxLength: 65_536, empty: true });
  const fingerprint = f.string(o.fingerprint, at('fingerprint'), { maxLength: 256 });
  let pkg: Finding['package'] | undefined;
  if (o.package !== undefined) {
    const p = f.object(o.package, at('package'), ['name', 'version', 'path']);
    if (p) {
      const name = f.string(p.name, joinPath(at('package'), 'name'), { maxLength: 1024 });
      const version = f.string(p.version, joinPath(at('package'), 'version'), { maxLength: 256, empty: true });
      const pkgPath = f.optionalString(p.path, joinPath(at('package'), 'path'), { maxLength: 4096 });
      if (name !== undefined && version !== undefined) pkg = pkgPath === undefined ? { name, version } : { name, version, path: pkgPath };
    }
  }
  const l = f.object(o.location, at('location'), ['file', 'line', 'column', 'endLine', 'endColumn']);
  let location: Finding['location'] | undefined;
  if (l) {
    const lp = (k: string) => joinPath(at('location'), k);
    const file = f.string(l.file, lp('file'), { maxLength: 4096, empty: true });
    const line = f.integer(l.line, lp('line'), 0, 10_000_000);
    const optional: Record<string, number> = {};
    for (const k of ['column', 'endLine', 'endColumn'] as const) {
      if (l[k] === undefined) continue;
      const v = f.integer(l[k], lp(k), 0, 10_000_000);
      if (v !== undefined) optional[k] = v;
    }
    if (file !== undefined && line !== undefined) location = { file, line, ...optional };
  }
  const evidence = f.object(o.evidence, at('evidence'));
  if (ruleId === undefined || severity === undefined || message === undefined || fingerprint === undefined || location === undefined || evidence === undefined)
    return undefined;
  return { ruleId, severity, message, ...(pkg ? { package: pkg } : {}), location, evidence, fingerprint };
}

/**
 * Parses gate input JSON, reporting every bad or unknown field at once
 * (POLICY_INPUT_INVALID). Finding `evidence` objects are kept as they are; the kernel's
 * input caps bound them.
 */
export function gateInputFromJSON(raw: unknown): GateInput {
  const f = new Fields();
  const o = f.object(raw, '', ['schema', 'artifact', 'provenance', 'rebuild', 'sbom', 'scans', 'findings']);
  if (!o) return f.finish<GateInput>(undefined, 'POLICY_INPUT_INVALID', 'gate input');
  if (o.schema !== GATE_INPUT_SCHEMA) f.report('schema', o.schema === undefined ? 'MISSING' : 'UNSUPPORTED', `expected "${GATE_INPUT_SCHEMA}"`);
  const a = f.object(o.artifact, 'artifact', ['name', 'digest', 'rehashed']);
  let artifact: GateInput['artifact'] | undefined;
  if (a) {
    const name = nullable(a.name ?? null, 'artifact.name', (v, p) => f.string(v, p, { maxLength: 1024 }));
    const d = digest(f, a.digest, 'artifact.digest');
    const rehashed = nullable(a.rehashed, 'artifact.rehashed', (v, p) => digest(f, v, p));
    if (name !== undefined && d !== undefined && rehashed !== undefined) artifact = { name, digest: d, rehashed };
  }
  const provenance = provenanceFrom(f, o.provenance, 'provenance');
  const rebuild = rebuildFrom(f, o.rebuild, 'rebuild');
  const s = f.object(o.sbom, 'sbom', ['present', 'digest', 'components']);
  let sbom: GateInput['sbom'] | undefined;
  if (s) {
    const present = f.boolean(s.present, 'sbom.present');
    const d = nullable(s.digest, 'sbom.digest', (v, p) => digest(f, v, p));
    const components = f.integer(s.components, 'sbom.components', 0, 10_000_000);
    if (present !== undefined && d !== undefined && components !== undefined) sbom = { present, digest: d, components };
  }
  const sc = f.object(o.scans, 'scans', ['vulnerabilities', 'lockfile', 'secrets']);
  let scans: GateInput['scans'] | undefined;
  if (sc) {
    const vulnerabilities = f.boolean(sc.vulnerabilities, 'scans.vulnerabilities');
    const lockfile = f.boolean(sc.lockfile, 'scans.lockfile');
    const secrets = f.boolean(sc.secrets, 'scans.secrets');
    if (vulnerabilities !== undefined && lockfile !== undefined && secrets !== undefined) scans = { vulnerabilities, lockfile, secrets };
  }
  const list = f.array(o.findings, 'findings', MAX_FINDINGS);
  const findings = list?.map((item, i) => findingFrom(f, item, joinPath('findings', i)));
  const complete =
    artifact && provenance && rebuild && sbom && scans && findings?.every((x) => x !== undefined)
      ? { schema: GATE_INPUT_SCHEMA, artifact, provenance, rebuild, sbom, scans, findings: findings as Finding[] }
      : undefined;
  return f.finish<GateInput>(complete as GateInput | undefined, 'POLICY_INPUT_INVALID', 'gate input');
}
