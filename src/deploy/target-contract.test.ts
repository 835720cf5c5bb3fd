import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { packTgz } from '../crypto/archive.js';
import { DEFAULT_STRATEGY, type DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment } from '../model/release.js';
import { CommandTarget } from './command.js';
import { ProxyRolloutTarget } from './controller.js';
import { LocalTarget } from './local.js';
import { WeightedProxy } from './proxy.js';
import type { DeployTarget, StartRequest, TrafficTarget } from './target.js';
import { type TargetFixture, trafficTargetContract } from './target-contract.js';

/** Folders made by this file, removed when it ends. */
const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
function folder(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const BASE_CONFIG: DeployConfig = {
  target: 'command',
  start: '',
  health: '/healthz',
  environments: ['contract'],
  healthTimeoutSeconds: 15,
  strategy: DEFAULT_STRATEGY,
  rollbackUnsafe: false,
};

// ---------------------------------------------------------------------------------------
// (a) The command target, driven by a reference set of scripts: one node program per
// command keeping its state in `reference-state.json` (in the target's folder, the scripts'
// working directory), honouring operation ids and fences, and starting one tiny HTTP
// service per release that counts the requests it served.
// ---------------------------------------------------------------------------------------

const REFERENCE_SERVICE = `import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
const artifact = 'sha256:' + createHash('sha256').update(readFileSync(process.env.CAIRN_ARTIFACT)).digest('hex');
let requests = 0;
const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/__stats') return res.end(JSON.stringify({ requests, errors: 0 }));
  requests += 1;
  res.end(JSON.stringify({ release: process.env.RELEASE, artifact }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

const REFERENCE_SCRIPTS = `import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
const [command, service] = process.argv.slice(2);
const STATE = 'reference-state.json';
const state = existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : { starts: {}, services: {}, environments: {} };
const save = () => { writeFileSync(STATE + '.tmp', JSON.stringify(state)); renameSync(STATE + '.tmp', STATE); };
const env = process.env;
const op = env.CAIRN_OPERATION_ID;
const print = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
const environment = (name) => (state.environments[name] ??= { applied: [], fence: [0, 0], weights: {}, lastOperationId: null });
const listening = (port) => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1');
  socket.once('connect', () => { socket.destroy(); resolve(true); });
  socket.once('error', () => resolve(false));
});
switch (command) {
  case 'start': {
    if (!state.starts[op]) {
      const child = spawn(process.execPath, [service], {
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
        env: { PATH: env.PATH, RELEASE: env.CAIRN_RELEASE_DIGEST, CAIRN_ARTIFACT: env.CAIRN_ARTIFACT },
      });
      const port = await new Promise((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (chunk) => { text += chunk; if (text.includes('\\n')) resolve(Number(text.trim())); });
        child.once('exit', () => reject(new Error('the service exited')));
      });
      child.stdout.destroy();
      child.unref();
      const key = env.CAIRN_ENVIRONMENT + '/' + env.CAIRN_RELEASE_DIGEST;
      state.services[key] = { pid: child.pid, port, environment: env.CAIRN_ENVIRONMENT, digest: env.CAIRN_RELEASE_DIGEST, running: true };
      state.starts[op] = key;
      save();
    }
    print({ endpoint: 'http://127.0.0.1:' + state.services[state.starts[op]].port });
    break;
  }
  case 'shift': {
    const e = environment(env.CAIRN_ENVIRONMENT);
    if (e.applied.includes(op)) break;
    const epoch = Number(env.CAIRN_EPOCH);
    const seq = Number(env.CAIRN_SEQ);
    if (epoch < e.fence[0] || (epoch === e.fence[0] && seq < e.fence[1])) process.exit(3);
    const weight = Number(env.CAIRN_WEIGHT);
    e.weights = { [env.CAIRN_NEXT]: weight };
    if (env.CAIRN_PREVIOUS !== '') e.weights[env.CAIRN_PREVIOUS] = 100 - weight;
    e.applied.push(op);
    e.fence = [epoch, seq];
    e.lastOperationId = op;
    save();
    break;
  }
  case 'read': {
    const e = environment(env.CAIRN_ENVIRONMENT);
    print({ weight: e.weights[env.CAIRN_NEXT] ?? 0, lastOperationId: e.lastOperationId });
    break;
  }
  case 'metrics': {
    const out = {};
    for (const s of Object.values(state.services)) {
      if (!s.running || s.environment !== env.CAIRN_ENVIRONMENT) continue;
      const stats = await (await fetch('http://127.0.0.1:' + s.port + '/__stats')).json();
      out[s.digest] = { requests: stats.requests, errors: stats.errors, p99Ms: null, custom: { served: stats.requests } };
    }
    print(out);
    break;
  }
  case 'stop': {
    const s = state.services[env.CAIRN_ENVIRONMENT + '/' + env.CAIRN_RELEASE_DIGEST];
    if (s?.running) {
      // Only while it still serves its port: a pid can belong to another process once its own has exited.
      if (await listening(s.port)) { try { process.kill(s.pid, 'SIGTERM'); } catch {} }
      for (let i = 0; i < 250 && (await listening(s.port)); i++) await new Promise((r) => setTimeout(r, 20));
      s.running = false;
      save();
    }
    break;
  }
  default:
    process.exit(64);
}
`;

const scripts = folder('cairn-reference-scripts-');
writeFileSync(path.join(scripts, 'service.mjs'), REFERENCE_SERVICE);
writeFileSync(path.join(scripts, 'reference.mjs'), REFERENCE_SCRIPTS);

function referenceCommand(command: string): string {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  return `${q(process.execPath)} ${q(path.join(scripts, 'reference.mjs'))} ${command} ${q(path.join(scripts, 'service.mjs'))}`;
}

interface ReferenceState {
  readonly services: Readonly<Record<string, { pid: number; port: number; environment: string; digest: string; running: boolean }>>;
  readonly environments: Readonly<Record<string, { weights: Readonly<Record<string, number>> }>>;
}

function referenceState(dir: string): ReferenceState {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'reference-state.json'), 'utf8')) as ReferenceState;
  } catch {
    return { services: {}, environments: {} };
  }
}

async function commandFixture(): Promise<TargetFixture> {
  const dir = folder('cairn-command-target-');
  const config: DeployConfig = {
    ...BASE_CONFIG,
    commands: {
      start: referenceCommand('start'),
      shift: referenceCommand('shift'),
      read: referenceCommand('read'),
      metrics: referenceCommand('metrics'),
      stop: referenceCommand('stop'),
      timeoutSeconds: 30,
    },
  };
  const commands = config.commands;
  if (!commands) throw new Error('unreachable');
  return {
    target: new CommandTarget({ commands, dir }),
    config,
    // The reference scripts name no router: the fixture plays one, splitting requests by the weights the scripts applied.
    async send(environment, count) {
      const state = referenceState(dir);
      const weights = Object.entries(state.environments[environment]?.weights ?? {});
      const services = Object.values(state.services).filter((s) => s.running && s.environment === environment);
      let left = count;
      for (const [i, [digest, weight]] of weights.entries()) {
        const n = i === weights.length - 1 ? left : Math.round((count * weight) / 100);
        left -= n;
        const service = services.find((s) => s.digest === digest);
        if (n > 0 && !service) throw new Error(`no running service for ${digest}`);
        for (let k = 0; k < n; k++) {
          const response = await fetch(`http://127.0.0.1:${service?.port}/`, { signal: AbortSignal.timeout(5000) });
          await response.arrayBuffer();
        }
      }
    },
    async cleanup() {
      for (const s of Object.values(referenceState(dir).services)) {
        if (!s.running) continue;
        // Only a process that is still this fixture's service: its pid may be another process's by now.
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        if (!cmdline.includes(path.join(scripts, 'service.mjs'))) continue;
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

trafficTargetContract('command (reference scripts)', commandFixture);

// ---------------------------------------------------------------------------------------
// (b) The in-process ProxyRolloutTarget, wrapped as a DeployTarget: each release is an
// in-process HTTP server, and the environment answers on a WeightedProxy.
// ---------------------------------------------------------------------------------------

class ProxyDeployTarget implements DeployTarget {
  readonly name = 'proxy';
  readonly capabilities = { trafficSplit: true, reportsVersion: false, reportsMetrics: true } as const;
  private readonly started = new Map<string, Deployment>();
  private readonly servers = new Map<string, { readonly server: Server; readonly deployment: Deployment }>();
  private readonly proxies = new Map<string, WeightedProxy>();
  private readonly controls = new Map<string, ProxyRolloutTarget>();

  async start(request: StartRequest): Promise<Deployment> {
    const earlier = this.started.get(request.opId);
    if (earlier) return earlier;
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ release: request.releaseDigest }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const deployment: Deployment = {
      environment: request.release.environment,
      releaseDigest: request.releaseDigest,
      target: this.name,
      endpoint: `http://127.0.0.1:${port}`,
      pid: null,
      handle: randomUUID(),
      startedAt: new Date(0).toISOString(),
      status: 'running',
    };
    this.started.set(request.opId, deployment);
    this.servers.set(deployment.handle ?? '', { server, deployment });
    return deployment;
  }

  async traffic(environment: string, previous: Deployment | null, next: Deployment): Promise<TrafficTarget> {
    let proxy = this.proxies.get(environment);
    if (!proxy) {
      proxy = await WeightedProxy.start({ upstreams: [], weights: {} });
      this.proxies.set(environment, proxy);
    }
    const key = `${environment} ${previous?.releaseDigest ?? '-'} ${next.releaseDigest}`;
    let control = this.controls.get(key);
    if (!control) {
      const before = previous === null ? null : { releaseDigest: previous.releaseDigest, url: previous.endpoint };
      control = new ProxyRolloutTarget(proxy, before, { releaseDigest: next.releaseDigest, url: next.endpoint });
      this.controls.set(key, control);
    }
    return control;
  }

  async running(environment: string, releaseDigest: Digest): Promise<Deployment | null> {
    const found = [...this.servers.values()].map((r) => r.deployment).filter((d) => d.environment === environment && d.releaseDigest === releaseDigest);
    return found.at(-1) ?? null;
  }

  async stop(deployment: Deployment): Promise<boolean> {
    const own = deployment.handle === null ? undefined : this.servers.get(deployment.handle);
    if (!own || own.deployment.releaseDigest !== deployment.releaseDigest || deployment.target !== this.name) return false;
    this.servers.delete(deployment.handle ?? '');
    await closeServer(own.server);
    return true;
  }

  async endpoint(environment: string): Promise<string | null> {
    return this.proxies.get(environment)?.url ?? null;
  }

  async close(): Promise<void> {
    for (const p of this.proxies.values()) await p.close();
    for (const r of this.servers.values()) await closeServer(r.server);
    this.servers.clear();
  }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

trafficTargetContract('ProxyRolloutTarget (in-process proxy)', async () => {
  const target = new ProxyDeployTarget();
  return { target, config: { ...BASE_CONFIG, target: 'local' }, cleanup: () => target.close() };
});

// ---------------------------------------------------------------------------------------
// (c) LocalTarget: one process per release behind the environment's router daemon. Its
// artifacts are .tgz files holding a service that listens on $PORT.
// ---------------------------------------------------------------------------------------

const LOCAL_SERVICE = `import { createServer } from 'node:http';
createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ variant: process.env.VARIANT ?? null, url: req.url })); })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

trafficTargetContract('local (router daemon)', async () => {
  const root = folder('cairn-local-target-');
  const target = new LocalTarget({ root });
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  return {
    target,
    config: { ...BASE_CONFIG, target: 'local', start: `${q(process.execPath)} server.mjs`, health: '/healthz' },
    async artifact(variant) {
      const text = `${LOCAL_SERVICE}// release ${variant}\n`;
      return packTgz([{ path: 'server.mjs', type: 'file', mode: 0o644, data: new TextEncoder().encode(text) }], 1_700_000_000);
    },
    async cleanup() {
      // Every process the target started (it writes deployment.json beside each), then the router.
      for (const environment of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory())) {
        for (const release of readdirSync(path.join(root, environment.name), { withFileTypes: true })) {
          const file = path.join(root, environment.name, release.name, 'deployment.json');
          if (!release.isDirectory() || !existsSync(file)) continue;
          await target.stop(JSON.parse(readFileSync(file, 'utf8')) as Deployment).catch(() => false);
        }
        await target.stopRouter(environment.name).catch(() => false);
      }
    },
  };
});
