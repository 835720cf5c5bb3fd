import { spawn, spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packTgz, type TarEntry } from '../crypto/archive.js';
import { packZip } from '../crypto/zip.js';
import { sha256Digest } from '../crypto/digest.js';
import type { BuildConfig } from '../model/config.js';
import type { BuildEnvironment, BuildResult, InstalledDependency } from '../model/build.js';
import { parsePackageLock } from '../model/lockfile.js';
import { BuildError } from './errors.js';
import { installFromLock } from './install.js';
import { type Invocation, type Probe, probeIsolation, type SandboxKnobs, sandboxInvocation } from './sandbox.js';

export interface BuildInput {
  /** The snapshot directory; the recipe runs here. */
  readonly dir: string;
  /** Scratch directory for HOME and TMPDIR, outside `dir`. */
  readonly scratch: string;
  readonly name: string;
  readonly recipe: BuildConfig;
  readonly sourceDateEpoch: number;
  /** npm cache to install from (offline); defaults to the host's. */
  readonly npmCache?: string;
  /** The isolation to use; default: the strongest that works here ({@link probeIsolation}). */
  readonly isolation?: Probe;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  readonly clock?: () => Date;
  /** Receives each line the recipe prints (for progress). */
  readonly onLine?: (line: string) => void;
  /** Diagnostic departures from the normalised environment (`cairn build --vary` only). */
  readonly variation?: BuildVariation;
}

/**
 * Overrides of the normalised environment, one per varied axis, for `cairn build --vary`.
 * The result records them as `environment.variation`; a plain build passes none.
 */
export interface BuildVariation extends SandboxKnobs {
  /** What was varied, axis → description (recorded; the knobs do the varying). */
  readonly record: Readonly<Record<string, string>>;
}

export interface BuildOutput {
  readonly result: BuildResult;
  readonly artifact: Buffer;
  /** Combined stdout and stderr of the recipe (last 1 MiB). */
  readonly log: Buffer;
}

const MAX_LOG = 1024 * 1024;

function hostNpmCache(): string {
  return process.env.npm_config_cache ?? path.join(os.homedir(), '.npm');
}

/**
 * The variables a recipe sees besides HOME and TMPDIR (which the sandbox sets): nothing from
 * the caller's environment but PATH, so two builds of one commit see the same variables on
 * any machine. npm is kept offline and quiet.
 */
export function normalisedEnvironment(input: Pick<BuildInput, 'sourceDateEpoch'>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    TZ: 'UTC',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    SOURCE_DATE_EPOCH: String(input.sourceDateEpoch),
    CI: 'true',
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_progress: 'false',
  };
}

const toolVersions = new Map<string, string | null>();

/** `command --version` on the current PATH, asked once per process and PATH (npm takes ~150 ms to answer). */
function toolVersion(command: string): string | null {
  const searchPath = process.env.PATH ?? '/usr/bin:/bin';
  const key = `${command}\u0000${searchPath}`;
  if (!toolVersions.has(key)) {
    const result = spawnSync(command, ['--version'], { env: { PATH: searchPath }, encoding: 'utf8', timeout: 30_000 });
    toolVersions.set(key, result.status === 0 ? result.stdout.trim() : null);
  }
  return toolVersions.get(key) ?? null;
}

function runRecipe(input: BuildInput, invocation: Invocation): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(invocation.file, [...invocation.args], { cwd: invocation.cwd, env: invocation.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let pending = '';
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      while (size > MAX_LOG && chunks.length > 1) size -= chunks.shift()?.length ?? 0;
      if (input.onLine) {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) input.onLine(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timeout = input.timeoutMs ?? 10 * 60_000;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(new BuildError('BUILD_SPAWN_FAILED', `cannot start the recipe: ${cause.message}`, { cause }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const log = Buffer.concat(chunks);
      if (code === 0) return resolve(log);
      const tail = log.toString('utf8').trimEnd().split('\n').slice(-15).join('\n');
      if (signal === 'SIGKILL') return reject(new BuildError('BUILD_TIMEOUT', `the recipe ran longer than ${timeout / 1000}s and was stopped\n${tail}`));
      reject(new BuildError('BUILD_RECIPE_FAILED', `the recipe exited with ${code ?? signal}\n${tail}`));
    });
  });
}

/**
 * A zip with the same normalisation as the tarball: entries sorted by UTF-8 bytes, every
 * mtime the SOURCE_DATE_EPOCH written as UTC, modes 0644/0755, deflate level 9.
 */
function packZipDeterministic(entries: readonly TarEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return packZip(
    sorted.map((e) => ({
      ...e,
      path: e.type === 'directory' ? `${e.path}/` : e.path,
      mode: e.type === 'symlink' ? 0o777 : e.type === 'directory' || e.mode & 0o111 ? 0o755 : 0o644,
    })),
    { mtime, level: 9, utcOffsetMinutes: 0 },
  );
}

/** Collects the output directory as archive entries prefixed with its own path. */
async function collectOutput(root: string, output: string, maxBytes: number): Promise<TarEntry[]> {
  const outputDir = path.join(root, output);
  const real = await realpath(outputDir).catch(() => null);
  if (real === null || !(await lstat(real)).isDirectory()) {
    throw new BuildError('BUILD_OUTPUT_MISSING', `the recipe did not produce the declared output directory "${output}"`);
  }
  const realRoot = await realpath(root);
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
    throw new BuildError('BUILD_OUTPUT_UNSAFE', `the output directory "${output}" resolves outside the project`);
  }
  const entries: TarEntry[] = [];
  let total = 0;
  const prefix = output.replace(/\/+$/, '');
  const walk = async (dir: string, rel: string): Promise<void> => {
    entries.push({ path: rel, type: 'directory', mode: 0o755 });
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const relPath = `${rel}/${name}`;
      const stat = await lstat(full);
      if (stat.isDirectory()) await walk(full, relPath);
      else if (stat.isSymbolicLink()) {
        const target = await readlink(full);
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relPath), target));
        if (path.posix.isAbsolute(target) || resolved.startsWith('..') || !resolved.startsWith(`${prefix}/`)) {
          throw new BuildError('BUILD_OUTPUT_UNSAFE', `symlink ${relPath} points outside the output (${target})`);
        }
        entries.push({ path: relPath, type: 'symlink', mode: 0o777, linkname: target });
      } else if (stat.isFile()) {
        total += stat.size;
        if (total > maxBytes) throw new BuildError('BUILD_OUTPUT_TOO_LARGE', `the output is larger than ${maxBytes} bytes`);
        entries.push({ path: relPath, type: 'file', mode: stat.mode & 0o777, data: await readFile(full) });
      } else {
        throw new BuildError('BUILD_OUTPUT_UNSAFE', `${relPath} is neither a file, a directory nor a symlink`);
      }
    }
  };
  await walk(real, prefix);
  return entries;
}

/**
 * Runs the recipe in the snapshot with a normalised environment, then packs the declared
 * output into a deterministic `.tgz` (sorted entries, mtime = SOURCE_DATE_EPOCH, owner 0,
 * modes 0644/0755, fixed gzip header).
 */
export async function runBuild(input: BuildInput): Promise<BuildOutput> {
  const clock = input.clock ?? (() => new Date());
  const probe = input.isolation ?? probeIsolation();
  for (const sub of ['home', 'tmp', 'etc']) await mkdir(path.join(input.scratch, sub), { recursive: true });
  const lockText = await readFile(path.join(input.dir, 'package-lock.json')).catch(() => null);
  const lockfileDigest = lockText ? sha256Digest(lockText) : null;
  const startedAt = clock().toISOString();
  let dependencies: InstalledDependency[] = [];
  if (input.recipe.install === 'npm') {
    if (!lockText) throw new BuildError('BUILD_LOCKFILE_MISSING', 'build.install is npm but the project has no package-lock.json');
    dependencies = await installFromLock(input.dir, parsePackageLock(lockText), { npmCache: input.npmCache ?? hostNpmCache() });
  }
  const variation = input.variation;
  const invocation = sandboxInvocation(
    probe.isolation,
    { workDir: input.dir, scratch: input.scratch, output: input.recipe.output },
    normalisedEnvironment(input),
    input.recipe.run,
    variation,
  );
  if (variation?.home !== undefined && probe.isolation !== 'bubblewrap') await mkdir(variation.home, { recursive: true });
  const log = await runRecipe(input, invocation);
  const entries = await collectOutput(invocation.outputRoot, input.recipe.output, input.maxOutputBytes ?? 1024 * 1024 * 1024);
  const format = input.recipe.format ?? 'tgz';
  const artifact = format === 'zip' ? packZipDeterministic(entries, input.sourceDateEpoch) : packTgz(entries, input.sourceDateEpoch);
  const finishedAt = clock().toISOString();
  const machineSpecific = new Set(['PATH', 'HOME', 'TMPDIR']);
  const environment: BuildEnvironment = {
    variables: Object.fromEntries(Object.entries(invocation.inner).filter(([k]) => !machineSpecific.has(k))),
    umask: (variation?.umask ?? '022').padStart(4, '0'),
    node: process.version,
    npm: toolVersion('npm'),
    platform: process.platform,
    arch: process.arch,
    isolation: probe.isolation,
    isolationNotes: probe.notes,
    buildDir: invocation.buildDir,
    ...(variation !== undefined ? { variation: { ...variation.record } } : {}),
  };
  return {
    result: {
      artifact: {
        name: `${input.name}.${format}`,
        digest: sha256Digest(artifact),
        size: artifact.length,
        mediaType: format === 'zip' ? 'application/zip' : 'application/gzip',
      },
      recipe: { run: input.recipe.run, output: input.recipe.output, install: input.recipe.install },
      dependencies,
      environment,
      entries: entries.length,
      lockfileDigest,
      startedAt,
      finishedAt,
    },
    artifact,
    log,
  };
}
