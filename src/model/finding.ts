import type { Digest } from './digest.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Orders severities: higher is worse. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.length - SEVERITIES.indexOf(severity);
}

export interface FindingLocation {
  /** Path relative to the scanned folder, POSIX separators. */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, when known. */
  readonly column?: number;
  readonly endLine?: number;
  readonly endColumn?: number;
}

/**
 * One problem a scanner found, in the one shape every scanner (`cairn scan`, `cairn ci
 * audit`) emits, the gate reads and SARIF is written from.
 */
export interface Finding {
  /** Stable rule id, e.g. `osv-vulnerability`, `lockfile-sha1-integrity`, `gha-script-injection`. */
  readonly ruleId: string;
  readonly severity: Severity;
  readonly message: string;
  readonly package?: { readonly name: string; readonly version: string; readonly path?: string };
  readonly location: FindingLocation;
  /** Facts supporting the finding (advisory id, ranges, values); never a secret in clear. */
  readonly evidence: Readonly<Record<string, unknown>>;
  /** Stable identity across runs (digest of rule, location-independent key facts), for baselines. */
  readonly fingerprint: string;
}

/** The stable JSON document a scanner writes. */
export interface ScanReport {
  readonly tool: { readonly name: 'cairn'; readonly version: string; readonly scanner: string };
  /** Digests of every input that determined the result (lockfile, advisory database, …). */
  readonly inputs: Readonly<Record<string, Digest>>;
  readonly findings: readonly Finding[];
  /** Findings accepted by a baseline entry (with its reason and expiry), kept for the record. */
  readonly suppressed: readonly { readonly finding: Finding; readonly reason: string; readonly expires: string }[];
  readonly summary: Readonly<Record<Severity, number>>;
}
