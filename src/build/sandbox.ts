import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Isolation } from '../model/build.js';
import { BuildError } from './errors.js';

/** Where the build sees its folders when a sandbox maps them to fixed paths. */
export const SANDBOX_BUILD_DIR = '/build';
/** Where bubblewrap mounts the committed tree, read-only. */
export const SANDBOX_SOURCE_DIR = '/src';
const SANDBOX_OUT_DIR = '/out';
export const SANDBOX_HOME = '/home/builder';

const RANK: Record<Isolation, number> = { none: 0, 'unshare-net': 1, bubblewrap: 2 };

export interface Probe {
  readonly isolation: Isolation;
  /** Why the stronger modes were not used. */
  readonly notes: readonly string[];
}

export interface SandboxFolders {
  /** The working copy: writable when the recipe runs in it, read-only under bubblewrap (which copies it). */
  readonly workDir: string;
  /** The recipe's output folder, relative to the working copy (what bubblewrap copies back out). */
  readonly output?: string;
  /** Scratch folder for HOME, TMPDIR and the synthetic /etc files. */
  readonly scratch: string;
}

/**
 * Deliberate departures from the normalised sandbox, used only by `cairn build --vary` to
 * reveal whether a project depends on one normalisation. A plain build passes none.
 */
export interface SandboxKnobs {
  /** Octal umask the recipe's shell sets (default `022`). */
  readonly umask?: string;
  /** Hostname inside bubblewrap (default `cairn-build`); other isolations cannot set it. */
  readonly hostname?: string;
  /** Where bubblewrap mounts the working copy (default {@link SANDBOX_BUILD_DIR}). */
  readonly buildDir?: string;
  /** HOME as the recipe sees it: a path inside bubblewrap, a host folder otherwise. */
  readonly home?: string;
  /** Variables set last, over the normalised ones and those the sandbox adds (USER, HOME…). */
  readonly variables?: Readonly<Record<string, string>>;
}

export interface Invocation {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Environment passed to `file` (bubblewrap clears it inside and sets `inner` instead). */
  readonly env: Record<string, string>;
  /** The variables the recipe itself sees. */
  readonly inner: Record<string, string>;
  /** The build directory as the recipe sees it. */
  readonly buildDir: string;
  /** Host folder holding `<output>/` after the recipe ran (the working copy, or bubblewrap's copy-out folder). */
  readonly outputRoot: string;
}

function works(file: string, args: readonly string[]): boolean {
  const result = spawnSync(file, args, { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

function nodePrefix(): string {
  return path.dirname(path.dirname(process.execPath));
}

export const SANDBOX_HOSTNAME = 'cairn-build';
const UMASK = /^0?[0-7]{3}$/;
const HOSTNAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function bwrapArgs(folders: SandboxFolders | null, knobs: SandboxKnobs = {}): string[] {
  const args = ['--die-with-parent', '--unshare-all', '--hostname', knobs.hostname ?? SANDBOX_HOSTNAME, '--uid', '1000', '--gid', '1000'];
  args.push('--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/sbin', '/sbin');
  args.push('--ro-bind-try', '/lib64', '/lib64', '--ro-bind-try', '/etc/alternatives', '/etc/alternatives');
  const prefix = nodePrefix();
  if (prefix !== '/usr' && !prefix.startsWith('/usr/')) args.push('--ro-bind', prefix, prefix);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  if (folders) {
    args.push('--ro-bind', path.join(folders.scratch, 'etc', 'passwd'), '/etc/passwd', '--ro-bind', path.join(folders.scratch, 'etc', 'group'), '/etc/group');
    const buildDir = knobs.buildDir ?? SANDBOX_BUILD_DIR;
    // The source is mounted read-only; the recipe works on a copy in a private tmpfs and only
    // its declared output is copied back out.
    args.push('--ro-bind', folders.workDir, SANDBOX_SOURCE_DIR, '--tmpfs', buildDir, '--bind', path.join(folders.scratch, 'out'), SANDBOX_OUT_DIR);
    args.push('--bind', path.join(folders.scratch, 'home'), knobs.home ?? SANDBOX_HOME, '--chdir', '/');
  }
  return args;
}

let probed: Probe | null = null;

/**
 * Finds the strongest isolation that actually works here: bubblewrap (no network, fixed
 * paths, private /tmp, cleared environment, synthetic passwd), else a network namespace
 * (`unshare -n`), else none. `CAIRN_ISOLATION` may lower (never raise) the result.
 */
export function probeIsolation(env: Readonly<Record<string, string | undefined>> = process.env): Probe {
  if (!probed) {
    const notes: string[] = [];
    let isolation: Isolation = 'none';
    if (works('bwrap', [...bwrapArgs(null), '--', '/bin/true'])) isolation = 'bubblewrap';
    else {
      notes.push('bubblewrap (bwrap) is missing or cannot create namespaces here');
      if (works('unshare', ['-n', '--', '/bin/true'])) isolation = 'unshare-net';
      else notes.push('unshare -n is not permitted here: the build runs without isolation');
    }
    probed = { isolation, notes };
  }
  const cap = env.CAIRN_ISOLATION as Isolation | undefined;
  if (cap && cap in RANK && RANK[cap] < RANK[probed.isolation]) return { isolation: cap, notes: [...probed.notes, `lowered to ${cap} by CAIRN_ISOLATION`] };
  return probed;
}

/**
 * Builds the command line that runs `script` under `isolation` with exactly `variables`.
 * `knobs` (for `--vary` only) override one normalisation each.
 */
export function sandboxInvocation(
  isolation: Isolation,
  folders: SandboxFolders,
  variables: Readonly<Record<string, string>>,
  script: string,
  knobs: SandboxKnobs = {},
): Invocation {
  const umask = knobs.umask ?? '022';
  if (!UMASK.test(umask)) throw new BuildError('BUILD_BAD_VARIATION', `umask must be three octal digits, got ${JSON.stringify(umask)}`);
  const shell = ['/bin/sh', '-c', `umask ${umask}\n${script}`];
  const overrides = knobs.variables ?? {};
  if (knobs.hostname !== undefined && (isolation !== 'bubblewrap' || !HOSTNAME.test(knobs.hostname))) {
    throw new BuildError(
      'BUILD_BAD_VARIATION',
      `the hostname can be set only under bubblewrap, to a DNS label (got ${JSON.stringify(knobs.hostname)} under ${isolation})`,
    );
  }
  if (knobs.buildDir !== undefined && isolation !== 'bubblewrap') {
    throw new BuildError(
      'BUILD_BAD_VARIATION',
      `the build directory can be remapped only under bubblewrap (got ${isolation}): build in another folder instead`,
    );
  }
  if (isolation === 'bubblewrap') {
    const home = knobs.home ?? SANDBOX_HOME;
    const buildDir = knobs.buildDir ?? SANDBOX_BUILD_DIR;
    for (const [what, p] of [
      ['home', home],
      ['build directory', buildDir],
    ]) {
      if (!path.posix.isAbsolute(p as string) || path.posix.normalize(p as string) !== p || p === '/') {
        throw new BuildError('BUILD_BAD_VARIATION', `the sandbox ${what} must be a normalised absolute path, got ${JSON.stringify(p)}`);
      }
    }
    mkdirSync(path.join(folders.scratch, 'out'), { recursive: true });
    const output = folders.output ?? '.';
    const wrapped = [
      `cp -a ${SANDBOX_SOURCE_DIR}/. ${buildDir}/ && cd ${buildDir} || exit 125`,
      'unset OLDPWD',
      `umask ${umask}`,
      `(\n${script}\n)`,
      'status=$?',
      `if [ "$status" -eq 0 ] && [ -d '${output}' ]; then mkdir -p '${SANDBOX_OUT_DIR}/${output}' && cp -a '${output}/.' '${SANDBOX_OUT_DIR}/${output}/' || exit 126; fi`,
      'exit "$status"',
    ].join('\n');
    writeFileSync(path.join(folders.scratch, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:${home}:/bin/sh\n`);
    writeFileSync(path.join(folders.scratch, 'etc', 'group'), 'root:x:0:\nbuilder:x:1000:\n');
    const inner = { ...variables, HOME: home, TMPDIR: '/tmp', USER: 'builder', LOGNAME: 'builder', ...overrides };
    const setenv = Object.entries(inner).flatMap(([k, v]) => ['--setenv', k, v]);
    return {
      file: 'bwrap',
      args: [...bwrapArgs(folders, knobs), '--clearenv', ...setenv, '--', '/bin/sh', '-c', wrapped],
      cwd: folders.workDir,
      env: { PATH: variables.PATH ?? '/usr/bin:/bin' },
      inner,
      buildDir,
      outputRoot: path.join(folders.scratch, 'out'),
    };
  }
  const inner = { ...variables, HOME: knobs.home ?? path.join(folders.scratch, 'home'), TMPDIR: path.join(folders.scratch, 'tmp'), ...overrides };
  const plain = { cwd: folders.workDir, env: inner, inner, buildDir: folders.workDir, outputRoot: folders.workDir };
  if (isolation === 'unshare-net') return { file: 'unshare', args: ['-n', '--', ...shell], ...plain };
  return { file: shell[0] as string, args: shell.slice(1), ...plain };
}
