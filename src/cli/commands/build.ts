import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Cause } from '../../build/explain.js';
import { type BuildOutput, runBuild } from '../../build/run.js';
import { VARY_AXES, type VaryAxis, type VaryReport, varyBuild } from '../../build/vary.js';
import type { BuildResult } from '../../model/build.js';
import { UsageError } from '../../model/errors.js';
import type { SourceSnapshot } from '../../model/source.js';
import { loadProjectConfig } from '../../source/config.js';
import { snapshotCommit } from '../../source/snapshot.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import type { Output } from '../io.js';
import { forTerminal } from '../terminal.js';

export interface BuildCommitOptions {
  /** The project folder (inside a git repository). */
  readonly project: string;
  /** Revision to build (default `HEAD`). */
  readonly rev?: string;
  readonly onLine?: (line: string) => void;
}

export interface BuiltCommit {
  readonly snapshot: SourceSnapshot;
  /** Uncommitted paths under the project, which the build ignored. */
  readonly uncommitted: readonly string[];
  readonly output: BuildOutput;
}

export interface VaryCommitOptions extends BuildCommitOptions {
  readonly axes?: readonly VaryAxis[];
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface VariedCommit {
  readonly snapshot: SourceSnapshot;
  readonly uncommitted: readonly string[];
  readonly report: VaryReport;
  /** The first control build (what a plain build gives). */
  readonly control: BuildOutput;
}

/** Snapshots the commit into a temporary folder, runs `body` on it, and removes the folder. */
async function withSnapshot<T>(
  options: BuildCommitOptions,
  body: (snap: Awaited<ReturnType<typeof snapshotCommit>>, scratch: string) => Promise<T>,
): Promise<T> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'cairn-build-'));
  try {
    const snap = await snapshotCommit(options.project, { rev: options.rev ?? 'HEAD', into: path.join(scratch, 'src') });
    return await body(snap, scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Builds the committed tree of a project, as the pipeline's source and build stages do. */
export function buildCommit(options: BuildCommitOptions): Promise<BuiltCommit> {
  return withSnapshot(options, async (snap, scratch) => {
    const { config } = await loadProjectConfig(snap.dir);
    await mkdir(path.join(scratch, 'build'));
    const output = await runBuild({
      dir: snap.dir,
      scratch: path.join(scratch, 'build'),
      name: config.name,
      recipe: config.build,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    return { snapshot: snap.snapshot, uncommitted: snap.uncommitted, output };
  });
}

/** Builds the committed tree of a project under controlled variations and names what its output depends on. */
export function varyCommit(options: VaryCommitOptions): Promise<VariedCommit> {
  return withSnapshot(options, async (snap) => {
    const { config } = await loadProjectConfig(snap.dir);
    const { report, control } = await varyBuild({
      dir: snap.dir,
      name: config.name,
      recipe: config.build,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      ...(options.axes ? { axes: options.axes } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { snapshot: snap.snapshot, uncommitted: snap.uncommitted, report, control };
  });
}

// ---------------------------------------------------------------------------------------------
// Text rendering

const safe = (text: string): string => forTerminal(text, true);

function renderBuild(result: BuildResult, snapshot: SourceSnapshot, out: Output): void {
  const env = result.environment;
  out.line(`built ${safe(result.artifact.name)} ${result.artifact.digest}`);
  out.line(`  size       ${result.artifact.size} bytes, ${result.entries} entries`);
  out.line(
    `  commit     ${snapshot.commit.slice(0, 12)} (${safe(snapshot.subdir || '.')}), tree ${snapshot.treeDigest.slice(0, 19)}…, SOURCE_DATE_EPOCH=${snapshot.sourceDateEpoch}`,
  );
  out.line(
    `  recipe     ${safe(result.recipe.run)} → ${safe(result.recipe.output)} (install: ${result.recipe.install}, ${result.dependencies.length} dependencies)`,
  );
  out.line(`  isolation  ${env.isolation}${env.isolationNotes.length > 0 ? ` (${safe(env.isolationNotes.join('; '))})` : ''}`);
  out.line(`  build dir  ${safe(env.buildDir)}, umask ${env.umask}, node ${env.node}, npm ${env.npm ?? '-'}, ${env.platform}/${env.arch}`);
  out.line(
    `  variables  ${safe(
      Object.entries(env.variables)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    )}`,
  );
}

function renderCause(cause: Cause, out: Output, pad: string): void {
  out.line(`${pad}${cause.kind} (${cause.confidence}): ${safe(cause.detail)}`);
  for (const e of cause.evidence.slice(0, 3)) {
    const where = `${e.path === '' ? '(artifact)' : e.path}${e.field !== undefined ? ` ${e.field}` : ''}`;
    const values = e.value1 !== undefined || e.value2 !== undefined ? `: ${JSON.stringify(e.value1 ?? null)} → ${JSON.stringify(e.value2 ?? null)}` : '';
    out.line(`${pad}  ${safe(where + values)}`);
  }
}

function renderVary(report: VaryReport, out: Output): void {
  out.line(`vary: ${safe(report.summary)}`);
  const c = report.controls;
  out.line(`  controls    ${c.identical ? `identical ${c.digests[0]}` : `DIFFER ${c.digests[0]} vs ${c.digests[1]} → ${c.findings.join(', ')}`}`);
  for (const cause of c.causes) renderCause(cause, out, '                ');
  if (report.everything) {
    const e = report.everything;
    out.line(`  everything  ${e.failed ? `FAILED: ${safe(e.failed)}` : e.identical ? 'identical' : `DIFFERS ${e.digest}`} (${e.axes.join(', ')})`);
  }
  for (const a of report.axes) {
    const label = a.status === 'differs' || a.status === 'failed' ? a.status.toUpperCase() : a.status;
    out.line(`  ${a.axis.padEnd(11)} ${label.padEnd(10)} ${safe(a.varied ?? a.reason ?? '')}${a.varied !== null && a.reason ? ` (${safe(a.reason)})` : ''}`);
    if (a.status === 'differs') for (const cause of a.causes) renderCause(cause, out, '                ');
  }
  out.line(
    `  ${report.builds} builds in ${(report.ms / 1000).toFixed(1)} s, isolation ${report.isolation}${report.complete ? '' : ' (cut short by the deadline)'}`,
  );
}

// ---------------------------------------------------------------------------------------------
// The command

function axesOption(context: CommandContext): VaryAxis[] | undefined {
  const raw = context.values.axis;
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  if (list.length === 0) return undefined;
  const axes = list.flatMap((v) => v.split(',')).map((v) => v.trim());
  const unknown = axes.filter((a) => !(VARY_AXES as readonly string[]).includes(a));
  if (unknown.length > 0)
    throw new UsageError('CLI_BAD_OPTION', `--axis: unknown axis ${unknown.map((a) => JSON.stringify(a)).join(', ')} (axes: ${VARY_AXES.join(', ')})`);
  return axes as VaryAxis[];
}

function timeoutOption(context: CommandContext): number | undefined {
  const raw = stringOption(context, 'timeout');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 24 * 3600) {
    throw new UsageError('CLI_BAD_OPTION', `--timeout must be a number of seconds in (0, 86400], got ${JSON.stringify(raw)}`);
  }
  return Math.round(seconds * 1000);
}

async function run(context: CommandContext): Promise<number> {
  const { out, io } = context;
  const project = path.resolve(io.cwd, context.positionals[0] ?? '.');
  const rev = stringOption(context, 'rev');
  const outPath = stringOption(context, 'out');
  const vary = flag(context, 'vary');
  const axes = axesOption(context);
  const timeoutMs = timeoutOption(context);
  if (!vary && (axes !== undefined || timeoutMs !== undefined)) throw new UsageError('CLI_BAD_OPTION', '--axis and --timeout apply only with --vary');
  const onLine = flag(context, 'verbose') ? (line: string) => out.progress(`  recipe | ${line}`) : undefined;
  const common = { project, ...(rev !== undefined ? { rev } : {}), ...(onLine ? { onLine } : {}) };
  const warnUncommitted = (uncommitted: readonly string[]) => {
    if (uncommitted.length > 0)
      out.progress(`warning: ${uncommitted.length} uncommitted change(s) are not in the build (first: ${safe(uncommitted[0] ?? '')})`);
  };
  const written = outPath === undefined ? null : path.resolve(io.cwd, outPath);

  if (!vary) {
    const built = await buildCommit(common);
    warnUncommitted(built.uncommitted);
    if (written) await writeFile(written, built.output.artifact);
    out.event('build', { snapshot: built.snapshot, uncommitted: built.uncommitted, result: built.output.result, out: written });
    renderBuild(built.output.result, built.snapshot, out);
    if (written) out.line(`  written    ${safe(written)}`);
    return 0;
  }

  const varied = await varyCommit({
    ...common,
    ...(axes ? { axes } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    onProgress: (message) => out.progress(`… ${message}`),
  });
  warnUncommitted(varied.uncommitted);
  if (written) await writeFile(written, varied.control.artifact);
  out.event('vary', { snapshot: varied.snapshot, uncommitted: varied.uncommitted, control: varied.control.result, report: varied.report, out: written });
  renderVary(varied.report, out);
  if (written) out.line(`  written    ${safe(written)} (the control build)`);
  return varied.report.verdict === 'reproducible' ? 0 : 1;
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'build the committed tree in the sandbox and print the artifact digest; --vary finds what the output depends on',
  usage: 'cairn build [DIR] [--rev REV] [--out FILE] [--vary [--axis AXIS…] [--timeout SECONDS]] [--verbose] [--json]',
  description:
    "Snapshots DIR's commit (HEAD or --rev; never the working copy), runs the recipe from cairn.yaml in the strongest isolation that works here, and packs the output deterministically; prints the digest and the build record (isolation, environment). " +
    `With --vary, builds twice with no variation, then with every variation, then one axis at a time (${VARY_AXES.join(', ')}), and names the axes the output depends on (and randomness, when two un-varied builds differ); exit 1 unless reproducible.`,
  options: {
    rev: { type: 'string', value: 'REV', description: 'the revision to build (default HEAD)' },
    out: { type: 'string', value: 'FILE', description: 'also write the artifact here (with --vary: the control build)' },
    vary: { type: 'boolean', description: 'build under controlled variations and name what the output depends on' },
    axis: { type: 'string', value: 'AXIS', multiple: true, description: `with --vary, only these axes (${VARY_AXES.join(', ')}); repeatable` },
    timeout: { type: 'string', value: 'SECONDS', description: 'with --vary, a deadline for the whole run (default 1200)' },
    verbose: { type: 'boolean', short: 'v', description: "show the recipe's output (stderr)" },
  },
  positionals: { min: 0, max: 1 },
  run,
};
