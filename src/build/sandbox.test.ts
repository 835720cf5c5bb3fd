import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { unpackTgz } from '../crypto/archive.js';
import type { Isolation } from '../model/build.js';
import { useScratch, writeTree } from '../testkit.js';
import { runBuild } from './run.js';
import { probeIsolation } from './sandbox.js';

const scratch = useScratch();
const probe = probeIsolation();
const inCi = process.env.CI === 'true';

/** A recipe that reports what it can see from inside the build. */
const SPY = `
const os = require('node:os'); const fs = require('node:fs'); const net = require('node:net');
const hostTmp = process.argv[2];
const canWrite = (p) => { try { fs.writeFileSync(p, 'x'); return true; } catch { return false; } };
const probeNet = () => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[3]) });
  s.on('connect', () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.code));
});
probeNet().then((net) => {
  fs.mkdirSync('out', { recursive: true });
  fs.writeFileSync('out/seen.json', JSON.stringify({
    user: os.userInfo().username, home: os.homedir(), hostname: os.hostname(), cwd: process.cwd(),
    env: Object.keys(process.env).sort(), interfaces: Object.keys(os.networkInterfaces()).sort(),
    hostTmpVisible: fs.existsSync(hostTmp), usrWritable: canWrite('/usr/cairn-probe'), net, umask: process.umask(),
  }));
});
`;

async function seen(isolation: Isolation, listenerPort: number): Promise<{ seen: Record<string, unknown>; env: Record<string, unknown> }> {
  const dir = scratch();
  const marker = path.join(os.tmpdir(), `cairn-host-marker-${process.pid}`);
  writeFileSync(marker, 'host');
  writeTree(dir, { 'spy.cjs': SPY });
  const work = scratch();
  const out = await runBuild({
    dir,
    scratch: work,
    name: 'spy',
    recipe: { run: `node spy.cjs ${marker} ${listenerPort}`, output: 'out', install: 'none' },
    sourceDateEpoch: 1_700_000_000,
    isolation: { isolation, notes: [] },
  });
  const member = unpackTgz(out.artifact).find((m) => m.path === 'out/seen.json');
  return { seen: JSON.parse(Buffer.from(member?.data ?? []).toString('utf8')), env: out.result.environment as unknown as Record<string, unknown> };
}

async function withListener<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const server = (await import('node:net')).createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  try {
    return await fn(typeof address === 'object' && address ? address.port : 0);
  } finally {
    server.close();
  }
}

describe('probeIsolation', () => {
  it('finds bubblewrap where it works (required in CI)', {
    skip: !inCi && probe.isolation !== 'bubblewrap' && `bubblewrap does not work here: ${probe.notes.join('; ')}`,
  }, () => {
    assert.equal(probe.isolation, 'bubblewrap', probe.notes.join('; '));
  });

  it('can only be lowered by CAIRN_ISOLATION, never raised', () => {
    assert.equal(probeIsolation({ CAIRN_ISOLATION: 'none' }).isolation, 'none');
    assert.equal(probeIsolation({ CAIRN_ISOLATION: 'bubblewrap' }).isolation, probe.isolation);
    assert.equal(probeIsolation({ CAIRN_ISOLATION: 'nonsense' }).isolation, probe.isolation);
  });
});

describe('a build under bubblewrap', { skip: probe.isolation !== 'bubblewrap' && 'bubblewrap does not work here' }, () => {
  it('has no network, a fixed path, a private /tmp, a read-only /usr, a synthetic user and a cleared environment', async () => {
    const { seen: s, env } = await withListener((port) => seen('bubblewrap', port));
    assert.deepEqual(s.interfaces, ['lo']);
    assert.notEqual(s.net, 'connected');
    assert.equal(s.cwd, '/build');
    assert.equal(s.user, 'builder');
    assert.equal(s.home, '/home/builder');
    assert.equal(s.hostname, 'cairn-build');
    assert.equal(s.hostTmpVisible, false);
    assert.equal(s.usrWritable, false);
    assert.equal(s.umask, 0o022);
    assert.deepEqual(s.env, [
      'CI',
      'HOME',
      'LANG',
      'LC_ALL',
      'LOGNAME',
      'PATH',
      'PWD',
      'SOURCE_DATE_EPOCH',
      'TMPDIR',
      'TZ',
      'USER',
      'npm_config_audit',
      'npm_config_fund',
      'npm_config_offline',
      'npm_config_progress',
      'npm_config_update_notifier',
    ]);
    assert.equal(env.isolation, 'bubblewrap');
    assert.equal(env.buildDir, '/build');
  });
});

describe('the source under bubblewrap', { skip: probe.isolation !== 'bubblewrap' && 'bubblewrap does not work here' }, () => {
  it('is read-only: the recipe works on a private copy and only the declared output comes back', async () => {
    const dir = scratch();
    writeTree(dir, { 'src.txt': 'committed\n' });
    const out = await runBuild({
      dir,
      scratch: scratch(),
      name: 'ro',
      recipe: {
        run: 'echo edited > src.txt; (echo x > /src/src.txt && echo writable || echo read-only) > probe.txt; mkdir out; cp src.txt probe.txt out/; echo stray > stray.txt',
        output: 'out',
        install: 'none',
      },
      sourceDateEpoch: 1_700_000_000,
      isolation: { isolation: 'bubblewrap', notes: [] },
    });
    const members = Object.fromEntries(unpackTgz(out.artifact).map((m) => [m.path, Buffer.from(m.data ?? []).toString('utf8')]));
    assert.equal(members['out/src.txt'], 'edited\n');
    assert.equal(members['out/probe.txt'], 'read-only\n');
    assert.equal(readFileSync(path.join(dir, 'src.txt'), 'utf8'), 'committed\n');
    assert.equal(existsSync(path.join(dir, 'stray.txt')), false);
    assert.equal(existsSync(path.join(dir, 'out')), false);
  });
});

describe('a build under unshare -n', { skip: !['bubblewrap', 'unshare-net'].includes(probe.isolation) && 'no network namespaces here' }, () => {
  it('has no network but the host paths, and records exactly that', async () => {
    const { seen: s, env } = await withListener((port) => seen('unshare-net', port));
    assert.notEqual(s.net, 'connected');
    assert.equal(env.isolation, 'unshare-net');
    assert.notEqual(s.cwd, '/build');
  });
});

describe('a build without isolation', () => {
  it('reaches the network and says so in its record', async () => {
    const { seen: s, env } = await withListener((port) => seen('none', port));
    assert.equal(s.net, 'connected');
    assert.equal(env.isolation, 'none');
    assert.equal(s.umask, 0o022);
  });
});
