import { canonicalize } from '../crypto/jcs.js';
import type { LoadedBundle } from './bundle.js';
import { evaluateGate, type GateOptions, type PolicyDecision } from './gate.js';
import type { StoredDecision } from './registry.js';

export interface Replay {
  /** The recomputed decision's JCS bytes equal the stored one's. */
  readonly identical: boolean;
  readonly recomputed: PolicyDecision;
  /** Paths where the two differ (at most 20), for people. */
  readonly differences: readonly string[];
}

function diff(a: unknown, b: unknown, path: string, out: string[], depth = 0): void {
  if (out.length >= 20) return;
  if (depth > 64) {
    if (canonicalize(a) !== canonicalize(b)) out.push(path || '(root)');
    return;
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path} (length ${a.length} vs ${b.length})`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], `${path}[${i}]`, out, depth + 1);
    return;
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], path ? `${path}.${k}` : k, out, depth + 1);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || '(root)'}: ${JSON.stringify(a)?.slice(0, 80)} → ${JSON.stringify(b)?.slice(0, 80)}`);
}

/**
 * Recomputes a stored decision from its stored input with the bundle it names and its own
 * point, environment and clock, and compares the canonical bytes. The bundle must be the
 * one recorded (by digest); a different evaluator version cannot reproduce the record.
 */
export function replayDecision(stored: StoredDecision, bundle: LoadedBundle, options: Pick<GateOptions, 'limits' | 'inputLimits' | 'clock'> = {}): Replay {
  const d = stored.decision;
  const recomputed = evaluateGate(stored.input, bundle, { ...options, point: d.point, environment: d.environment, now: new Date(d.decidedAt) });
  const identical = canonicalize(recomputed) === canonicalize(d);
  const differences: string[] = [];
  if (!identical) diff(d, recomputed, '', differences);
  return { identical, recomputed, differences };
}
