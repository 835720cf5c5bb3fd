import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_EXPLAIN_LIMITS,
  diffTreeFromJson,
  explainArtifacts,
  type DiffNode,
  type Evidence,
  type ExplainHints,
  type ExplainResult,
} from '../../build/explain.js';
import { sha256Hex } from '../../crypto/digest.js';
import { CairnError, InputError, UsageError } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import type { Output } from '../io.js';
import { forTerminal } from '../terminal.js';

export interface FileFacts {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface DiffoscopeOptions {
  /** Environment whose PATH is searched for `diffoscope`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
  /** Largest report read from diffoscope's stdout. Default 40 MiB (rebuilderd's cap). */
  readonly maxOutputBytes?: number;
}

/** How the optional diffoscope run went; `tree` is its report when it found differences. */
export interface DiffoscopeReport {
  readonly status: 'ok' | 'skipped' | 'absent' | 'timeout' | 'too-large' | 'failed';
  readonly comment: string;
  readonly exitCode?: number;
  readonly tree?: DiffNode;
}

export interface ExplainFilesOptions {
  /** The two artifacts: the published one and the rebuild, say. */
  readonly files: readonly [string, string];
  /** Names shown in the tree; default the file paths. */
  readonly labels?: readonly [string, string];
  readonly hints?: ExplainHints;
  /** Also run diffoscope, when installed. */
  readonly deep?: DiffoscopeOptions;
}

export interface ExplainReport extends ExplainResult {
  readonly files: readonly [FileFacts, FileFacts];
  readonly diffoscope?: DiffoscopeReport;
}

const DEFAULT_TIMEOUT_SECONDS = 60;
const MAX_TIMEOUT_SECONDS = 3600;
const DEFAULT_DIFFOSCOPE_OUTPUT = 40 * 1024 * 1024;
const DIFFOSCOPE_MAX_NODES = 20_000;
const STDERR_TAIL = 2048;
const MAX_TREE_LINES = 300;
const MAX_DEEP_TREE_LINES = 150;

async function readArtifact(file: string): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new InputError('EXPLAIN_UNREADABLE', `${file}: not a regular file`);
    size = info.size;
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new InputError('EXPLAIN_UNREADABLE', `${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
  if (size > DEFAULT_EXPLAIN_LIMITS.maxInputBytes) {
    throw new InputError('EXPLAIN_TOO_LARGE', `${file}: ${size} bytes is over the ${DEFAULT_EXPLAIN_LIMITS.maxInputBytes}-byte cap`);
  }
  try {
    return await readFile(file);
  } catch (cause) {
    throw new InputError('EXPLAIN_UNREADABLE', `${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

/** Reads two artifacts, explains their differences and, when asked, attaches diffoscope's report. */
export async function explainFiles(options: ExplainFilesOptions): Promise<ExplainReport> {
  const [file1, file2] = options.files;
  const [a, b] = await Promise.all([readArtifact(file1), readArtifact(file2)]);
  const labels = options.labels ?? options.files;
  const result = explainArtifacts(a, b, { names: [labels[0], labels[1]], ...(options.hints !== undefined ? { hints: options.hints } : {}) });
  const files: [FileFacts, FileFacts] = [
    { path: labels[0], bytes: a.length, sha256: sha256Hex(a) },
    { path: labels[1], bytes: b.length, sha256: sha256Hex(b) },
  ];
  if (options.deep === undefined) return { ...result, files };
  const diffoscope = result.identical
    ? { status: 'skipped' as const, comment: 'not run: the files are identical' }
    : await runDiffoscope(file1, file2, options.deep);
  return { ...result, files, diffoscope };
}

async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '' || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Runs `diffoscope --json -` on the two files with a hard timeout (SIGKILL) and a cap on the
 * report size. Never throws for diffoscope's own failures: the status says what happened.
 */
export async function runDiffoscope(file1: string, file2: string, options: DiffoscopeOptions): Promise<DiffoscopeReport> {
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_DIFFOSCOPE_OUTPUT;
  const searchPath = options.env.PATH;
  const executable = await findOnPath('diffoscope', searchPath);
  if (executable === undefined) return { status: 'absent', comment: 'diffoscope is not on PATH; --deep was skipped (e.g. apt-get install diffoscope-minimal)' };
  const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const args = [
    '--json',
    '-',
    '--no-progress',
    '--exclude-directory-metadata=yes',
    '--max-report-size',
    String(maxOutputBytes),
    '--timeout',
    String(seconds),
    '--',
    file1,
    file2,
  ];
  const env = { PATH: searchPath ?? '', LC_ALL: 'C.UTF-8', TZ: 'UTC', HOME: options.env.HOME ?? '/nonexistent' };
  const run = await new Promise<{ code: number | null; stdout: Buffer; stderr: string; timedOut: boolean; tooLarge: boolean; error?: Error }>((resolve) => {
    const stdout: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let timedOut = false;
    let tooLarge = false;
    let spawnError: Error | undefined;
    const child = spawn(executable, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxOutputBytes) {
        if (!tooLarge) child.kill('SIGKILL');
        tooLarge = true;
      } else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout), stderr, timedOut, tooLarge, ...(spawnError !== undefined ? { error: spawnError } : {}) });
    });
  });
  if (run.error !== undefined) return { status: 'failed', comment: `diffoscope could not be started: ${run.error.message}` };
  if (run.timedOut) return { status: 'timeout', comment: `diffoscope did not finish within ${options.timeoutMs / 1000} s and was stopped` };
  if (run.tooLarge) return { status: 'too-large', comment: `diffoscope's report exceeded ${maxOutputBytes} bytes and was dropped` };
  const exitCode = run.code ?? -1;
  if (exitCode === 0) return { status: 'ok', exitCode, comment: 'diffoscope found no differences' };
  if (exitCode !== 1) return { status: 'failed', exitCode, comment: `diffoscope exited ${exitCode}: ${lastLine(run.stderr)}` };
  try {
    const tree = diffTreeFromJson(parseJson(run.stdout, 'diffoscope report', { maxBytes: maxOutputBytes, maxDepth: 256 }), DIFFOSCOPE_MAX_NODES);
    return { status: 'ok', exitCode, comment: 'diffoscope found differences', tree };
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    return { status: 'failed', exitCode, comment: `diffoscope's report could not be read (${error.code}): ${error.message}` };
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

// ---------------------------------------------------------------------------------------------
// Text rendering: every string that came from the artifacts passes through forTerminal.

function safe(text: string): string {
  return forTerminal(text, true);
}

function quote(value: string | undefined): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

function evidenceLine(e: Evidence): string {
  const where = e.path === '' ? '(artifact)' : e.path;
  const lines = e.line1 !== undefined || e.line2 !== undefined ? ` line ${e.line1 ?? '-'}/${e.line2 ?? '-'}` : '';
  const field = e.field !== undefined ? ` ${e.field}` : '';
  const values = e.value1 !== undefined || e.value2 !== undefined ? `: ${quote(e.value1)} → ${quote(e.value2)}` : '';
  return safe(`${where}${lines}${field}${values}`);
}

/** An indented outline of the tree, at most `max` lines, then a count of what was left out. */
export function treeLines(root: DiffNode, max: number): string[] {
  const out: string[] = [];
  let elided = 0;
  const emit = (line: string) => {
    if (out.length < max) out.push(line);
    else elided++;
  };
  const walk = (node: DiffNode, pad: string) => {
    emit(`${pad}${node.source1 === node.source2 ? safe(node.source1) : `${safe(node.source1)} ↔ ${safe(node.source2)}`}`);
    for (const comment of node.comments ?? []) emit(`${pad}  # ${safe(comment)}`);
    if (node.unified_diff !== null) {
      const diff = node.unified_diff.endsWith('\n') ? node.unified_diff.slice(0, -1) : node.unified_diff;
      for (const line of diff.split('\n')) emit(`${pad}  │ ${safe(line)}`);
    }
    for (const child of node.details) walk(child, `${pad}  `);
  };
  walk(root, '');
  if (elided > 0) out.push(`… ${elided} more lines not shown (use --json for the whole tree)`);
  return out;
}

function renderText(report: ExplainReport, out: Output): void {
  const [f1, f2] = report.files;
  if (report.identical) {
    out.line(`identical: ${safe(f1.path)} and ${safe(f2.path)} (sha256 ${f1.sha256}, ${f1.bytes} bytes)`);
    return;
  }
  out.line(`different: ${safe(f1.path)} and ${safe(f2.path)}`);
  out.line(`  sha256 ${f1.sha256}  ${f1.bytes} bytes  ${safe(f1.path)}`);
  out.line(`  sha256 ${f2.sha256}  ${f2.bytes} bytes  ${safe(f2.path)}`);
  out.line('');
  out.line('likely causes:');
  report.causes.forEach((cause, i) => {
    out.line(`  ${i + 1}. ${cause.kind} (${cause.confidence}; ${cause.occurrences} difference${cause.occurrences === 1 ? '' : 's'}): ${safe(cause.detail)}`);
    for (const e of cause.evidence) out.line(`       ${evidenceLine(e)}`);
    if (cause.occurrences > cause.evidence.length) out.line(`       … and ${cause.occurrences - cause.evidence.length} more`);
  });
  if (report.diff !== null) {
    out.line('');
    out.line('differences:');
    for (const line of treeLines(report.diff, MAX_TREE_LINES)) out.line(`  ${line}`);
  }
  if (report.diffoscope !== undefined) {
    out.line('');
    out.line(`diffoscope: ${report.diffoscope.status}: ${safe(report.diffoscope.comment)}`);
    if (report.diffoscope.tree !== undefined) for (const line of treeLines(report.diffoscope.tree, MAX_DEEP_TREE_LINES)) out.line(`  ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The command

function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

function timeoutMs(context: CommandContext): number {
  const raw = stringOption(context, 'timeout');
  if (raw === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new UsageError('CLI_BAD_OPTION', `--timeout must be a number of seconds in (0, ${MAX_TIMEOUT_SECONDS}], got ${JSON.stringify(raw)}`);
  }
  return Math.round(seconds * 1000);
}

async function run(context: CommandContext): Promise<number> {
  const [first, second] = context.positionals;
  if (first === undefined || second === undefined) throw new UsageError('CLI_BAD_ARGUMENTS', 'cairn explain needs two files');
  const deep = flag(context, 'deep');
  const timeout = timeoutMs(context);
  const report = await explainFiles({
    files: [path.resolve(context.io.cwd, first), path.resolve(context.io.cwd, second)],
    labels: [first, second],
    hints: {
      hostnames: listOption(context, 'hostname'),
      users: listOption(context, 'user'),
      homes: listOption(context, 'home'),
      buildPaths: listOption(context, 'build-path'),
    },
    ...(deep ? { deep: { env: { ...context.io.env, PATH: context.io.env.PATH ?? process.env.PATH }, timeoutMs: timeout } } : {}),
  });
  context.out.event('explain', { ...report });
  renderText(report, context.out);
  return report.identical ? 0 : 1;
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'explain why two builds of an artifact differ',
  usage: 'cairn explain A B [--deep [--timeout SECONDS]] [--hostname NAME…] [--user NAME…] [--home DIR…] [--build-path DIR…] [--json]',
  description:
    'Compares two artifacts (tgz, tar, gzip, zip, JSON, text, nested up to 8 levels) and names likely causes: timestamp, timezone, locale, build-path, environment, file-mode, file-order, randomness, compression, content, each with evidence. Exits 0 when identical, 1 when they differ, 2 for unreadable or malformed input (EXPLAIN_*, ARCHIVE_* codes).',
  options: {
    deep: { type: 'boolean', description: 'also run diffoscope, if installed, and attach its report' },
    timeout: { type: 'string', value: 'SECONDS', description: `time limit for --deep (default ${DEFAULT_TIMEOUT_SECONDS})` },
    hostname: { type: 'string', value: 'NAME', multiple: true, description: "a build host's name, to recognise when embedded; repeatable" },
    user: { type: 'string', value: 'NAME', multiple: true, description: 'a build user name; repeatable' },
    home: { type: 'string', value: 'DIR', multiple: true, description: "a build's HOME directory; repeatable" },
    'build-path': { type: 'string', value: 'DIR', multiple: true, description: 'a directory a build ran in; repeatable' },
  },
  positionals: { min: 2, max: 2 },
  run,
};
