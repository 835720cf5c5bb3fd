import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { VARY_FIXTURES, type VaryFixture } from '../../build/fixtures.js';
import { sha256Digest } from '../../crypto/digest.js';
import { cli, commitTree, gitIn, useScratch, writeTree } from '../../testkit.js';

const scratch = useScratch();
const fixture = (name: string) => (VARY_FIXTURES.find((f) => f.name === name) as VaryFixture).files;

function repoWith(files: Readonly<Record<string, string>>): string {
  const repo = scratch();
  commitTree(repo, files);
  return repo;
}

describe('cairn build', () => {
  it('--json prints one build event with the digest and the build record, and --out writes exactly that artifact', async () => {
    const repo = repoWith(fixture('reproducible'));
    const out = path.join(scratch(), 'artifact.tgz');
    const run = await cli(['build', repo, '--out', out, '--json']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const events = run.events();
    assert.deepEqual(
      events.map((e) => e.type),
      ['build'],
    );
    const event = events[0] as {
      result: { artifact: { digest: string; name: string }; environment: Record<string, unknown> };
      out: string;
      snapshot: { commit: string };
    };
    assert.equal(event.result.artifact.digest, sha256Digest(readFileSync(out)));
    assert.equal(event.result.artifact.name, 'reproducible.tgz');
    assert.equal(event.out, out);
    assert.equal(event.snapshot.commit, gitIn(repo, ['rev-parse', 'HEAD']));
    assert.ok(['bubblewrap', 'unshare-net', 'none'].includes(event.result.environment.isolation as string));
    assert.equal((event.result.environment.variables as Record<string, string>).TZ, 'UTC');
    assert.equal('variation' in event.result.environment, false);
  });

  it('builds the committed tree of --rev, never the working copy', async () => {
    const repo = repoWith(fixture('reproducible'));
    const first = await cli(['build', repo, '--json']);
    writeTree(repo, { 'parts/d.txt': 'd\n' });
    gitIn(repo, ['add', '-A']);
    gitIn(repo, ['commit', '-q', '-m', 'more'], 1_700_000_000);
    writeTree(repo, { 'parts/e.txt': 'uncommitted\n' });
    const head = await cli(['build', repo, '--json']);
    const previous = await cli(['build', repo, '--rev', 'HEAD~1', '--json']);
    const digest = (r: typeof first) => (r.events()[0] as { result: { artifact: { digest: string } } }).result.artifact.digest;
    assert.equal(digest(previous), digest(first));
    assert.notEqual(digest(head), digest(first));
    assert.deepEqual((head.events()[0] as { uncommitted: string[] }).uncommitted, ['parts/e.txt']);
  });

  it('prints the digest and the record for people', async () => {
    const run = await cli(['build', repoWith(fixture('reproducible'))]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^built reproducible\.tgz sha256:[0-9a-f]{64}$/m);
    assert.match(run.stdout, /isolation {2}(bubblewrap|unshare-net|none)/);
    assert.match(run.stdout, /variables {2}.*TZ=UTC/);
  });

  it('--vary --json names the axis the output depends on and exits 1', async () => {
    const run = await cli(['build', repoWith(fixture('locale-number')), '--vary', '--axis', 'timezone,locale', '--axis', 'umask', '--json']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const [event] = run.events() as {
      type: string;
      report: { verdict: string; matters: string[]; axes: { axis: string; status: string; causes: { kind: string }[] }[] };
    }[];
    assert.equal(event?.type, 'vary');
    assert.equal(event?.report.verdict, 'unreproducible');
    assert.deepEqual(event?.report.matters, ['locale']);
    assert.deepEqual(
      event?.report.axes.map((a) => [a.axis, a.status]),
      [
        ['timezone', 'identical'],
        ['locale', 'differs'],
        ['umask', 'identical'],
      ],
    );
    assert.equal(event?.report.axes[1]?.causes[0]?.kind, 'locale');
  });

  it('--vary exits 0 for a reproducible project and says so for people, progress on stderr', async () => {
    const run = await cli(['build', repoWith(fixture('reproducible')), '--vary', '--axis', 'umask,timezone']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^vary: reproducible: identical under timezone, umask$/m);
    assert.match(run.stderr, /control build 1 of 2/);
  });

  it('rejects an unknown axis, and --axis or --timeout without --vary (exit 2)', async () => {
    const repo = repoWith(fixture('reproducible'));
    for (const args of [
      ['--vary', '--axis', 'weather'],
      ['--axis', 'umask'],
      ['--vary', '--timeout', '0'],
    ]) {
      const run = await cli(['build', repo, ...args, '--json']);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.events()[0]?.code, 'CLI_BAD_OPTION');
    }
  });

  it('a folder outside git is an input error (exit 2)', async () => {
    const run = await cli(['build', scratch(), '--json']);
    assert.equal(run.code, 2);
    assert.equal(run.events()[0]?.code, 'SOURCE_NOT_A_REPOSITORY');
  });
});
