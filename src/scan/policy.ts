import type { Severity } from '../model/finding.js';
import { DEFAULT_ALLOWED_HOSTS, type LockfilePolicy } from './lockfile-rules.js';

/** What the scan enforces; every field has a default. */
export interface ScanPolicy extends LockfilePolicy {
  /** Findings at or above this severity fail the scan (`cairn scan` exits 1; the gate denies). */
  readonly failOn: Severity;
  /** With a registry snapshot: new versions younger than this many days are reported (0: off). */
  readonly minReleaseAgeDays: number;
}

export const DEFAULT_SCAN_POLICY: ScanPolicy = {
  allowedHosts: DEFAULT_ALLOWED_HOSTS,
  privateScopes: [],
  privateNames: [],
  scopeRegistries: {},
  failOn: 'high',
  minReleaseAgeDays: 3,
};

export type SbomFormat = 'cyclonedx' | 'spdx';

export const SBOM_MEDIA_TYPES: Readonly<Record<SbomFormat, string>> = {
  cyclonedx: 'application/vnd.cyclonedx+json',
  spdx: 'application/spdx+json',
};

/** The baseline file used when none is named. */
export const DEFAULT_BASELINE = '.cairn-baseline.yaml';
