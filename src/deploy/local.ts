import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unpackTgz } from '../crypto/archive.js';
import { digestHex } from '../model/digest.js';
import type { Deployment } from '../model/release.js';
import { DeployError } from './errors.js';
import type { ApplyRequest, DeployTarget } from './target.js';

export interface LocalTargetOptions {
  /** Directory holding one folder per environment and release. */
  readonly root: string;
  readonly clock?: () => Date;
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

/**
 * Runs each release as a process on a loopback port: unpacks the artifact into its own
 * folder, starts `deploy.start` with `PORT`, waits for the health endpoint, then stops the
 * previous release. The process gets `CAIRN_ARTIFACT`, the path of the exact artifact
 * bytes it was unpacked from, so it can report their digest.
 */
export class LocalTarget implements DeployTarget {
  readonly name = 'local';
  readonly capabilities = { trafficSplit: false, reportsVersion: true } as const;
  private readonly clock: () => Date;

  constructor(private readonly options: LocalTargetOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  async apply(request: ApplyRequest): Promise<Deployment> {
    const { release, config } = request;
    const token = randomBytes(12).toString('hex');
    const dir = path.join(this.options.root, release.environment, `${digestHex(request.releaseDigest).slice(0, 16)}-${token.slice(0, 8)}`);
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
    const port = await freePort();
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
    let ok = false;
    let exitCode: number | null | undefined;
    void exited.then((code) => {
      exitCode = code;
    });
    while (Date.now() < deadline && exitCode === undefined) {
      if (await healthy(`${endpoint}${config.health}`)) {
        ok = true;
        break;
      }
      await sleep(100);
    }
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
      if (pid !== null) killGroup(pid);
      const log = await readFile(path.join(dir, 'service.log'), 'utf8').catch(() => '');
      const tail = log.trimEnd().split('\n').slice(-10).join('\n');
      if (exitCode !== undefined) throw new DeployError('DEPLOY_START_FAILED', `the service exited with ${exitCode} before it was healthy\n${tail}`);
      throw new DeployError('DEPLOY_HEALTH_TIMEOUT', `${endpoint}${config.health} did not answer 200 within ${config.healthTimeoutSeconds}s\n${tail}`);
    }
    if (request.previous) await this.stop(request.previous);
    return deployment;
  }

  async stop(deployment: Deployment): Promise<boolean> {
    if (deployment.pid === null || deployment.handle === null) return false;
    if (!(await ownsProcess(deployment.pid, deployment.handle))) return false;
    killGroup(deployment.pid);
    for (let i = 0; i < 50; i++) {
      if (!(await ownsProcess(deployment.pid, deployment.handle))) return true;
      await sleep(50);
    }
    killGroup(deployment.pid, 'SIGKILL');
    return true;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
