import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalDigest } from '../../crypto/jcs.js';
import { deployRelease, ProxyRolloutTarget } from '../../deploy/controller.js';
import { DeployError } from '../../deploy/errors.js';
import { freePort, groupListensOn, portListened } from '../../deploy/local.js';
import { planRollout, type ReleaseRef } from '../../deploy/plan.js';
import { WeightedProxy } from '../../deploy/proxy.js';
import type { DeployStrategy } from '../../model/config.js';
import { type Digest, isDigest } from '../../model/digest.js';
import type { Release } from '../../model/release.js';
import { verifyReceipt } from '../../audit/receipt.js';
import { openState } from '../../pipeline/state.js';
import type { Command, CommandContext } from '../command.js';
import { driveTraffic } from './demo.js';
import { actorFrom } from './shared.js';

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

interface Started {
  /** The sha256 of the service's file: what its `/version` answers. */
  readonly digest: Digest;
  readonly url: string;
  readonly child: ChildProcess;
}

/** The drill builds nothing: its releases name placeholder config, provenance and VSA digests. */
function drillRelease(artifactDigest: Digest): { release: Release; ref: ReleaseRef } {
  const placeholder = (what: string): Digest => canonicalDigest({ drill: what });
  const release: Release = {
    environment: 'drill',
    service: 'drill',
    artifactDigest,
    configDigest: placeholder('config'),
    decisionId: 'drill',
    provenanceDigest: placeholder('provenance'),
    vsaDigest: placeholder('vsa'),
    rollbackUnsafe: false,
  };
  return { release, ref: { releaseDigest: canonicalDigest(release), artifactDigest } };
}

const DRILL_STRATEGY: DeployStrategy = {
  kind: 'canary',
  steps: [
    { weight: 20, pauseSeconds: 2 },
    { weight: 50, pauseSeconds: 2 },
    { weight: 100, pauseSeconds: 2 },
  ],
  analysis: { baselineErrorRate: 0.01, effect: 5, alpha: 0.05, beta: 0.1 },
  triggers: { maxErrorRate: 0.5, minRequests: 20, custom: [] },
  onCannotMeasure: 'hold',
  requestsPerMinute: 600,
};

async function startService(dir: string, name: string, failEvery: number): Promise<Started> {
  const file = path.join(dir, `${name}.mjs`);
  await writeFile(file, serviceSource(failEvery));
  const digest: Digest = `sha256:${createHash('sha256')
    .update(await readFile(file))
    .digest('hex')}`;
  for (let i = 0; i < 3; i++) {
    const started = await startOnce(file, digest, name);
    if (started !== 'port-taken') return started;
  }
  throw new DeployError('DEPLOY_START_FAILED', `another process held the port of the drill's ${name} service on each of 3 tries`);
}

/** Starts the drill's service on a fresh port; 'port-taken' when a stranger answered there instead. */
async function startOnce(file: string, digest: Digest, name: string): Promise<Started | 'port-taken'> {
  const dir = path.dirname(file);
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
    if (ok) {
      if (child.pid !== undefined && (await groupListensOn(child.pid, port)) === false) {
        child.kill('SIGKILL');
        return 'port-taken';
      }
      return { digest, url, child };
    }
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  // The service died and something else listens on its port: it lost the race for it.
  if (child.exitCode !== null && (await portListened(port))) return 'port-taken';
  throw new DeployError('DEPLOY_HEALTH_TIMEOUT', `the drill's ${name} service did not become healthy`);
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
  // A state of its own (store, blobs, keys and audit log), so the rollback is audited as in production and checked at the end.
  const state = await openState(path.join(dir, 'state'));
  const store = state.store;
  try {
    const log = await state.audit();
    const actor = actorFrom(context.io, 'rollback drill');
    context.out.progress('starting v1 (good) and v2 (every 5th request answers 500)');
    const v1 = await startService(dir, 'v1', 0);
    started.push(v1);
    const previous = drillRelease(v1.digest);
    const proxy0 = await WeightedProxy.start({
      upstreams: [{ version: previous.ref.releaseDigest, url: v1.url }],
      weights: { [previous.ref.releaseDigest]: 100 },
      requestTimeoutMs: 5000,
    });
    proxy = proxy0;
    const v2 = await startService(dir, 'v2', 5);
    started.push(v2);
    const next = drillRelease(v2.digest);
    const plan = planRollout({
      release: next.release,
      releaseDigest: next.ref.releaseDigest,
      previous: previous.ref,
      capabilities: { trafficSplit: true, reportsVersion: true, reportsMetrics: true },
      strategy: DRILL_STRATEGY,
    });
    const load = driveTraffic(proxy.url, 4);
    const audits: { action: string; index: number }[] = [];
    const began = Date.now();
    let outcome: Awaited<ReturnType<typeof deployRelease>>;
    try {
      outcome = await deployRelease({
        store,
        environment: 'drill',
        holder: `drill/${process.pid}`,
        target: new ProxyRolloutTarget(
          proxy0,
          { releaseDigest: previous.ref.releaseDigest, url: v1.url },
          { releaseDigest: next.ref.releaseDigest, url: v2.url },
        ),
        plan,
        pollMs: 10,
        gate: async () => ({ allow: true, decisionId: 'drill' }),
        audit: async (action, subjects, payloadDigest, payload) => {
          await state.blobs.put(Buffer.from(payload));
          const entry = await log.append({ actor, action, subjects: subjects.filter(isDigest), payloadDigest });
          audits.push({ action, index: entry.index });
          context.out.progress(`audit #${entry.index} ${action}`);
        },
      });
    } finally {
      await load.stop();
    }
    const seen = await runningDigests(proxy.url, 20);
    // The rollback must be in the log: checkpoint, recompute the whole log, and check the rollback entry's receipt offline.
    await log.checkpoint();
    const verification = await log.verify();
    const done = audits.find((a) => a.action === 'deploy.rollback.done');
    const receipt = done ? verifyReceipt((await log.receipt(done.index)).text, { logKey: log.verifierKey }) : null;
    const auditedRollback = verification.ok && receipt !== null && receipt.event.action === 'deploy.rollback.done';
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
      auditVerified: verification.ok,
      auditedRollback,
    };
    const ok = report.rolledBack && runningDigest === v1.digest && auditedRollback;
    context.out.line(
      ok
        ? `rolled back after ${report.requestsToDetect} canary requests; all traffic on v1 ${report.secondsToRollback}s after the decision`
        : `drill FAILED: phase ${report.phase}, running ${runningDigest ?? [...seen].join(', ')}`,
    );
    context.out.line(`running ${runningDigest ?? 'mixed'} (expected ${v1.digest})`);
    context.out.line(
      auditedRollback
        ? `audited: deploy.rollback.done is entry #${done?.index}, its receipt verified offline; the log (${verification.size} entries) recomputed`
        : 'the rollback is NOT in a verified audit log',
    );
    context.out.event('drill', report);
    return ok ? 0 : 1;
  } finally {
    await proxy?.close();
    for (const s of started) s.child.kill('SIGTERM');
    await state.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const drillRollbackCommand: Command = {
  name: 'drill rollback',
  summary: 'rehearse an automatic rollback: deploy a faulty release behind the proxy and watch it come back',
  usage: 'cairn drill rollback [--json]',
  description:
    'Writes two tiny services (v1 good, v2 answering 500 to every 5th request) into a temporary folder, runs v1 behind the built-in weighted proxy, rolls v2 out through the controller with a short canary under real loopback traffic, and reports how many canary requests it took to detect the fault and how long until all traffic was back on v1. The rollback is recorded in an audit log of the temporary state the drill makes for itself; at the end the log is recomputed and the receipt of the rollback entry is verified offline. Builds nothing and touches no other state.',
  options: {},
  positionals: { min: 0, max: 0 },
  run,
};
