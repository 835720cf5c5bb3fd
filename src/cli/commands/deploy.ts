import { existsSync } from 'node:fs';
import path from 'node:path';
import { type ReleaseRef, type RolloutShape, shapeRollout } from '../../deploy/plan.js';
import { capabilitiesFor } from '../../deploy/target.js';
import { DEFAULT_STRATEGY, type DeployConfig, type DeployStrategy } from '../../model/config.js';
import { NAME_PATTERN } from '../../model/config.js';
import { CONFIG_FILE, loadProjectConfig } from '../../source/config.js';
import { UsageError } from '../../model/errors.js';
import { openState } from '../../pipeline/state.js';
import { type Command, type CommandContext, flag, stringOption } from '../command.js';
import { actorFrom, PURPOSE_OPTION } from './shared.js';

function numberOption(context: CommandContext, name: string, fallback: number): number {
  const raw = stringOption(context, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new UsageError('CLI_BAD_OPTION', `--${name} must be a non-negative number, got "${raw}"`);
  return value;
}

/** `cairn deploy --resume --env ENV`: continues the environment's rollout after its controller died. */
async function resume(context: CommandContext): Promise<number> {
  const environment = stringOption(context, 'env');
  if (environment === undefined) throw new UsageError('CLI_MISSING_OPTION', 'cairn deploy --resume needs --env ENV: the environment whose rollout to continue');
  if (!NAME_PATTERN.test(environment)) throw new UsageError('CLI_BAD_OPTION', `--env must be an environment name, got "${environment}"`);
  const state = await openState(context.stateDir);
  try {
    const actor = actorFrom(context.io, stringOption(context, 'purpose') ?? `resume the rollout of ${environment}`);
    // Loaded on use: the targets and the controller are needed by no other light command.
    const { resumeInState } = await import('../../pipeline/resume.js');
    const outcome = await resumeInState(state, environment, actor, (message) => {
      // On stderr for people; a progress event in the NDJSON stream with --json.
      context.out.progress(message);
      context.out.event('progress', { message });
    });
    const steps = outcome.plan.steps.map((s) => `${s.weight}%`).join('→');
    context.out.line(
      outcome.resumed
        ? `${environment}: resumed the rollout from ${outcome.foundPhase}: ${outcome.plan.kind} ${steps}, ${outcome.outcome}${outcome.rollout?.reason ? ` (${outcome.rollout.reason})` : ''}`
        : `${environment}: the last rollout had already ended (${outcome.foundPhase}); its outcome is recorded, nothing to resume`,
    );
    if (outcome.deployment) context.out.line(`  running  ${outcome.deployment.releaseDigest} at ${outcome.endpoint ?? outcome.deployment.endpoint}`);
    context.out.line(`  plan     ${outcome.planDigest}`);
    context.out.event('resume', {
      environment,
      resumed: outcome.resumed,
      foundPhase: outcome.foundPhase,
      outcome: outcome.outcome,
      planDigest: outcome.planDigest,
      reason: outcome.rollout?.reason ?? null,
      deployment: outcome.deployment,
      endpoint: outcome.endpoint,
    });
    return outcome.outcome === 'promoted' ? 0 : 1;
  } finally {
    await state.close();
  }
}

async function run(context: CommandContext): Promise<number> {
  if (flag(context, 'resume')) {
    if (flag(context, 'dry-run')) throw new UsageError('CLI_BAD_OPTION', '--resume and --dry-run cannot be combined');
    return resume(context);
  }
  if (!flag(context, 'dry-run')) {
    throw new UsageError(
      'CLI_MISSING_OPTION',
      'cairn deploy plans (--dry-run) or continues a rollout (--resume --env ENV); `cairn run` deploys a new release, and `cairn drill rollback` rehearses one',
    );
  }
  return dryRun(context);
}

/** The strategy in force, with the flags given on the command line laid over it. */
function strategyWithFlags(context: CommandContext, strategy: DeployStrategy): DeployStrategy {
  const rawWeights = stringOption(context, 'weights');
  const pauseFlag = stringOption(context, 'pause-seconds') === undefined ? undefined : numberOption(context, 'pause-seconds', 0);
  const lastPause = strategy.steps[strategy.steps.length - 1]?.pauseSeconds ?? 0;
  const weights = rawWeights === undefined ? strategy.steps.map((s) => s.weight) : rawWeights.split(',').map((w) => Number(w.trim()));
  const steps = weights.map((weight, i) => ({ weight, pauseSeconds: pauseFlag ?? strategy.steps[i]?.pauseSeconds ?? lastPause }));
  return {
    ...strategy,
    steps,
    requestsPerMinute: numberOption(context, 'requests-per-minute', strategy.requestsPerMinute),
    analysis: {
      ...strategy.analysis,
      baselineErrorRate: numberOption(context, 'baseline-error-rate', strategy.analysis.baselineErrorRate),
      effect: numberOption(context, 'effect', strategy.analysis.effect),
    },
  };
}

/** What the environment runs now, and what stands in a new rollout's way, when a state directory exists; nothing is created. */
async function environmentNow(stateDir: string, environment: string): Promise<{ previous: ReleaseRef | null; notes: string[]; state: boolean }> {
  if (!existsSync(path.join(stateDir, 'cairn.db'))) return { previous: null, notes: [], state: false };
  const state = await openState(stateDir);
  try {
    // Loaded on use: a plan without a state needs neither.
    const [{ undecidedRollout }, { loadRelease }] = await Promise.all([import('../../deploy/controller.js'), import('../../deploy/rollback.js')]);
    const notes: string[] = [];
    const deployment = await state.store.getDeployment(environment);
    let previous: ReleaseRef | null = null;
    if (deployment?.status === 'running') {
      const release = await loadRelease(state.blobs, deployment.releaseDigest);
      previous = { releaseDigest: deployment.releaseDigest, artifactDigest: release.artifactDigest };
    }
    const pin = await state.store.getPin(environment);
    if (pin) notes.push(`pinned since ${pin.pinnedAt} (${pin.reason}): artifact ${pin.blockedDigest} is refused without --allow-pinned`);
    const undecided = await undecidedRollout(state.store, environment);
    const phase = undecided?.state.phase;
    if (undecided && (phase === 'Held' || phase === 'Frozen')) {
      notes.push(
        `rollout ${undecided.rolloutId} ${phase === 'Held' ? 'held' : 'froze'} at ${undecided.state.weight}%: both releases still run; \`cairn rollback --env ${environment}\` abandons it`,
      );
    } else if (undecided) {
      notes.push(
        `rollout ${undecided.rolloutId} stopped in ${phase}: \`cairn deploy --resume --env ${environment}\` (or \`cairn rollback\`) before a new rollout`,
      );
    }
    return { previous, notes, state: true };
  } finally {
    await state.close();
  }
}

/** `cairn deploy --dry-run [DIR]`: the rollout a release of the project in DIR would get in ENV, from its cairn.yaml; changes nothing. */
async function dryRun(context: CommandContext): Promise<number> {
  const dir = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const hasConfig = existsSync(path.join(dir, CONFIG_FILE));
  const deploy: DeployConfig = hasConfig
    ? (await loadProjectConfig(dir)).config.deploy
    : { target: 'local', start: '', health: '/healthz', environments: ['dev'], healthTimeoutSeconds: 15, strategy: DEFAULT_STRATEGY, rollbackUnsafe: false };
  const environment = stringOption(context, 'env') ?? deploy.environments[0] ?? 'dev';
  if (!NAME_PATTERN.test(environment)) throw new UsageError('CLI_BAD_OPTION', `--env must be an environment name, got "${environment}"`);
  if (hasConfig && !deploy.environments.includes(environment)) {
    throw new UsageError('CLI_BAD_OPTION', `--env ${environment} is not among deploy.environments in ${CONFIG_FILE} (${deploy.environments.join(', ')})`);
  }
  const strategy = strategyWithFlags(context, deploy.strategy);
  const now = await environmentNow(context.stateDir, environment);
  let plan: RolloutShape;
  try {
    plan = shapeRollout({ strategy, capabilities: capabilitiesFor(deploy), previous: now.previous, rollbackUnsafe: deploy.rollbackUnsafe });
  } catch (cause) {
    if (cause instanceof RangeError) throw new UsageError('CLI_BAD_OPTION', cause.message, { cause });
    throw cause;
  }
  const source = hasConfig ? path.join(dir, CONFIG_FILE) : `the defaults (no ${CONFIG_FILE} in ${dir})`;
  const { analysis: sprt, budget, triggers } = plan;
  const out = context.out;
  out.line(`plan for ${environment} from ${source} (dry run: nothing changes)`);
  out.line(
    `  target    ${deploy.target}: ${plan.capabilities.trafficSplit ? 'splits traffic' : 'cannot split traffic'}, ${plan.capabilities.reportsMetrics ? 'reports metrics' : 'reports no metrics'}`,
  );
  out.line(
    `  previous  ${plan.previous ? `${plan.previous.releaseDigest} (artifact ${plan.previous.artifactDigest})` : now.state ? 'none running: a first deployment' : 'unknown (no state yet): planned as a first deployment'}`,
  );
  out.line(`  kind      ${plan.kind}${plan.kind === plan.requestedKind ? '' : ` (${CONFIG_FILE} asks for ${plan.requestedKind})`}`);
  for (const s of plan.steps) {
    out.line(
      `  step ${s.step}: ${s.weight}% for ${s.pauseSeconds}s, ~${s.canaryRequestsInPause} canary requests${s.enoughTraffic ? '' : ' (fewer than a bad canary needs for a verdict)'}`,
    );
  }
  out.line(`  analysis: SPRT p0=${sprt.baselineErrorRate} effect=${sprt.effect} alpha=${sprt.alpha} beta=${sprt.beta}`);
  out.line(
    `  budget: ~${budget.expectedRequestsIfBad} requests to catch a bad canary, ~${budget.expectedRequestsIfHealthy} to accept a healthy one (${budget.requestsToAcceptWithoutErrors} if error-free)` +
      (budget.expectedMinutes === null ? '' : `, ~${budget.expectedMinutes.toFixed(1)} min at step 0`),
  );
  const fired = [
    ...(triggers.maxErrorRate !== undefined ? [`error rate > ${triggers.maxErrorRate}`] : []),
    ...(triggers.maxP99Ms !== undefined ? [`p99 > ${triggers.maxP99Ms} ms`] : []),
    ...(triggers.custom ?? []).map((c) => `${c.metric} > ${c.max}`),
  ];
  out.line(`  triggers: ${fired.length > 0 ? fired.join(', ') : 'none'} (after ${triggers.minRequests} requests); cannot measure: ${plan.onCannotMeasure}`);
  for (const note of [...plan.notes, ...now.notes]) out.line(`  note: ${note}`);
  out.line(
    plan.previous === null
      ? '  rollback: none (nothing to roll back to): a failure holds'
      : plan.rollbackUnsafe
        ? '  rollback: none (rollbackUnsafe): a failure freezes'
        : '  rollback: all traffic back on the previous release, which is pinned; a gate denial or fired trigger also rolls back',
  );
  out.event('plan', { environment, dryRun: true, source, target: deploy.target, ...plan, notes: [...plan.notes, ...now.notes] });
  return 0;
}

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'plan a progressive rollout (steps, weights, pauses, the SPRT traffic budget), or continue one whose controller died',
  usage:
    'cairn deploy --dry-run [DIR] [--env ENV] [--weights 10,50,100] [--pause-seconds N] [--requests-per-minute N] [--baseline-error-rate P] [--effect X] [--json] [--state DIR]\n       cairn deploy --resume --env ENV [--purpose TEXT] [--json] [--state DIR]',
  description:
    "--dry-run prints the rollout a release of the project in DIR (default: here) would get: the strategy in its cairn.yaml (flags override it), shaped for the target's capabilities and for what the environment runs now (a first deployment is one step), with the SPRT's traffic budget, the triggers and the notes; it changes nothing. --resume continues the environment's stored rollout after the controller running it died: once the dead controller's lease has expired it takes the lease under a new epoch, finds (or starts again) both releases at the target, reads the traffic split in force before re-sending anything, asks the gate again before each remaining step, and drives the rollout to promotion, rollback or hold, audited. Exit 0 when the release was promoted, 1 when it was rolled back, held or frozen.",
  options: {
    'dry-run': { type: 'boolean', description: 'print the plan and change nothing' },
    resume: { type: 'boolean', description: "continue the environment's unfinished rollout" },
    purpose: PURPOSE_OPTION,
    env: { type: 'string', value: 'ENV', description: 'the environment (default dev)' },
    weights: { type: 'string', value: 'LIST', description: 'canary weight of each step, ascending, ending at 100' },
    'pause-seconds': { type: 'string', value: 'N', description: 'observation time per step' },
    'requests-per-minute': { type: 'string', value: 'N', description: "the environment's total request rate (default 600)" },
    'baseline-error-rate': { type: 'string', value: 'P', description: "the current release's error rate" },
    effect: { type: 'string', value: 'X', description: 'relative rise in errors to detect' },
  },
  positionals: { min: 0, max: 1 },
  run,
};
