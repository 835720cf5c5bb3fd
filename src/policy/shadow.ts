import type { BundleRef, LoadedBundle } from './bundle.js';
import type { Action, DecisionPoint } from './documents.js';
import type { Divergence, PolicyDecision } from './gate.js';

export interface CandidateReport {
  readonly binding: string;
  readonly active: string;
  readonly candidate: string;
  readonly candidateDigest: string;
  readonly expectedChanges: readonly string[];
  /** Decisions under this bundle that evaluated the candidate. */
  readonly decisions: number;
  readonly divergent: number;
  readonly unexplained: number;
  readonly required: number;
  /** Enough decisions and no unexplained divergence: promotion may proceed. */
  readonly ready: boolean;
  readonly divergences: readonly {
    readonly decision: string;
    readonly point: DecisionPoint;
    readonly environment: string;
    readonly decidedAt: string;
    readonly explained: boolean;
    readonly changes: readonly Divergence[];
  }[];
}

export interface StagedReport {
  readonly binding: string;
  readonly policy: string;
  readonly point: DecisionPoint;
  readonly environment: string;
  readonly action: Action;
  readonly decisions: number;
  /** Decisions this binding would have denied, were it `deny`. */
  readonly wouldDeny: number;
  readonly errors: number;
}

export interface ShadowReport {
  readonly bundle: BundleRef;
  readonly decisions: number;
  readonly candidates: readonly CandidateReport[];
  /** Bindings evaluated without denying (shadow, report, warn): what enforcing them would do. */
  readonly staged: readonly StagedReport[];
}

/**
 * What the shadow evaluations of the current bundle showed: for each candidate, how many
 * decisions evaluated it, which diverged from the active policy and whether each divergence
 * is explained; for each non-denying binding, how often it would have denied.
 */
export function shadowReport(bundle: LoadedBundle, decisions: readonly PolicyDecision[], minDecisions = 0): ShadowReport {
  const mine = decisions.filter((d) => d.bundle.digest === bundle.ref.digest);
  const candidates: CandidateReport[] = bundle.bindings
    .filter((b) => b.candidate !== null)
    .map((b) => {
      const c = b.candidate as NonNullable<typeof b.candidate>;
      const evaluated = mine.flatMap((d) => d.shadow.filter((s) => s.binding === b.name && s.policyDigest === c.policy.digest).map((s) => ({ d, s })));
      const divergences = evaluated
        .filter(({ s }) => s.divergent || s.results.some((r) => r.result === 'error'))
        .map(({ d, s }) => ({
          decision: d.id,
          point: d.point,
          environment: d.environment,
          decidedAt: d.decidedAt,
          explained: s.explained,
          changes: s.changes,
        }));
      const unexplained = divergences.filter((x) => !x.explained).length;
      const required = Math.max(b.document.spec.minShadowDecisions, minDecisions);
      return {
        binding: b.name,
        active: `${b.active.policy.name}@${b.active.policy.version}`,
        candidate: `${c.policy.name}@${c.policy.version}`,
        candidateDigest: c.policy.digest,
        expectedChanges: c.expectedChanges,
        decisions: evaluated.length,
        divergent: divergences.length,
        unexplained,
        required,
        ready: evaluated.length >= required && unexplained === 0,
        divergences,
      };
    });
  const staged = new Map<
    string,
    { binding: string; policy: string; point: DecisionPoint; environment: string; action: Action; decisions: number; wouldDeny: number; errors: number }
  >();
  for (const d of mine) {
    for (const e of d.evaluations) {
      if (e.action === 'deny') continue;
      const key = `${e.binding}\u0000${d.point}\u0000${d.environment}\u0000${e.action}`;
      const entry = staged.get(key) ?? {
        binding: e.binding,
        policy: `${e.policy}@${e.policyVersion}`,
        point: d.point,
        environment: d.environment,
        action: e.action,
        decisions: 0,
        wouldDeny: 0,
        errors: 0,
      };
      entry.decisions++;
      if (e.results.some((r) => r.result === 'error' || (r.result === 'fail' && r.exception === undefined))) entry.wouldDeny++;
      if (e.results.some((r) => r.result === 'error')) entry.errors++;
      staged.set(key, entry);
    }
  }
  return {
    bundle: bundle.ref,
    decisions: mine.length,
    candidates,
    staged: [...staged.values()].sort((a, b) => (a.binding < b.binding ? -1 : a.binding > b.binding ? 1 : 0)),
  };
}
