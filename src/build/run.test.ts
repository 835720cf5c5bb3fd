import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { unpackTgz } from '../crypto/archive.js';
import { unpackZip } from '../crypto/zip.js';
import { snapshotCommit } from '../source/snapshot.js';
import { commitTree, TINY_PROJECT, useScratch } from '../testkit.js';
import type { BuildConfig } from '../model/config.js';
import { BuildError } from './errors.js';
import { runBuild } from './run.js';

const scratch = useScratch();

/** Snapshots `repo` into a fresh folder and builds it there. */
async function buildCommit(repo: string, recipe: BuildConfig = { run: 'node build.mjs', output: 'out', install: 'none' }, env: Record<string, string> = {}) {
  const snap = await snapshotCommit(repo, { into: scratch() });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const work = scratch();
    mkdirSync(path.join(work, 'b'));
    return await runBuild({ dir: snap.dir, scratch: path.join(work, 'b'), name: 'tiny', recipe, sourceDateEpoch: snap.snapshot.sourceDateEpoch });
  } finally {
    process.env = saved;
  }
}

describe('runBuild', () => {
  it('builds the same commit twice to the same artifact digest', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const first = await buildCommit(repo);
    const second = await buildCommit(repo, undefined, { TZ: 'America/Lima', LC_ALL: 'fr_FR.UTF-8', USER: 'someone-else' });
    assert.equal(first.result.artifact.digest, second.result.artifact.digest);
    assert.ok(first.artifact.equals(second.artifact));
  });

  it('gives another digest for another commit time (SOURCE_DATE_EPOCH is the mtime)', async () => {
    const a = scratch();
    const b = scratch();
    commitTree(a, TINY_PROJECT, 1_700_000_000);
    commitTree(b, TINY_PROJECT, 1_700_000_001);
    assert.notEqual((await buildCommit(a)).result.artifact.digest, (await buildCommit(b)).result.artifact.digest);
  });

  it('runs the recipe with a normalised environment and packs normalised entries', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const { artifact, result } = await buildCommit(repo, undefined, { USER: 'leaky' });
    const members = unpackTgz(artifact);
    assert.deepEqual(
      members.map((m) => [m.path.replace(/\/$/, ''), m.type, m.mode.toString(8)]),
      [
        ['out', 'directory', '755'],
        ['out/bin', 'directory', '755'],
        ['out/bin/run', 'file', '755'],
        ['out/env.json', 'file', '644'],
        ['out/secret-mode.txt', 'file', '644'],
        ['out/server.mjs', 'file', '644'],
      ],
    );
    for (const m of members) {
      assert.equal(m.mtime, 1_700_000_000);
      assert.equal(m.uid, 0);
      assert.equal(m.gid, 0);
      assert.equal(m.uname, '');
    }
    const env = JSON.parse(Buffer.from(members.find((m) => m.path === 'out/env.json')?.data ?? []).toString('utf8'));
    assert.deepEqual(env, {
      tz: 'UTC',
      lang: 'C.UTF-8',
      sde: '1700000000',
      user: result.environment.isolation === 'bubblewrap' ? 'builder' : null,
      umask: 0o022,
    });
    assert.equal(result.environment.variables.TZ, 'UTC');
    assert.equal(result.entries, 6);
  });

  it('fails with BUILD_RECIPE_FAILED and the tail of the log when the recipe fails', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    await assert.rejects(buildCommit(repo, { run: 'echo first-line; echo boom >&2; exit 7', output: 'out', install: 'none' }), (e: unknown) => {
      assert.ok(e instanceof BuildError);
      assert.equal(e.code, 'BUILD_RECIPE_FAILED');
      assert.match(e.message, /exited with 7/);
      assert.match(e.message, /boom/);
      return true;
    });
  });

  it('fails with BUILD_OUTPUT_MISSING when the declared output is absent', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    await assert.rejects(
      buildCommit(repo, { run: 'true', output: 'dist', install: 'none' }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_OUTPUT_MISSING',
    );
  });

  it('refuses an output symlink that points outside the output', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT);
    await assert.rejects(
      buildCommit(repo, { run: 'mkdir out && ln -s /etc/passwd out/pw', output: 'out', install: 'none' }),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_OUTPUT_UNSAFE',
    );
  });
});

describe('runBuild with build.format zip', () => {
  it('packs the same output into a deterministic zip: sorted, UTC times from SOURCE_DATE_EPOCH, normalised modes', async () => {
    const repo = scratch();
    commitTree(repo, TINY_PROJECT, 1_700_000_000);
    const recipe: BuildConfig = { run: 'node build.mjs', output: 'out', install: 'none', format: 'zip' };
    const first = await buildCommit(repo, recipe);
    const second = await buildCommit(repo, recipe, { TZ: 'Asia/Kathmandu' });
    assert.equal(first.result.artifact.name, 'tiny.zip');
    assert.equal(first.result.artifact.mediaType, 'application/zip');
    assert.equal(first.result.artifact.digest, second.result.artifact.digest);
    const { members } = unpackZip(first.artifact);
    assert.deepEqual(
      members.map((m) => [m.path.replace(/\/$/, ''), m.mode?.toString(8)]),
      [
        ['out', '755'],
        ['out/bin', '755'],
        ['out/bin/run', '755'],
        ['out/env.json', '644'],
        ['out/secret-mode.txt', '644'],
        ['out/server.mjs', '644'],
      ],
    );
    for (const m of members) assert.equal(m.mtime, 1_700_000_000);
  });
});
