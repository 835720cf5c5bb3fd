import type { Digest } from './digest.js';

export const STAGES = ['source', 'build', 'attest', 'rebuild', 'scan', 'gate', 'deploy', 'runtime'] as const;
export type StageName = (typeof STAGES)[number];

export type StageOutcome = 'ok' | 'denied' | 'failed' | 'skipped';

export interface StageRecord {
  readonly stage: StageName;
  readonly outcome: StageOutcome;
  readonly ms: number;
  readonly summary: string;
}

export interface RunRecord {
  readonly id: string;
  readonly project: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly outcome: 'running' | 'ok' | 'denied' | 'failed';
  readonly stages: readonly StageRecord[];
  readonly artifactDigest: Digest | null;
}
