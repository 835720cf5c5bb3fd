import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from '../crypto/digest.js';
import { canonicalDigest } from '../crypto/jcs.js';
import { type CommandTargetConfig, DEFAULT_STRATEGY, type DeployConfig } from '../model/config.js';
import type { Digest } from '../model/digest.js';
import { CairnError } from '../model/errors.js';
import type { Deployment, Release } from '../model/release.js';
import { CommandTarget, MAX_SCRIPT_STDOUT, metricsOutputFromText, readOutputFromText, startOutputFromText } from './command.js';
import { DeployError } from './errors.js';

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
function folder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-command-'));
  made.push(dir);
  return dir;
}

/** A target whose unset scripts fail loudly, over a fresh folder. */
function target(scripts: Partial<CommandTargetConfig>): { target: CommandTarget; dir: string } {
  const dir = folder();
  const commands: CommandTargetConfig = { start: 'exit 99', shift: 'exit 99', read: 'exit 99', stop: 'exit 99', timeoutSeconds: 30, ...scripts };
  return { target: new CommandTarget({ commands, dir }), dir };
}

const A: Digest = sha256Digest('release a');
const B: Digest = sha256Digest('release b');

function deployment(releaseDigest: Digest): Deployment {
  return {
    environment: 'dev',
    releaseDigest,
    target: 'command',
    endpoint: '',
    pid: null,
    handle: null,
    startedAt: '2025-01-01T00:00:00.000Z',
    status: 'running',
  };
}

function startRequest(artifact: Uint8Array, opId: string) {
  const release: Release = {
    environment: 'dev',
    service: 'svc',
    artifactDigest: sha256Digest(artifact),
    configDigest: sha256Digest('config'),
    decisionId: 'decision',
    provenanceDigest: sha256Digest('provenance'),
    vsaDigest: sha256Digest('vsa'),
    rollbackUnsafe: false,
  };
  const config: DeployConfig = {
    target: 'command',
    start: '',
    health: '/healthz',
    environments: ['dev'],
    healthTimeoutSeconds: 15,
    strategy: DEFAULT_STRATEGY,
    rollbackUnsafe: false,
  };
  return { release, releaseDigest: canonicalDigest(release), artifact, config, opId };
}

/** `env` output (one `NAME=value` a line) as a record. */
function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CairnError, `expected a CairnError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

/** Alive and not a zombie (a killed process not yet reaped by whatever adopted it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    if (process.platform === 'linux') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

describe('CommandTarget', () => {
  describe('capabilities', () => {
    it('splits traffic, does not report versions, and reports metrics only with a metrics script', () => {
      assert.deepEqual(target({}).target.capabilities, { trafficSplit: true, reportsVersion: false, reportsMetrics: false });
      assert.deepEqual(target({ metrics: 'echo {}' }).target.capabilities, { trafficSplit: true, reportsVersion: false, reportsMetrics: true });
    });

    it('answers no metrics without a metrics script, and names no endpoint', async () => {
      const { target: t } = target({});
      assert.deepEqual(await (await t.traffic('dev', deployment(A), deployment(B))).metrics(), {});
      assert.equal(await t.endpoint('dev'), null);
    });
  });

  describe('environment', () => {
    it('gives start a cleared environment with the operation id, the release and a file of the exact artifact bytes', async (t) => {
      process.env.CAIRN_TEST_LEAK = 'must not reach scripts';
      t.after(() => delete process.env.CAIRN_TEST_LEAK);
      const { target: target_, dir } = target({ start: 'env > start.env; cat "$CAIRN_ARTIFACT" > artifact.copy' });
      const artifact = new TextEncoder().encode('the artifact bytes\n');
      const request = startRequest(artifact, 'op/start-1');
      const started = await target_.start(request);
      const env = envFile(path.join(dir, 'start.env'));
      assert.equal(env.CAIRN_OPERATION_ID, 'op/start-1');
      assert.equal(env.CAIRN_ENVIRONMENT, 'dev');
      assert.equal(env.CAIRN_RELEASE_DIGEST, request.releaseDigest);
      assert.equal(env.CAIRN_ARTIFACT_DIGEST, request.release.artifactDigest);
      assert.equal(env.LC_ALL, 'C.UTF-8');
      assert.equal(env.TZ, 'UTC');
      assert.equal(env.HOME, dir);
      assert.equal(env.CAIRN_TEST_LEAK, undefined);
      // What the shell itself adds (PWD, SHLVL, _) aside, nothing but the documented variables.
      const unexpected = Object.keys(env).filter(
        (k) => !['PATH', 'HOME', 'LC_ALL', 'TZ', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(k) && !k.startsWith('CAIRN_'),
      );
      assert.deepEqual(unexpected, []);
      assert.deepEqual(new Uint8Array(readFileSync(path.join(dir, 'artifact.copy'))), artifact);
      assert.deepEqual(
        { environment: started.environment, releaseDigest: started.releaseDigest, target: started.target, endpoint: started.endpoint, status: started.status },
        { environment: 'dev', releaseDigest: request.releaseDigest, target: 'command', endpoint: '', status: 'running' },
      );
    });

    it('gives shift the weight, both release digests and the fence, with the order id as operation id', async () => {
      const { target: t, dir } = target({ shift: 'env > shift.env' });
      const traffic = await t.traffic('dev', deployment(A), deployment(B));
      assert.equal(await traffic.apply({ opId: 'dev/rollout/e7/3-promote-50', epoch: 7, seq: 3, weight: 50 }), 'applied');
      const env = envFile(path.join(dir, 'shift.env'));
      assert.deepEqual(
        [
          env.CAIRN_OPERATION_ID,
          env.CAIRN_ENVIRONMENT,
          env.CAIRN_WEIGHT,
          env.CAIRN_NEXT,
          env.CAIRN_PREVIOUS,
          env.CAIRN_EPOCH,
          env.CAIRN_SEQ,
          env.CAIRN_RELEASE_DIGEST,
        ],
        ['dev/rollout/e7/3-promote-50', 'dev', '50', B, A, '7', '3', B],
      );
    });

    it('passes an empty CAIRN_PREVIOUS on a first deployment', async () => {
      const { target: t, dir } = target({ shift: 'env > shift.env' });
      await (await t.traffic('dev', null, deployment(B))).apply({ opId: 'first', epoch: 1, seq: 1, weight: 100 });
      const env = envFile(path.join(dir, 'shift.env'));
      assert.equal(env.CAIRN_PREVIOUS, '');
      assert.equal(env.CAIRN_NEXT, B);
    });

    it('gives stop the deployment’s release digest', async () => {
      const { target: t, dir } = target({ start: 'true', stop: 'env > stop.env' });
      const started = await t.start(startRequest(new TextEncoder().encode('x'), 'op-1'));
      assert.equal(await t.stop(started), true);
      const env = envFile(path.join(dir, 'stop.env'));
      assert.equal(env.CAIRN_RELEASE_DIGEST, started.releaseDigest);
      assert.ok((env.CAIRN_OPERATION_ID ?? '') !== '', 'stop gets an operation id');
    });
  });

  describe('exit codes', () => {
    it('answers refused when shift exits 3', async () => {
      const { target: t } = target({ shift: 'exit 3' });
      assert.equal(await (await t.traffic('dev', deployment(A), deployment(B))).apply({ opId: 'op', epoch: 1, seq: 1, weight: 10 }), 'refused');
    });

    it('fails with DEPLOY_COMMAND_FAILED and the stderr tail on any other exit code', async () => {
      const { target: t } = target({ shift: 'echo "the balancer said no" >&2; exit 7' });
      const error = await rejectsWith(
        (await t.traffic('dev', deployment(A), deployment(B))).apply({ opId: 'op', epoch: 1, seq: 1, weight: 10 }),
        'DEPLOY_COMMAND_FAILED',
      );
      assert.match(error.message, /exited with 7/);
      assert.match(error.message, /the balancer said no/);
      assert.equal(error.category, 'denied');
    });

    it('fails when start, read or stop exit non-zero', async () => {
      const { target: t } = target({ start: 'exit 1', read: 'exit 3' });
      await rejectsWith(t.start(startRequest(new TextEncoder().encode('x'), 'op')), 'DEPLOY_COMMAND_FAILED');
      await rejectsWith((await t.traffic('dev', deployment(A), deployment(B))).read(), 'DEPLOY_COMMAND_FAILED');
    });

    it('kills a script that runs past its timeout, with everything in its process group', async (t) => {
      const { target: target_, dir } = target({ read: 'sleep 60 & echo $! > child.pid; wait', timeoutSeconds: 1 });
      const error = await rejectsWith((await target_.traffic('dev', deployment(A), deployment(B))).read(), 'DEPLOY_COMMAND_TIMEOUT');
      assert.equal(error.category, 'denied');
      const pid = Number(readFileSync(path.join(dir, 'child.pid'), 'utf8'));
      t.after(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      // The kill is sent to the group at once; give the kernel a moment to retire the child.
      for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
      assert.equal(alive(pid), false, 'the script’s background child was killed');
    });
  });

  describe('output', () => {
    it('refuses stdout over the cap and kills a script that keeps printing', async () => {
      const { target: t } = target({ read: `head -c ${MAX_SCRIPT_STDOUT + 1} /dev/zero | tr '\\0' x`, metrics: 'yes' });
      const traffic = await t.traffic('dev', deployment(A), deployment(B));
      const error = await rejectsWith(traffic.read(), 'DEPLOY_COMMAND_OUTPUT');
      assert.equal(error.problems[0]?.code, 'TOO_LARGE');
      await rejectsWith(traffic.metrics(), 'DEPLOY_COMMAND_OUTPUT');
    });

    it('reads the weight and last operation id a read script prints', async () => {
      const { target: t } = target({ read: `echo '{"weight": 25, "lastOperationId": "op-9"}'` });
      assert.deepEqual(await (await t.traffic('dev', deployment(A), deployment(B))).read(), { weight: 25, lastOpId: 'op-9' });
    });

    it('names the field of a malformed read answer', async () => {
      const { target: t } = target({ read: `echo '{"weight": 101, "lastOperationId": null}'` });
      const error = await rejectsWith((await t.traffic('dev', deployment(A), deployment(B))).read(), 'DEPLOY_COMMAND_OUTPUT');
      assert.deepEqual(
        error.problems.map((p) => [p.code, p.path]),
        [['OUT_OF_RANGE', 'read.weight']],
      );
      assert.match(error.message, /read\.weight/);
    });

    const badReads: readonly (readonly [string, string, readonly (readonly [string, string])[]])[] = [
      ['not JSON', 'weight=50', [['JSON_MALFORMED', 'read']]],
      ['nothing at all', '  \n', [['MISSING', 'read']]],
      ['an array', '[50]', [['WRONG_TYPE', 'read']]],
      ['a weight below 0', '{"weight": -1, "lastOperationId": null}', [['OUT_OF_RANGE', 'read.weight']]],
      ['a fractional weight', '{"weight": 12.5, "lastOperationId": null}', [['WRONG_TYPE', 'read.weight']]],
      ['a weight as a string', '{"weight": "50", "lastOperationId": null}', [['WRONG_TYPE', 'read.weight']]],
      ['no lastOperationId', '{"weight": 50}', [['MISSING', 'read.lastOperationId']]],
      ['a numeric lastOperationId', '{"weight": 50, "lastOperationId": 4}', [['WRONG_TYPE', 'read.lastOperationId']]],
      [
        'an unknown key, and a bad weight',
        '{"weight": 500, "lastOperationId": null, "extra": 1}',
        [
          ['UNKNOWN_KEY', 'read.extra'],
          ['OUT_OF_RANGE', 'read.weight'],
        ],
      ],
      ['two JSON values', '{"weight": 1, "lastOperationId": null} {}', [['JSON_MALFORMED', 'read']]],
    ];
    for (const [what, text, problems] of badReads) {
      it(`refuses a read answer with ${what}`, () => {
        try {
          readOutputFromText(text);
          assert.fail('accepted');
        } catch (error) {
          assert.ok(error instanceof DeployError);
          assert.equal(error.code, 'DEPLOY_COMMAND_OUTPUT');
          assert.deepEqual(
            error.problems.map((p) => [p.code, p.path]),
            problems,
          );
        }
      });
    }

    it('takes start’s endpoint, or none when it prints nothing', () => {
      assert.equal(startOutputFromText('{"endpoint": "http://10.0.0.5:8080"}\n'), 'http://10.0.0.5:8080');
      assert.equal(startOutputFromText(''), null);
      for (const bad of ['{"endpoint": "ftp://host"}', '{"endpoint": ""}', '{}', '{"endpoint": "http://x", "pid": 1}', 'started']) {
        assert.throws(
          () => startOutputFromText(bad),
          (e: unknown) => e instanceof DeployError && e.code === 'DEPLOY_COMMAND_OUTPUT',
          bad,
        );
      }
    });

    it('reads metrics keyed by release digest, custom values included', () => {
      const text = JSON.stringify({ [A]: { requests: 10, errors: 1, p99Ms: 12.5, custom: { queue_depth: 3 } }, [B]: { requests: 0, errors: 0, p99Ms: null } });
      assert.deepEqual(metricsOutputFromText(text), {
        [A]: { requests: 10, errors: 1, p99Ms: 12.5, custom: { queue_depth: 3 } },
        [B]: { requests: 0, errors: 0, p99Ms: null, custom: {} },
      });
    });

    const badMetrics: readonly (readonly [string, unknown, readonly (readonly [string, string])[]])[] = [
      ['a key that is not a digest', { v2: { requests: 1, errors: 0, p99Ms: null } }, [['INVALID_FORMAT', 'metrics.v2']]],
      ['more errors than requests', { [A]: { requests: 1, errors: 2, p99Ms: null } }, [['OUT_OF_RANGE', `metrics.${A}.errors`]]],
      ['negative requests', { [A]: { requests: -1, errors: 0, p99Ms: null } }, [['OUT_OF_RANGE', `metrics.${A}.requests`]]],
      ['no p99Ms', { [A]: { requests: 1, errors: 0 } }, [['MISSING', `metrics.${A}.p99Ms`]]],
      [
        'a custom value that is not a number',
        { [A]: { requests: 1, errors: 0, p99Ms: 1, custom: { depth: '3' } } },
        [['WRONG_TYPE', `metrics.${A}.custom.depth`]],
      ],
      ['a bad custom name', { [A]: { requests: 1, errors: 0, p99Ms: 1, custom: { '9x': 1 } } }, [['INVALID_FORMAT', `metrics.${A}.custom.9x`]]],
      ['an unknown key', { [A]: { requests: 1, errors: 0, p99Ms: 1, latency: 4 } }, [['UNKNOWN_KEY', `metrics.${A}.latency`]]],
    ];
    for (const [what, value, problems] of badMetrics) {
      it(`refuses metrics with ${what}`, () => {
        try {
          metricsOutputFromText(JSON.stringify(value));
          assert.fail('accepted');
        } catch (error) {
          assert.ok(error instanceof DeployError);
          assert.equal(error.code, 'DEPLOY_COMMAND_OUTPUT');
          assert.deepEqual(
            error.problems.map((p) => [p.code, p.path]),
            problems,
          );
        }
      });
    }

    it('refuses metrics for more releases than the cap', () => {
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [sha256Digest(`r${i}`), { requests: 0, errors: 0, p99Ms: null }]));
      assert.throws(
        () => metricsOutputFromText(JSON.stringify(many)),
        (e: unknown) => e instanceof DeployError && e.problems[0]?.code === 'TOO_MANY',
      );
    });
  });

  describe('its own record', () => {
    it('never runs shift again for an operation id it saw applied, even from a new instance over the same folder', async () => {
      const { target: first, dir } = target({ shift: 'echo "$CAIRN_OPERATION_ID" >> runs.log' });
      const commands: CommandTargetConfig = {
        start: 'exit 99',
        shift: 'echo "$CAIRN_OPERATION_ID" >> runs.log',
        read: 'exit 99',
        stop: 'exit 99',
        timeoutSeconds: 30,
      };
      const order = { opId: 'op-1', epoch: 1, seq: 1, weight: 10 };
      assert.equal(await (await first.traffic('dev', deployment(A), deployment(B))).apply(order), 'applied');
      assert.equal(await (await first.traffic('dev', deployment(A), deployment(B))).apply(order), 'applied');
      const second = new CommandTarget({ commands, dir });
      assert.equal(await (await second.traffic('dev', deployment(A), deployment(B))).apply(order), 'applied');
      assert.deepEqual(readFileSync(path.join(dir, 'runs.log'), 'utf8').split('\n').filter(Boolean), ['op-1']);
    });

    it('refuses a fence below the highest it applied without running shift', async () => {
      const { target: t, dir } = target({ shift: 'echo "$CAIRN_OPERATION_ID" >> runs.log' });
      const traffic = await t.traffic('dev', deployment(A), deployment(B));
      assert.equal(await traffic.apply({ opId: 'op-5', epoch: 2, seq: 5, weight: 10 }), 'applied');
      assert.equal(await traffic.apply({ opId: 'op-4', epoch: 2, seq: 4, weight: 90 }), 'refused');
      assert.equal(await traffic.apply({ opId: 'old-epoch', epoch: 1, seq: 9, weight: 90 }), 'refused');
      assert.deepEqual(readFileSync(path.join(dir, 'runs.log'), 'utf8').split('\n').filter(Boolean), ['op-5']);
    });

    it('runs shift again for an id it refused, since a refusal applied nothing', async () => {
      const { target: t, dir } = target({ shift: 'echo x >> runs.log; exit 3' });
      const traffic = await t.traffic('dev', deployment(A), deployment(B));
      const order = { opId: 'op', epoch: 1, seq: 1, weight: 10 };
      assert.equal(await traffic.apply(order), 'refused');
      assert.equal(await traffic.apply(order), 'refused');
      assert.equal(readFileSync(path.join(dir, 'runs.log'), 'utf8'), 'x\nx\n');
    });

    it('starts once per operation id and stops only deployments it started', async () => {
      const { target: t, dir } = target({ start: 'echo started >> starts.log', stop: 'echo stopped >> stops.log' });
      const request = startRequest(new TextEncoder().encode('x'), 'op-start');
      const first = await t.start(request);
      assert.deepEqual(await t.start(request), first);
      assert.equal(readFileSync(path.join(dir, 'starts.log'), 'utf8'), 'started\n');
      assert.equal(await t.stop({ ...first, handle: 'someone-else' }), false);
      assert.equal(await t.stop(deployment(A)), false);
      assert.equal(existsSync(path.join(dir, 'stops.log')), false, 'stop did not run for deployments that are not ours');
      assert.equal(await t.stop(first), true);
      assert.equal(await t.stop(first), false);
      assert.equal(readFileSync(path.join(dir, 'stops.log'), 'utf8'), 'stopped\n');
    });

    it('refuses an artifact whose bytes do not hash to the release’s digest', async () => {
      const { target: t } = target({ start: 'true' });
      const request = startRequest(new TextEncoder().encode('x'), 'op');
      await rejectsWith(t.start({ ...request, artifact: new TextEncoder().encode('y') }), 'DEPLOY_ARTIFACT_INVALID');
    });

    it('fails with DEPLOY_COMMAND_STATE (internal) on a record it did not write', async () => {
      const { target: t, dir } = target({ shift: 'true' });
      writeFileSync(path.join(dir, 'cairn-command-target.json'), '{"starts": [], "environments": {}}');
      const apply = async () => (await t.traffic('dev', deployment(A), deployment(B))).apply({ opId: 'op', epoch: 1, seq: 1, weight: 1 });
      const error = await rejectsWith(apply(), 'DEPLOY_COMMAND_STATE');
      assert.equal(error.category, 'internal');
    });

    it('refuses an order outside the domain before running anything', async () => {
      const { target: t } = target({ shift: 'true' });
      const traffic = await t.traffic('dev', deployment(A), deployment(B));
      await assert.rejects(traffic.apply({ opId: 'op', epoch: 1, seq: 1, weight: 101 }), RangeError);
      await assert.rejects(traffic.apply({ opId: 'has space', epoch: 1, seq: 1, weight: 1 }), RangeError);
      await assert.rejects(traffic.apply({ opId: 'op', epoch: -1, seq: 1, weight: 1 }), RangeError);
    });
  });
});
