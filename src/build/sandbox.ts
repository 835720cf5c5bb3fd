import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Isolation } from '../model/build.js';

/** Where the build sees its folders when a sandbox maps them to fixed paths. */
export const SANDBOX_BUILD_DIR = '/build';
export const SANDBOX_HOME = '/home/builder';

const RANK: Record<Isolation, number> = { none: 0, 'unshare-net': 1, bubblewrap: 2 };

export interface Probe {
  readonly isolation: Isolation;
  /** Why the stronger modes were not used. */
  readonly notes: readonly string[];
}

export interface SandboxFolders {
  /** The writable working copy the recipe runs in. */
  readonly workDir: string;
  /** Scratch folder for HOME, TMPDIR and the synthetic /etc files. */
  readonly scratch: string;
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
}

function works(file: string, args: readonly string[]): boolean {
  const result = spawnSync(file, args, { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

function nodePrefix(): string {
  return path.dirname(path.dirname(process.execPath));
}

function bwrapArgs(folders: SandboxFolders | null): string[] {
  const args = ['--die-with-parent', '--unshare-all', '--hostname', 'cairn-build', '--uid', '1000', '--gid', '1000'];
  args.push('--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/sbin', '/sbin');
  args.push('--ro-bind-try', '/lib64', '/lib64', '--ro-bind-try', '/etc/alternatives', '/etc/alternatives');
  const prefix = nodePrefix();
  if (prefix !== '/usr' && !prefix.startsWith('/usr/')) args.push('--ro-bind', prefix, prefix);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  if (folders) {
    args.push('--ro-bind', path.join(folders.scratch, 'etc', 'passwd'), '/etc/passwd', '--ro-bind', path.join(folders.scratch, 'etc', 'group'), '/etc/group');
    args.push('--bind', folders.workDir, SANDBOX_BUILD_DIR, '--bind', path.join(folders.scratch, 'home'), SANDBOX_HOME, '--chdir', SANDBOX_BUILD_DIR);
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

/** Builds the command line that runs `script` under `isolation` with exactly `variables`. */
export function sandboxInvocation(isolation: Isolation, folders: SandboxFolders, variables: Readonly<Record<string, string>>, script: string): Invocation {
  const shell = ['/bin/sh', '-c', `umask 022\n${script}`];
  if (isolation === 'bubblewrap') {
    writeFileSync(path.join(folders.scratch, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:${SANDBOX_HOME}:/bin/sh\n`);
    writeFileSync(path.join(folders.scratch, 'etc', 'group'), 'root:x:0:\nbuilder:x:1000:\n');
    const inner = { ...variables, HOME: SANDBOX_HOME, TMPDIR: '/tmp', USER: 'builder', LOGNAME: 'builder' };
    const setenv = Object.entries(inner).flatMap(([k, v]) => ['--setenv', k, v]);
    return {
      file: 'bwrap',
      args: [...bwrapArgs(folders), '--clearenv', ...setenv, '--', ...shell],
      cwd: folders.workDir,
      env: { PATH: variables.PATH ?? '/usr/bin:/bin' },
      inner,
      buildDir: SANDBOX_BUILD_DIR,
    };
  }
  const inner = { ...variables, HOME: path.join(folders.scratch, 'home'), TMPDIR: path.join(folders.scratch, 'tmp') };
  if (isolation === 'unshare-net') return { file: 'unshare', args: ['-n', '--', ...shell], cwd: folders.workDir, env: inner, inner, buildDir: folders.workDir };
  return { file: shell[0] as string, args: shell.slice(1), cwd: folders.workDir, env: inner, inner, buildDir: folders.workDir };
}
