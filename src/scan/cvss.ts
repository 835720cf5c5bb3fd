import type { Severity } from '../model/finding.js';

/** A CVSS vector read from an advisory. v3.x vectors carry their computed base score; v4.0 vectors are checked but not scored. */
export type CvssVector =
  | { readonly version: '3.0' | '3.1'; readonly vector: string; readonly baseScore: number; readonly severity: Severity }
  | { readonly version: '4.0'; readonly vector: string };

const V3_WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;
const V3_BASE = ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'] as const;
const V3_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'R'],
  S: ['U', 'C'],
  C: ['H', 'L', 'N'],
  I: ['H', 'L', 'N'],
  A: ['H', 'L', 'N'],
  E: ['X', 'U', 'P', 'F', 'H'],
  RL: ['X', 'O', 'T', 'W', 'U'],
  RC: ['X', 'U', 'R', 'C'],
  CR: ['X', 'L', 'M', 'H'],
  IR: ['X', 'L', 'M', 'H'],
  AR: ['X', 'L', 'M', 'H'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'R'],
  MS: ['X', 'U', 'C'],
  MC: ['X', 'N', 'L', 'H'],
  MI: ['X', 'N', 'L', 'H'],
  MA: ['X', 'N', 'L', 'H'],
};
const V4_BASE = ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA'] as const;
const V4_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  AT: ['N', 'P'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'P', 'A'],
  VC: ['H', 'L', 'N'],
  VI: ['H', 'L', 'N'],
  VA: ['H', 'L', 'N'],
  SC: ['H', 'L', 'N'],
  SI: ['H', 'L', 'N'],
  SA: ['H', 'L', 'N'],
  E: ['X', 'A', 'P', 'U'],
  CR: ['X', 'H', 'M', 'L'],
  IR: ['X', 'H', 'M', 'L'],
  AR: ['X', 'H', 'M', 'L'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MAT: ['X', 'N', 'P'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'P', 'A'],
  MVC: ['X', 'H', 'L', 'N'],
  MVI: ['X', 'H', 'L', 'N'],
  MVA: ['X', 'H', 'L', 'N'],
  MSC: ['X', 'H', 'L', 'N'],
  MSI: ['X', 'S', 'H', 'L', 'N'],
  MSA: ['X', 'S', 'H', 'L', 'N'],
  S: ['X', 'N', 'P'],
  AU: ['X', 'N', 'Y'],
  R: ['X', 'A', 'U', 'I'],
  V: ['X', 'D', 'C'],
  RE: ['X', 'L', 'M', 'H'],
  U: ['X', 'Clear', 'Green', 'Amber', 'Red'],
};

/** The metrics of a vector after its `CVSS:x.y/` prefix; null when a metric repeats, is unknown or has a bad value. */
function metricsOf(body: string, allowed: Readonly<Record<string, readonly string[]>>): Map<string, string> | null {
  if (body.length > 512) return null;
  const metrics = new Map<string, string>();
  for (const part of body.split('/')) {
    const colon = part.indexOf(':');
    if (colon <= 0) return null;
    const key = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (metrics.has(key) || !allowed[key]?.includes(value)) return null;
    metrics.set(key, value);
  }
  return metrics;
}

/** CVSS v3.1 Roundup: the smallest one-decimal number at or above the input, free of float error. */
function roundUp(value: number): number {
  const scaled = Math.round(value * 100_000);
  return scaled % 10_000 === 0 ? scaled / 100_000 : (Math.floor(scaled / 10_000) + 1) / 10;
}

/** The qualitative rating of a CVSS score (v3 and v4 share the bands). */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'info';
}

/** The CVSS v3.0/v3.1 base score of a vector, by the specification's formula. */
function v3BaseScore(m: ReadonlyMap<string, string>): number {
  const get = (k: string) => m.get(k) as string;
  const changed = get('S') === 'C';
  const pr = get('PR') === 'N' ? 0.85 : get('PR') === 'L' ? (changed ? 0.68 : 0.62) : changed ? 0.5 : 0.27;
  const cia = (k: string) => V3_WEIGHTS.CIA[get(k) as 'H' | 'L' | 'N'];
  const iss = 1 - (1 - cia('C')) * (1 - cia('I')) * (1 - cia('A'));
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * V3_WEIGHTS.AV[get('AV') as 'N'] * V3_WEIGHTS.AC[get('AC') as 'L'] * pr * V3_WEIGHTS.UI[get('UI') as 'N'];
  if (impact <= 0) return 0;
  return changed ? roundUp(Math.min(1.08 * (impact + exploitability), 10)) : roundUp(Math.min(impact + exploitability, 10));
}

/** Reads a CVSS v3.x or v4.0 vector string; null when it is not a well-formed one. */
export function parseCvss(vector: string): CvssVector | null {
  if (vector.startsWith('CVSS:3.0/') || vector.startsWith('CVSS:3.1/')) {
    const m = metricsOf(vector.slice(9), V3_ALLOWED);
    if (!m || !V3_BASE.every((k) => m.has(k))) return null;
    const baseScore = v3BaseScore(m);
    return { version: vector.startsWith('CVSS:3.0/') ? '3.0' : '3.1', vector, baseScore, severity: severityOfScore(baseScore) };
  }
  if (vector.startsWith('CVSS:4.0/')) {
    const m = metricsOf(vector.slice(9), V4_ALLOWED);
    if (!m || !V4_BASE.every((k) => m.has(k))) return null;
    return { version: '4.0', vector };
  }
  return null;
}
