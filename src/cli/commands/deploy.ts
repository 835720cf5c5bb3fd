import { DEFAULT_PAUSE_SECONDS, DEFAULT_SPRT, DEFAULT_WEIGHTS, rolloutPlan } from '../../deploy/plan.js';
import { UsageError } from '../../model/errors.js';
import { type Command, type CommandContext, flag, stringOption } from '../command.js';

function numberOption(context: CommandContext, name: string, fallback: number): number {
  const raw = stringOption(context, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new UsageError('CLI_BAD_OPTION', `--${name} must be a non-negative number, got "${raw}"`);
  return value;
}

async function run(context: CommandContext): Promise<number> {
  if (!flag(context, 'dry-run')) {
    throw new UsageError(
      'CLI_MISSING_OPTION',
      'cairn deploy only plans so far: pass --dry-run (rehearse a real rollout and rollback with `cairn drill rollback`)',
    );
  }
  const environment = stringOption(context, 'env') ?? 'dev';
  const rawWeights = stringOption(context, 'weights');
  const weights = rawWeights === undefined ? DEFAULT_WEIGHTS : rawWeights.split(',').map((w) => Number(w.trim()));
  let plan: ReturnType<typeof rolloutPlan>;
  try {
    plan = rolloutPlan({
      weights,
      pauseSeconds: numberOption(context, 'pause-seconds', DEFAULT_PAUSE_SECONDS),
      requestsPerMinute: numberOption(context, 'requests-per-minute', 600),
      sprt: {
        ...DEFAULT_SPRT,
        baselineErrorRate: numberOption(context, 'baseline-error-rate', DEFAULT_SPRT.baselineErrorRate),
        effect: numberOption(context, 'effect', DEFAULT_SPRT.effect),
      },
    });
  } catch (cause) {
    if (cause instanceof RangeError) throw new UsageError('CLI_BAD_OPTION', cause.message, { cause });
    throw cause;
  }
  const { sprt, budget } = plan;
  context.out.line(`plan for ${environment} (dry run: nothing changes)`);
  for (const s of plan.steps) {
    context.out.line(
      `  step ${s.step}: ${s.weight}% for ${s.pauseSeconds}s, ~${s.canaryRequestsInPause} canary requests${s.enoughTraffic ? '' : ' (fewer than a bad canary needs for a verdict)'}`,
    );
  }
  context.out.line(`  analysis: SPRT p0=${sprt.baselineErrorRate} effect=${sprt.effect} alpha=${sprt.alpha} beta=${sprt.beta}`);
  context.out.line(
    `  budget: ~${budget.expectedRequestsIfBad} requests to catch a bad canary, ~${budget.expectedRequestsIfHealthy} to accept a healthy one (${budget.requestsToAcceptWithoutErrors} if error-free)` +
      (budget.expectedMinutes === null ? '' : `, ~${budget.expectedMinutes.toFixed(1)} min at step 0`),
  );
  context.out.line(`  rollback: all traffic back on the previous release, which is pinned; a gate denial or fired trigger also rolls back`);
  context.out.event('plan', { environment, dryRun: true, ...plan });
  return 0;
}

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'plan a progressive rollout (steps, weights, pauses, the SPRT traffic budget)',
  usage:
    'cairn deploy --dry-run [--env ENV] [--weights 10,50,100] [--pause-seconds N] [--requests-per-minute N] [--baseline-error-rate P] [--effect X] [--json]',
  options: {
    'dry-run': { type: 'boolean', description: 'print the plan and change nothing' },
    env: { type: 'string', value: 'ENV', description: 'the environment (default dev)' },
    weights: { type: 'string', value: 'LIST', description: 'canary weight of each step, ascending, ending at 100' },
    'pause-seconds': { type: 'string', value: 'N', description: 'observation time per step' },
    'requests-per-minute': { type: 'string', value: 'N', description: "the environment's total request rate (default 600)" },
    'baseline-error-rate': { type: 'string', value: 'P', description: "the current release's error rate" },
    effect: { type: 'string', value: 'X', description: 'relative rise in errors to detect' },
  },
  positionals: { min: 0, max: 0 },
  run,
};
