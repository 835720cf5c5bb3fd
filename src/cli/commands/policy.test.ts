import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cli, REPO_ROOT, useScratch } from '../../testkit.js';

const scratch = useScratch();
const DEFAULT_DIR = path.join(REPO_ROOT, 'policies/default');
const FIXTURE = path.join(DEFAULT_DIR, 'tests/fixtures/release.json');
const NOW = '2026-03-01T00:00:00Z';

function compose(version: 'v2' | 'v3'): string {
  const dir = scratch();
  cpSync(DEFAULT_DIR, dir, { recursive: true });
  cpSync(path.join(REPO_ROOT, 'examples/policy-rollout', version), dir, { recursive: true });
  return dir;
}

function withHigh(dir: string, name: string): string {
  const input = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { findings: unknown[] };
  input.findings.push({
    ruleId: 'osv-vulnerability',
    severity: 'high',
    message: `GHSA-${name}: high`,
    package: { name, version: '1.0.0' },
    location: { file: 'package-lock.json', line: 1 },
    evidence: {},
    fingerprint: name,
  });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(input));
  return file;
}

describe('cairn policy', () => {
  it('tests, signs, activates, shadows, promotes, enforces, replays and rolls back a policy change', async () => {
    const work = scratch();
    const state = path.join(work, 'state');
    const run = (...args: string[]) => cli([...args, '--state', state], { cwd: work });
    const file = (name: string) => path.join(work, name);

    const tested = await run('policy', 'test', DEFAULT_DIR, '--attest', file('t1.json'), '--junit', file('junit.xml'), '--report', file('report.json'));
    assert.equal(tested.code, 0, tested.stderr);
    assert.match(tested.stdout, /coverage: 12\/12 validations seen passing and failing \(100%, threshold 100%\)/);
    assert.match(readFileSync(file('junit.xml'), 'utf8'), /<testsuite name="provenance" file="tests\/provenance.test.yaml"/);
    assert.equal((JSON.parse(readFileSync(file('report.json'), 'utf8')) as { result: string }).result, 'PASSED');
    assert.equal((await run('policy', 'bundle', DEFAULT_DIR, '--out', file('b1.json'))).code, 0);

    const activated = await run('policy', 'activate', file('b1.json'), '--attestation', file('t1.json'), '--reason', 'initial', '--json');
    assert.equal(activated.code, 0, activated.stderr);
    const record = activated.events().find((e) => e.type === 'policy-record') as { audit: { action: string; subjects: string[] } } | undefined;
    assert.equal(record?.audit.action, 'policy.activate');

    const allowed = await run('policy', 'eval', '--input', FIXTURE, '--environment', 'production', '--now', NOW, '--json');
    assert.equal(allowed.code, 0, allowed.stderr);
    const decision = (allowed.events()[0] as { decision: { id: string; allow: boolean } }).decision;
    assert.equal(decision.allow, true);
    assert.equal((await run('policy', 'replay', decision.id)).code, 0);

    // v2 runs vulnerabilities@2 in shadow; it may be activated without shadow evidence.
    const v2 = compose('v2');
    assert.equal((await run('policy', 'test', v2, '--attest', file('t2.json'))).code, 0);
    assert.equal((await run('policy', 'bundle', v2, '--out', file('b2.json'))).code, 0);
    assert.equal((await run('policy', 'activate', file('b2.json'), '--attestation', file('t2.json'))).code, 0);
    for (const [i, name] of ['ms', 'qs', 'debug'].entries()) {
      const r = await run('policy', 'eval', '--input', withHigh(work, name), '--environment', 'production', '--now', `2026-03-0${i + 2}T00:00:00Z`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /shadow vulnerabilities → vulnerabilities@2: explained divergence on no-critical-vulnerability \(pass → fail\)/);
    }
    const report = await run('policy', 'shadow-report');
    assert.match(
      report.stdout,
      /candidate vulnerabilities: vulnerabilities@1 → vulnerabilities@2: 3\/3 decisions, 3 divergent, 0 unexplained — ready to promote/,
    );

    // v3 enforces it: activation is refused, promotion checks the shadow decisions.
    const v3 = compose('v3');
    assert.equal((await run('policy', 'test', v3, '--attest', file('t3.json'))).code, 0);
    assert.equal((await run('policy', 'bundle', v3, '--out', file('b3.json'))).code, 0);
    const plain = await run('policy', 'activate', file('b3.json'), '--attestation', file('t3.json'));
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /POLICY_PROMOTION_REQUIRED/);
    const dry = await run('policy', 'promote', file('b3.json'), '--attestation', file('t3.json'), '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /shadow evidence vulnerabilities at deploy\/\*: 3 decisions \(3 required\), 0 unexplained\ndry run: nothing changed/);
    assert.equal((await run('policy', 'promote', file('b3.json'), '--attestation', file('t3.json'), '--reason', 'high blocks')).code, 0);
    const denied = await run('policy', 'eval', '--input', withHigh(work, 'lodash'), '--environment', 'production', '--now', NOW, '--json');
    assert.equal(denied.code, 1);
    const deniedId = (denied.events()[0] as { decision: { id: string } }).decision.id;

    // A stored decision replays byte for byte; altered, it does not.
    assert.equal((await run('policy', 'replay', deniedId)).code, 0);
    const stored = path.join(state, 'policy', 'decisions', `${deniedId}.json`);
    writeFileSync(stored, readFileSync(stored, 'utf8').replace('"allow":false', '"allow":true'));
    const mismatch = await run('policy', 'replay', deniedId);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /POLICY_REPLAY_MISMATCH: decision dec_[0-9a-f]{24} does not replay byte for byte:\n {2}allow: true → false/);

    // Rollback needs a reason, leaves a signed record, and older versions stay refused.
    assert.equal((await run('policy', 'rollback')).code, 2);
    const rolled = await run('policy', 'rollback', '--reason', 'SEC-99', '--json');
    assert.equal(rolled.code, 0, rolled.stderr);
    const rollbackRecord = rolled.events().find((e) => e.type === 'policy-record') as {
      record: { action: string; bundle: { version: number } };
      audit: { action: string };
    };
    assert.deepEqual([rollbackRecord.record.action, rollbackRecord.record.bundle.version, rollbackRecord.audit.action], ['rollback', 2, 'policy.rollback']);
    const downgrade = await run('policy', 'activate', file('b1.json'), '--attestation', file('t1.json'));
    assert.equal(downgrade.code, 1);
    assert.match(downgrade.stderr, /POLICY_DOWNGRADE/);
    const status = await run('policy', 'status');
    assert.match(status.stdout, /active default@2 .*\(record #4\)/);
    assert.match(status.stdout, /#4 .* rollback default@2 .* — SEC-99/);
    // Every change of the active policy is in the audit log, bound to the actor and purpose.
    const log = await run('audit', 'log', '--json');
    const policyEvents = log.events().filter((e) => String(e.action).startsWith('policy.'));
    assert.deepEqual(
      policyEvents.map((e) => e.action),
      ['policy.activate', 'policy.activate', 'policy.promote', 'policy.rollback'],
    );
    const rollbackEvent = policyEvents.at(-1) as { payloadDigest: string; actor: { purpose: string } };
    assert.equal(rollbackEvent.payloadDigest, (rolled.events().find((e) => e.type === 'policy-record') as { recordDigest: string }).recordDigest);
    assert.equal((await run('audit', 'verify')).code, 0);
  });

  it('exits 1 when a test fails, and refuses an attestation for another bundle', async () => {
    const work = scratch();
    const state = path.join(work, 'state');
    const run = (...args: string[]) => cli([...args, '--state', state], { cwd: work });
    const broken = scratch();
    cpSync(DEFAULT_DIR, broken, { recursive: true });
    const sbomTest = path.join(broken, 'tests/release.test.yaml');
    writeFileSync(
      sbomTest,
      readFileSync(sbomTest, 'utf8').replace("'^no SBOM for this artifact$'", () => "'^no software bill'"),
    );
    const failed = await run('policy', 'test', broken, '--attest', path.join(work, 't.json'));
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /FAIL release \/ a release without an SBOM is denied\n {7}expected a violation of sbom\/sbom-present with a message matching/);
    assert.match(failed.stderr, /POLICY_TEST_FAILED/);
    // The attestation records the failure; activation refuses it.
    assert.ok(existsSync(path.join(work, 't.json')));
    assert.equal((await run('policy', 'bundle', broken, '--out', path.join(work, 'b.json'))).code, 0);
    const refused = await run('policy', 'activate', path.join(work, 'b.json'), '--attestation', path.join(work, 't.json'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /POLICY_TEST_ATTESTATION: .*did not pass/);
  });

  it('decides with the shipped default set before any activation, and replays that decision', async () => {
    const state = scratch();
    const r = await cli(['policy', 'eval', '--input', FIXTURE, '--environment', 'production', '--now', NOW, '--default', '--json', '--state', state]);
    assert.equal(r.code, 0, r.stderr);
    const event = r.events()[0] as { source: string; decision: { id: string; bundle: { name: string } } };
    assert.deepEqual([event.source, event.decision.bundle.name], ['default', 'default']);
    assert.equal((await cli(['policy', 'replay', event.decision.id, '--state', state])).code, 0);
  });

  it('refuses bad usage with exit 2', async () => {
    const state = scratch();
    assert.equal((await cli(['policy', 'eval', '--input', FIXTURE, '--state', state])).code, 2);
    assert.equal((await cli(['policy', 'eval', '--input', FIXTURE, '--environment', 'prod', '--state', state])).code, 2, 'no bundle is active');
    assert.equal((await cli(['policy', 'test', DEFAULT_DIR, '--min-coverage', '101', '--state', state])).code, 2);
    assert.equal((await cli(['policy', 'test', DEFAULT_DIR, '--run', 'x', '--attest', 'a.json', '--state', state])).code, 2);
  });
});
