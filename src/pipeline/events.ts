import type { ErrorCategory } from '../model/errors.js';
import type { StageName, StageOutcome } from '../model/run.js';

/** Typed events a pipeline run emits; the CLI prints them, `--json` writes them as NDJSON. */
export type PipelineEvent =
  | { readonly type: 'run-start'; readonly runId: string; readonly project: string; readonly stateDir: string }
  | { readonly type: 'stage-start'; readonly stage: StageName }
  | { readonly type: 'progress'; readonly stage: StageName; readonly message: string }
  | { readonly type: 'warning'; readonly stage: StageName; readonly message: string }
  | {
      readonly type: 'stage';
      readonly stage: StageName;
      readonly outcome: StageOutcome;
      readonly ms: number;
      readonly summary: string;
      readonly data: Readonly<Record<string, unknown>>;
    }
  | { readonly type: 'run-end'; readonly summary: RunSummary };

export interface RunSummary {
  readonly runId: string;
  readonly outcome: 'ok' | 'denied' | 'failed';
  readonly project: string;
  readonly commit: string | null;
  readonly artifact: { readonly name: string; readonly digest: string } | null;
  readonly provenance: string | null;
  /** The rebuilder's signed VSA. */
  readonly vsa: string | null;
  readonly sbom: string | null;
  /** The scan reports (dependencies, secrets, CI audit) as one JSON blob. */
  readonly scan: string | null;
  readonly decisions: readonly { readonly environment: string; readonly id: string; readonly allow: boolean }[];
  readonly deployments: readonly { readonly environment: string; readonly endpoint: string; readonly releaseDigest: string }[];
  /** The audit log's checkpoint made at the end of the run (root hash in base64). */
  readonly audit: { readonly size: number; readonly rootHash: string; readonly published: boolean } | null;
  /** A receipt (c2sp.org/tlog-proof@v1) for each audit entry of the run; null while the checkpoint awaits witness cosignatures. */
  readonly receipts: readonly { readonly action: string; readonly index: number; readonly receipt: string | null }[];
  readonly stateDir: string;
  readonly error: { readonly code: string; readonly message: string; readonly category: ErrorCategory } | null;
}
