import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deployRelease, type RunningVersion } from '../../deploy/controller.js';
import { DeployError } from '../../deploy/errors.js';
import { freePort } from '../../deploy/local.js';
import { WeightedProxy } from '../../deploy/proxy.js';
import type { Digest } from '../../model/digest.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { Command, CommandContext } from '../command.js';

/** A tiny service: answers `/healthz`, `/version` (the sha256 of its own file) and, every `failEvery`th other request, a 500. */
function serviceSource(failEvery: number): string {
  return [
    "import { createHash } from 'node:crypto';",
    "import { readFileSync } from 'node:fs';",
    "import { createServer } from 'node:http';",
    "import { fileURLToPath } from 'node:url';",
    "const digest = 'sha256:' + createHash('sha256').update(readFileSync(fileURLToPath(import.meta.url))).digest('hex');",
    `const FAIL_EVERY = ${failEvery};`,
    'let n = 0;',
    'createServer((req, res) => {',
    "  res.setHeader('content-type', 'application/json');",
    "  if (req.url === '/healthz') return res.end('{\"ok\":true}');",
    "  if (req.url === '/version') return res.end(JSON.stringify({ digest }));",
    '  n += 1;',
    '  if (FAIL_EVERY > 0 && n % FAIL_EVERY === 0) { res.statusCode = 500; return res.end(\'{"error":"injected fault"}\'); }',
    '  res.end(\'{"ok":true}\');',
    "}).listen(Number(process.env.PORT), '127.0.0.1');",
    '',
  ].join('\n');
}

interface Started extends RunningVersion {
  readonly child: ChildProcess;
}

async function startService(dir: string, name: string, failEvery: number): Promise<Started> {
  const file = path.join(dir, `${name}.mjs`);
  await writeFile(file, serviceSource(failEvery));
  const digest: Digest = `sha256:${createHash('sha256')
    .update(await readFile(file))
    .digest('hex')}`;
  const port = await freePort();
  const child = spawn(process.execPath, [file], { cwd: dir, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port) } });
  child.once('error', () => {});
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status === 200;
      })
      .catch(() => false);
    if (ok) return { digest, url, child };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new DeployError('DEPLOY_HEALTH_TIMEOUT', `the drill's ${name} service did not become healthy`);
}

/** Sends requests through the proxy from `concurrency` loops until stopped. */
function drive(url: string, concurrency: number): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => null);
      await r?.arrayBuffer().catch(() => null);
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

/** The digests `/version` reports through the proxy over `n` requests. */
async function runningDigests(url: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const body = await fetch(`${url}/version`)
      .then((r) => r.json() as Promise<{ digest?: string }>)
      .catch(() => ({ digest: 'unreachable' }));
    seen.add(body.digest ?? 'unknown');
  }
  return seen;
}

async function run(context: CommandContext): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-drill-'));
  const started: Started[] = [];
  let proxy: WeightedProxy | null = null;
  const store = await openSqliteStore(path.join(dir, 'drill.db'));
  try {
    await store.migrate();
    context.out.progress('starting v1 (good) and v2 (every 5th request answers 500)');
    const v1 = await startService(dir, 'v1', 0);
    started.push(v1);
    proxy = await WeightedProxy.start({ upstreams: [{ version: v1.digest, url: v1.url }], weights: { [v1.digest]: 100 }, requestTimeoutMs: 5000 });
    const v2 = await startService(dir, 'v2', 5);
    started.push(v2);
    const load = drive(proxy.url, 4);
    const audits: string[] = [];
    const began = Date.now();
    let outcome: Awaited<ReturnType<typeof deployRelease>>;
    try {
      outcome = await deployRelease({
        store,
        environment: 'drill',
        holder: `drill/${process.pid}`,
        proxy,
        previous: { digest: v1.digest, url: v1.url },
        next: { digest: v2.digest, url: v2.url },
        weights: [20, 50, 100],
        pauseMs: 2000,
        pollMs: 10,
        sprt: { baselineErrorRate: 0.01, effect: 5, alpha: 0.05, beta: 0.1 },
        triggers: { maxErrorRate: 0.5, minRequests: 20 },
        gate: async () => ({ allow: true, reason: 'drill' }),
        audit: async (action) => {
          audits.push(action);
          context.out.progress(`audit ${action}`);
        },
      });
    } finally {
      await load.stop();
    }
    const seen = await runningDigests(proxy.url, 20);
    const runningDigest = seen.size === 1 ? ([...seen][0] ?? null) : null;
    const report = {
      rolledBack: outcome.rolledBack,
      phase: outcome.phase,
      reason: outcome.reason,
      requestsToDetect: outcome.requestsToDetect,
      secondsToRollback: outcome.decidedAt !== null && outcome.rolledBackAt !== null ? (outcome.rolledBackAt - outcome.decidedAt) / 1000 : null,
      secondsTotal: (Date.now() - began) / 1000,
      runningDigest,
      expectedDigest: v1.digest,
      faultyDigest: v2.digest,
      evidence: outcome.evidence,
      audit: audits,
    };
    const ok = report.rolledBack && runningDigest === v1.digest;
    context.out.line(
      ok
        ? `rolled back after ${report.requestsToDetect} canary requests; all traffic on v1 ${report.secondsToRollback}s after the decision`
        : `drill FAILED: phase ${report.phase}, running ${runningDigest ?? [...seen].join(', ')}`,
    );
    context.out.line(`running ${runningDigest ?? 'mixed'} (expected ${v1.digest})`);
    context.out.event('drill', report);
    return ok ? 0 : 1;
  } finally {
    await proxy?.close();
    for (const s of started) s.child.kill('SIGTERM');
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const drillRollbackCommand: Command = {
  name: 'drill rollback',
  summary: 'rehearse an automatic rollback: deploy a faulty release behind the proxy and watch it come back',
  usage: 'cairn drill rollback [--json]',
  description:
    'Writes two tiny services (v1 good, v2 answering 500 to every 5th request) into a temporary folder, runs v1 behind the built-in weighted proxy, rolls v2 out through the controller with a short canary under real loopback traffic, and reports how many canary requests it took to detect the fault and how long until all traffic was back on v1. Builds nothing and touches no state.',
  options: {},
  positionals: { min: 0, max: 0 },
  run,
};
