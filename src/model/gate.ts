import type { Digest } from './digest.js';

export type RuleOutcome = 'pass' | 'fail' | 'error' | 'notApplicable';

export interface RuleResult {
  readonly id: string;
  readonly outcome: RuleOutcome;
  readonly message: string;
}

export interface GateDecision {
  /** `dec_` + first 24 hex of the digest of the canonical decision body. */
  readonly id: string;
  readonly subject: Digest;
  readonly point: 'deploy';
  readonly environment: string;
  readonly allow: boolean;
  readonly rules: readonly RuleResult[];
  /** Digest of the canonical (JCS) evidence the decision was computed from. */
  readonly inputDigest: Digest;
  readonly evaluator: string;
  readonly decidedAt: string;
}
