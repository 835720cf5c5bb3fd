import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useScratch } from '../testkit.js';
import { DeployError } from './errors.js';
import {
  decideApply,
  ensureRouter,
  MAX_APPLIED_IDS,
  MAX_BODY_BYTES,
  ROUTER_STATE_FILE,
  type RouterClient,
  type RouterState,
  readRouterState,
  stopRouter,
} from './router.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const scratch = useScratch();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills a router pid the test saw, if it still runs router-main (a failed test must not leave one behind). */
async function killLeftover(pid: number): Promise<void> {
  const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (argv.includes('router-main.js')) process.kill(pid, 'SIGKILL');
}

/** Starts the router of a fresh environment; it (and every router pid later seen there) is stopped when the test ends. */
async function router(t: TestContext): Promise<{ root: string; client: RouterClient; pids: number[] }> {
  const root = scratch();
  const pids: number[] = [];
  t.after(async () => {
    await stopRouter(root, 'dev').catch(() => false);
    for (const pid of pids) await killLeftover(pid);
  });
  const client = await ensureRouter(root, 'dev');
  pids.push(client.pid);
  return { root, client, pids };
}

/** An upstream that answers every request with its name; closed when the test ends. */
async function upstream(t: TestContext, name: string): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

async function tokenOf(root: string): Promise<string> {
  const state = await readRouterState(path.join(root, 'dev', ROUTER_STATE_FILE));
  assert.ok(state);
  return state.token;
}

async function admin(
  client: RouterClient,
  token: string | null,
  method: string,
  route: string,
  body?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${client.adminUrl}${route}`, {
    method,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function drive(url: string, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await fetch(url);
    const name = await r.text();
    seen[name] = (seen[name] ?? 0) + 1;
  }
  return seen;
}

describe('the local router', () => {
  it('is reused while it runs and answers with its token', async (t) => {
    const { root, client } = await router(t);
    const again = await ensureRouter(root, 'dev');
    assert.equal(again.pid, client.pid);
    assert.equal(again.proxyUrl, client.proxyUrl);
    assert.deepEqual(await client.state(), { weights: {}, upstreams: {}, lastOpId: null, fence: [0, 0], proxyUrl: client.proxyUrl });
    assert.equal(statSync(path.join(root, 'dev', ROUTER_STATE_FILE)).mode & 0o777, 0o600);
  });

  it('answers 401 to a missing or wrong token and changes nothing', async (t) => {
    const { root, client } = await router(t);
    const url = await upstream(t, 'a');
    assert.equal((await admin(client, null, 'GET', '/state')).status, 401);
    assert.equal((await admin(client, 'f'.repeat(64), 'GET', '/state')).status, 401);
    const token = await tokenOf(root);
    assert.equal((await admin(client, `${token}x`, 'PUT', '/upstreams', JSON.stringify({ version: A, url }))).status, 401);
    assert.equal((await admin(client, token.slice(0, 32), 'POST', '/shutdown')).status, 401);
    assert.deepEqual((await client.state()).upstreams, {});
  });

  it('answers 400 naming the field of a bad body', async (t) => {
    const { root, client } = await router(t);
    const token = await tokenOf(root);
    const url = await upstream(t, 'a');
    await client.putUpstream(A, url);
    const cases: { route: string; method: string; body: string; paths: string[] }[] = [
      { method: 'PUT', route: '/upstreams', body: JSON.stringify({ version: 5, url }), paths: ['version'] },
      { method: 'PUT', route: '/upstreams', body: JSON.stringify({ version: B, url: 'http://example.com:80' }), paths: ['url'] },
      { method: 'PUT', route: '/upstreams', body: JSON.stringify({ version: B, url: 'http://127.0.0.1:99999' }), paths: ['url'] },
      { method: 'PUT', route: '/upstreams', body: JSON.stringify({ version: B, url, weight: 5 }), paths: ['weight'] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: 'o', epoch: -1, seq: 0, weights: { [A]: 100 } }), paths: ['epoch'] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: '', epoch: 1, seq: 1.5, weights: { [A]: 100 } }), paths: ['opId', 'seq'] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: 'o', epoch: 1, seq: 0, weights: { [A]: 90 } }), paths: ['weights'] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: 'o', epoch: 1, seq: 0, weights: { [A]: 101 } }), paths: [`weights.${A}`] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: 'o', epoch: 1, seq: 0, weights: { 'no space': 100 } }), paths: ['weights.no space'] },
      { method: 'POST', route: '/apply', body: JSON.stringify({ opId: 'o', epoch: 1, weights: [] }), paths: ['seq', 'weights'] },
      { method: 'POST', route: '/apply', body: '{"opId": ', paths: [''] },
      { method: 'DELETE', route: '/upstreams/%20bad', body: '', paths: ['version'] },
    ];
    for (const c of cases) {
      const answer = await admin(client, token, c.method, c.route, c.method === 'DELETE' ? undefined : c.body);
      assert.equal(answer.status, 400, `${c.method} ${c.route} ${c.body}`);
      const paths = (answer.body.problems as { path: string }[]).map((p) => p.path);
      assert.deepEqual(paths, c.paths, `${c.body}: ${String(answer.body.error)}`);
      assert.match(String(answer.body.error), new RegExp(c.paths[0] === '' ? 'body' : (c.paths[0] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
    const big = await admin(client, token, 'PUT', '/upstreams', JSON.stringify({ version: B, url, pad: 'x'.repeat(MAX_BODY_BYTES) }));
    assert.equal(big.status, 413);
    assert.deepEqual(await client.state(), { weights: { [A]: 0 }, upstreams: { [A]: url }, lastOpId: null, fence: [0, 0], proxyUrl: client.proxyUrl });
  });

  it('refuses weights naming an upstream it does not have', async (t) => {
    const { client } = await router(t);
    await client.putUpstream(A, await upstream(t, 'a'));
    await assert.rejects(client.apply({ opId: 'o1', epoch: 1, seq: 1, weights: { [A]: 50, [B]: 50 } }), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.code, 'DEPLOY_ROUTER_REJECTED');
      assert.deepEqual(
        e.problems.map((p) => p.path),
        [`weights.${B}`],
      );
      return true;
    });
    assert.equal((await client.state()).lastOpId, null);
  });

  it('splits real traffic through its proxy exactly by weight', async (t) => {
    const { client } = await router(t);
    await client.putUpstream(A, await upstream(t, 'a'));
    await client.putUpstream(B, await upstream(t, 'b'));
    assert.equal((await fetch(client.proxyUrl)).status, 503);
    assert.equal(await client.apply({ opId: 'o1', epoch: 1, seq: 1, weights: { [A]: 30, [B]: 70 } }), 'applied');
    assert.deepEqual(await drive(client.proxyUrl, 100), { a: 30, b: 70 });
    const stats = await client.stats();
    assert.deepEqual(Object.fromEntries(Object.entries(stats).map(([v, s]) => [v, [s.weight, s.requests, s.errors]])), { [A]: [30, 30, 0], [B]: [70, 70, 0] });
    assert.equal(await client.apply({ opId: 'o2', epoch: 1, seq: 2, weights: { [B]: 100 } }), 'applied');
    assert.deepEqual(await drive(client.proxyUrl, 10), { b: 10 });
  });

  it('removes an upstream only when it takes no traffic, and only at the URL given', async (t) => {
    const { client } = await router(t);
    const a = await upstream(t, 'a');
    await client.putUpstream(A, a);
    await client.putUpstream(B, await upstream(t, 'b'));
    await client.apply({ opId: 'o1', epoch: 1, seq: 1, weights: { [A]: 100 } });
    assert.equal(await client.deleteUpstream(A), false);
    await client.apply({ opId: 'o2', epoch: 1, seq: 2, weights: { [B]: 100 } });
    assert.equal(await client.deleteUpstream(A, 'http://127.0.0.1:1'), false);
    assert.equal(await client.deleteUpstream(A, a), true);
    assert.equal(await client.deleteUpstream(A), false);
    assert.deepEqual(Object.keys((await client.state()).upstreams), [B]);
  });

  it('keeps its fence, applied ids, weights and endpoint across a crash', async (t) => {
    const { root, client, pids } = await router(t);
    await client.putUpstream(A, await upstream(t, 'a'));
    await client.putUpstream(B, await upstream(t, 'b'));
    assert.equal(await client.apply({ opId: 'op-1', epoch: 3, seq: 4, weights: { [A]: 20, [B]: 80 } }), 'applied');

    process.kill(client.pid, 'SIGKILL');
    for (let i = 0; i < 100 && alive(client.pid); i++) await sleep(20);
    assert.equal(alive(client.pid), false);

    const revived = await ensureRouter(root, 'dev');
    pids.push(revived.pid);
    assert.notEqual(revived.pid, client.pid);
    assert.equal(revived.proxyUrl, client.proxyUrl);
    const before = await revived.state();
    assert.deepEqual(before.fence, [3, 4]);
    assert.equal(before.lastOpId, 'op-1');
    assert.deepEqual(before.weights, { [A]: 20, [B]: 80 });

    assert.equal(await revived.apply({ opId: 'op-1', epoch: 3, seq: 4, weights: { [A]: 100 } }), 'applied');
    assert.deepEqual(await revived.state(), before);
    assert.equal(await revived.apply({ opId: 'op-2', epoch: 2, seq: 99, weights: { [A]: 100 } }), 'refused');
    assert.equal(await revived.apply({ opId: 'op-3', epoch: 3, seq: 3, weights: { [A]: 100 } }), 'refused');
    assert.deepEqual(await revived.state(), before);
    assert.deepEqual(await drive(revived.proxyUrl, 5), { a: 1, b: 4 });

    assert.equal(await stopRouter(root, 'dev'), true);
    assert.equal(alive(revived.pid), false);
    const resumed = await ensureRouter(root, 'dev');
    pids.push(resumed.pid);
    assert.deepEqual((await resumed.state()).fence, [3, 4]);
    assert.equal(await resumed.apply({ opId: 'op-4', epoch: 3, seq: 4, weights: { [B]: 100 } }), 'applied');
  });
});

describe('ensureRouter', () => {
  it('does not start over a state file it cannot read, and says why', async () => {
    const root = scratch();
    mkdirSync(path.join(root, 'dev'));
    writeFileSync(path.join(root, 'dev', ROUTER_STATE_FILE), JSON.stringify({ proxyPort: 'x' }));
    await assert.rejects(ensureRouter(root, 'dev'), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.code, 'DEPLOY_ROUTER_UNAVAILABLE');
      assert.match(e.message, /exited with 1[\s\S]*router\.json is invalid: proxyPort/);
      return true;
    });
  });
});

describe('a router whose environment folder is removed', () => {
  it('stops by itself', async (t) => {
    const { root, client } = await router(t);
    rmSync(path.join(root, 'dev'), { recursive: true, force: true });
    for (let i = 0; i < 300 && alive(client.pid); i++) await sleep(20);
    assert.equal(alive(client.pid), false);
  });
});

describe('decideApply', () => {
  const state: RouterState = {
    proxyPort: 1,
    adminPort: 2,
    token: '0'.repeat(64),
    pid: 1,
    upstreams: { [A]: 'http://127.0.0.1:3', [B]: 'http://127.0.0.1:4' },
    weights: { [A]: 100, [B]: 0 },
    applied: Array.from({ length: MAX_APPLIED_IDS }, (_, i) => `old-${i}`),
    fence: [2, 5],
    lastOpId: `old-${MAX_APPLIED_IDS - 1}`,
  };

  it('remembers the last applied ids only, oldest forgotten first', () => {
    const decision = decideApply(state, { opId: 'new', epoch: 2, seq: 6, weights: { [B]: 100 } });
    assert.equal(decision.result, 'applied');
    assert.ok(decision.result === 'applied' && decision.state);
    assert.equal(decision.state.applied.length, MAX_APPLIED_IDS);
    assert.equal(decision.state.applied[0], 'old-1');
    assert.equal(decision.state.applied.at(-1), 'new');
    assert.deepEqual(decision.state.weights, { [A]: 0, [B]: 100 });
    assert.deepEqual(decision.state.fence, [2, 6]);
  });

  it('answers applied without a change for an id already applied, even below the fence', () => {
    assert.deepEqual(decideApply(state, { opId: 'old-3', epoch: 0, seq: 0, weights: { [B]: 100 } }), { result: 'applied', state: null });
  });

  it('refuses a fence below the highest applied and accepts an equal one', () => {
    assert.deepEqual(decideApply(state, { opId: 'x', epoch: 1, seq: 9, weights: { [B]: 100 } }), { result: 'refused' });
    assert.deepEqual(decideApply(state, { opId: 'x', epoch: 2, seq: 4, weights: { [B]: 100 } }), { result: 'refused' });
    assert.equal(decideApply(state, { opId: 'x', epoch: 2, seq: 5, weights: { [B]: 100 } }).result, 'applied');
  });
});
