/**
 * Test support shared by the colocated `*.test.ts` files: temporary folders, git
 * repositories with pinned dates, and an in-process `cairn` runner. Not part of the library.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from './cli/main.js';

/** The repository root (dist/src/testkit.js → ../../). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function tempDir(prefix = 'cairn-test-'): { path: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return { path: dir, remove };
}

/** Returns a maker of temporary folders that are all removed when the calling test file ends. */
export function useScratch(): () => string {
  const made: { remove(): void }[] = [];
  after(() => {
    for (const d of made) d.remove();
  });
  return () => {
    const d = tempDir();
    made.push(d);
    return d.path;
  };
}

export type FileSpec = string | { readonly content: string | Uint8Array; readonly mode?: number };

export function writeTree(root: string, files: Readonly<Record<string, FileSpec>>): void {
  for (const [name, spec] of Object.entries(files)) {
    const file = path.join(root, name);
    mkdirSync(path.dirname(file), { recursive: true });
    const { content, mode } = typeof spec === 'string' ? { content: spec, mode: 0o644 } : { content: spec.content, mode: spec.mode ?? 0o644 };
    writeFileSync(file, content, { mode });
  }
}

/** Runs git with a fixed identity and, for commits, a fixed date (seconds since the epoch). */
export function gitIn(dir: string, args: readonly string[], epoch = 1_700_000_000): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=cairn test', '-c', 'user.email=test@cairn.invalid', '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_DATE: `@${epoch} +0000`,
        GIT_COMMITTER_DATE: `@${epoch} +0000`,
      },
      encoding: 'utf8',
    },
  ).trim();
}

/** Creates a git repository holding `files`, committed once at `epoch`; returns the commit id. */
export function commitTree(dir: string, files: Readonly<Record<string, FileSpec>>, epoch = 1_700_000_000, message = 'commit'): string {
  writeTree(dir, files);
  gitIn(dir, ['init', '-q']);
  gitIn(dir, ['add', '-A']);
  gitIn(dir, ['commit', '-q', '-m', message], epoch);
  return gitIn(dir, ['rev-parse', 'HEAD']);
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as NDJSON (only meaningful with --json). */
  events(): Record<string, unknown>[];
}

/** Runs `cairn` in-process with captured output. */
export async function cli(args: readonly string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: { CAIRN_ACTOR: 'tester@cairn.invalid', ...options.env },
    cwd: options.cwd ?? process.cwd(),
  });
  return {
    code,
    stdout,
    stderr,
    events: () =>
      stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * A tiny project whose recipe needs only node (no registry): it writes a server that
 * reports the sha256 of `$CAIRN_ARTIFACT`, exactly like examples/hello-service.
 */
export const TINY_PROJECT: Readonly<Record<string, FileSpec>> & { 'cairn.yaml': string } = {
  'package.json': '{ "name": "tiny", "version": "1.0.0", "private": true }\n',
  'package-lock.json':
    '{ "name": "tiny", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": { "": { "name": "tiny", "version": "1.0.0" } } }\n',
  'cairn.yaml':
    'name: tiny\nbuild:\n  run: node build.mjs\n  output: out\ndeploy:\n  target: local\n  start: node out/server.mjs\n  health: /healthz\n  strategy: { steps: [{ weight: 100, pauseSeconds: 0 }] }\n',
  'build.mjs':
    "import { mkdirSync, copyFileSync, writeFileSync, chmodSync } from 'node:fs';\n" +
    "mkdirSync('out/bin', { recursive: true });\n" +
    "copyFileSync('server.mjs', 'out/server.mjs');\n" +
    "writeFileSync('out/bin/run', '#!/bin/sh\\nexec node ../server.mjs\\n');\n" +
    "chmodSync('out/bin/run', 0o700);\n" +
    "writeFileSync('out/secret-mode.txt', 'x');\n" +
    "chmodSync('out/secret-mode.txt', 0o600);\n" +
    "writeFileSync('out/env.json', JSON.stringify({ tz: process.env.TZ, lang: process.env.LC_ALL, sde: process.env.SOURCE_DATE_EPOCH, user: process.env.USER ?? null, umask: process.umask() }));\n",
  'server.mjs':
    "import { createHash } from 'node:crypto';\nimport { readFileSync } from 'node:fs';\nimport { createServer } from 'node:http';\n" +
    "const digest = process.env.CAIRN_ARTIFACT ? 'sha256:' + createHash('sha256').update(readFileSync(process.env.CAIRN_ARTIFACT)).digest('hex') : null;\n" +
    "createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(req.url === '/version' ? { digest } : { ok: true })); })\n" +
    "  .listen(Number(process.env.PORT), '127.0.0.1');\n",
};

/** `cairn run` options for the bundled advisory database (examples/advisories), so the default policy allows. */
export const OSV_ARGS: readonly string[] = ['--osv', path.join(REPO_ROOT, 'examples/advisories')];

/** The `run-end` summary of a `cairn run --json`, as far as the delivery tests read it. */
export interface RunEnd {
  readonly outcome: string;
  readonly artifact: { readonly digest: string };
  readonly deployments: readonly { readonly environment: string; readonly endpoint: string; readonly releaseDigest: string }[];
  readonly error: { readonly code: string; readonly message: string } | null;
}

export function runEnd(result: CliResult): RunEnd {
  return result.events().find((e) => e.type === 'run-end')?.summary as RunEnd;
}

/** The artifact digest the service at `endpoint` reports on `/version` (TINY_PROJECT's and the example's servers do). */
export async function versionAt(endpoint: string): Promise<string | null> {
  const body = (await fetch(`${endpoint}/version`).then((r) => r.json())) as { digest?: string };
  return body.digest ?? null;
}

/**
 * A project folder and a state folder for one suite; every service and router the state
 * started is stopped when the suite ends. Call it in a `describe` body.
 */
export function useRunState(scratch: () => string): { readonly repo: string; readonly state: string } {
  const repo = scratch();
  const state = scratch();
  after(async () => {
    await cli(['stop', '--state', state]);
  });
  return { repo, state };
}
