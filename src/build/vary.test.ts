import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { snapshotCommit } from '../source/snapshot.js';
import { commitTree, useScratch } from '../testkit.js';
import type { Cause } from './explain.js';
import { VARY_FIXTURES, type VaryFixture } from './fixtures.js';
import { runBuild } from './run.js';
import { probeIsolation } from './sandbox.js';
import { beyondNoise, findingsFromControls, planVariations, probeVaryCapabilities, VARY_AXES, type VaryCapabilities, varyBuild } from './vary.js';

const scratch = useScratch();
const inCi = process.env.CI === 'true';
const capabilities = await probeVaryCapabilities();
const sandboxed = capabilities.isolation.isolation === 'bubblewrap';
const hasFakeTime = 'library' in capabilities.fakeTime;
const hasTmpfs = 'dir' in capabilities.tmpfs;
const RECIPE = { run: 'node build.cjs', output: 'out', install: 'none' } as const;

/** Why a fixture cannot show its axis here (false when it can); in CI the sandbox and libfaketime are required. */
function missing(fixture: VaryFixture): string | false {
  if (fixture.needsSandbox && !sandboxed && !inCi) return `bubblewrap does not work here: ${capabilities.isolation.notes.join('; ')}`;
  if (fixture.needsFakeTime && !hasFakeTime && !inCi)
    return `libfaketime is not usable here: ${'reason' in capabilities.fakeTime ? capabilities.fakeTime.reason : ''}`;
  if (fixture.needsTmpfs && !hasTmpfs) return `no tmpfs with creation-ordered directories: ${'reason' in capabilities.tmpfs ? capabilities.tmpfs.reason : ''}`;
  return false;
}

async function snapshotOf(files: Readonly<Record<string, string>>) {
  const repo = scratch();
  commitTree(repo, files);
  return snapshotCommit(repo, { into: scratch() });
}

const fakeCause = (kind: Cause['kind'], path: string, field: string, occurrences = 1): Cause => ({
  kind,
  confidence: 'high',
  detail: '',
  occurrences,
  evidence: [{ path, field }],
});

describe('cairn build --vary on projects that are unreproducible in exactly one way', { concurrency: 2 }, () => {
  for (const fixture of VARY_FIXTURES) {
    const expected = fixture.matters.length === 0 ? 'nothing' : fixture.matters.join(', ');
    it(`${fixture.name}: names ${expected}${fixture.cause ? `, and explain names ${fixture.cause} from the pair that differs` : ''}`, {
      skip: missing(fixture),
    }, async () => {
      if (fixture.needsSandbox) assert.ok(sandboxed, `bubblewrap is required in CI: ${capabilities.isolation.notes.join('; ')}`);
      if (fixture.needsFakeTime) assert.ok(hasFakeTime, `libfaketime is required in CI: ${JSON.stringify(capabilities.fakeTime)}`);
      const snap = await snapshotOf(fixture.files);
      const { report, control } = await varyBuild({ dir: snap.dir, name: fixture.name, recipe: RECIPE, sourceDateEpoch: snap.snapshot.sourceDateEpoch });

      assert.deepEqual(report.matters, fixture.matters, report.summary);
      assert.equal(report.verdict, fixture.matters.length === 0 ? 'reproducible' : 'unreproducible');
      assert.equal(report.complete, true);
      assert.equal(control.result.environment.variation, undefined, 'the control is a plain build');
      if (fixture.cause === null) return;
      const fromControls = fixture.matters.includes('randomness') || (fixture.matters.includes('time') && !report.controls.identical);
      const causes = fromControls ? report.controls.causes : (report.axes.find((a) => a.axis === fixture.matters[0])?.causes ?? []);
      assert.equal(causes[0]?.kind, fixture.cause, JSON.stringify(causes.map((c) => [c.kind, c.detail])));
      // Every other axis leaves the output alone (or differs only where the controls already do).
      for (const axis of report.axes)
        if (!fixture.matters.includes(axis.axis)) assert.ok(['identical', 'noise', 'skipped'].includes(axis.status), `${axis.axis}: ${axis.status}`);
    });
  }
});

describe('cairn build --vary without a sandbox: the build path and HOME move on the host instead', { concurrency: 2 }, () => {
  const unsandboxed: VaryCapabilities = { ...capabilities, isolation: { isolation: 'none', notes: ['lowered for this test'] } };
  for (const name of ['build-path', 'home', 'user-name']) {
    const fixture = VARY_FIXTURES.find((f) => f.name === name) as VaryFixture;
    it(`${name}: names ${fixture.matters.join(', ')}; the hostname axis is skipped with a reason`, async () => {
      const snap = await snapshotOf(fixture.files);
      const { report } = await varyBuild({ dir: snap.dir, name, recipe: RECIPE, sourceDateEpoch: snap.snapshot.sourceDateEpoch, capabilities: unsandboxed });
      assert.equal(report.isolation, 'none');
      assert.deepEqual(report.matters, fixture.matters, report.summary);
      const axis = report.axes.find((a) => a.axis === fixture.matters[0]);
      assert.equal(axis?.causes[0]?.kind, fixture.cause);
      const hostname = report.axes.find((a) => a.axis === 'hostname');
      assert.equal(hostname?.status, 'skipped');
      assert.match(hostname?.reason ?? '', /only under bubblewrap/);
    });
  }
});

describe('varyBuild', () => {
  it('builds only the two controls and the all-variations build when nothing differs', async () => {
    const fixture = VARY_FIXTURES.find((f) => f.name === 'reproducible') as VaryFixture;
    const snap = await snapshotOf(fixture.files);
    const progress: string[] = [];
    const { report } = await varyBuild({
      dir: snap.dir,
      name: 'r',
      recipe: RECIPE,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      onProgress: (m) => progress.push(m),
    });
    assert.equal(report.builds, 3);
    assert.equal(report.everything?.identical, true);
    assert.equal(progress.length, 3);
    assert.ok(report.axes.filter((a) => a.status !== 'skipped').every((a) => a.identical && a.varied !== null));
  });

  it('reports a variation under which the recipe fails as mattering, with the reason', async () => {
    const snap = await snapshotOf({
      'build.cjs': "if (process.env.TZ !== 'UTC') process.exit(3);\nrequire('node:fs').mkdirSync('out');\n",
    });
    const { report } = await varyBuild({
      dir: snap.dir,
      name: 'tz-fails',
      recipe: RECIPE,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      axes: ['timezone', 'umask'],
    });
    assert.deepEqual(report.matters, ['timezone']);
    const tz = report.axes.find((a) => a.axis === 'timezone');
    assert.equal(tz?.status, 'failed');
    assert.match(tz?.reason ?? '', /exited with 3/);
    assert.equal(report.everything?.failed !== undefined, true);
  });

  it('tries only the axes asked for', async () => {
    const fixture = VARY_FIXTURES.find((f) => f.name === 'locale-number') as VaryFixture;
    const snap = await snapshotOf(fixture.files);
    const { report } = await varyBuild({ dir: snap.dir, name: 'l', recipe: RECIPE, sourceDateEpoch: snap.snapshot.sourceDateEpoch, axes: ['umask'] });
    assert.deepEqual(
      report.axes.map((a) => a.axis),
      ['umask'],
    );
    assert.equal(report.verdict, 'reproducible');
  });

  it('skips the axes it has no time left for and says the run is incomplete', async () => {
    const fixture = VARY_FIXTURES.find((f) => f.name === 'random-id') as VaryFixture;
    const snap = await snapshotOf(fixture.files);
    let late = 0;
    const { report } = await varyBuild({
      dir: snap.dir,
      name: 'late',
      recipe: RECIPE,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      timeoutMs: 60_000,
      // The clock jumps past the deadline once the second axis is about to be built.
      now: () => performance.now() + late,
      onProgress: (message) => {
        if (message.startsWith('varying timezone')) late = 120_000;
      },
    });
    assert.equal(report.complete, false);
    assert.deepEqual(report.matters, ['randomness']);
    const deadlineSkips = report.axes.filter((a) => a.reason === 'the --vary deadline passed').map((a) => a.axis);
    assert.deepEqual(
      deadlineSkips,
      VARY_AXES.filter((a) => a !== 'time' && (a !== 'hostname' || sandboxed) && (a !== 'file-order' || hasTmpfs)),
    );
    assert.equal(report.builds, hasFakeTime ? 3 : 2);
  });

  it('fails when a control build fails (the project does not build at all)', async () => {
    const snap = await snapshotOf({ 'build.cjs': 'process.exit(1);\n' });
    await assert.rejects(varyBuild({ dir: snap.dir, name: 'broken', recipe: RECIPE, sourceDateEpoch: snap.snapshot.sourceDateEpoch, axes: ['umask'] }), {
      code: 'BUILD_RECIPE_FAILED',
    });
  });
});

describe('runBuild with a variation', () => {
  it('records what was varied and the umask in force; a plain build records no variation', async () => {
    const snap = await snapshotOf({
      'build.cjs': "require('node:fs').mkdirSync('out', { recursive: true });\nrequire('node:fs').writeFileSync('out/m', String(process.umask()));\n",
    });
    const base = { dir: snap.dir, name: 'v', recipe: RECIPE, sourceDateEpoch: snap.snapshot.sourceDateEpoch };
    const plain = await runBuild({ ...base, scratch: scratch() });
    assert.equal('variation' in plain.result.environment, false);
    assert.equal(plain.result.environment.umask, '0022');
    const varied = await runBuild({
      ...base,
      scratch: scratch(),
      variation: { umask: '077', variables: { TZ: 'Asia/Kathmandu' }, record: { umask: 'umask 077', timezone: 'TZ=Asia/Kathmandu' } },
    });
    assert.deepEqual(varied.result.environment.variation, { umask: 'umask 077', timezone: 'TZ=Asia/Kathmandu' });
    assert.equal(varied.result.environment.umask, '0077');
    assert.equal(varied.result.environment.variables.TZ, 'Asia/Kathmandu');
    assert.notEqual(varied.result.artifact.digest, plain.result.artifact.digest);
  });

  it('refuses a hostname or a remapped build path where only bubblewrap could set them', async () => {
    const snap = await snapshotOf({ 'build.cjs': "require('node:fs').mkdirSync('out');\n" });
    const base = {
      dir: snap.dir,
      name: 'v',
      recipe: RECIPE,
      sourceDateEpoch: snap.snapshot.sourceDateEpoch,
      isolation: { isolation: 'none' as const, notes: [] },
    };
    await assert.rejects(runBuild({ ...base, scratch: scratch(), variation: { hostname: 'other', record: {} } }), { code: 'BUILD_BAD_VARIATION' });
    await assert.rejects(runBuild({ ...base, scratch: scratch(), variation: { buildDir: '/elsewhere', record: {} } }), { code: 'BUILD_BAD_VARIATION' });
    await assert.rejects(runBuild({ ...base, scratch: scratch(), variation: { umask: '22; rm -rf /', record: {} } }), { code: 'BUILD_BAD_VARIATION' });
  });
});

describe('planVariations', () => {
  const folders = { work: '/v/build', otherWork: '/v/elsewhere/deeper/other-path', scratch: '/v/scratch' };
  const bare: VaryCapabilities = {
    isolation: { isolation: 'none', notes: ['no bwrap'] },
    fakeTime: { reason: 'libfaketime is not installed' },
    tmpfs: { reason: '/dev/shm is not a tmpfs' },
  };
  const full: VaryCapabilities = {
    isolation: { isolation: 'bubblewrap', notes: [] },
    fakeTime: { library: '/usr/lib/libfaketime.so.1' },
    tmpfs: { dir: '/dev/shm' },
  };

  it('varies every axis under bubblewrap with libfaketime and a tmpfs', () => {
    const plans = planVariations(full, folders);
    assert.deepEqual(
      plans.map((p) => p.axis),
      VARY_AXES,
    );
    assert.ok(plans.every((p) => p.available));
    const setting = (axis: string) => plans.flatMap((p) => (p.available && p.axis === axis ? [p.setting] : []))[0];
    assert.deepEqual(setting('timezone')?.knobs, { variables: { TZ: 'Pacific/Chatham' } });
    assert.deepEqual(setting('locale')?.knobs, { variables: { LC_ALL: 'de_DE.UTF-8', LANG: 'de_DE.UTF-8' } });
    assert.equal(setting('build-path')?.knobs.buildDir, '/build/deeper/other-path');
    assert.equal(setting('hostname')?.knobs.hostname, 'cairn-vary-host');
    assert.equal(setting('home')?.knobs.home, '/home/other');
    assert.equal(setting('umask')?.knobs.umask, '002');
    assert.equal(setting('file-order')?.reverseOrder, true);
    assert.deepEqual(setting('time')?.knobs.variables, { LD_PRELOAD: '/usr/lib/libfaketime.so.1', FAKETIME: '+400d', NO_FAKE_STAT: '1' });
    assert.equal(setting('environment')?.knobs.variables?.USER, 'cairn-vary-user');
  });

  it('says why an axis cannot be varied without the sandbox, libfaketime or a tmpfs, and moves the build instead of remapping it', () => {
    const plans = planVariations(bare, folders);
    const skipped = Object.fromEntries(plans.flatMap((p) => (p.available ? [] : [[p.axis, p.reason]])));
    assert.deepEqual(Object.keys(skipped).sort(), ['file-order', 'hostname', 'time']);
    assert.match(skipped.hostname ?? '', /only under bubblewrap/);
    assert.match(skipped.time ?? '', /libfaketime/);
    const buildPath = plans.find((p) => p.axis === 'build-path');
    assert.ok(buildPath?.available && buildPath.setting.otherWork === true && buildPath.setting.knobs.buildDir === undefined);
    const home = plans.find((p) => p.axis === 'home');
    assert.ok(home?.available && home.setting.knobs.home === '/v/scratch/other-home');
  });
});

describe('findingsFromControls and beyondNoise', () => {
  it('names time for timestamps and randomness for anything else two un-varied builds disagree on', () => {
    assert.deepEqual(findingsFromControls([fakeCause('timestamp', 'a', '$.t')]), ['time']);
    assert.deepEqual(findingsFromControls([fakeCause('randomness', 'a', '$.id'), fakeCause('file-order', 'b', '')]), ['randomness']);
    assert.deepEqual(findingsFromControls([fakeCause('randomness', 'a', '$.id'), fakeCause('timestamp', 'a', '$.t')]), ['time', 'randomness']);
    assert.deepEqual(findingsFromControls([]), []);
  });

  it('discounts a cause the controls show at the same place, and keeps one of another kind or place', () => {
    const noise = [fakeCause('timestamp', 'out/build.json', '$.builtAt')];
    assert.deepEqual(beyondNoise([fakeCause('timestamp', 'out/build.json', '$.builtAt')], noise), []);
    assert.equal(beyondNoise([fakeCause('timezone', 'out/build.json', '$.builtAt')], noise).length, 1);
    assert.equal(beyondNoise([fakeCause('timestamp', 'out/other.json', '$.x')], noise).length, 1);
  });

  it('discounts every cause of a kind whose control evidence was cut short', () => {
    const noise = [fakeCause('randomness', 'a', '$.id', 50)];
    assert.deepEqual(beyondNoise([fakeCause('randomness', 'z', '$.other')], noise), []);
  });
});

describe('the machine running the tests', () => {
  it('has bubblewrap and libfaketime when CI=true (CI installs them)', { skip: !inCi && 'not in CI' }, () => {
    assert.equal(probeIsolation().isolation, 'bubblewrap', capabilities.isolation.notes.join('; '));
    assert.ok(hasFakeTime, JSON.stringify(capabilities.fakeTime));
  });
});
