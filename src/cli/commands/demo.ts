import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * What `cairn run --demo` rolls out: the committed example at REV as release 1, then the same
 * tree with a changed greeting as release 2, each committed into a scratch repository (fixed
 * author and dates, so the demo is reproducible) from which the pipeline and the rebuilder
 * take their source.
 */
export interface DemoRepository {
  readonly dir: string;
  /** Release 1, and release 2 when the project has the example's `greeting.yaml` to change. */
  readonly commits: readonly [string] | readonly [string, string];
}

/** Runs git for the scratch repository with a fixed identity and clock and no user configuration. */
function gitAt(dir: string, args: readonly string[], epoch = 0, input?: Buffer): Buffer {
  return execFileSync('git', args, {
    cwd: dir,
    input,
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'cairn demo',
      GIT_AUTHOR_EMAIL: 'demo@cairn.invalid',
      GIT_COMMITTER_NAME: 'cairn demo',
      GIT_COMMITTER_EMAIL: 'demo@cairn.invalid',
      GIT_AUTHOR_DATE: `@${epoch} +0000`,
      GIT_COMMITTER_DATE: `@${epoch} +0000`,
      LC_ALL: 'C',
    },
  });
}

export async function demoRepository(projectDir: string, rev: string): Promise<DemoRepository> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-demo-'));
  // The committed tree of the project folder at REV, not whatever is in the work tree.
  const top = gitAt(projectDir, ['rev-parse', '--show-toplevel']).toString('utf8').trim();
  const prefix = gitAt(projectDir, ['rev-parse', '--show-prefix']).toString('utf8').trim();
  // Run from the top: from a subfolder, git archive would look for that subfolder inside the tree.
  const tar = gitAt(top, ['archive', '--format=tar', `${rev}:${prefix}`]);
  execFileSync('tar', ['-xf', '-'], { cwd: dir, input: tar });
  gitAt(dir, ['init', '-q', '-b', 'main']);
  gitAt(dir, ['add', '-A']);
  gitAt(dir, ['commit', '-q', '-m', 'release 1'], 1_767_225_600);
  const first = gitAt(dir, ['rev-parse', 'HEAD']).toString('utf8').trim();
  const greeting = path.join(dir, 'greeting.yaml');
  const text = await readFile(greeting, 'utf8').catch(() => null);
  // A project without the example's greeting has nothing the demo knows how to change: one release.
  if (text === null) return { dir, commits: [first] };
  await writeFile(greeting, text.replace(/^greeting: .*$/m, 'greeting: Hello from the second release, rolled out by canary.'));
  gitAt(dir, ['add', '-A']);
  gitAt(dir, ['commit', '-q', '-m', 'release 2: a new greeting'], 1_767_229_200);
  const second = gitAt(dir, ['rev-parse', 'HEAD']).toString('utf8').trim();
  return { dir, commits: [first, second] };
}

/** Sends GET / through `url` from `concurrency` loops until stopped: the demo's stand-in for users. */
export function driveTraffic(url: string, concurrency = 2): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(5000) }).catch(() => null);
      await response?.arrayBuffer().catch(() => null);
      sent += 1;
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return sent;
    },
  };
}
