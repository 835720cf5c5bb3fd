import { Fields, joinPath } from './fields.js';

/** The recipe half of `cairn.yaml`. */
export interface BuildConfig {
  /** Shell command run in the snapshot with a normalised environment. */
  readonly run: string;
  /** Directory, relative to the project, packed into the artifact. */
  readonly output: string;
  /**
   * `npm`: cairn installs `package-lock.json` into `node_modules` from the npm cache, each
   * package checked against its lockfile integrity, before the recipe runs without network.
   * `none` (default): the recipe installs what it needs itself.
   */
  readonly install: 'none' | 'npm';
  /** Artifact format: `tgz` (default) or `zip`, both packed deterministically. */
  readonly format?: 'tgz' | 'zip';
}

/** One canary step: the share of traffic on the new release, and how long it is observed there. */
export interface CanaryStep {
  /** Percent of traffic on the new release (1..100); steps ascend and the last is 100. */
  readonly weight: number;
  /** Seconds the step is observed before the next (0..86400). */
  readonly pauseSeconds: number;
}

/** The sequential test on raw counts that decides a step (Wald's SPRT). */
export interface AnalysisConfig {
  /** The error rate the current release is expected to have (0 < p0 < 1). */
  readonly baselineErrorRate: number;
  /** Relative rise in errors to detect: p1 = p0 · effect (> 1). */
  readonly effect: number;
  /** Chance of rolling back a healthy release. */
  readonly alpha: number;
  /** Chance of promoting a release whose error rate is p1. */
  readonly beta: number;
}

/** A threshold on a metric the target reports beside requests, errors and latency. */
export interface CustomTrigger {
  readonly metric: string;
  /** Roll back when the metric exceeds this. */
  readonly max: number;
}

/** Explicit rollback triggers: any one breached (once `minRequests` were served) rolls back at once. */
export interface TriggersConfig {
  readonly maxErrorRate?: number;
  readonly maxP99Ms?: number;
  readonly minRequests: number;
  readonly custom: readonly CustomTrigger[];
}

/** How a release reaches all traffic: `canary` steps, or `blueGreen` (start beside, then switch at once). */
export interface DeployStrategy {
  readonly kind: 'canary' | 'blueGreen';
  /** For blue-green, one step at 100. */
  readonly steps: readonly CanaryStep[];
  readonly analysis: AnalysisConfig;
  readonly triggers: TriggersConfig;
  /** What "cannot measure" (no traffic reached the release during a step) leads to. */
  readonly onCannotMeasure: 'hold' | 'rollback';
  /** The environment's expected request rate, for the plan's traffic budget. */
  readonly requestsPerMinute: number;
}

/** Scripts the `command` target runs; each gets the operation id as its idempotency key. */
export interface CommandTargetConfig {
  /** Starts a release beside the current one; prints `{"endpoint": "…"}` (optional). */
  readonly start: string;
  /** Sets the traffic split; exit 0 applied, exit 3 refused (fence below the highest applied). */
  readonly shift: string;
  /** Prints `{"weight": N, "lastOperationId": "…" | null}`. */
  readonly read: string;
  /** Prints per-release counts (optional): `{"<release digest>": {"requests", "errors", "p99Ms", "custom"}}`. */
  readonly metrics?: string;
  /** Stops a release. */
  readonly stop: string;
  /** Seconds each script may run (default 60). */
  readonly timeoutSeconds: number;
}

export interface DeployConfig {
  readonly target: 'local' | 'command';
  /** `local`: command that starts the service from the unpacked artifact; it must listen on `$PORT`. */
  readonly start: string;
  /** HTTP path answering 200 once the service is ready. */
  readonly health: string;
  /** Environment names deployed by `cairn run` (default `["dev"]`). */
  readonly environments: readonly string[];
  /** Seconds to wait for the health endpoint (default 15). */
  readonly healthTimeoutSeconds: number;
  readonly strategy: DeployStrategy;
  /** `command` target only. */
  readonly commands?: CommandTargetConfig;
  /** The release cannot be undone (e.g. it migrates data): a failed rollout freezes instead of rolling back. */
  readonly rollbackUnsafe: boolean;
  /**
   * Seconds a rollout controller's lease lasts without renewal (default 60): how long a
   * controller that died blocks `cairn deploy --resume`. Present only when configured.
   */
  readonly leaseSeconds?: number;
}

export const DEFAULT_STRATEGY: DeployStrategy = {
  kind: 'canary',
  steps: [
    { weight: 10, pauseSeconds: 30 },
    { weight: 50, pauseSeconds: 30 },
    { weight: 100, pauseSeconds: 30 },
  ],
  analysis: { baselineErrorRate: 0.01, effect: 5, alpha: 0.05, beta: 0.1 },
  triggers: { maxErrorRate: 0.5, minRequests: 20, custom: [] },
  onCannotMeasure: 'hold',
  requestsPerMinute: 600,
};

/** A parsed `cairn.yaml`. */
export interface ProjectConfig {
  readonly name: string;
  readonly build: BuildConfig;
  readonly deploy: DeployConfig;
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const RELATIVE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,256}$/;
const HTTP_PATH = /^\/[A-Za-z0-9._~/-]{0,255}$/;

/**
 * Turns the raw (already YAML-decoded) `cairn.yaml` into a typed config, reporting every
 * unknown key, wrong type and missing field with its path.
 */
export function projectConfigFromJSON(raw: unknown): ProjectConfig {
  const f = new Fields();
  const root = f.object(raw, '', ['name', 'build', 'deploy']);
  if (!root) return f.finish<ProjectConfig>(undefined, 'CONFIG_INVALID', 'cairn.yaml');

  const name = f.string(root.name, 'name', { pattern: NAME_PATTERN, maxLength: 64 });

  let build: BuildConfig | undefined;
  if (root.build === undefined) f.report('build', 'MISSING', 'required: the build recipe (build.run, build.output)');
  else {
    const b = f.object(root.build, 'build', ['run', 'output', 'install', 'format']);
    if (b) {
      const run = f.string(b.run, 'build.run', { maxLength: 8192 });
      const output = f.string(b.output, 'build.output', { pattern: RELATIVE_PATH });
      const install = b.install === undefined ? 'none' : f.string(b.install, 'build.install');
      if (install !== undefined && install !== 'none' && install !== 'npm')
        f.report('build.install', 'UNSUPPORTED', `unknown installer "${install}" (supported: npm, none)`);
      else if (run !== undefined && output !== undefined && install !== undefined) {
        const format = b.format === undefined ? undefined : f.string(b.format, 'build.format');
        if (format !== undefined && format !== 'tgz' && format !== 'zip')
          f.report('build.format', 'UNSUPPORTED', `unknown artifact format "${format}" (supported: tgz, zip)`);
        else build = { run, output, install, ...(format ? { format } : {}) };
      }
    }
  }

  let deploy: DeployConfig | undefined;
  if (root.deploy === undefined) f.report('deploy', 'MISSING', 'required: how to start the service (deploy.target, deploy.start, deploy.health)');
  else deploy = deployConfig(f, root.deploy);

  const config = name !== undefined && build && deploy ? { name, build, deploy } : undefined;
  return f.finish(config, 'CONFIG_INVALID', 'cairn.yaml');
}

/** Reads a stored deploy configuration back (the JSON form of {@link DeployConfig}), checking it as `cairn.yaml`'s deploy block is checked. */
export function deployConfigFromJSON(raw: unknown): DeployConfig {
  const f = new Fields();
  return f.finish(deployConfig(f, raw), 'CONFIG_INVALID', 'the stored deploy configuration');
}

const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;

function deployConfig(f: Fields, raw: unknown): DeployConfig | undefined {
  const d = f.object(raw, 'deploy', [
    'target',
    'start',
    'health',
    'environments',
    'healthTimeoutSeconds',
    'strategy',
    'commands',
    'rollbackUnsafe',
    'leaseSeconds',
  ]);
  if (!d) return undefined;
  const target = f.string(d.target, 'deploy.target');
  if (target !== undefined && target !== 'local' && target !== 'command')
    f.report('deploy.target', 'UNSUPPORTED', `unknown target "${target}" (supported: local, command)`);
  let start: string | undefined = '';
  if (target !== 'command' || d.start !== undefined) start = f.string(d.start, 'deploy.start', { maxLength: 8192 });
  const health = d.health === undefined && target === 'command' ? '/healthz' : f.string(d.health, 'deploy.health', { pattern: HTTP_PATH });
  let environments: string[] = ['dev'];
  if (d.environments !== undefined) {
    const list = f.array(d.environments, 'deploy.environments', 16);
    if (list) {
      environments = [];
      list.forEach((item, i) => {
        const env = f.string(item, joinPath('deploy.environments', i), { pattern: NAME_PATTERN });
        if (env !== undefined) environments.push(env);
      });
      if (list.length === 0) f.report('deploy.environments', 'EMPTY', 'must name at least one environment');
      if (new Set(environments).size !== environments.length) f.report('deploy.environments', 'DUPLICATE', 'names an environment twice');
    }
  }
  const timeout = d.healthTimeoutSeconds === undefined ? 15 : f.integer(d.healthTimeoutSeconds, 'deploy.healthTimeoutSeconds', 1, 600);
  const strategy = d.strategy === undefined ? DEFAULT_STRATEGY : strategyConfig(f, d.strategy);
  let commands: CommandTargetConfig | undefined;
  if (target === 'command') {
    if (d.commands === undefined) f.report('deploy.commands', 'MISSING', 'required for the command target: start, shift, read, stop (and metrics)');
    else commands = commandsConfig(f, d.commands);
  } else if (d.commands !== undefined) f.report('deploy.commands', 'UNSUPPORTED', 'only the command target runs scripts');
  const rollbackUnsafe = d.rollbackUnsafe === undefined ? false : f.boolean(d.rollbackUnsafe, 'deploy.rollbackUnsafe');
  const leaseSeconds = d.leaseSeconds === undefined ? undefined : f.integer(d.leaseSeconds, 'deploy.leaseSeconds', 2, 3600);
  if (d.leaseSeconds !== undefined && leaseSeconds === undefined) return undefined;
  if (
    (target === 'local' || (target === 'command' && commands)) &&
    start !== undefined &&
    health !== undefined &&
    timeout !== undefined &&
    strategy &&
    rollbackUnsafe !== undefined
  ) {
    return {
      target,
      start,
      health,
      environments,
      healthTimeoutSeconds: timeout,
      strategy,
      ...(commands ? { commands } : {}),
      rollbackUnsafe,
      ...(leaseSeconds !== undefined ? { leaseSeconds } : {}),
    };
  }
  return undefined;
}

function commandsConfig(f: Fields, raw: unknown): CommandTargetConfig | undefined {
  const c = f.object(raw, 'deploy.commands', ['start', 'shift', 'read', 'metrics', 'stop', 'timeoutSeconds']);
  if (!c) return undefined;
  const script = (key: string) => f.string(c[key], `deploy.commands.${key}`, { maxLength: 8192 });
  const start = script('start');
  const shift = script('shift');
  const read = script('read');
  const stop = script('stop');
  const metrics = c.metrics === undefined ? undefined : script('metrics');
  const timeoutSeconds = c.timeoutSeconds === undefined ? 60 : f.integer(c.timeoutSeconds, 'deploy.commands.timeoutSeconds', 1, 3600);
  if (start === undefined || shift === undefined || read === undefined || stop === undefined || timeoutSeconds === undefined) return undefined;
  if (c.metrics !== undefined && metrics === undefined) return undefined;
  return { start, shift, read, stop, timeoutSeconds, ...(metrics !== undefined ? { metrics } : {}) };
}

function strategyConfig(f: Fields, raw: unknown): DeployStrategy | undefined {
  const s = f.object(raw, 'deploy.strategy', ['kind', 'steps', 'analysis', 'triggers', 'onCannotMeasure', 'requestsPerMinute']);
  if (!s) return undefined;
  const kind = s.kind === undefined ? 'canary' : f.string(s.kind, 'deploy.strategy.kind');
  if (kind !== undefined && kind !== 'canary' && kind !== 'blueGreen')
    f.report('deploy.strategy.kind', 'UNSUPPORTED', `unknown strategy "${kind}" (supported: canary, blueGreen)`);
  let steps: CanaryStep[] | undefined = [...DEFAULT_STRATEGY.steps];
  if (s.steps !== undefined) {
    const list = f.array(s.steps, 'deploy.strategy.steps', 20);
    steps = undefined;
    if (list) {
      const parsed: CanaryStep[] = [];
      list.forEach((item, i) => {
        const at = joinPath('deploy.strategy.steps', i);
        const o = f.object(item, at, ['weight', 'pauseSeconds']);
        if (!o) return;
        const weight = f.integer(o.weight, `${at}.weight`, 1, 100);
        const pauseSeconds = o.pauseSeconds === undefined ? 30 : f.number(o.pauseSeconds, `${at}.pauseSeconds`, 0, 86_400);
        const before = parsed[parsed.length - 1];
        if (weight !== undefined && before && weight <= before.weight)
          f.report(`${at}.weight`, 'NOT_ASCENDING', `must be above the previous step's ${before.weight}`);
        if (weight !== undefined && pauseSeconds !== undefined) parsed.push({ weight, pauseSeconds });
      });
      if (list.length === 0) f.report('deploy.strategy.steps', 'EMPTY', 'must hold at least one step');
      else if (parsed.length === list.length && parsed[parsed.length - 1]?.weight !== 100)
        f.report(joinPath('deploy.strategy.steps', list.length - 1), 'LAST_NOT_100', 'the last step must take all traffic (weight 100)');
      if (parsed.length === list.length && list.length > 0) steps = parsed;
    }
  }
  if (kind === 'blueGreen' && steps) {
    if (s.steps !== undefined && (steps.length !== 1 || steps[0]?.weight !== 100))
      f.report('deploy.strategy.steps', 'UNSUPPORTED', 'blue-green switches at once: one step at weight 100 (or leave steps out)');
    steps = [{ weight: 100, pauseSeconds: s.steps === undefined ? 30 : (steps[steps.length - 1]?.pauseSeconds ?? 30) }];
  }
  const analysis = s.analysis === undefined ? DEFAULT_STRATEGY.analysis : analysisConfig(f, s.analysis);
  const triggers = s.triggers === undefined ? DEFAULT_STRATEGY.triggers : triggersConfig(f, s.triggers);
  const onCannotMeasure = s.onCannotMeasure === undefined ? 'hold' : f.string(s.onCannotMeasure, 'deploy.strategy.onCannotMeasure');
  if (onCannotMeasure !== undefined && onCannotMeasure !== 'hold' && onCannotMeasure !== 'rollback')
    f.report('deploy.strategy.onCannotMeasure', 'UNSUPPORTED', `must be hold or rollback, got "${onCannotMeasure}"`);
  const requestsPerMinute =
    s.requestsPerMinute === undefined ? DEFAULT_STRATEGY.requestsPerMinute : f.number(s.requestsPerMinute, 'deploy.strategy.requestsPerMinute', 0, 1e9);
  if (
    (kind === 'canary' || kind === 'blueGreen') &&
    steps &&
    analysis &&
    triggers &&
    (onCannotMeasure === 'hold' || onCannotMeasure === 'rollback') &&
    requestsPerMinute !== undefined
  ) {
    return { kind, steps, analysis, triggers, onCannotMeasure, requestsPerMinute };
  }
  return undefined;
}

function analysisConfig(f: Fields, raw: unknown): AnalysisConfig | undefined {
  const a = f.object(raw, 'deploy.strategy.analysis', ['baselineErrorRate', 'effect', 'alpha', 'beta']);
  if (!a) return undefined;
  const d = DEFAULT_STRATEGY.analysis;
  const p0 = a.baselineErrorRate === undefined ? d.baselineErrorRate : f.number(a.baselineErrorRate, 'deploy.strategy.analysis.baselineErrorRate', 1e-9, 0.5);
  const effect = a.effect === undefined ? d.effect : f.number(a.effect, 'deploy.strategy.analysis.effect', 1.01, 1000);
  const alpha = a.alpha === undefined ? d.alpha : f.number(a.alpha, 'deploy.strategy.analysis.alpha', 1e-6, 0.5);
  const beta = a.beta === undefined ? d.beta : f.number(a.beta, 'deploy.strategy.analysis.beta', 1e-6, 0.5);
  if (p0 !== undefined && effect !== undefined && p0 * effect >= 1)
    f.report('deploy.strategy.analysis.effect', 'OUT_OF_RANGE', `baselineErrorRate × effect must stay below 1 (${p0} × ${effect})`);
  else if (p0 !== undefined && effect !== undefined && alpha !== undefined && beta !== undefined) return { baselineErrorRate: p0, effect, alpha, beta };
  return undefined;
}

function triggersConfig(f: Fields, raw: unknown): TriggersConfig | undefined {
  const t = f.object(raw, 'deploy.strategy.triggers', ['maxErrorRate', 'maxP99Ms', 'minRequests', 'custom']);
  if (!t) return undefined;
  const maxErrorRate = t.maxErrorRate === undefined ? undefined : f.number(t.maxErrorRate, 'deploy.strategy.triggers.maxErrorRate', 0, 1);
  const maxP99Ms = t.maxP99Ms === undefined ? undefined : f.number(t.maxP99Ms, 'deploy.strategy.triggers.maxP99Ms', 1, 3_600_000);
  const minRequests =
    t.minRequests === undefined ? DEFAULT_STRATEGY.triggers.minRequests : f.integer(t.minRequests, 'deploy.strategy.triggers.minRequests', 1, 1_000_000);
  const custom: CustomTrigger[] = [];
  let customOk = true;
  if (t.custom !== undefined) {
    const list = f.array(t.custom, 'deploy.strategy.triggers.custom', 32);
    if (!list) customOk = false;
    list?.forEach((item, i) => {
      const at = joinPath('deploy.strategy.triggers.custom', i);
      const o = f.object(item, at, ['metric', 'max']);
      const metric = o ? f.string(o.metric, `${at}.metric`, { pattern: METRIC_NAME }) : undefined;
      const max = o ? f.number(o.max, `${at}.max`, -1e15, 1e15) : undefined;
      if (metric !== undefined && max !== undefined) custom.push({ metric, max });
      else customOk = false;
    });
  }
  if ((t.maxErrorRate !== undefined && maxErrorRate === undefined) || (t.maxP99Ms !== undefined && maxP99Ms === undefined)) return undefined;
  if (minRequests === undefined || !customOk) return undefined;
  return { ...(maxErrorRate !== undefined ? { maxErrorRate } : {}), ...(maxP99Ms !== undefined ? { maxP99Ms } : {}), minRequests, custom };
}
