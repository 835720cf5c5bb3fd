import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { packTgz } from '../crypto/archive.js';
import type { LockedPackage, LockGraph } from '../model/lockfile.js';
import { useScratch } from '../testkit.js';
import { BuildError } from './errors.js';
import { installFromLock } from './install.js';

const scratch = useScratch();

/** Puts a package tarball into an npm-style content-addressed cache and returns its SRI. */
function cachePackage(cache: string, files: Record<string, { content: string; mode?: number }>): string {
  const tgz = packTgz(
    Object.entries(files).map(([p, f]) => ({ path: `package/${p}`, type: 'file' as const, mode: f.mode ?? 0o644, data: Buffer.from(f.content) })),
    499_162_500,
  );
  const digest = createHash('sha512').update(tgz).digest();
  const hex = digest.toString('hex');
  const dir = path.join(cache, '_cacache', 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, hex.slice(4)), tgz);
  return `sha512-${digest.toString('base64')}`;
}

function pkg(p: string, name: string, integrity: string | null, extra: Partial<LockedPackage> = {}): LockedPackage {
  return {
    path: p,
    name,
    version: '1.0.0',
    resolved: null,
    integrity,
    dev: false,
    optional: false,
    hasInstallScript: false,
    bin: {},
    os: [],
    cpu: [],
    dependsOn: [],
    ...extra,
  };
}

function graph(packages: LockedPackage[]): LockGraph {
  return { lockfileVersion: 3, root: { name: 'app', version: '1.0.0', dependsOn: [] }, packages };
}

describe('installFromLock', () => {
  it('installs every package from the cache by integrity, nested ones too, with bins linked and modes normalised', async () => {
    const cache = scratch();
    const a = cachePackage(cache, { 'package.json': { content: '{"name":"a"}' }, 'cli.js': { content: '#!/usr/bin/env node\n', mode: 0o700 } });
    const b = cachePackage(cache, { 'index.js': { content: 'module.exports = 2;' } });
    const root = scratch();
    const installed = await installFromLock(
      root,
      graph([pkg('node_modules/a', 'a', a, { bin: { acli: 'cli.js' } }), pkg('node_modules/a/node_modules/@s/b', '@s/b', b)]),
      { npmCache: cache },
    );
    assert.deepEqual(
      installed.map((i) => i.path),
      ['node_modules/a', 'node_modules/a/node_modules/@s/b'],
    );
    assert.equal(readFileSync(path.join(root, 'node_modules/a/node_modules/@s/b/index.js'), 'utf8'), 'module.exports = 2;');
    assert.equal(statSync(path.join(root, 'node_modules/a/cli.js')).mode & 0o777, 0o755);
    assert.equal(statSync(path.join(root, 'node_modules/a/package.json')).mode & 0o777, 0o644);
    assert.equal(readlinkSync(path.join(root, 'node_modules/.bin/acli')), '../a/cli.js');
  });

  it('refuses a cached tarball that does not match the lockfile integrity', async () => {
    const cache = scratch();
    const sri = cachePackage(cache, { 'x.js': { content: 'good' } });
    const hex = Buffer.from(sri.slice(7), 'base64').toString('hex');
    const file = path.join(cache, '_cacache', 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/x', 'x', sri)]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_INTEGRITY' && e.category === 'denied',
    );
  });

  it('names what is missing from the cache, and refuses packages without a strong integrity', async () => {
    const cache = scratch();
    const absent = `sha512-${createHash('sha512').update('absent').digest('base64')}`;
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/gone', 'gone', absent)]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_NOT_CACHED' && /gone@1\.0\.0/.test(e.message),
    );
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/n', 'n', null)]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_NO_INTEGRITY',
    );
    const sha1 = `sha1-${createHash('sha1').update('x').digest('base64')}`;
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/o', 'o', sha1)]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_NO_INTEGRITY',
    );
  });

  it('skips optional packages for another platform and refuses required ones', async () => {
    const cache = scratch();
    const sri = cachePackage(cache, { 'x.js': { content: 'x' } });
    const other = process.platform === 'linux' ? 'darwin' : 'linux';
    const installed = await installFromLock(scratch(), graph([pkg('node_modules/opt', 'opt', sri, { optional: true, os: [other] })]), { npmCache: cache });
    assert.deepEqual(installed, []);
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/req', 'req', sri, { os: [other] })]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_UNSUPPORTED',
    );
  });

  it('refuses a bin that would escape the package', async () => {
    const cache = scratch();
    const sri = cachePackage(cache, { 'x.js': { content: 'x' } });
    await assert.rejects(
      installFromLock(scratch(), graph([pkg('node_modules/e', 'e', sri, { bin: { e: '../../etc/passwd' } })]), { npmCache: cache }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_DEPENDENCY_UNSUPPORTED',
    );
  });
});
