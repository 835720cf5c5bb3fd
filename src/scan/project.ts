import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest } from '../crypto/jcs.js';
import type { Digest } from '../model/digest.js';
import { CairnError, InputError, InternalError } from '../model/errors.js';
import type { Finding, ScanReport, Severity } from '../model/finding.js';
import { type DependencyGraph, LOCKFILE_LIMITS, type RootManifest, rootManifestFromJson } from '../model/lockfile.js';
import { indexAdvisories, matchAdvisories } from './advisories.js';
import { applyBaseline, parseBaseline } from './baseline.js';
import { atOrAbove, buildReport, finding, mergeFindings, reportBytes } from './findings.js';
import { resolveBaseCommit, showAtRevision } from './git-base.js';
import { checkLockfile, diffLockfiles } from './lockfile-rules.js';
import { DEFAULT_BASELINE, DEFAULT_SCAN_POLICY, SBOM_MEDIA_TYPES, type SbomFormat, type ScanPolicy } from './policy.js';
import { findLockfiles, isLockfileName, LOCKFILE_NAMES, type NpmrcFacts, parseLockfile, parseNpmrc } from './lockfiles.js';
import { loadOsvDatabase, type OsvDatabase } from './osv-db.js';
import { checkManifests, checkRegistry, loadRegistrySnapshot, readCachedManifest, type TarballManifest, wantedVersions } from './registry.js';
import { cycloneDxJson, type SbomContext, validateCycloneDx } from './sbom.js';
import { checkSpdx23, spdxJson } from './spdx.js';
import { checkTyposquats, popularNames } from './typosquat.js';

export { DEFAULT_BASELINE, DEFAULT_SCAN_POLICY, SBOM_MEDIA_TYPES, type SbomFormat, type ScanPolicy } from './policy.js';

export interface ScanProjectOptions {
  readonly toolVersion: string;
  /** The clock, an input: release age and baseline expiry are judged at this time. */
  readonly now: Date;
  /** SOURCE_DATE_EPOCH for the SBOM timestamp; null or absent leaves it out. */
  readonly sourceDateEpoch?: number | null;
  /** An OSV database: a folder of OSV JSON, a zip, or an osv-scanner offline folder. */
  readonly osv?: string;
  /** A git revision whose lockfile is the base for the tampering and novelty rules. */
  readonly base?: string;
  /** Where git runs for `base` (a folder inside the repository, at the same place as `dir`); default `dir`. */
  readonly gitCwd?: string;
  /** A folder of registry packuments (`<name>.json`). */
  readonly registrySnapshot?: string;
  /** An npm cache folder (`~/.npm`): tarballs found there are compared with the packuments. */
  readonly npmCache?: string;
  /** A baseline file; default `.cairn-baseline.yaml` in `dir` when it exists; null: none. */
  readonly baseline?: string | null;
  /** The lockfile to read (relative to `dir`); default the first of LOCKFILE_NAMES present. */
  readonly lockfile?: string;
  readonly policy?: Partial<ScanPolicy>;
  /** default `cyclonedx` */
  readonly sbomFormat?: SbomFormat;
}

export interface ScanProjectResult {
  /** The lockfile read, relative to `dir`; null when the project has none (nothing else is produced then). */
  readonly lockfile: string | null;
  readonly graph: DependencyGraph | null;
  readonly sbom: ProjectSbom | null;
  readonly report: ScanReport;
  /** The report's stable JSON bytes (what `cairn scan --format json` prints). */
  readonly reportBytes: Buffer;
  readonly failOn: Severity;
  /** Unsuppressed findings at or above `failOn`: non-empty means the scan fails. */
  readonly failing: readonly Finding[];
  readonly advisories: {
    readonly digest: Digest;
    readonly records: number;
    readonly modifiedMax: string | null;
    readonly source: OsvDatabase['source'];
    readonly path: string;
  } | null;
}

async function readOptional(file: string, max: number, code: string): Promise<Buffer | null> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return null;
  if (info.size > max)
    throw new InputError(code, `${file}: ${info.size} bytes is over the limit of ${max}`, {
      problems: [{ code: 'TOO_LARGE', path: '', message: `larger than ${max} bytes` }],
    });
  return readFile(file);
}

function manifestOf(bytes: Buffer | null, file: string): RootManifest | undefined {
  return bytes ? rootManifestFromJson(bytes, file) : undefined;
}

/** Reads the base revision's lockfile (the same name, else any other family) and parses it. */
async function baseGraph(
  cwd: string,
  rev: string,
  head: string,
): Promise<{ graph: DependencyGraph | null; commit: string; file: string | null; digest: Digest | null }> {
  const commit = await resolveBaseCommit(cwd, rev);
  const dir = path.posix.dirname(head);
  const prefix = dir === '.' ? '' : `${dir}/`;
  const manifestBytes = await showAtRevision(cwd, commit, `${prefix}package.json`, 4 * 1024 * 1024);
  let manifest: RootManifest | undefined;
  try {
    manifest = manifestOf(manifestBytes, `${commit.slice(0, 12)}:package.json`);
  } catch {
    manifest = undefined;
  }
  const names = [head, ...LOCKFILE_NAMES.map((n) => `${prefix}${n}`).filter((n) => n !== head)];
  for (const name of names) {
    const bytes = await showAtRevision(cwd, commit, name, LOCKFILE_LIMITS.maxBytes);
    if (bytes === null) continue;
    return { graph: parseLockfile(name, bytes, manifest), commit, file: name, digest: sha256Digest(bytes) };
  }
  return { graph: null, commit, file: null, digest: null };
}

function emptyGraphLike(head: DependencyGraph): DependencyGraph {
  return { ...head, root: { ...head.root, dependsOn: [] }, packages: [] };
}

interface ProjectFiles {
  readonly lockName: string;
  /** Every lockfile present, the scanned one first. */
  readonly found: readonly string[];
  readonly graph: DependencyGraph;
  readonly inputs: Record<string, Digest>;
  readonly npmrc: NpmrcFacts | null;
}

/** Reads a project's lockfile (with its package.json and .npmrc) into the graph; null when it has no lockfile. */
async function readProject(dir: string, lockfile: string | undefined): Promise<ProjectFiles | null> {
  const found = lockfile ? [lockfile] : await findLockfiles(dir);
  const lockName = found[0];
  if (lockName === undefined) return null;
  if (!isLockfileName(path.posix.basename(lockName)))
    throw new InputError('SCAN_LOCKFILE_UNSUPPORTED', `${lockName}: not a lockfile cairn reads (${LOCKFILE_NAMES.join(', ')})`);
  const inputs: Record<string, Digest> = {};
  const lockBytes = await readOptional(path.join(dir, lockName), LOCKFILE_LIMITS.maxBytes, 'SCAN_LOCKFILE_TOO_LARGE');
  if (lockBytes === null) throw new InputError('SCAN_LOCKFILE_NOT_FOUND', `${path.join(dir, lockName)}: no such lockfile`);
  inputs[`lockfile:${lockName}`] = sha256Digest(lockBytes);
  const manifestBytes = await readOptional(path.join(dir, 'package.json'), 4 * 1024 * 1024, 'SCAN_MANIFEST_MALFORMED');
  if (manifestBytes) inputs['manifest:package.json'] = sha256Digest(manifestBytes);
  const manifest = manifestOf(manifestBytes, 'package.json');
  const npmrcBytes = await readOptional(path.join(dir, '.npmrc'), 256 * 1024, 'SCAN_NPMRC_TOO_LARGE');
  if (npmrcBytes) inputs['npmrc:.npmrc'] = sha256Digest(npmrcBytes);
  const graph = parseLockfile(lockName, lockBytes, manifest);
  return { lockName, found, graph, inputs, npmrc: npmrcBytes ? parseNpmrc(npmrcBytes.toString('utf8')) : null };
}

export interface ProjectSbom {
  readonly format: SbomFormat;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly digest: Digest;
  /** Distinct package name@version components (links and workspaces excluded). */
  readonly components: number;
}

/** Writes the SBOM bytes and checks them (CycloneDX: the library's strict validator; SPDX: checkSpdx23) before anything relies on them. */
async function sbomOf(graph: DependencyGraph, format: SbomFormat, context: SbomContext): Promise<ProjectSbom> {
  const text = format === 'spdx' ? spdxJson(graph, context) : cycloneDxJson(graph, context);
  const problems = format === 'spdx' ? checkSpdx23(JSON.parse(text)) : await validateCycloneDx(text);
  if (problems.length > 0) {
    throw new InternalError('SCAN_SBOM_INVALID', `the ${format} SBOM cairn wrote does not validate: ${problems[0]?.path} ${problems[0]?.message}`, {
      problems,
    });
  }
  const bytes = Buffer.from(text, 'utf8');
  const components = new Set(graph.packages.filter((p) => p.source !== 'link' && p.source !== 'workspace').map((p) => `${p.name}@${p.version}`)).size;
  return { format, mediaType: SBOM_MEDIA_TYPES[format], bytes, digest: sha256Digest(bytes), components };
}

export interface ProjectSbomOptions {
  readonly toolVersion: string;
  readonly sourceDateEpoch?: number | null;
  readonly format?: SbomFormat;
  readonly lockfile?: string;
}

/** The SBOM of a project's lockfile alone (what `cairn sbom` prints); null when the project has no lockfile. */
export async function projectSbom(
  dir: string,
  options: ProjectSbomOptions,
): Promise<(ProjectSbom & { readonly lockfile: string; readonly inputs: Readonly<Record<string, Digest>> }) | null> {
  const read = await readProject(dir, options.lockfile);
  if (read === null) return null;
  const sbom = await sbomOf(read.graph, options.format ?? 'cyclonedx', { toolVersion: options.toolVersion, sourceDateEpoch: options.sourceDateEpoch ?? null });
  return { ...sbom, lockfile: read.lockName, inputs: read.inputs };
}

/**
 * Scans a project folder in one deterministic offline pass: reads its lockfile (npm, pnpm
 * or yarn) into the dependency graph, writes the SBOM (CycloneDX 1.6, validated by the
 * CycloneDX library's offline validator, or SPDX 2.3), and reports advisories, lockfile
 * integrity, typosquats, dependency confusion, base-revision tampering and registry
 * metadata mismatches as findings. Every input that determined the result is digested into
 * `report.inputs`. Throws for bad input (a CairnError with a SCAN_* code).
 */
export async function scanProject(dir: string, options: ScanProjectOptions): Promise<ScanProjectResult> {
  const policy: ScanPolicy = { ...DEFAULT_SCAN_POLICY, ...options.policy };
  const inputs: Record<string, Digest> = {};
  const format = options.sbomFormat ?? 'cyclonedx';
  const popular = popularNames();
  inputs['popular-names'] = popular.digest;
  const read = await readProject(dir, options.lockfile);
  if (read === null) {
    const report = buildReport(options.toolVersion, inputs, [], []);
    return { lockfile: null, graph: null, sbom: null, report, reportBytes: reportBytes(report), failOn: policy.failOn, failing: [], advisories: null };
  }
  const { lockName, found, graph } = read;
  Object.assign(inputs, read.inputs);
  let effective = policy;
  if (read.npmrc) {
    effective = {
      ...policy,
      allowedHosts:
        read.npmrc.registryHost && !policy.allowedHosts.includes(read.npmrc.registryHost)
          ? [...policy.allowedHosts, read.npmrc.registryHost]
          : policy.allowedHosts,
      scopeRegistries: { ...read.npmrc.scopeRegistries, ...policy.scopeRegistries },
    };
  }
  const sbom = await sbomOf(graph, format, { toolVersion: options.toolVersion, sourceDateEpoch: options.sourceDateEpoch ?? null });

  const findings: Finding[] = [...checkLockfile(graph, effective), ...checkTyposquats(graph, popular)];
  for (const other of found.slice(1)) {
    findings.push(
      finding({
        ruleId: 'lockfile-multiple',
        severity: 'low',
        message: `${other} is ignored: ${lockName} takes precedence; keep one lockfile so every tool installs the same tree`,
        location: { file: other, line: 1 },
        evidence: { scanned: lockName, ignored: other },
        key: other,
      }),
    );
  }

  let advisories: ScanProjectResult['advisories'] = null;
  if (options.osv !== undefined) {
    const db = await loadOsvDatabase(options.osv);
    inputs['osv-database'] = db.digest;
    advisories = { digest: db.digest, records: db.records.length, modifiedMax: db.modifiedMax, source: db.source, path: db.path };
    findings.push(...matchAdvisories(graph, indexAdvisories(db.records)));
  }

  let added: ReadonlySet<string> | null = null;
  if (options.base !== undefined) {
    const base = await baseGraph(options.gitCwd ?? dir, options.base, lockName);
    if (base.digest && base.file) inputs[`base:${base.commit}:${base.file}`] = base.digest;
    else inputs[`base:${base.commit}`] = sha256Digest('');
    const diff = diffLockfiles(base.graph ?? emptyGraphLike(graph), graph);
    findings.push(...diff.findings);
    added = diff.added;
  }

  if (options.registrySnapshot !== undefined) {
    const snapshot = await loadRegistrySnapshot(options.registrySnapshot, wantedVersions(graph));
    inputs['registry-snapshot'] = snapshot.digest;
    findings.push(...checkRegistry(graph, snapshot, { now: options.now, minReleaseAgeDays: effective.minReleaseAgeDays, newVersions: added }));
    if (options.npmCache !== undefined) {
      const tarballs = new Map<string, TarballManifest>();
      for (const node of graph.packages) {
        if (node.integrity === null || tarballs.has(node.integrity) || !snapshot.packuments.get(node.name)?.has(node.version)) continue;
        const read = await readCachedManifest(options.npmCache, node.integrity);
        if (read) tarballs.set(node.integrity, read);
      }
      inputs['npm-cache-tarballs'] = canonicalDigest([...tarballs.keys()].sort());
      findings.push(...checkManifests(graph, snapshot, tarballs));
    }
  }
  inputs.policy = canonicalDigest({ policy: effective, now: options.now.toISOString() });

  let merged = mergeFindings(findings);
  let suppressed: ScanReport['suppressed'] = [];
  const baselineFile = options.baseline === undefined ? path.join(dir, DEFAULT_BASELINE) : options.baseline;
  if (baselineFile !== null) {
    const bytes = await readOptional(baselineFile, 1024 * 1024, 'SCAN_BASELINE_INVALID').catch((error: unknown) => {
      if (error instanceof CairnError) throw error;
      return null;
    });
    if (bytes === null && options.baseline !== undefined && options.baseline !== null)
      throw new InputError('SCAN_BASELINE_INVALID', `${baselineFile}: no such file`);
    if (bytes !== null) {
      const relative = path.relative(dir, baselineFile).split(path.sep).join('/');
      const name = relative.startsWith('..') ? path.basename(baselineFile) : relative;
      inputs[`baseline:${name}`] = sha256Digest(bytes);
      const applied = applyBaseline(merged, parseBaseline(bytes, name), options.now);
      merged = mergeFindings([...applied.findings, ...applied.problems]);
      suppressed = applied.suppressed;
    }
  }
  const report = buildReport(options.toolVersion, inputs, merged, suppressed);
  return {
    lockfile: lockName,
    graph,
    sbom,
    report,
    reportBytes: reportBytes(report),
    failOn: policy.failOn,
    failing: atOrAbove(merged, policy.failOn),
    advisories,
  };
}
