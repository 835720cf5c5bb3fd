import { spawn } from 'node:child_process';
import { SourceError } from './errors.js';

export interface GitOutput {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly code: number;
}

/** Runs git with a scrubbed environment (no user config, no pager, no prompts). */
export function git(cwd: string, args: readonly string[], input?: Uint8Array, maxBytes = 2 * 1024 * 1024 * 1024): Promise<GitOutput> {
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
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBytes) {
        child.kill('SIGKILL');
        reject(new SourceError('SOURCE_TOO_LARGE', `git ${args[0]} produced more than ${maxBytes} bytes`));
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 65536) err += chunk.toString('utf8');
    });
    child.on('error', (cause) => reject(new SourceError('SOURCE_GIT_UNAVAILABLE', `cannot run git: ${cause.message}`, { cause })));
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err.trim(), code: code ?? -1 }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Runs git and returns trimmed stdout, or throws `code` with git's message. */
export async function gitText(cwd: string, args: readonly string[], code: string, what: string): Promise<string> {
  const result = await git(cwd, args);
  if (result.code !== 0) throw new SourceError(code, `${what}: ${result.stderr || `git exited ${result.code}`}`);
  return result.stdout.toString('utf8').trim();
}
