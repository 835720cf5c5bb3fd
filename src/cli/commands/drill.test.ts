import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cli, useScratch } from '../../testkit.js';

const scratch = useScratch();

describe('cairn drill rollback', () => {
  it('rolls the faulty v2 back automatically and reports v1 running', async () => {
    const cwd = scratch();
    const result = await cli(['drill', 'rollback', '--json', '--state', `${cwd}/.cairn`], { cwd });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const last = result.events().at(-1) as Record<string, unknown>;
    assert.equal(last.type, 'drill');
    assert.equal(last.rolledBack, true);
    assert.equal(last.runningDigest, last.expectedDigest);
    assert.match(String(last.expectedDigest), /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(last.faultyDigest, last.expectedDigest);
    assert.ok(typeof last.requestsToDetect === 'number' && last.requestsToDetect > 0);
    assert.ok(typeof last.secondsToRollback === 'number' && last.secondsToRollback >= 0);
    const actions = (last.audit as { action: string; index: number }[]).map((a) => a.action);
    assert.equal(actions[0], 'deploy.plan', 'the plan is audited before anything else');
    assert.ok(actions.includes('deploy.rollback.done'));
    assert.equal(last.auditVerified, true);
    assert.equal(last.auditedRollback, true);
  });
});
