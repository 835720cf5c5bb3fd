import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { WeightedChooser, WeightedProxy } from './proxy.js';

async function upstream(handler: (n: number) => { status: number; delayMs?: number }): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((_req, res) => {
    const { status, delayMs } = handler(n++);
    setTimeout(() => res.writeHead(status).end('ok'), delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

async function drive(url: string, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await fetch(url);
    await r.arrayBuffer();
    const v = r.headers.get('x-cairn-version') ?? 'none';
    seen[v] = (seen[v] ?? 0) + 1;
  }
  return seen;
}

describe('WeightedChooser', () => {
  it('gives each version exactly its weight per cycle and never picks weight 0', () => {
    const c = new WeightedChooser({ a: 90, b: 10, z: 0 });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const v = c.next() ?? 'null';
      counts[v] = (counts[v] ?? 0) + 1;
    }
    assert.deepEqual(counts, { a: 270, b: 30 });
    assert.equal(new WeightedChooser({ a: 0 }).next(), null);
  });
});

describe('WeightedProxy', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it('routes by weight exactly, counts errors and latency per version, and honours setWeights', async () => {
    const v1 = await upstream(() => ({ status: 200 }));
    const v2 = await upstream((n) => ({ status: n % 5 === 0 ? 500 : 200, delayMs: 150 }));
    servers.push(v1.server, v2.server);
    const proxy = await WeightedProxy.start({
      upstreams: [
        { version: 'v1', url: v1.url },
        { version: 'v2', url: v2.url },
      ],
      weights: { v1: 80, v2: 20 },
    });
    try {
      assert.deepEqual(await drive(proxy.url, 100), { v1: 80, v2: 20 });
      const s = proxy.stats();
      assert.equal(s.v1?.requests, 80);
      assert.equal(s.v1?.errors, 0);
      assert.equal(s.v2?.requests, 20);
      assert.equal(s.v2?.errors, 4);
      // v2 cannot answer faster than its delay; v1, which has none, is not charged v2's latency.
      assert.ok((s.v2?.p99Ms ?? 0) >= 150, `v2 p99 ${s.v2?.p99Ms}`);
      assert.ok((s.v1?.p99Ms ?? 1000) < 150, `v1 p99 ${s.v1?.p99Ms}`);
      proxy.setWeights({ v1: 100, v2: 0 });
      assert.deepEqual(await drive(proxy.url, 20), { v1: 20 });
      assert.deepEqual(proxy.weights(), { v1: 100, v2: 0 });
      proxy.resetStats('v2');
      assert.equal(proxy.stats().v2?.requests, 0);
    } finally {
      await proxy.close();
    }
  });

  it('answers 502 for a dead upstream and 504 after the timeout, counting both as errors', async () => {
    const slow = await upstream(() => ({ status: 200, delayMs: 500 }));
    servers.push(slow.server);
    const proxy = await WeightedProxy.start({
      upstreams: [
        { version: 'dead', url: 'http://127.0.0.1:1' },
        { version: 'slow', url: slow.url },
      ],
      weights: { dead: 1, slow: 1 },
      requestTimeoutMs: 100,
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await fetch(proxy.url);
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      assert.deepEqual(statuses.sort(), [502, 504]);
      assert.equal(proxy.stats().dead?.errors, 1);
      assert.equal(proxy.stats().slow?.errors, 1);
      proxy.setWeights({ dead: 0, slow: 0 });
      assert.equal((await fetch(proxy.url)).status, 503);
    } finally {
      await proxy.close();
    }
  });

  it('refuses weights for a version it has no upstream for', async () => {
    await assert.rejects(WeightedProxy.start({ upstreams: [], weights: { ghost: 1 } }), RangeError);
    const proxy = await WeightedProxy.start({ upstreams: [{ version: 'a', url: 'http://127.0.0.1:1' }], weights: { a: 1 } });
    try {
      assert.throws(() => proxy.setWeights({ ghost: 1 }), RangeError);
      assert.throws(() => proxy.setWeights({ a: -1 }), RangeError);
    } finally {
      await proxy.close();
    }
  });
});
