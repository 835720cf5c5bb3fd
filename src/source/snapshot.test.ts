import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { commitTree, gitIn, useScratch, writeTree } from '../testkit.js';
import { SourceError } from './errors.js';
import { snapshotCommit } from './snapshot.js';

const scratch = useScratch();

describe('snapshotCommit', () => {
  it('takes the tree at the commit, not the working copy, and reports what it ignored', async () => {
    const repo = scratch();
    const commit = commitTree(repo, { 'app/a.txt': 'committed\n', 'app/run.sh': { content: '#!/bin/sh\n', mode: 0o755 } }, 1_700_000_123);
    writeFileSync(path.join(repo, 'app/a.txt'), 'edited, not committed\n');
    writeTree(repo, { 'app/new.txt': 'untracked' });
    const into = scratch();
    const snap = await snapshotCommit(path.join(repo, 'app'), { into });
    assert.equal(snap.snapshot.commit, commit);
    assert.equal(snap.snapshot.subdir, 'app');
    assert.equal(snap.snapshot.sourceDateEpoch, 1_700_000_123);
    assert.equal(snap.snapshot.fileCount, 2);
    assert.equal(readFileSync(path.join(into, 'a.txt'), 'utf8'), 'committed\n');
    assert.equal(statSync(path.join(into, 'run.sh')).mode & 0o777, 0o755);
    assert.deepEqual([...snap.uncommitted].sort(), ['app/a.txt', 'app/new.txt']);
    assert.match(snap.snapshot.treeDigest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(snap.snapshot.gitTree, gitIn(repo, ['rev-parse', 'HEAD:app']));
  });

  it('gives the same tree digest for the same content committed at another time or place', async () => {
    const files = { 'x/one.txt': '1', 'x/two/three.txt': '3' };
    const a = scratch();
    const b = scratch();
    commitTree(a, files, 1_600_000_000);
    commitTree(b, { ...files, 'elsewhere.txt': 'outside the project' }, 1_650_000_000);
    const sa = await snapshotCommit(path.join(a, 'x'), { into: scratch() });
    const sb = await snapshotCommit(path.join(b, 'x'), { into: scratch() });
    assert.equal(sa.snapshot.treeDigest, sb.snapshot.treeDigest);
    assert.notEqual(sa.snapshot.commit, sb.snapshot.commit);
  });

  it('changes the tree digest when a byte or a mode changes', async () => {
    const base = scratch();
    commitTree(base, { 'f.sh': { content: 'echo\n', mode: 0o644 } });
    const content = scratch();
    commitTree(content, { 'f.sh': { content: 'echo!\n', mode: 0o644 } });
    const mode = scratch();
    commitTree(mode, { 'f.sh': { content: 'echo\n', mode: 0o755 } });
    const digests = await Promise.all([base, content, mode].map(async (r) => (await snapshotCommit(r, { into: scratch() })).snapshot.treeDigest));
    assert.equal(new Set(digests).size, 3);
  });

  it('snapshots an older revision when asked', async () => {
    const repo = scratch();
    const first = commitTree(repo, { 'v.txt': 'one' }, 1_600_000_000);
    writeTree(repo, { 'v.txt': 'two' });
    gitIn(repo, ['commit', '-qam', 'second'], 1_600_000_100);
    const into = scratch();
    const snap = await snapshotCommit(repo, { rev: first, into });
    assert.equal(snap.snapshot.commit, first);
    assert.equal(snap.snapshot.sourceDateEpoch, 1_600_000_000);
    assert.equal(readFileSync(path.join(into, 'v.txt'), 'utf8'), 'one');
  });

  it('rejects a folder outside any repository, an unknown revision and an uncommitted project', async () => {
    const plain = scratch();
    await assert.rejects(
      snapshotCommit(plain, { into: scratch() }),
      (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_NOT_A_REPOSITORY' && e.category === 'input',
    );
    const repo = scratch();
    commitTree(repo, { 'a.txt': 'a' });
    await assert.rejects(
      snapshotCommit(repo, { rev: 'no-such-branch', into: scratch() }),
      (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_BAD_REVISION',
    );
    await assert.rejects(snapshotCommit(repo, { rev: '--all', into: scratch() }), (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_BAD_REVISION');
    writeTree(repo, { 'new/b.txt': 'b' });
    await assert.rejects(
      snapshotCommit(path.join(repo, 'new'), { into: scratch() }),
      (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_PATH_NOT_IN_COMMIT',
    );
  });

  it('enforces the file-count cap', async () => {
    const repo = scratch();
    commitTree(repo, { a: '1', b: '2', c: '3' });
    await assert.rejects(snapshotCommit(repo, { into: scratch(), maxFiles: 2 }), (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_TOO_LARGE');
  });
});
