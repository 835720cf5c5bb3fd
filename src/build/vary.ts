/**
 * reprotest-style diagnosis for `cairn build --vary`: builds one snapshot twice with no
 * variation (controls), then with every variation at once, and, when anything differs, once
 * per axis; each variant is compared with a control and the differences explained. cairn
 * normalises the build environment, so each variation deliberately overrides one
 * normalisation to reveal whether the project depends on it.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, copyFile, lstat, mkdir, mkdtemp, opendir, readdir, readlink, realpath, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Isolation } from '../model/build.js';
import type { BuildConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import { BuildError } from './errors.js';
import { type Cause, type ExplainHints, explainArtifacts } from './explain.js';
import { type BuildOutput, type BuildVariation, runBuild } from './run.js';
import { type Probe, probeIsolation, SANDBOX_BUILD_DIR, SANDBOX_HOME, SANDBOX_HOSTNAME, type SandboxKnobs } from './sandbox.js';

// ---------------------------------------------------------------------------------------------
// Axes and what this machine can vary

/** An environment axis `--vary` can change. */
export type VaryAxis = 'time' | 'timezone' | 'locale' | 'build-path' | 'file-order' | 'umask' | 'hostname' | 'home' | 'environment';

/** Every axis, in the order they are tried and reported. */
export const VARY_AXES: readonly VaryAxis[] = ['time', 'timezone', 'locale', 'build-path', 'file-order', 'umask', 'hostname', 'home', 'environment'];

/** What makes a build differ: an axis, or `randomness` when two un-varied builds already differ. */
export type VaryFinding = VaryAxis | 'randomness';

/** The facts about this machine that decide which axes can be varied. */
export interface VaryCapabilities {
  readonly isolation: Probe;
  /** libfaketime's shared object, when it is installed and shifts Node's clock; else why not. */
  readonly fakeTime: { readonly library: string } | { readonly reason: string };
  /** A tmpfs folder whose directory order follows creation order; else why not. */
  readonly tmpfs: { readonly dir: string } | { readonly reason: string };
}

/** How far libfaketime moves the clock for the `time` variation. */
export const FAKETIME_SHIFT = '+400d';
const VARIANT_TZ = 'Pacific/Chatham';
const VARIANT_LOCALE = 'de_DE.UTF-8';
const VARIANT_UMASK = '002';
const VARIANT_HOSTNAME = 'cairn-vary-host';
const VARIANT_HOME = '/home/other';
const VARIANT_BUILD_DIR = `${SANDBOX_BUILD_DIR}/deeper/other-path`;
const VARIANT_USER = 'cairn-vary-user';
const EXTRA_VARIABLE = 'CAIRN_VARY_EXTRA';
const TMPFS_MAGIC = 0x01021994;
const DAY_MS = 86_400_000;

const FAKETIME_CANDIDATES: Readonly<Record<string, readonly string[]>> = {
  x64: ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'],
  arm64: ['/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'],
};
const FAKETIME_COMMON = ['/usr/lib/faketime/libfaketime.so.1', '/usr/lib64/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];

async function exists(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(
    () => true,
    () => false,
  );
}

/** The libfaketime variables that shift the clock by {@link FAKETIME_SHIFT} (file times stay real, as in reprotest). */
function fakeTimeVariables(library: string): Record<string, string> {
  return { LD_PRELOAD: library, FAKETIME: FAKETIME_SHIFT, NO_FAKE_STAT: '1' };
}

async function probeFakeTime(isolation: Isolation): Promise<VaryCapabilities['fakeTime']> {
  const candidates = [...(FAKETIME_CANDIDATES[process.arch] ?? []), ...FAKETIME_COMMON];
  let library: string | undefined;
  for (const candidate of candidates) {
    if (await exists(candidate)) {
      library = await realpath(candidate);
      break;
    }
  }
  if (library === undefined) return { reason: 'libfaketime is not installed (e.g. apt-get install faketime)' };
  // bubblewrap shows the recipe only /usr (and the Node prefix) of the host.
  if (isolation === 'bubblewrap' && !library.startsWith('/usr/')) return { reason: `libfaketime (${library}) is outside /usr, so the sandbox cannot load it` };
  const before = Date.now();
  const run = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(Date.now()))'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...fakeTimeVariables(library) },
    encoding: 'utf8',
    timeout: 15_000,
  });
  const seen = Number(run.stdout);
  if (run.status !== 0 || !Number.isFinite(seen) || seen < before + 399 * DAY_MS) {
    return { reason: `libfaketime (${library}) does not shift Node's clock here (exit ${run.status ?? run.signal})` };
  }
  return { library };
}

const FAKETIME_SHM = /^(?:faketime_shm_|sem\.faketime_sem_)(\d+)$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** libfaketime's shared-memory files in /dev/shm now. */
async function fakeTimeSegments(): Promise<Set<string>> {
  const names = await readdir('/dev/shm').catch(() => [] as string[]);
  return new Set(names.filter((n) => FAKETIME_SHM.test(n)));
}

/**
 * libfaketime leaves a semaphore and a segment in /dev/shm when the process that created them
 * exec()s instead of exiting (a shell running its last command does). Under bubblewrap they
 * stay in the sandbox's own /dev; otherwise this removes those that appeared during the build
 * and whose creator has exited.
 */
async function removeFakeTimeLeftovers(before: ReadonlySet<string>): Promise<void> {
  for (const name of await fakeTimeSegments()) {
    const pid = Number(FAKETIME_SHM.exec(name)?.[1]);
    if (!before.has(name) && !alive(pid)) await rm(path.join('/dev/shm', name), { force: true });
  }
}

/** Whether files created on `dir` are listed in an order that follows their creation. */
async function probeTmpfs(dir: string): Promise<VaryCapabilities['tmpfs']> {
  try {
    if ((await statfs(dir)).type !== TMPFS_MAGIC) return { reason: `${dir} is not a tmpfs` };
    const probe = await mkdtemp(path.join(dir, 'cairn-order-'));
    try {
      const orders: string[] = [];
      for (const names of [
        ['a', 'b', 'c'],
        ['c', 'b', 'a'],
      ]) {
        const sub = path.join(probe, names[0] as string);
        await mkdir(sub);
        for (const name of names) await writeFile(path.join(sub, name), '');
        const listed: string[] = [];
        for await (const entry of await opendir(sub)) listed.push(entry.name);
        orders.push(listed.join(''));
      }
      if (orders[0] === orders[1]) return { reason: `directory order on ${dir} does not follow creation order` };
      return { dir };
    } finally {
      await rm(probe, { recursive: true, force: true });
    }
  } catch (error) {
    return { reason: `${dir} is not usable (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
}

let probedCapabilities: Promise<VaryCapabilities> | null = null;

/** Probes (once per process) the isolation, libfaketime and a tmpfs for working copies. */
export function probeVaryCapabilities(): Promise<VaryCapabilities> {
  probedCapabilities ??= (async () => {
    const isolation = probeIsolation();
    const [fakeTime, tmpfs] = await Promise.all([probeFakeTime(isolation.isolation), probeTmpfs('/dev/shm')]);
    return { isolation, fakeTime, tmpfs };
  })();
  return probedCapabilities;
}

// ---------------------------------------------------------------------------------------------
// The plan: per axis, the control value, the variant value and the knobs that set it

/** Where the builds of one `--vary` run live; fixed paths, so the controls share every path. */
export interface VaryFolders {
  /** The working copy of a build (recreated for each). */
  readonly work: string;
  /** The working copy when the build path is varied without a sandbox that remaps it. */
  readonly otherWork: string;
  /** The scratch folder of a build (HOME, TMPDIR, /etc files). */
  readonly scratch: string;
}

/** One variation: what the control sees, what the variant sees, and how the variant is made. */
export interface AxisSetting {
  readonly axis: VaryAxis;
  readonly control: string;
  readonly variant: string;
  readonly knobs: SandboxKnobs;
  /** Build in {@link VaryFolders.otherWork} instead of `work`. */
  readonly otherWork?: boolean;
  /** Create the working copy's files in reverse name order (on tmpfs: reverse directory order). */
  readonly reverseOrder?: boolean;
  /** Facts of both builds that the explainer may recognise in the output. */
  readonly hints: ExplainHints;
}

export type AxisPlan =
  | { readonly axis: VaryAxis; readonly available: true; readonly setting: AxisSetting }
  | { readonly axis: VaryAxis; readonly available: false; readonly reason: string };

/**
 * Decides, without running anything, how each axis is varied here (or why it cannot be).
 * The controls run with no knobs at all, exactly like a plain build.
 */
export function planVariations(capabilities: VaryCapabilities, folders: VaryFolders): AxisPlan[] {
  const sandboxed = capabilities.isolation.isolation === 'bubblewrap';
  const controlHome = sandboxed ? SANDBOX_HOME : path.join(folders.scratch, 'home');
  const plans: AxisPlan[] = [];
  const add = (setting: AxisSetting) => plans.push({ axis: setting.axis, available: true, setting });
  const skip = (axis: VaryAxis, reason: string) => plans.push({ axis, available: false, reason });
  for (const axis of VARY_AXES) {
    switch (axis) {
      case 'time':
        if ('library' in capabilities.fakeTime) {
          add({
            axis,
            control: 'the real clock',
            variant: `the clock ${FAKETIME_SHIFT} (libfaketime)`,
            knobs: { variables: fakeTimeVariables(capabilities.fakeTime.library) },
            hints: {},
          });
        } else skip(axis, capabilities.fakeTime.reason);
        break;
      case 'timezone':
        add({ axis, control: 'TZ=UTC', variant: `TZ=${VARIANT_TZ}`, knobs: { variables: { TZ: VARIANT_TZ } }, hints: {} });
        break;
      case 'locale':
        add({
          axis,
          control: 'LC_ALL=LANG=C.UTF-8',
          variant: `LC_ALL=LANG=${VARIANT_LOCALE}`,
          knobs: { variables: { LC_ALL: VARIANT_LOCALE, LANG: VARIANT_LOCALE } },
          hints: {},
        });
        break;
      case 'build-path':
        if (sandboxed) {
          add({
            axis,
            control: SANDBOX_BUILD_DIR,
            variant: VARIANT_BUILD_DIR,
            knobs: { buildDir: VARIANT_BUILD_DIR },
            hints: { buildPaths: [SANDBOX_BUILD_DIR, VARIANT_BUILD_DIR] },
          });
        } else {
          add({
            axis,
            control: folders.work,
            variant: folders.otherWork,
            knobs: {},
            otherWork: true,
            hints: { buildPaths: [folders.work, folders.otherWork] },
          });
        }
        break;
      case 'file-order':
        if ('dir' in capabilities.tmpfs) {
          add({
            axis,
            control: 'files created in name order (tmpfs)',
            variant: 'files created in reverse name order (tmpfs)',
            knobs: {},
            reverseOrder: true,
            hints: {},
          });
        } else skip(axis, capabilities.tmpfs.reason);
        break;
      case 'umask':
        add({ axis, control: 'umask 022', variant: `umask ${VARIANT_UMASK}`, knobs: { umask: VARIANT_UMASK }, hints: {} });
        break;
      case 'hostname':
        if (sandboxed) {
          add({
            axis,
            control: SANDBOX_HOSTNAME,
            variant: VARIANT_HOSTNAME,
            knobs: { hostname: VARIANT_HOSTNAME },
            hints: { hostnames: [SANDBOX_HOSTNAME, VARIANT_HOSTNAME] },
          });
        } else skip(axis, `the hostname can be set only under bubblewrap (isolation here: ${capabilities.isolation.isolation})`);
        break;
      case 'home': {
        const variantHome = sandboxed ? VARIANT_HOME : path.join(folders.scratch, 'other-home');
        add({
          axis,
          control: `HOME=${controlHome}`,
          variant: `HOME=${variantHome}`,
          knobs: { home: variantHome },
          hints: { homes: [controlHome, variantHome] },
        });
        break;
      }
      case 'environment':
        add({
          axis,
          control: sandboxed ? 'USER=builder' : 'no USER',
          variant: `USER=${VARIANT_USER} and ${EXTRA_VARIABLE}=i-capture-the-environment`,
          knobs: { variables: { USER: VARIANT_USER, LOGNAME: VARIANT_USER, [EXTRA_VARIABLE]: 'i-capture-the-environment' } },
          hints: { users: sandboxed ? ['builder', VARIANT_USER] : [VARIANT_USER] },
        });
        break;
    }
  }
  return plans;
}

/** The knobs of several settings at once (the "everything varied" build). */
function combine(settings: readonly AxisSetting[]): { variation: BuildVariation; otherWork: boolean; reverseOrder: boolean } {
  const record: Record<string, string> = {};
  let knobs: SandboxKnobs = {};
  for (const s of settings) {
    record[s.axis] = s.variant;
    knobs = { ...knobs, ...s.knobs, variables: { ...knobs.variables, ...s.knobs.variables } };
  }
  return { variation: { ...knobs, record }, otherWork: settings.some((s) => s.otherWork), reverseOrder: settings.some((s) => s.reverseOrder) };
}

// ---------------------------------------------------------------------------------------------
// Comparing with noise: what two un-varied builds already disagree on is not the axis's doing

function evidenceKeys(cause: Cause): Set<string> {
  return new Set(cause.evidence.map((e) => `${e.path}\u0000${e.field ?? ''}`));
}

/**
 * The causes in `causes` that the controls' own differences (`noise`) do not account for: a
 * cause counts as noise when the controls show the same kind at the same places (or so many
 * places that their evidence was cut short).
 */
export function beyondNoise(causes: readonly Cause[], noise: readonly Cause[]): Cause[] {
  return causes.filter((cause) => {
    const same = noise.find((n) => n.kind === cause.kind);
    if (same === undefined) return true;
    if (same.occurrences > same.evidence.length) return false;
    const known = evidenceKeys(same);
    return ![...evidenceKeys(cause)].every((key) => known.has(key));
  });
}

/** Axes named by two un-varied builds differing: clock-related causes → `time`, the rest → `randomness`. */
export function findingsFromControls(causes: readonly Cause[]): VaryFinding[] {
  const found = new Set<VaryFinding>();
  for (const cause of causes) found.add(cause.kind === 'timestamp' || cause.kind === 'timezone' ? 'time' : 'randomness');
  return orderFindings(found);
}

function orderFindings(found: ReadonlySet<VaryFinding>): VaryFinding[] {
  return [...VARY_AXES, 'randomness' as const].filter((f) => found.has(f));
}

// ---------------------------------------------------------------------------------------------
// The run

export interface VaryInput {
  /** The snapshot (never modified: each build gets its own copy). */
  readonly dir: string;
  readonly name: string;
  readonly recipe: BuildConfig;
  readonly sourceDateEpoch: number;
  readonly npmCache?: string;
  /** Default: {@link probeVaryCapabilities}. */
  readonly capabilities?: VaryCapabilities;
  /** Axes to try (default all). */
  readonly axes?: readonly VaryAxis[];
  /** Deadline for the whole run; axes not reached by then are reported as skipped. Default 20 min. */
  readonly timeoutMs?: number;
  /** Deadline for each build (default 10 min, never past the run's deadline). */
  readonly buildTimeoutMs?: number;
  readonly onProgress?: (message: string) => void;
  /** Monotonic milliseconds (default `performance.now`), for the deadline and the duration. */
  readonly now?: () => number;
}

export type AxisStatus = 'identical' | 'differs' | 'noise' | 'failed' | 'skipped';

export interface AxisResult {
  readonly axis: VaryAxis;
  /** What changed (`TZ=UTC → TZ=Pacific/Chatham`); null when the axis was not varied. */
  readonly varied: string | null;
  /**
   * `identical`: same digest as the control (when the build with every variation was
   * identical, each axis is reported so without a build of its own); `differs`: differences the controls do not show;
   * `noise`: differs only where the controls already differ; `failed`: the variant build
   * failed; `skipped`: not variable here, or the deadline passed.
   */
  readonly status: AxisStatus;
  readonly identical: boolean;
  /** The axis changes the output (status `differs` or `failed`). */
  readonly matters: boolean;
  readonly digest: Digest | null;
  /** Causes named by comparing the control with this variant (noise excluded). */
  readonly causes: readonly Cause[];
  /** Why skipped or failed. */
  readonly reason?: string;
}

/** The result of an axis the run's deadline left unbuilt. */
function pastDeadlineResult(axis: VaryAxis, varied: string): AxisResult {
  return { axis, varied, status: 'skipped', identical: false, matters: false, digest: null, causes: [], reason: 'the --vary deadline passed' };
}

export interface VaryReport {
  /** `reproducible`: no variation changed a byte, and the controls agree. */
  readonly verdict: 'reproducible' | 'unreproducible';
  /** What the output depends on, in axis order (`randomness` last). */
  readonly matters: readonly VaryFinding[];
  readonly summary: string;
  readonly isolation: Isolation;
  readonly controls: {
    readonly digests: readonly [Digest, Digest];
    readonly identical: boolean;
    /** Causes named from the two controls (nondeterminism); empty when identical. */
    readonly causes: readonly Cause[];
    readonly findings: readonly VaryFinding[];
  };
  /** The build with every available variation at once; null when not run (the controls differ). */
  readonly everything: { readonly digest: Digest | null; readonly identical: boolean; readonly axes: readonly VaryAxis[]; readonly failed?: string } | null;
  readonly axes: readonly AxisResult[];
  readonly builds: number;
  /** False when the deadline cut the run short. */
  readonly complete: boolean;
  readonly ms: number;
}

export interface VaryOutcome {
  readonly report: VaryReport;
  /** The first control build: what a plain build of this snapshot gives. */
  readonly control: BuildOutput;
}

async function copyTree(from: string, to: string, reverse: boolean): Promise<void> {
  await mkdir(to, { recursive: true });
  const names = (await readdir(from)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (reverse) names.reverse();
  for (const name of names) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const stat = await lstat(source);
    if (stat.isDirectory()) {
      await copyTree(source, target, reverse);
      await chmod(target, stat.mode & 0o7777);
    } else if (stat.isSymbolicLink()) await symlink(await readlink(source), target);
    else if (stat.isFile()) {
      await copyFile(source, target);
      await chmod(target, stat.mode & 0o7777);
    }
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

/** A build of the project failed for a reason of its own (not cairn's): a finding, not a crash. */
function projectFailure(error: unknown): error is CairnError {
  return error instanceof CairnError && error.category !== 'internal';
}

/**
 * Runs the diagnosis: two controls; if they agree, one build with every variation; if that
 * differs, one build per axis. Each build gets a fresh copy of the snapshot and a fresh
 * scratch folder, both removed afterwards. Throws when a control build fails.
 */
export async function varyBuild(input: VaryInput): Promise<VaryOutcome> {
  const now = input.now ?? (() => performance.now());
  const t0 = now();
  const deadline = t0 + (input.timeoutMs ?? 20 * 60_000);
  const capabilities = input.capabilities ?? (await probeVaryCapabilities());
  const progress = input.onProgress ?? (() => {});
  const rootParent = 'dir' in capabilities.tmpfs ? capabilities.tmpfs.dir : os.tmpdir();
  const root = await mkdtemp(path.join(rootParent, 'cairn-vary-'));
  const folders: VaryFolders = {
    work: path.join(root, 'build'),
    otherWork: path.join(root, 'elsewhere', 'deeper', 'other-path'),
    scratch: path.join(root, 'scratch'),
  };
  const wanted = new Set(input.axes ?? VARY_AXES);
  const plans = planVariations(capabilities, folders).filter((p) => wanted.has(p.axis));
  let builds = 0;

  /** The deadline, not the project, stopped this build. */
  const pastDeadline = (error: unknown): boolean =>
    error instanceof BuildError && (error.code === 'BUILD_VARY_DEADLINE' || (error.code === 'BUILD_TIMEOUT' && now() >= deadline - 50));

  const build = async (settings: readonly AxisSetting[]): Promise<BuildOutput> => {
    const remaining = deadline - now();
    if (remaining <= 0) throw new BuildError('BUILD_VARY_DEADLINE', 'the --vary deadline passed');
    const { variation, otherWork, reverseOrder } = combine(settings);
    const work = otherWork ? folders.otherWork : folders.work;
    const fakingTime = settings.some((s) => s.axis === 'time') && capabilities.isolation.isolation !== 'bubblewrap';
    const segments = fakingTime ? await fakeTimeSegments() : null;
    builds++;
    try {
      await copyTree(input.dir, work, reverseOrder);
      await mkdir(folders.scratch, { recursive: true });
      return await runBuild({
        dir: work,
        scratch: folders.scratch,
        name: input.name,
        recipe: input.recipe,
        sourceDateEpoch: input.sourceDateEpoch,
        isolation: capabilities.isolation,
        timeoutMs: Math.max(1, Math.min(input.buildTimeoutMs ?? 10 * 60_000, Math.floor(remaining))),
        ...(input.npmCache !== undefined ? { npmCache: input.npmCache } : {}),
        ...(settings.length > 0 ? { variation } : {}),
      });
    } finally {
      await rm(work, { recursive: true, force: true });
      await rm(folders.scratch, { recursive: true, force: true });
      if (segments !== null) await removeFakeTimeLeftovers(segments);
    }
  };

  try {
    progress('control build 1 of 2 (no variation)');
    const control = await build([]);
    progress('control build 2 of 2 (no variation)');
    const second = await build([]);
    const controlDigest = control.result.artifact.digest;
    const controlsIdentical = control.artifact.equals(second.artifact);
    const noise = controlsIdentical ? [] : [...explainArtifacts(control.artifact, second.artifact, { names: ['control-1', 'control-2'] }).causes];
    const controlFindings = findingsFromControls(noise);
    if (!controlsIdentical) progress(`the controls differ (${noise.map((c) => c.kind).join(', ')}): the build is nondeterministic`);

    const available = plans.flatMap((p) => (p.available ? [p.setting] : []));
    let everything: VaryReport['everything'] = null;
    let perAxis = !controlsIdentical;
    if (controlsIdentical && available.length > 0) {
      progress(`build with every variation (${available.map((s) => s.axis).join(', ')})`);
      try {
        const all = await build(available);
        const identical = all.artifact.equals(control.artifact);
        everything = { digest: all.result.artifact.digest, identical, axes: available.map((s) => s.axis) };
        perAxis = !identical;
      } catch (error) {
        if (!projectFailure(error) && !pastDeadline(error)) throw error;
        everything = { digest: null, identical: false, axes: available.map((s) => s.axis), failed: firstLine(error) };
        perAxis = true;
      }
    }

    const results: AxisResult[] = [];
    let complete = true;
    for (const plan of plans) {
      if (!plan.available) {
        results.push({ axis: plan.axis, varied: null, status: 'skipped', identical: false, matters: false, digest: null, causes: [], reason: plan.reason });
        continue;
      }
      const { setting } = plan;
      const varied = `${setting.control} → ${setting.variant}`;
      if (!perAxis) {
        results.push({ axis: setting.axis, varied, status: 'identical', identical: true, matters: false, digest: controlDigest, causes: [] });
        continue;
      }
      if (now() >= deadline) {
        complete = false;
        results.push(pastDeadlineResult(setting.axis, varied));
        continue;
      }
      progress(`varying ${setting.axis}: ${varied}`);
      let variant: BuildOutput;
      try {
        variant = await build([setting]);
      } catch (error) {
        if (pastDeadline(error)) {
          complete = false;
          results.push(pastDeadlineResult(setting.axis, varied));
          continue;
        }
        if (!projectFailure(error)) throw error;
        results.push({ axis: setting.axis, varied, status: 'failed', identical: false, matters: true, digest: null, causes: [], reason: firstLine(error) });
        continue;
      }
      const digest = variant.result.artifact.digest;
      if (variant.artifact.equals(control.artifact)) {
        results.push({ axis: setting.axis, varied, status: 'identical', identical: true, matters: false, digest, causes: [] });
        continue;
      }
      const explained = explainArtifacts(control.artifact, variant.artifact, { names: ['control', setting.axis], hints: setting.hints });
      const causes = beyondNoise(explained.causes, noise);
      const status: AxisStatus = causes.length > 0 ? 'differs' : 'noise';
      results.push({
        axis: setting.axis,
        varied,
        status,
        identical: false,
        matters: status === 'differs',
        digest,
        causes: status === 'differs' ? causes : explained.causes,
      });
    }

    const found = new Set<VaryFinding>(controlFindings);
    for (const r of results) if (r.matters) found.add(r.axis);
    const matters = orderFindings(found);
    const reproducible = controlsIdentical && matters.length === 0 && (everything === null || everything.identical);
    const summary = reproducible
      ? `reproducible: ${available.length === 0 ? 'the controls agree (no axis could be varied here)' : `identical under ${available.map((s) => s.axis).join(', ')}`}`
      : matters.length > 0
        ? `unreproducible: the output depends on ${matters.join(', ')}`
        : 'unreproducible: only the combination of variations changes the output';
    return {
      report: {
        verdict: reproducible ? 'reproducible' : 'unreproducible',
        matters,
        summary,
        isolation: capabilities.isolation.isolation,
        controls: { digests: [controlDigest, second.result.artifact.digest], identical: controlsIdentical, causes: noise, findings: controlFindings },
        everything,
        axes: results,
        builds,
        complete,
        ms: Math.round(now() - t0),
      },
      control,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
