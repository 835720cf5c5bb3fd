import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { packTgz } from '../crypto/archive.js';
import { isCairnError } from '../model/errors.js';
import { parsePackageLock } from '../model/lockfile.js';
import { useScratch } from '../testkit.js';
import { checkManifests, checkRegistry, loadRegistrySnapshot, readCachedManifest, type TarballManifest, wantedVersions } from './registry.js';

type Entry = Record<string, unknown>;
const scratch = useScratch();
const NOW = new Date('2026-01-10T00:00:00Z');
const sri = (bytes: string | Buffer, alg = 'sha512') => `${alg}-${createHash(alg).update(bytes).digest('base64')}`;
const tarballUrl = (name: string, version: string) => `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;

/** A package tarball as npm publishes it: everything under `package/`. */
function tgz(manifest: Entry, extra: Record<string, string> = {}): Buffer {
  const files = {
    'package/package.json': JSON.stringify(manifest),
    'package/index.js': 'module.exports = 1;\n',
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`package/${k}`, v])),
  };
  return packTgz(
    [
      { path: 'package', type: 'directory', mode: 0o755 },
      ...Object.entries(files).map(([p, data]) => ({ path: p, type: 'file' as const, mode: 0o644, data: Buffer.from(data) })),
    ],
    0,
  );
}

function packument(name: string, versions: Record<string, { integrity: string; published: string; manifest?: Entry }>): Entry {
  return {
    name,
    versions: Object.fromEntries(
      Object.entries(versions).map(([v, x]) => [v, { name, version: v, ...x.manifest, dist: { integrity: x.integrity, tarball: tarballUrl(name, v) } }]),
    ),
    time: Object.fromEntries(Object.entries(versions).map(([v, x]) => [v, x.published])),
  };
}

function lock(entries: Record<string, Entry>): string {
  return JSON.stringify(
    {
      lockfileVersion: 3,
      packages: { '': { name: 'app', version: '1.0.0', dependencies: Object.fromEntries(Object.keys(entries).map((p) => [p.slice(13), '*'])) }, ...entries },
    },
    null,
    2,
  );
}

const leftTgz = tgz({ name: 'left', version: '1.0.0' });
const LEFT = { integrity: sri(leftTgz), published: '2025-01-01T00:00:00Z' };

function snapshotDir(packuments: Entry[]): string {
  const dir = scratch();
  for (const p of packuments) {
    const file = path.join(dir, `${p.name as string}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(p));
  }
  return dir;
}

describe('checkRegistry', () => {
  it('gives no finding when the lockfile agrees with the registry', async () => {
    const graph = parsePackageLock(lock({ 'node_modules/left': { version: '1.0.0', resolved: tarballUrl('left', '1.0.0'), integrity: LEFT.integrity } }));
    const snapshot = await loadRegistrySnapshot(snapshotDir([packument('left', { '1.0.0': LEFT })]), wantedVersions(graph));
    assert.deepEqual(checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 3, newVersions: null }), []);
  });

  it('catches a forged sha512: well-formed, on the right host and name, but not the published bytes', async () => {
    const forged = sri('attacker tarball');
    const graph = parsePackageLock(lock({ 'node_modules/left': { version: '1.0.0', resolved: tarballUrl('left', '1.0.0'), integrity: forged } }));
    const snapshot = await loadRegistrySnapshot(snapshotDir([packument('left', { '1.0.0': LEFT })]), wantedVersions(graph));
    const f = checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 0, newVersions: null });
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity]),
      [['registry-integrity-mismatch', 'critical']],
    );
    assert.deepEqual([f[0]?.evidence.lockfile, f[0]?.evidence.registry], [forged, LEFT.integrity]);
  });

  it('compares sha1 with an old packument that only has a shasum', async () => {
    const graph = parsePackageLock(lock({ 'node_modules/old': { version: '0.1.0', resolved: tarballUrl('old', '0.1.0'), integrity: sri('other', 'sha1') } }));
    const p = { name: 'old', versions: { '0.1.0': { dist: { shasum: createHash('sha1').update('real').digest('hex') } } }, time: {} };
    const snapshot = await loadRegistrySnapshot(snapshotDir([p]), wantedVersions(graph));
    assert.deepEqual(
      checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 0, newVersions: null }).map((x) => x.ruleId),
      ['registry-integrity-mismatch'],
    );
  });

  it('reports a version the registry does not have', async () => {
    const graph = parsePackageLock(lock({ 'node_modules/left': { version: '9.9.9', resolved: tarballUrl('left', '9.9.9'), integrity: sri('x') } }));
    const snapshot = await loadRegistrySnapshot(snapshotDir([packument('left', { '1.0.0': LEFT })]), wantedVersions(graph));
    assert.deepEqual(
      checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 3, newVersions: null }).map((x) => [x.ruleId, x.severity]),
      [['registry-version-missing', 'high']],
    );
  });

  it('reports new versions younger than the minimum release age, and only new ones', async () => {
    const young = { integrity: LEFT.integrity, published: '2026-01-09T12:00:00Z' };
    const graph = parsePackageLock(lock({ 'node_modules/left': { version: '1.0.0', resolved: tarballUrl('left', '1.0.0'), integrity: young.integrity } }));
    const snapshot = await loadRegistrySnapshot(snapshotDir([packument('left', { '1.0.0': young })]), wantedVersions(graph));
    const f = checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 3, newVersions: null });
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.evidence.ageHours]),
      [['registry-release-too-new', 12]],
    );
    assert.deepEqual(checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 3, newVersions: new Set() }), []);
    assert.deepEqual(checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 0, newVersions: null }), []);
    assert.deepEqual(checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 0.25, newVersions: null }), []);
  });

  it('reports once, as information, the packages the snapshot cannot vouch for', async () => {
    const graph = parsePackageLock(
      lock({ 'node_modules/a': { version: '1.0.0', integrity: sri('a') }, 'node_modules/b': { version: '1.0.0', integrity: sri('b') } }),
    );
    const snapshot = await loadRegistrySnapshot(snapshotDir([]), wantedVersions(graph));
    const f = checkRegistry(graph, snapshot, { now: NOW, minReleaseAgeDays: 3, newVersions: null });
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity, x.evidence.names]),
      [['registry-metadata-missing', 'info', ['a', 'b']]],
    );
  });
});

describe('loadRegistrySnapshot', () => {
  it('finds scoped packuments as @scope/name.json and @scope%2fname.json, and digests what it read', async () => {
    const dir = scratch();
    mkdirSync(path.join(dir, '@s'));
    writeFileSync(path.join(dir, '@s', 'a.json'), JSON.stringify(packument('@s/a', { '1.0.0': LEFT })));
    writeFileSync(path.join(dir, '@s%2Fb.json'), JSON.stringify(packument('@s/b', { '2.0.0': LEFT })));
    const wanted = new Map([
      ['@s/a', new Set(['1.0.0'])],
      ['@s/b', new Set(['2.0.0'])],
      ['@s/c', new Set(['1.0.0'])],
    ]);
    const snapshot = await loadRegistrySnapshot(dir, wanted);
    assert.equal(snapshot.read, 2);
    assert.ok(snapshot.packuments.get('@s/a')?.has('1.0.0'));
    assert.ok(snapshot.packuments.get('@s/b')?.has('2.0.0'));
    assert.equal(snapshot.packuments.get('@s/c'), null);
    assert.match(snapshot.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('rejects a packument that is not JSON, or has no versions, and a snapshot that is not a folder', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'a.json'), '{');
    writeFileSync(path.join(dir, 'b.json'), '{"name": "b"}');
    for (const [where, name] of [
      [dir, 'a'],
      [dir, 'b'],
      [path.join(dir, 'a.json'), 'a'],
    ] as const) {
      await assert.rejects(
        loadRegistrySnapshot(where, new Map([[name, new Set(['1.0.0'])]])),
        (e: unknown) => isCairnError(e) && e.code === 'SCAN_REGISTRY_SNAPSHOT_INVALID',
      );
    }
  });
});

describe('manifest confusion (tarballs from the npm cache)', () => {
  /** Writes a tarball where npm's cache keeps it: content-v2/sha512/<hex…>. */
  function cache(tarballs: Buffer[]): string {
    const dir = scratch();
    for (const t of tarballs) {
      const hex = createHash('sha512').update(t).digest('hex');
      const file = path.join(dir, '_cacache', 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, t);
    }
    return dir;
  }

  async function scan(tarball: Buffer, packumentManifest: Entry) {
    const integrity = sri(tarball);
    const graph = parsePackageLock(lock({ 'node_modules/left': { version: '1.0.0', resolved: tarballUrl('left', '1.0.0'), integrity } }));
    const snapshot = await loadRegistrySnapshot(
      snapshotDir([packument('left', { '1.0.0': { integrity, published: LEFT.published, manifest: packumentManifest } })]),
      wantedVersions(graph),
    );
    const read = await readCachedManifest(cache([tarball]), integrity);
    assert.ok(read, 'the tarball is read from the cache');
    return checkManifests(graph, snapshot, new Map<string, TarballManifest>([[integrity, read]]));
  }

  it('gives no finding when the tarball says what the registry says', async () => {
    assert.deepEqual(await scan(tgz({ name: 'left', version: '1.0.0', dependencies: { a: '^1' } }), { dependencies: { a: '^1' } }), []);
  });

  it('is critical when the tarball runs an install script the metadata hides', async () => {
    const f = await scan(tgz({ name: 'left', version: '1.0.0', scripts: { postinstall: 'node steal.js' } }), {});
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity, Object.keys(x.evidence.fields as object)]),
      [['manifest-confusion', 'critical', ['installScripts']]],
    );
  });

  it('treats a binding.gyp in the tarball as install code (npm runs node-gyp)', async () => {
    const f = await scan(tgz({ name: 'left', version: '1.0.0' }, { 'binding.gyp': '{}' }), {});
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity, x.evidence.hiddenInstallCode]),
      [['manifest-confusion', 'critical', true]],
    );
  });

  it('is high when only dependencies differ', async () => {
    const f = await scan(tgz({ name: 'left', version: '1.0.0', dependencies: { evil: '1.0.0' } }), {});
    assert.deepEqual(
      f.map((x) => [x.ruleId, x.severity]),
      [['manifest-confusion', 'high']],
    );
  });

  it('does not read a cached file whose bytes do not match the integrity', async () => {
    const t = tgz({ name: 'left', version: '1.0.0' });
    const dir = cache([t]);
    assert.equal(await readCachedManifest(dir, sri('something else')), null);
  });
});
