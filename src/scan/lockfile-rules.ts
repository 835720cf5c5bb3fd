import type { Finding } from '../model/finding.js';
import { type DependencyGraph, type DependencyNode, registryTarballOf, resolvedUrl } from '../model/lockfile.js';
import { finding, packageOf } from './findings.js';

/** Registries anyone can publish to: a private name resolved from one of them is dependency confusion. */
export const PUBLIC_REGISTRY_HOSTS: readonly string[] = ['registry.npmjs.org', 'registry.yarnpkg.com', 'registry.npmmirror.com', 'registry.npmjs.com'];

/** Hosts allowed by default in `resolved` URLs. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['registry.npmjs.org', 'registry.yarnpkg.com'];

export interface LockfilePolicy {
  /** Hostnames a registry tarball may come from. */
  readonly allowedHosts: readonly string[];
  /** Scopes (`@acme`) that belong to the organisation and must never come from a public registry. */
  readonly privateScopes: readonly string[];
  /** Unscoped names that are private in the same way. */
  readonly privateNames: readonly string[];
  /** Scope → registry host, from the project's `.npmrc` (`@acme:registry=https://npm.acme.example/`). */
  readonly scopeRegistries: Readonly<Record<string, string>>;
}

export const DEFAULT_LOCKFILE_POLICY: LockfilePolicy = { allowedHosts: DEFAULT_ALLOWED_HOSTS, privateScopes: [], privateNames: [], scopeRegistries: {} };

export interface IntegrityHash {
  readonly algorithm: 'sha512' | 'sha384' | 'sha256' | 'sha1';
  readonly base64: string;
}

const DIGEST_BYTES: Readonly<Record<IntegrityHash['algorithm'], number>> = { sha512: 64, sha384: 48, sha256: 32, sha1: 20 };

function isBase64(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || (c === 0x3d && i >= s.length - 2);
    if (!ok) return false;
  }
  return s.length % 4 === 0;
}

/**
 * The hashes of an SRI string (`sha512-… sha1-…`); unknown algorithms and malformed parts
 * are left out, options after `?` ignored. Each digest must have its algorithm's length.
 */
export function parseIntegrity(sri: string): IntegrityHash[] {
  if (sri.length > 4096) return [];
  const out: IntegrityHash[] = [];
  for (const part of sri.split(/\s+/)) {
    const dash = part.indexOf('-');
    if (dash < 0) continue;
    const algorithm = part.slice(0, dash);
    if (!(algorithm in DIGEST_BYTES)) continue;
    const base64 = part.slice(dash + 1).split('?')[0] ?? '';
    if (!isBase64(base64) || Buffer.from(base64, 'base64').length !== DIGEST_BYTES[algorithm as IntegrityHash['algorithm']]) continue;
    out.push({ algorithm: algorithm as IntegrityHash['algorithm'], base64 });
  }
  return out;
}

function scopeOf(name: string): string | null {
  return name.startsWith('@') && name.includes('/') ? name.slice(0, name.indexOf('/')) : null;
}

function at(graph: DependencyGraph, node: DependencyNode) {
  return { package: packageOf(node), location: { file: graph.file, line: node.line } };
}

/** Whether the rules about registry tarballs apply (not git, links, workspaces or local folders). */
function isArchive(node: DependencyNode): boolean {
  return node.source === 'registry' || node.source === 'tarball';
}

function integrityFindings(graph: DependencyGraph, node: DependencyNode): Finding[] {
  if (!isArchive(node)) return [];
  if (graph.format === 'yarn-berry') {
    if (node.checksum !== null || node.source !== 'registry') return [];
    return [
      finding({
        ruleId: 'lockfile-missing-integrity',
        severity: 'high',
        message: `${node.name}@${node.version} has no checksum in ${graph.file}`,
        ...at(graph, node),
        evidence: { format: graph.format },
      }),
    ];
  }
  if (node.integrity === null) {
    return [
      finding({
        ruleId: 'lockfile-missing-integrity',
        severity: 'high',
        message: `${node.name}@${node.version} has no integrity in ${graph.file}: nothing pins its bytes`,
        ...at(graph, node),
        evidence: { resolved: node.resolved },
      }),
    ];
  }
  const hashes = parseIntegrity(node.integrity);
  if (hashes.length === 0) {
    return [
      finding({
        ruleId: 'lockfile-invalid-integrity',
        severity: 'high',
        message: `${node.name}@${node.version} has an integrity value that is not a well-formed SRI hash`,
        ...at(graph, node),
        evidence: { integrity: node.integrity.slice(0, 200) },
        key: node.integrity,
      }),
    ];
  }
  if (!hashes.some((h) => h.algorithm === 'sha512')) {
    const algorithms = [...new Set(hashes.map((h) => h.algorithm))].sort();
    return [
      finding({
        ruleId: 'lockfile-weak-integrity',
        severity: 'high',
        message: `${node.name}@${node.version} is pinned only by ${algorithms.join(', ')}, not sha512`,
        ...at(graph, node),
        evidence: { algorithms, integrity: node.integrity },
        key: algorithms,
      }),
    ];
  }
  return [];
}

function urlFindings(graph: DependencyGraph, node: DependencyNode, policy: LockfilePolicy): Finding[] {
  if (node.resolved === null) return [];
  const out: Finding[] = [];
  const url = resolvedUrl(node.resolved.split('#')[0] ?? '');
  const scheme = node.resolved.startsWith('git+') ? `git+${url?.protocol ?? ''}` : (url?.protocol ?? '');
  if (url && (url.protocol === 'http:' || url.protocol === 'git:')) {
    out.push(
      finding({
        ruleId: 'lockfile-insecure-protocol',
        severity: 'high',
        message: `${node.name}@${node.version} is fetched over ${scheme.replace(/:$/, '')}, which anyone on the path can change`,
        ...at(graph, node),
        evidence: { resolved: node.resolved, scheme },
        key: scheme,
      }),
    );
  }
  if (!url || node.source !== 'registry') return out;
  const host = url.hostname.toLowerCase();
  if (!policy.allowedHosts.includes(host) && !policy.allowedHosts.includes(url.host.toLowerCase())) {
    out.push(
      finding({
        ruleId: 'lockfile-disallowed-host',
        severity: 'high',
        message: `${node.name}@${node.version} resolves to ${host}, which is not an allowed registry host`,
        ...at(graph, node),
        evidence: { resolved: node.resolved, host, allowedHosts: [...policy.allowedHosts] },
        key: host,
      }),
    );
  }
  const tarball = registryTarballOf(url);
  if (tarball) {
    if (tarball.name !== node.name) {
      out.push(
        finding({
          ruleId: 'lockfile-name-mismatch',
          severity: 'high',
          message: `${graph.file} says ${node.name}@${node.version} but its tarball URL names the package ${tarball.name}`,
          ...at(graph, node),
          evidence: { resolved: node.resolved, urlName: tarball.name },
          key: tarball.name,
        }),
      );
    } else {
      const base = node.name.startsWith('@') ? node.name.slice(node.name.indexOf('/') + 1) : node.name;
      if (tarball.file !== `${base}-${node.version}.tgz`) {
        out.push(
          finding({
            ruleId: 'lockfile-version-mismatch',
            severity: 'high',
            message: `${graph.file} says ${node.name}@${node.version} but its tarball URL is ${tarball.file}`,
            ...at(graph, node),
            evidence: { resolved: node.resolved, urlFile: tarball.file },
            key: tarball.file,
          }),
        );
      }
    }
  }
  return out;
}

const SOURCE_RULES = {
  git: { ruleId: 'lockfile-git-source', severity: 'medium', what: 'a git repository (no registry integrity, can run prepare scripts)' },
  tarball: { ruleId: 'lockfile-tarball-source', severity: 'medium', what: 'a tarball URL outside any registry' },
  file: { ruleId: 'lockfile-file-source', severity: 'low', what: 'a local path' },
  unknown: { ruleId: 'lockfile-unknown-source', severity: 'medium', what: 'a source cairn cannot classify' },
} as const;

function sourceFindings(graph: DependencyGraph, node: DependencyNode): Finding[] {
  const rule = node.source === 'git' || node.source === 'tarball' || node.source === 'file' || node.source === 'unknown' ? SOURCE_RULES[node.source] : null;
  if (!rule) return [];
  return [
    finding({
      ruleId: rule.ruleId,
      severity: rule.severity,
      message: `${node.name}@${node.version} comes from ${rule.what}: ${node.resolved ?? '(no resolved value)'}`,
      ...at(graph, node),
      evidence: { resolved: node.resolved, source: node.source },
      key: node.resolved,
    }),
  ];
}

function confusionFindings(graph: DependencyGraph, node: DependencyNode, policy: LockfilePolicy): Finding[] {
  const scope = scopeOf(node.name);
  const privateByScope = scope !== null && (policy.privateScopes.includes(scope) || scope in policy.scopeRegistries);
  if (!privateByScope && !policy.privateNames.includes(node.name)) return [];
  const url = node.resolved ? resolvedUrl(node.resolved) : null;
  if (!url) return [];
  const host = url.hostname.toLowerCase();
  const expected = scope !== null ? policy.scopeRegistries[scope] : undefined;
  const wrong = PUBLIC_REGISTRY_HOSTS.includes(host) || (expected !== undefined && expected !== host && expected !== url.host.toLowerCase());
  if (!wrong) return [];
  return [
    finding({
      ruleId: 'dependency-confusion',
      severity: 'critical',
      message: `${node.name} is declared private but ${graph.file} resolves it from ${host}${expected ? ` instead of ${expected}` : ', a public registry'}`,
      ...at(graph, node),
      evidence: { resolved: node.resolved, host, expectedHost: expected ?? null, privateScope: privateByScope ? scope : null },
      key: host,
    }),
  ];
}

/**
 * The lockfile integrity rules over one graph, pure: integrity present and sha512; https;
 * registry tarballs from allowed hosts and naming the package and version the lockfile
 * says; git, tarball, file and unknown sources flagged; private names from public registries
 * (dependency confusion); an inventory of install scripts.
 */
export function checkLockfile(graph: DependencyGraph, policy: LockfilePolicy = DEFAULT_LOCKFILE_POLICY): Finding[] {
  const out: Finding[] = [];
  for (const node of graph.packages) {
    if (node.source === 'link' || node.source === 'workspace') continue;
    out.push(...integrityFindings(graph, node), ...urlFindings(graph, node, policy), ...sourceFindings(graph, node), ...confusionFindings(graph, node, policy));
    if (node.installScript === true) {
      out.push(
        finding({
          ruleId: 'lockfile-install-script',
          severity: 'info',
          message: `${node.name}@${node.version} runs an install script`,
          ...at(graph, node),
          evidence: {},
        }),
      );
    }
  }
  return out;
}

/** Registry hosts that serve the same package URLs (yarn's mirror of npm). */
function normalisedResolved(resolved: string): string {
  return (resolved.split('#')[0] ?? '').replace('://registry.yarnpkg.com/', '://registry.npmjs.org/');
}

function sameIntegrity(a: string, b: string): boolean {
  const ha = parseIntegrity(a);
  const hb = parseIntegrity(b);
  if (ha.length === 0 || hb.length === 0) return a === b;
  // Equal when every algorithm both name has the same digest, and they share at least one.
  let shared = 0;
  for (const x of ha)
    for (const y of hb) {
      if (x.algorithm !== y.algorithm) continue;
      if (x.base64 !== y.base64) return false;
      shared++;
    }
  return shared > 0;
}

export interface LockfileDiff {
  readonly findings: Finding[];
  /** `name@version` of every package version the head has and the base had not. */
  readonly added: ReadonlySet<string>;
}

/**
 * Compares a head lockfile with its base (another revision, possibly another format): the
 * same name@version with another integrity (tampering) or another resolved URL, install
 * scripts that are new, and non-registry sources that are new.
 */
export function diffLockfiles(base: DependencyGraph, head: DependencyGraph): LockfileDiff {
  const baseByKey = new Map<string, DependencyNode>();
  const baseByName = new Map<string, DependencyNode[]>();
  for (const n of base.packages) {
    const key = `${n.name}@${n.version}`;
    if (!baseByKey.has(key)) baseByKey.set(key, n);
    baseByName.set(n.name, [...(baseByName.get(n.name) ?? []), n]);
  }
  const out: Finding[] = [];
  const added = new Set<string>();
  const seen = new Set<string>();
  for (const node of head.packages) {
    const key = `${node.name}@${node.version}`;
    if (node.source === 'link' || node.source === 'workspace' || seen.has(key)) continue;
    seen.add(key);
    const where = at(head, node);
    const before = baseByKey.get(key);
    const sameName = baseByName.get(node.name) ?? [];
    if (before) {
      const integrityChanged =
        (before.integrity !== null && (node.integrity === null || !sameIntegrity(before.integrity, node.integrity))) ||
        (before.checksum !== null &&
          node.checksum !== null &&
          before.checksum.split('/')[0] === node.checksum.split('/')[0] &&
          before.checksum !== node.checksum);
      if (integrityChanged) {
        out.push(
          finding({
            ruleId: 'lockfile-integrity-changed',
            severity: 'critical',
            message: `${key} has another integrity than in the base lockfile: the same version cannot have other bytes`,
            ...where,
            evidence: { base: before.integrity ?? before.checksum, head: node.integrity ?? node.checksum, baseFile: base.file },
            key: { base: before.integrity ?? before.checksum, head: node.integrity ?? node.checksum },
          }),
        );
      }
      if (before.resolved !== null && node.resolved !== null && normalisedResolved(before.resolved) !== normalisedResolved(node.resolved)) {
        out.push(
          finding({
            ruleId: 'lockfile-resolved-changed',
            severity: 'high',
            message: `${key} now resolves to ${node.resolved} (was ${before.resolved})`,
            ...where,
            evidence: { base: before.resolved, head: node.resolved, baseFile: base.file },
            key: { base: before.resolved, head: node.resolved },
          }),
        );
      }
    } else {
      added.add(key);
    }
    // New when no base version of the name had one; unknown in the base (npm v1, pnpm 9, yarn) is not "had none".
    if (node.installScript === true && sameName.every((b) => b.installScript === false)) {
      out.push(
        finding({
          ruleId: 'lockfile-new-install-script',
          severity: 'high',
          message: `${key} runs an install script that the base lockfile's ${node.name} did not`,
          ...where,
          evidence: { baseVersions: sameName.map((b) => b.version).sort() },
        }),
      );
    }
    const nonRegistry = node.source === 'git' || node.source === 'tarball' || node.source === 'file' || node.source === 'unknown';
    if (
      nonRegistry &&
      !sameName.some((b) => b.resolved !== null && node.resolved !== null && normalisedResolved(b.resolved) === normalisedResolved(node.resolved))
    ) {
      out.push(
        finding({
          ruleId: 'lockfile-new-non-registry-source',
          severity: 'high',
          message: `${key} newly comes from ${node.source} source ${node.resolved ?? '(none)'}`,
          ...where,
          evidence: { source: node.source, resolved: node.resolved, baseSources: sameName.map((b) => b.source).sort() },
          key: node.resolved,
        }),
      );
    }
  }
  return { findings: out, added };
}
