import { canonicalDigest } from '../crypto/jcs.js';
import { digestHex } from '../model/digest.js';
import type { Digest } from '../model/digest.js';
import type { DependencyNode } from '../model/lockfile.js';
import { type Finding, type FindingLocation, SEVERITIES, type ScanReport, type Severity, severityRank } from '../model/finding.js';

export const SCANNER_ID = 'cairn-scan/1';

export interface FindingDraft {
  readonly ruleId: string;
  readonly severity: Severity;
  readonly message: string;
  readonly package?: { readonly name: string; readonly version: string; readonly path?: string };
  readonly location: FindingLocation;
  readonly evidence: Readonly<Record<string, unknown>>;
  /** The location-independent facts that identify this finding across runs (advisory id, URL, …). */
  readonly key?: unknown;
}

/** A finding with its fingerprint: the digest of rule, package name and version, and `key`. */
export function finding(draft: FindingDraft): Finding {
  const { key, ...rest } = draft;
  const identity = { ruleId: draft.ruleId, package: draft.package ? { name: draft.package.name, version: draft.package.version } : null, key: key ?? null };
  return { ...rest, fingerprint: digestHex(canonicalDigest(identity)) };
}

/** The package fields of a finding about a lockfile node. */
export function packageOf(node: DependencyNode): { name: string; version: string; path: string } {
  return { name: node.name, version: node.version, path: node.path };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stable order: file, line, rule, package, version, fingerprint (code-point order, locale-free). */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    compareStrings(a.location.file, b.location.file) ||
    a.location.line - b.location.line ||
    compareStrings(a.ruleId, b.ruleId) ||
    compareStrings(a.package?.name ?? '', b.package?.name ?? '') ||
    compareStrings(a.package?.version ?? '', b.package?.version ?? '') ||
    compareStrings(a.fingerprint, b.fingerprint)
  );
}

/**
 * Merges findings with the same fingerprint (one package installed at several paths): the
 * first location is kept and `evidence.paths` lists every install path.
 */
export function mergeFindings(findings: readonly Finding[]): Finding[] {
  const byPrint = new Map<string, { finding: Finding; paths: Set<string> }>();
  for (const f of [...findings].sort(compareFindings)) {
    const seen = byPrint.get(f.fingerprint);
    if (!seen) byPrint.set(f.fingerprint, { finding: f, paths: new Set(f.package?.path ? [f.package.path] : []) });
    else if (f.package?.path) seen.paths.add(f.package.path);
  }
  return [...byPrint.values()]
    .map(({ finding: f, paths }) => (paths.size > 1 ? { ...f, evidence: { ...f.evidence, paths: [...paths].sort() } } : f))
    .sort(compareFindings);
}

export function summaryOf(findings: readonly Finding[]): Record<Severity, number> {
  const summary = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of findings) summary[f.severity]++;
  return summary;
}

/** Findings at or above `threshold`. */
export function atOrAbove(findings: readonly Finding[], threshold: Severity): Finding[] {
  return findings.filter((f) => severityRank(f.severity) >= severityRank(threshold));
}

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

export function buildReport(
  toolVersion: string,
  inputs: Readonly<Record<string, Digest>>,
  findings: readonly Finding[],
  suppressed: ScanReport['suppressed'],
): ScanReport {
  const sortedInputs = Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => compareStrings(a, b)));
  return {
    tool: { name: 'cairn', version: toolVersion, scanner: SCANNER_ID },
    inputs: sortedInputs,
    findings,
    suppressed: [...suppressed].sort((a, b) => compareFindings(a.finding, b.finding)),
    summary: summaryOf(findings),
  };
}

/** The stable JSON bytes of a report: fixed member order, two-space indent, final newline. */
export function reportBytes(report: ScanReport): Buffer {
  return Buffer.from(`${JSON.stringify(report, null, 2)}\n`, 'utf8');
}
