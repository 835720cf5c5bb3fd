import { spawn } from 'node:child_process';
import { InputError, InternalError } from '../model/errors.js';

interface GitResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly code: number;
}

/** Runs git with a scrubbed environment (no system config, no pager, no prompts), capping its output. */
function git(cwd: string, args: readonly string[], maxBytes: number): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_TERMINAL_PROMPT: '0',
        GIT_PAGER: 'cat',
        LC_ALL: 'C',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        child.kill('SIGKILL');
        reject(new InputError('SCAN_LOCKFILE_TOO_LARGE', `the base revision's file is larger than ${maxBytes} bytes`));
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 8192) err += chunk.toString('utf8');
    });
    child.on('error', (cause) => reject(new InternalError('SCAN_GIT_UNAVAILABLE', `cannot run git: ${cause.message}`, { cause })));
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err.trim(), code: code ?? -1 }));
  });
}

/** Resolves `rev` to a commit id in the repository around `cwd`; SCAN_BASE_INVALID when it names none. */
export async function resolveBaseCommit(cwd: string, rev: string): Promise<string> {
  if (rev === '' || rev.startsWith('-') || rev.length > 256 || rev.includes('\0'))
    throw new InputError('SCAN_BASE_INVALID', `--base ${JSON.stringify(rev)} is not a revision`);
  const result = await git(cwd, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], 4096);
  const commit = result.stdout.toString('utf8').trim();
  if (result.code !== 0 || commit === '')
    throw new InputError('SCAN_BASE_INVALID', `--base ${rev}: no such commit${result.stderr ? ` (${result.stderr.split('\n')[0]})` : ''}`);
  return commit;
}

/** `git show <commit>:./<file>` from `cwd` (paths relative to it); null when the file is not in that commit. */
export async function showAtRevision(cwd: string, commit: string, file: string, maxBytes: number): Promise<Buffer | null> {
  const result = await git(cwd, ['show', `${commit}:./${file}`], maxBytes);
  return result.code === 0 ? result.stdout : null;
}
