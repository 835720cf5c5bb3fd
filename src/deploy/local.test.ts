import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { packTgz } from '../crypto/archive.js';
import { DEFAULT_STRATEGY, type DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, Release } from '../model/release.js';
import { useScratch } from '../testkit.js';
import { DeployError } from './errors.js';
import { freePort, groupListensOn, LocalTarget } from './local.js';
import { connectRouter } from './router.js';
import type { StartRequest } from './target.js';

const scratch = useScratch();

const sha256 = (data: string | Uint8Array): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A tiny service named `name`: `/healthz`, `/version` (the digest of `$CAIRN_ARTIFACT`) and `/` (its name). */
function artifact(name: string): Uint8Array {
  const server = [
    "import { createHash } from 'node:crypto';",
    "import { readFileSync } from 'node:fs';",
    "import { createServer } from 'node:http';",
    "const digest = 'sha256:' + createHash('sha256').update(readFileSync(process.env.CAIRN_ARTIFACT)).digest('hex');",
    'createServer((req, res) => {',
    "  res.setHeader('content-type', 'application/json');",
    `  res.end(JSON.stringify(req.url === '/version' ? { digest } : { name: ${JSON.stringify(name)}, pid: process.pid }));`,
    "}).listen(Number(process.env.PORT), '127.0.0.1');",
    '',
  ].join('\n');
  return packTgz([{ path: 'server.mjs', type: 'file', mode: 0o644, data: Buffer.from(server) }], 0);
}

function config(start = 'node server.mjs'): DeployConfig {
  return { target: 'local', start, health: '/healthz', environments: ['dev'], healthTimeoutSeconds: 10, strategy: DEFAULT_STRATEGY, rollbackUnsafe: false };
}

function request(name: string, opId: string, start?: string): StartRequest {
  const bytes = artifact(name);
  const release: Release = {
    environment: 'dev',
    service: 'tiny',
    artifactDigest: sha256(bytes),
    configDigest: sha256('config'),
    decisionId: `decision-${name}`,
    provenanceDigest: sha256('provenance'),
    vsaDigest: sha256('vsa'),
    rollbackUnsafe: false,
  };
  return { release, releaseDigest: sha256(`release ${name}`), artifact: bytes, config: config(start), opId };
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A target over a fresh folder; every process it started and its router are stopped when the test ends. */
function target(t: TestContext): { target: LocalTarget; root: string } {
  const root = scratch();
  const local = new LocalTarget({ root });
  t.after(async () => {
    const dev = path.join(root, 'dev');
    for (const entry of existsSync(dev) ? readdirSync(dev, { withFileTypes: true }) : []) {
      if (!entry.isDirectory() || entry.name === 'ops') continue;
      const file = path.join(dev, entry.name, 'deployment.json');
      if (!existsSync(file)) continue;
      await local.stop(JSON.parse(await readFile(file, 'utf8')) as Deployment);
    }
    await local.stopRouter('dev');
  });
  return { target: local, root };
}

async function names(url: string, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const body = (await (await fetch(url)).json()) as { name?: string };
    const name = body.name ?? 'none';
    seen[name] = (seen[name] ?? 0) + 1;
  }
  return seen;
}

describe('LocalTarget', () => {
  it('declares traffic split, version and metrics', () => {
    assert.deepEqual(new LocalTarget({ root: scratch() }).capabilities, { trafficSplit: true, reportsVersion: true, reportsMetrics: true });
  });

  it('starts a release beside the others, routed at weight 0, and returns its own URL', async (t) => {
    const { target: local, root } = target(t);
    const req = request('a', 'op-a');
    const a = await local.start(req);
    assert.equal(a.status, 'running');
    assert.deepEqual(await (await fetch(`${a.endpoint}/version`)).json(), { digest: req.release.artifactDigest });
    const proxy = await local.endpoint('dev');
    assert.notEqual(proxy, a.endpoint);
    const router = await connectRouter(root, 'dev');
    assert.ok(router);
    const view = await router.state();
    assert.deepEqual(view.upstreams, { [req.releaseDigest]: a.endpoint });
    assert.deepEqual(view.weights, { [req.releaseDigest]: 0 });
    assert.equal((await fetch(proxy)).status, 503);
  });

  it('starts once per operation id', async (t) => {
    const { target: local } = target(t);
    const first = await local.start(request('a', 'op-1'));
    assert.deepEqual(await local.start(request('a', 'op-1')), first);
    const other = await local.start(request('a', 'op-2'));
    assert.notEqual(other.pid, first.pid);
    await assert.rejects(local.start(request('b', 'op-1')), (e: unknown) => e instanceof DeployError && e.code === 'DEPLOY_OPERATION_CONFLICT');
    assert.equal(await local.stop(first), true);
    const again = await local.start(request('a', 'op-1'));
    assert.notEqual(again.pid, first.pid);
    assert.ok(alive(again.pid));
  });

  it('does not take a stranger on its port for the service: it tries another port', async (t) => {
    const stranger = createServer((_req, res) => res.end('{"name":"stranger"}'));
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    t.after(() => stranger.close());
    const taken = (stranger.address() as AddressInfo).port;
    const picks: number[] = [];
    const root = scratch();
    const local = new LocalTarget({
      root,
      pickPort: async () => {
        const port = picks.length === 0 ? taken : await freePort();
        picks.push(port);
        return port;
      },
    });
    t.after(() => local.stopRouter('dev'));
    const req = request('a', 'op-a');
    const a = await local.start(req);
    t.after(() => local.stop(a));
    assert.equal(picks.length, 2);
    assert.equal(a.endpoint, `http://127.0.0.1:${picks[1]}`);
    assert.deepEqual(await (await fetch(`${a.endpoint}/version`)).json(), { digest: req.release.artifactDigest });
    assert.equal(await groupListensOn(a.pid ?? -1, taken), false);
    assert.equal(await groupListensOn(a.pid ?? -1, picks[1] ?? -1), true);
  });

  it('fails with DEPLOY_START_FAILED when a stranger holds the port on every try, and leaves no process behind', async (t) => {
    const stranger = createServer((_req, res) => res.end('{"name":"stranger"}'));
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    t.after(() => stranger.close());
    const taken = (stranger.address() as AddressInfo).port;
    const root = scratch();
    const local = new LocalTarget({ root, pickPort: async () => taken });
    t.after(() => local.stopRouter('dev'));
    await assert.rejects(
      local.start(request('a', 'op-a')),
      (e: unknown) => e instanceof DeployError && e.code === 'DEPLOY_START_FAILED' && /another process held/.test(e.message),
    );
    const dirs = readdirSync(path.join(root, 'dev'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'ops');
    assert.equal(dirs.length, 1);
    const recorded = JSON.parse(await readFile(path.join(root, 'dev', dirs[0]?.name ?? '', 'deployment.json'), 'utf8')) as Deployment;
    assert.equal(recorded.status, 'failed');
    for (let i = 0; i < 40 && alive(recorded.pid); i++) await sleep(50);
    assert.equal(alive(recorded.pid), false);
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${taken}/`)).json(), { name: 'stranger' });
  });

  it('splits traffic between previous and next through the stable endpoint, fenced and once per id', async (t) => {
    const { target: local } = target(t);
    const reqA = request('a', 'start-a');
    const reqB = request('b', 'start-b');
    const a = await local.start(reqA);
    const first = await local.traffic('dev', null, a);
    await assert.rejects(
      first.apply({ opId: 'o0', epoch: 1, seq: 0, weight: 50 }),
      (e: unknown) => e instanceof DeployError && e.code === 'DEPLOY_ROUTER_REJECTED',
    );
    assert.equal(await first.apply({ opId: 'o1', epoch: 1, seq: 1, weight: 100 }), 'applied');
    const proxy = await local.endpoint('dev');
    assert.deepEqual(await names(proxy, 5), { a: 5 });

    const b = await local.start(reqB);
    const canary = await local.traffic('dev', a, b);
    assert.deepEqual(await canary.read(), { weight: 0, lastOpId: 'o1' });
    assert.equal(await canary.apply({ opId: 'o2', epoch: 1, seq: 2, weight: 30 }), 'applied');
    assert.deepEqual(await names(proxy, 100), { a: 70, b: 30 });
    assert.deepEqual(await canary.read(), { weight: 30, lastOpId: 'o2' });
    const metrics = await canary.metrics();
    assert.equal(metrics[reqB.releaseDigest]?.requests, 30);
    assert.equal(metrics[reqA.releaseDigest]?.requests, 75);
    assert.equal(metrics[reqB.releaseDigest]?.errors, 0);

    assert.equal(await canary.apply({ opId: 'o2', epoch: 1, seq: 2, weight: 100 }), 'applied');
    assert.equal(await canary.apply({ opId: 'stale', epoch: 0, seq: 9, weight: 100 }), 'refused');
    assert.deepEqual(await canary.read(), { weight: 30, lastOpId: 'o2' });
    assert.equal(await canary.apply({ opId: 'o3', epoch: 2, seq: 1, weight: 100 }), 'applied');
    assert.deepEqual(await names(proxy, 10), { b: 10 });
  });

  it('stops only the processes it started, and drops them from the router only when they take no traffic', async (t) => {
    const { target: local, root } = target(t);
    const reqA = request('a', 'start-a');
    const reqB = request('b', 'start-b');
    const a = await local.start(reqA);
    const b = await local.start(reqB);
    assert.equal(await (await local.traffic('dev', null, a)).apply({ opId: 'o1', epoch: 1, seq: 1, weight: 100 }), 'applied');

    assert.equal(await local.stop({ ...a, handle: 'not-the-token' }), false);
    assert.ok(alive(a.pid));
    const stranger = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    t.after(() => stranger.kill('SIGKILL'));
    assert.ok(stranger.pid);
    assert.equal(await local.stop({ ...a, pid: stranger.pid }), false);
    assert.ok(alive(stranger.pid));

    assert.equal(await local.stop(b), true);
    for (let i = 0; i < 50 && alive(b.pid); i++) await sleep(20);
    assert.equal(alive(b.pid), false);
    assert.equal(await local.stop(b), false);
    assert.equal(await local.stop(a), true);
    const router = await connectRouter(root, 'dev');
    assert.ok(router);
    assert.deepEqual(Object.keys((await router.state()).upstreams), [reqA.releaseDigest]);
  });

  it('applies a release in one step: started, all traffic on it, the previous stopped', async (t) => {
    const { target: local, root } = target(t);
    const reqA = request('a', 'unused');
    const reqB = request('b', 'unused');
    const a = await local.apply({ release: reqA.release, releaseDigest: reqA.releaseDigest, artifact: reqA.artifact, config: reqA.config, previous: null });
    const proxy = await local.endpoint('dev');
    assert.notEqual(a.endpoint, proxy);
    assert.deepEqual(await names(proxy, 3), { a: 3 });
    const b = await local.apply({ release: reqB.release, releaseDigest: reqB.releaseDigest, artifact: reqB.artifact, config: reqB.config, previous: a });
    assert.deepEqual(await names(b.endpoint, 1), { b: 1 });
    assert.deepEqual(await names(proxy, 3), { b: 3 });
    for (let i = 0; i < 50 && alive(a.pid); i++) await sleep(20);
    assert.equal(alive(a.pid), false);
    const router = await connectRouter(root, 'dev');
    assert.ok(router);
    assert.deepEqual((await router.state()).weights, { [reqB.releaseDigest]: 100 });
  });

  it('reports a service that exits before it is healthy, and records no start', async (t) => {
    const { target: local, root } = target(t);
    await assert.rejects(local.start(request('a', 'op-x', 'node -e "process.exit(3)"')), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.code, 'DEPLOY_START_FAILED');
      assert.match(e.message, /exited with 3/);
      return true;
    });
    assert.deepEqual(readdirSync(path.join(root, 'dev', 'ops')), []);
    const router = await connectRouter(root, 'dev');
    assert.deepEqual((await router?.state())?.upstreams, {});
  });
});
