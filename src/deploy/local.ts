import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unpackTgz } from '../crypto/archive.js';
import { NAME_PATTERN } from '../model/config.js';
import { type Digest, digestHex, isDigest } from '../model/digest.js';
import { Fields } from '../model/fields.js';
import type { Deployment } from '../model/release.js';
import { DeployError } from './errors.js';
import { connectRouter, ensureRouter, environmentDir, type RouterClient, stopRouter, withLock, writeAtomic } from './router.js';
import type { VersionMetrics } from './sprt.js';
import {
  type ApplyOrder,
  type ApplyRequest,
  type DeployTarget,
  LOCAL_CAPABILITIES,
  type StartRequest,
  type TrafficReading,
  type TrafficTarget,
} from './target.js';

export interface LocalTargetOptions {
  /** Directory holding one folder per environment and release. */
  readonly root: string;
  readonly clock?: () => Date;
  /** Milliseconds to wait for a new router to answer (default 10 s). */
  readonly routerStartTimeoutMs?: number;
  /** Picks the loopback port for a new service (default: one the kernel reports free). */
  readonly pickPort?: () => Promise<number>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Listening-socket inodes on `port` from /proc/net/tcp{,6}; null where the kernel table cannot be read (not Linux). */
async function listeningInodes(port: number): Promise<Set<string> | null> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  let read = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => null);
    if (text === null) continue;
    read = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; column 9 is the socket inode.
      if (cols.length > 9 && cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9] ?? '');
    }
  }
  return read ? inodes : null;
}

/** Whether some process listens on `port` (false where /proc cannot tell). */
export async function portListened(port: number): Promise<boolean> {
  return ((await listeningInodes(port))?.size ?? 0) > 0;
}

/**
 * Whether the socket listening on `port` belongs to a process in `pid`'s process group
 * (the service was started as a group leader, so a wrapper's children count). Null when
 * /proc cannot tell. Without this a service that failed to bind a port another process
 * had just taken would pass its health check on the stranger's answer.
 */
export async function groupListensOn(pid: number, port: number): Promise<boolean | null> {
  const inodes = await listeningInodes(port);
  if (inodes === null) return null;
  if (inodes.size === 0) return false;
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  for (const member of new Set([pid, ...(await groupMembers(pid))])) {
    const fds = await readdir(`/proc/${member}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${member}/fd/${fd}`).catch(() => '');
      if (wanted.has(link)) return true;
    }
  }
  return false;
}

/** True if `pid` is alive and was started by cairn for this deployment (checked in /proc when present). */
async function ownsProcess(pid: number, token: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const environ = await readFile(`/proc/${pid}/environ`);
    return environ.includes(Buffer.from(`CAIRN_DEPLOYMENT=${token}\0`));
  } catch {
    return process.platform !== 'linux';
  }
}

async function unpackInto(dir: string, artifact: Uint8Array): Promise<void> {
  for (const entry of unpackTgz(artifact)) {
    const target = path.join(dir, ...entry.path.split('/').filter((s) => s !== ''));
    if (entry.type === 'directory') await mkdir(target, { recursive: true });
    else if (entry.type === 'symlink') {
      await mkdir(path.dirname(target), { recursive: true });
      await symlink(entry.linkname ?? '', target);
    } else {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, entry.data ?? new Uint8Array(), { mode: entry.mode });
    }
  }
}

/** What `start` records per operation id, so starting again under that id finds the first deployment. */
interface StartRecord {
  readonly opId: string;
  readonly releaseDigest: Digest;
  readonly deployment: Deployment;
}

/** How many start records `running` reads at most per environment. */
const MAX_START_RECORDS = 10_000;

/** The token a started process carries in `CAIRN_DEPLOYMENT` (the deployment's handle). */
const HANDLE = /^[0-9a-f]{24}$/;

const STATUSES: readonly Deployment['status'][] = ['running', 'stopped', 'failed'];

/** Reads a start record; null when it is not one (the caller then starts afresh). */
function startRecordFromJSON(raw: unknown): StartRecord | null {
  const f = new Fields();
  const o = f.object(raw, '', ['opId', 'releaseDigest', 'deployment']);
  const d = f.object(o?.deployment, 'deployment', ['environment', 'releaseDigest', 'target', 'endpoint', 'pid', 'handle', 'startedAt', 'status']);
  if (!o || !d) return null;
  const opId = f.string(o.opId, 'opId', { maxLength: 1024 });
  const environment = f.string(d.environment, 'deployment.environment');
  const target = f.string(d.target, 'deployment.target');
  const endpoint = f.string(d.endpoint, 'deployment.endpoint');
  const pid = d.pid === null ? null : f.integer(d.pid, 'deployment.pid', 1);
  const handle = d.handle === null ? null : f.string(d.handle, 'deployment.handle');
  const startedAt = f.string(d.startedAt, 'deployment.startedAt');
  const status = STATUSES.find((s) => s === d.status);
  if (f.problems.length > 0 || !isDigest(o.releaseDigest) || !isDigest(d.releaseDigest) || status === undefined) return null;
  if (
    opId === undefined ||
    environment === undefined ||
    target === undefined ||
    endpoint === undefined ||
    pid === undefined ||
    handle === undefined ||
    startedAt === undefined
  ) {
    return null;
  }
  return {
    opId,
    releaseDigest: o.releaseDigest,
    deployment: { environment, releaseDigest: d.releaseDigest, target, endpoint, pid, handle, startedAt, status },
  };
}

/**
 * Runs each release as a process on a loopback port, behind a long-lived router per
 * environment (router.ts) whose proxy port is the environment's stable endpoint. `start`
 * unpacks the artifact into its own folder, starts `deploy.start` with `PORT`, waits for the
 * health endpoint and adds the process to the router at weight 0; `traffic` moves weight
 * between two started releases through the router, fenced and at most once per operation
 * id. The process gets `CAIRN_ARTIFACT`, the path of the exact artifact bytes it was
 * unpacked from, so it can report their digest.
 */
export class LocalTarget implements DeployTarget {
  readonly name = 'local';
  readonly capabilities = LOCAL_CAPABILITIES;
  private readonly clock: () => Date;

  constructor(private readonly options: LocalTargetOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /** Starts the release beside whatever runs and adds it to the router at weight 0; once per `request.opId`. */
  async start(request: StartRequest): Promise<Deployment> {
    const environment = request.release.environment;
    const opsDir = path.join(environmentDir(this.options.root, environment), 'ops');
    await mkdir(opsDir, { recursive: true, mode: 0o700 });
    const key = createHash('sha256').update(request.opId).digest('hex');
    const recordFile = path.join(opsDir, `${key}.json`);
    const waitMs = request.config.healthTimeoutSeconds * 1000 + 60_000;
    return withLock(
      path.join(opsDir, `${key}.lock`),
      async () => {
        const prior = startRecordFromJSON(await readFile(recordFile, 'utf8').then(JSON.parse, () => null));
        if (prior && prior.opId === request.opId) {
          if (prior.releaseDigest !== request.releaseDigest) {
            throw new DeployError('DEPLOY_OPERATION_CONFLICT', `operation ${request.opId} already started release ${prior.releaseDigest} in ${environment}`);
          }
          const { pid, handle } = prior.deployment;
          if (prior.deployment.status === 'running' && pid !== null && handle !== null && (await ownsProcess(pid, handle))) {
            await this.register(prior.deployment);
            return prior.deployment;
          }
        }
        // The router first: when it cannot run, no process is left behind.
        const router = await this.router(environment);
        const deployment = await this.launch(request);
        try {
          await writeAtomic(recordFile, `${JSON.stringify({ opId: request.opId, releaseDigest: request.releaseDigest, deployment }, null, 2)}\n`);
          await router.putUpstream(request.releaseDigest, deployment.endpoint);
        } catch (error) {
          if (deployment.pid !== null && deployment.handle !== null) await signalDeployment(deployment.pid, deployment.handle, 'SIGKILL');
          await unlink(recordFile).catch(() => {});
          throw error;
        }
        return deployment;
      },
      { timeoutMs: waitMs, staleMs: waitMs },
    );
  }

  /** Traffic control between `previous` (null on a first deployment) and `next`, through the environment's router. */
  async traffic(environment: string, previous: Deployment | null, next: Deployment): Promise<TrafficTarget> {
    const router = await this.router(environment);
    const { upstreams } = await router.state();
    for (const d of previous ? [previous, next] : [next]) if (!(d.releaseDigest in upstreams)) await router.putUpstream(d.releaseDigest, d.endpoint);
    return new RouterTraffic(() => this.router(environment), previous, next);
  }

  async running(environment: string, releaseDigest: Digest): Promise<Deployment | null> {
    if (!NAME_PATTERN.test(environment) || !isDigest(releaseDigest)) return null;
    const opsDir = path.join(environmentDir(this.options.root, environment), 'ops');
    const files = (await readdir(opsDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).slice(0, MAX_START_RECORDS);
    let newest: Deployment | null = null;
    for (const file of files) {
      const record = startRecordFromJSON(await readFile(path.join(opsDir, file), 'utf8').then(JSON.parse, () => null));
      const d = record?.deployment;
      if (!d || d.releaseDigest !== releaseDigest || d.environment !== environment || d.status !== 'running' || d.pid === null || d.handle === null) continue;
      if (newest !== null && newest.startedAt >= d.startedAt) continue;
      if ((await this.startedHere(d)) && (await ownsProcess(d.pid, d.handle))) newest = d;
    }
    return newest;
  }

  /** The router's proxy URL: where the environment answers, whatever release runs. */
  async endpoint(environment: string): Promise<string> {
    return (await this.router(environment)).proxyUrl;
  }

  /**
   * @deprecated the single-step deployment: starts the release, routes all traffic to it
   * and stops `previous`. Returns the new process's deployment (its endpoint is the
   * process's own URL).
   */
  async apply(request: ApplyRequest): Promise<Deployment> {
    const { release, releaseDigest, artifact, config } = request;
    const next = await this.start({ release, releaseDigest, artifact, config, opId: `apply/${randomUUID()}` });
    const router = await this.router(release.environment);
    // No lease stands behind this path: it applies at the fence in force, which is allowed.
    const [epoch, seq] = (await router.state()).fence;
    const result = await router.apply({ opId: `apply/${randomUUID()}`, epoch, seq, weights: { [releaseDigest]: 100 } });
    if (result === 'refused') {
      await this.stop(next);
      throw new DeployError(
        'DEPLOY_FENCED',
        `the router of ${release.environment} refused the switch to ${releaseDigest}: a rollout controller moved its fence`,
      );
    }
    if (request.previous) await this.stop(request.previous);
    return next;
  }

  /** Stops a process this target started (proved by the token in its environment) and drops it from the router when it takes no traffic. */
  async stop(deployment: Deployment): Promise<boolean> {
    let stopped = false;
    if (
      deployment.pid !== null &&
      deployment.handle !== null &&
      (await this.startedHere(deployment)) &&
      (await ownsProcess(deployment.pid, deployment.handle))
    ) {
      await signalDeployment(deployment.pid, deployment.handle);
      stopped = true;
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        gone = !(await ownsProcess(deployment.pid, deployment.handle));
        if (!gone) await sleep(50);
      }
      if (!gone) await signalDeployment(deployment.pid, deployment.handle, 'SIGKILL');
    }
    try {
      const router = await connectRouter(this.options.root, deployment.environment);
      // Only this deployment's entry, and only at weight 0: a release with traffic stays routed.
      await router?.deleteUpstream(deployment.releaseDigest, deployment.endpoint);
    } catch {
      // The router is down or gone: there is nothing to drop the entry from now.
    }
    return stopped;
  }

  /** Shuts the environment's router down (its state file stays); false when none ran. */
  async stopRouter(environment: string): Promise<boolean> {
    return stopRouter(this.options.root, environment);
  }

  private router(environment: string): Promise<RouterClient> {
    return ensureRouter(
      this.options.root,
      environment,
      this.options.routerStartTimeoutMs === undefined ? {} : { startTimeoutMs: this.options.routerStartTimeoutMs },
    );
  }

  /** True if this target (its root) started `deployment`: the release folder it made for it records the same process and token. */
  private async startedHere(deployment: Deployment): Promise<boolean> {
    if (deployment.handle === null || !HANDLE.test(deployment.handle) || !NAME_PATTERN.test(deployment.environment)) return false;
    const file = path.join(this.releaseDir(deployment.environment, deployment.releaseDigest, deployment.handle), 'deployment.json');
    const recorded = await readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as Partial<Deployment>,
      () => null,
    );
    return recorded?.pid === deployment.pid && recorded?.handle === deployment.handle;
  }

  private releaseDir(environment: string, releaseDigest: Digest, token: string): string {
    return path.join(environmentDir(this.options.root, environment), `${digestHex(releaseDigest).slice(0, 16)}-${token.slice(0, 8)}`);
  }

  /** Adds a started deployment to its router (at weight 0 when new). */
  private async register(deployment: Deployment): Promise<void> {
    const router = await this.router(deployment.environment);
    const { upstreams } = await router.state();
    if (upstreams[deployment.releaseDigest] !== deployment.endpoint) await router.putUpstream(deployment.releaseDigest, deployment.endpoint);
  }

  /** Unpacks and starts the release's process and waits until it is healthy. */
  private async launch(request: StartRequest): Promise<Deployment> {
    const { release, config } = request;
    const token = randomBytes(12).toString('hex');
    const dir = this.releaseDir(release.environment, request.releaseDigest, token);
    await mkdir(dir, { recursive: true });
    const artifactPath = path.join(dir, 'artifact.tgz');
    await writeFile(artifactPath, request.artifact, { mode: 0o444 });
    const appDir = path.join(dir, 'app');
    await mkdir(appDir);
    try {
      await unpackInto(appDir, request.artifact);
    } catch (cause) {
      throw new DeployError('DEPLOY_ARTIFACT_INVALID', `cannot unpack the artifact: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    // A port picked free can be taken by another process before the service binds it; then
    // the health check would reach the stranger. Each try proves the answer came from the
    // service's own process group, and a lost race picks another port.
    let attempt: Attempt | undefined;
    for (let i = 0; i < PORT_TRIES; i++) {
      attempt = await this.spawnService(request, token, dir, appDir, artifactPath);
      if (attempt.ok || !attempt.portTaken) break;
    }
    const { ok, pid, endpoint, exitCode, portTaken } = attempt as Attempt;
    const deployment: Deployment = {
      environment: release.environment,
      releaseDigest: request.releaseDigest,
      target: this.name,
      endpoint,
      pid,
      handle: token,
      startedAt: this.clock().toISOString(),
      status: ok ? 'running' : 'failed',
    };
    await writeFile(path.join(dir, 'deployment.json'), `${JSON.stringify(deployment, null, 2)}\n`);
    if (!ok) {
      if (pid !== null) await signalDeployment(pid, token);
      const log = await readFile(path.join(dir, 'service.log'), 'utf8').catch(() => '');
      const tail = log.trimEnd().split('\n').slice(-10).join('\n');
      if (portTaken) throw new DeployError('DEPLOY_START_FAILED', `another process held the service's port on each of ${PORT_TRIES} tries\n${tail}`);
      if (exitCode !== undefined) throw new DeployError('DEPLOY_START_FAILED', `the service exited with ${exitCode} before it was healthy\n${tail}`);
      throw new DeployError('DEPLOY_HEALTH_TIMEOUT', `${endpoint}${config.health} did not answer 200 within ${config.healthTimeoutSeconds}s\n${tail}`);
    }
    return deployment;
  }

  /** Starts the service once on a fresh port and waits for it to be healthy, or to exit, or the deadline. */
  private async spawnService(request: StartRequest, token: string, dir: string, appDir: string, artifactPath: string): Promise<Attempt> {
    const { release, config } = request;
    const port = await (this.options.pickPort ?? freePort)();
    const endpoint = `http://127.0.0.1:${port}`;
    const logFd = openSync(path.join(dir, 'service.log'), 'a');
    const child = spawn('/bin/sh', ['-c', `exec ${config.start}`], {
      cwd: appDir,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        TZ: 'UTC',
        LC_ALL: 'C.UTF-8',
        PORT: String(port),
        HOST: '127.0.0.1',
        CAIRN_ARTIFACT: artifactPath,
        CAIRN_ENVIRONMENT: release.environment,
        CAIRN_DEPLOYMENT: token,
      },
    });
    closeSync(logFd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.once('error', () => {});
    child.unref();
    const pid = child.pid ?? null;
    const deadline = Date.now() + config.healthTimeoutSeconds * 1000;
    let exitCode: number | null | undefined;
    void exited.then((code) => {
      exitCode = code;
    });
    while (Date.now() < deadline && exitCode === undefined) {
      if (await healthy(`${endpoint}${config.health}`)) {
        const ours = pid === null ? null : await groupListensOn(pid, port);
        if (ours === false) {
          if (pid !== null) await signalDeployment(pid, token, 'SIGKILL');
          return { ok: false, pid, endpoint, exitCode, portTaken: true };
        }
        return { ok: true, pid, endpoint, exitCode, portTaken: false };
      }
      await sleep(100);
    }
    // A service that died on a port some other process now listens on lost the race too.
    const taken = exitCode !== undefined && (await portListened(port));
    return { ok: false, pid, endpoint, exitCode, portTaken: taken };
  }
}

/** One try at starting a service: its process, its URL, and how the try ended. */
interface Attempt {
  readonly ok: boolean;
  readonly pid: number | null;
  readonly endpoint: string;
  /** The exit code when the service exited before it was healthy. */
  readonly exitCode: number | null | undefined;
  /** Something answered health on the port, but not the service's process group. */
  readonly portTaken: boolean;
}

const PORT_TRIES = 3;

/** A {@link TrafficTarget} over the environment's router: weight `w` on `next`, the rest on `previous`. */
class RouterTraffic implements TrafficTarget {
  constructor(
    /** The router, started again if it died since the last call. */
    private readonly router: () => Promise<RouterClient>,
    private readonly previous: Deployment | null,
    private readonly next: Deployment,
  ) {}

  async apply(order: ApplyOrder): Promise<'applied' | 'refused'> {
    const next = this.next.releaseDigest;
    const previous = this.previous?.releaseDigest ?? null;
    // With nothing before it (or the same release again), `next` takes the weight alone: that must be 100.
    const weights = previous === null || previous === next ? { [next]: order.weight } : { [next]: order.weight, [previous]: 100 - order.weight };
    return (await this.router()).apply({ opId: order.opId, epoch: order.epoch, seq: order.seq, weights });
  }

  async read(): Promise<TrafficReading> {
    const view = await (await this.router()).state();
    return { weight: view.weights[this.next.releaseDigest] ?? 0, lastOpId: view.lastOpId };
  }

  async metrics(): Promise<Readonly<Record<string, VersionMetrics>>> {
    const stats = await (await this.router()).stats();
    return Object.fromEntries(Object.entries(stats).map(([version, s]) => [version, { requests: s.requests, errors: s.errors, p99Ms: s.p99Ms }]));
  }
}

/**
 * Signals the process group of a service cairn started (detached, so it leads its group),
 * proving ownership first: a pid, and a group id, can belong to another process once the
 * service has exited and been reaped. While the leader still runs with the deployment's token
 * the group is signalled; once it is gone, only members of the group that carry the token are.
 */
async function signalDeployment(pid: number, token: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (await ownsProcess(pid, token)) {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
    return;
  }
  for (const member of await groupMembers(pid)) {
    if (!(await ownsProcess(member, token))) continue;
    try {
      process.kill(member, signal);
    } catch {
      // gone meanwhile
    }
  }
}

/** Processes whose process group is `pgid` (from /proc; none where it cannot be read). */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^[0-9]{1,10}$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command name, which is in parentheses and may hold spaces: state, ppid, pgrp.
    if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2] === String(pgid)) members.push(Number(entry));
  }
  return members;
}
