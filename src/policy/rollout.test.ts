import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPair, privateKeyFromPem, publicKeyFromPem } from '../crypto/keys.js';
import type { DsseEnvelope } from '../model/attestation.js';
import type { Actor } from '../model/audit.js';
import type { Digest } from '../model/digest.js';
import { signTestResult, testResultStatement } from './attestation.js';
import { type BundleDocument, bundleRef, signBundle } from './bundle.js';
import { PolicyError } from './errors.js';
import { evaluateGate } from './gate.js';
import { bundle, bundleDocument, PROD, release, simplePolicy } from './kit.test.js';
import { MemoryPolicyRegistry, type PolicyRegistry } from './registry.js';
import {
  applyRollout,
  bundleByDigest,
  diffEnforcement,
  gateBundle,
  planActivation,
  planRollback,
  readRollout,
  replayedDecisions,
  rollbackTarget,
  verifyHistory,
} from './rollout.js';
import { defaultBundle } from './default.js';
import type { TestReport } from './testing.js';

const SIGNER = generateKeyPair();
const KEY = privateKeyFromPem(SIGNER.privateKeyPem);
const PUB = publicKeyFromPem(SIGNER.publicKeyPem);
const OTHER = generateKeyPair();
const OTHER_KEY = privateKeyFromPem(OTHER.privateKeyPem);
const ACTOR: Actor = { identity: 'alice@example.com', purpose: 'test' };
const T0 = new Date('2026-03-01T00:00:00Z');

function manifest(version: number): string {
  return `apiVersion: cairn.dev/v1\nkind: PolicyBundle\nmetadata: { name: gate, version: ${version} }\n`;
}

const BASE = simplePolicy('prov', 'input.provenance.verified');
const VULNS_V1 = simplePolicy('vulns', '!input.findings.exists(f, f.severity == "critical")');
const VULNS_V2 = `---
apiVersion: cairn.dev/v1
kind: Policy
metadata: { name: vulns, version: 2 }
spec:
  decisionPoint: deploy
  validations:
    - id: vulns-check
      expression: '!input.findings.exists(f, f.severity in ["critical", "high"])'
`;
const withCandidate = (expected: string, min = 2) =>
  VULNS_V1.replace(
    '  actions:',
    `  candidate:\n    policyRef: { name: vulns, version: 2 }\n    expectedChanges: [${expected}]\n  minShadowDecisions: ${min}\n  actions:`,
  ) + VULNS_V2;
const promoted = (min = 2) =>
  VULNS_V1.replace('policyRef: { name: vulns, version: 1 }', 'policyRef: { name: vulns, version: 2 }')
    .replace('  actions:', `  minShadowDecisions: ${min}\n  actions:`)
    .replace(/apiVersion: cairn.dev\/v1\nkind: Policy\nmetadata: \{ name: vulns, version: 1 \}[\s\S]*?---\n/, '') + VULNS_V2;

function doc(version: number, ...yaml: string[]): BundleDocument {
  return bundleDocument(manifest(version), ...yaml);
}

function attestation(d: BundleDocument, result: 'PASSED' | 'FAILED' = 'PASSED', key = KEY): DsseEnvelope {
  const report = {
    bundle: bundleRef(d),
    result,
    tests: [
      {
        file: 't.yaml',
        name: 't',
        cases: [{ name: 'c', passed: result === 'PASSED', failures: [], decisionId: null, allow: null, violations: [], variables: [] }],
      },
    ],
    coverage: { total: 1, covered: 1, percent: 100, threshold: 100, enforced: true, ok: true, validations: [] },
    counts: { cases: 1, passed: 1, failed: 0, skipped: 0 },
  } as TestReport;
  return signTestResult(testResultStatement(report, [{ path: 't.yaml', digest: bundleRef(d).digest }]), [key]);
}

async function refused(promise: Promise<unknown> | (() => unknown), code: string): Promise<PolicyError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    assert.ok(error instanceof PolicyError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

async function activate(
  registry: PolicyRegistry,
  d: BundleDocument,
  action: 'activate' | 'promote' = 'activate',
  extra: { attestation?: DsseEnvelope; minDecisions?: number; audit?: unknown[] } = {},
) {
  const state = await readRollout(registry, [PUB]);
  const decisions = action === 'promote' && state.current ? (await replayedDecisions(registry, state.current)).verified : [];
  const plan = planActivation(state, {
    action,
    bundleEnvelope: signBundle(d, [KEY]),
    attestation: extra.attestation ?? attestation(d),
    trustedKeys: [PUB],
    actor: ACTOR,
    now: T0,
    decisions,
    ...(extra.minDecisions !== undefined ? { minDecisions: extra.minDecisions } : {}),
  });
  return applyRollout(registry, plan, [KEY], extra.audit ? (...args) => extra.audit?.push(args) : undefined).then((applied) => ({ plan, applied }));
}

/** Evaluates and stores a decision under the active bundle, as the gate would. */
async function decide(registry: PolicyRegistry, findings: { severity: 'critical' | 'high' | 'medium' }[], environment = 'production', at = 0): Promise<void> {
  const current = (await readRollout(registry, [PUB])).current;
  assert.ok(current);
  const input = release((r) => {
    for (const [i, f] of findings.entries())
      r.findings.push({
        ruleId: 'osv-vulnerability',
        severity: f.severity,
        message: `m${i}`,
        location: { file: 'package-lock.json', line: i + 1 },
        evidence: {},
        fingerprint: `f${i}`,
      });
  });
  const d = evaluateGate(input, current, { ...PROD, environment, now: new Date(T0.getTime() + at) });
  await registry.putDecision(d, input);
}

describe('activation', () => {
  it('makes a signed bundle with a PASSED test attestation active, and reports it to the audit hook', async () => {
    const registry = new MemoryPolicyRegistry();
    const d = doc(1, BASE);
    const audit: unknown[] = [];
    const { plan, applied } = await activate(registry, d, 'activate', { audit });
    assert.equal(plan.record.seq, 1);
    assert.equal(plan.record.action, 'activate');
    assert.equal(plan.record.previous, null);
    assert.deepEqual(
      plan.record.changes.map((c) => [c.binding, c.point, c.environment, c.to?.action, c.tightens]),
      [['prov', 'deploy', '*', 'deny', true]],
    );
    assert.deepEqual(audit, [['policy.activate', [bundleRef(d).digest], applied.recordDigest]]);
    assert.equal((await readRollout(registry, [PUB])).current?.ref.digest, bundleRef(d).digest);
  });

  it('refuses a bundle not signed by a trusted key', async () => {
    const state = await readRollout(new MemoryPolicyRegistry(), [PUB]);
    const d = doc(1, BASE);
    await refused(
      () =>
        planActivation(state, {
          action: 'activate',
          bundleEnvelope: signBundle(d, [OTHER_KEY]),
          attestation: attestation(d),
          trustedKeys: [PUB],
          actor: ACTOR,
          now: T0,
        }),
      'POLICY_BUNDLE_SIGNATURE',
    );
  });

  it('refuses without a PASSED, trusted test attestation naming exactly this bundle', async () => {
    const state = await readRollout(new MemoryPolicyRegistry(), [PUB]);
    const d = doc(1, BASE);
    const request = (a: DsseEnvelope) => () =>
      planActivation(state, { action: 'activate', bundleEnvelope: signBundle(d, [KEY]), attestation: a, trustedKeys: [PUB], actor: ACTOR, now: T0 });
    assert.match(
      (await refused(request(attestation(doc(1, BASE, simplePolicy('x', 'true')))), 'POLICY_TEST_ATTESTATION')).message,
      /no subject names the bundle digest/,
    );
    assert.match((await refused(request(attestation(d, 'FAILED')), 'POLICY_TEST_ATTESTATION')).message, /did not pass/);
    assert.match((await refused(request(attestation(d, 'PASSED', OTHER_KEY)), 'POLICY_TEST_ATTESTATION')).message, /not signed by a trusted policy key/);
  });

  it('refuses an exception approved after the activation time, so none reaches past 90 days from now', async () => {
    const exception = `apiVersion: cairn.dev/v1
kind: PolicyException
metadata: { name: later }
spec:
  policyRefs: [{ name: prov, validations: [prov-check] }]
  reason: r
  approvedBy: [bob@example.com]
  approvedAt: 2026-03-02T00:00:00Z
  expiresAt: 2026-05-30T00:00:00Z
`;
    const e = await refused(activate(new MemoryPolicyRegistry(), doc(1, BASE, exception)), 'POLICY_BUNDLE_INVALID');
    assert.match(e.message, /later \(2026-03-02T00:00:00Z\)/);
  });

  it('refuses a version that is not above every version activated before', async () => {
    const registry = new MemoryPolicyRegistry();
    await activate(registry, doc(2, BASE));
    await refused(activate(registry, doc(2, BASE, simplePolicy('x', 'true', { action: 'warn' }))), 'POLICY_DOWNGRADE');
    await refused(activate(registry, doc(1, BASE)), 'POLICY_DOWNGRADE');
  });

  it('allows changes that deny nothing new without shadow evidence: a candidate, a warn binding', async () => {
    const registry = new MemoryPolicyRegistry();
    await activate(registry, doc(1, BASE, VULNS_V1));
    const { plan } = await activate(registry, doc(2, BASE, withCandidate('vulns-check'), simplePolicy('x', 'false', { action: 'warn' })));
    assert.deepEqual(
      plan.record.changes.map((c) => [c.binding, c.tightens]),
      [['x', false]],
    );
  });

  it('requires promotion for anything that starts denying with a policy or params not denying before', async () => {
    const registry = new MemoryPolicyRegistry();
    await activate(registry, doc(1, BASE, simplePolicy('x', 'false', { action: 'warn' })));
    const e = await refused(activate(registry, doc(2, BASE, simplePolicy('x', 'false'))), 'POLICY_PROMOTION_REQUIRED');
    assert.match(e.message, /x at deploy\/\*: warn x@1 → deny x@1/);
  });
});

describe('promotion', () => {
  async function shadowing(min = 2): Promise<MemoryPolicyRegistry> {
    const registry = new MemoryPolicyRegistry();
    await activate(registry, doc(1, BASE, VULNS_V1));
    await activate(registry, doc(2, BASE, withCandidate('vulns-check', min)));
    return registry;
  }

  it('refuses with fewer shadow decisions than the binding requires', async () => {
    const registry = await shadowing(3);
    await decide(registry, [{ severity: 'high' }], 'production', 1);
    await decide(registry, [], 'production', 2);
    const e = await refused(activate(registry, doc(3, BASE, promoted(3)), 'promote'), 'POLICY_SHADOW_INSUFFICIENT');
    assert.match(e.message, /2 shadow decision\(s\), 3 required/);
  });

  it('lets --min-decisions raise the requirement, never lower it', async () => {
    const registry = await shadowing(2);
    await decide(registry, [], 'production', 1);
    await decide(registry, [], 'production', 2);
    await refused(activate(registry, doc(3, BASE, promoted(2)), 'promote', { minDecisions: 5 }), 'POLICY_SHADOW_INSUFFICIENT');
    await activate(registry, doc(3, BASE, promoted(2)), 'promote', { minDecisions: 1 });
  });

  it('refuses when a divergence is outside the expected changes', async () => {
    const registry = new MemoryPolicyRegistry();
    await activate(registry, doc(1, BASE, VULNS_V1));
    await activate(registry, doc(2, BASE, withCandidate('')));
    await decide(registry, [{ severity: 'high' }], 'production', 1);
    await decide(registry, [], 'production', 2);
    const e = await refused(activate(registry, doc(3, BASE, promoted()), 'promote'), 'POLICY_SHADOW_INSUFFICIENT');
    assert.match(e.message, /1 unexplained divergence/);
  });

  it('promotes with enough clean shadow decisions and records the evidence', async () => {
    const registry = await shadowing(2);
    await decide(registry, [{ severity: 'high' }], 'production', 1);
    await decide(registry, [{ severity: 'medium' }], 'production', 2);
    const { plan } = await activate(registry, doc(3, BASE, promoted()), 'promote');
    assert.equal(plan.record.action, 'promote');
    assert.deepEqual(
      plan.record.shadowEvidence.map((s) => [s.binding, s.environment, s.decisions, s.required, s.unexplained]),
      [['vulns', '*', 2, 2, 0]],
    );
    const active = (await readRollout(registry, [PUB])).current;
    assert.equal(active?.bindings.find((b) => b.name === 'vulns')?.active.policy.version, 2);
  });

  it('counts only decisions that replay byte for byte', async () => {
    const registry = await shadowing(2);
    await decide(registry, [], 'production', 1);
    const current = (await readRollout(registry, [PUB])).current;
    assert.ok(current);
    const input = release();
    const forged = evaluateGate(input, current, { ...PROD, now: new Date(T0.getTime() + 2) });
    await registry.putDecision({ ...forged, shadow: [] }, input);
    const { verified, rejected } = await replayedDecisions(registry, current);
    assert.equal(verified.length, 1);
    assert.deepEqual(rejected, [forged.id]);
    await refused(activate(registry, doc(3, BASE, promoted()), 'promote'), 'POLICY_SHADOW_INSUFFICIENT');
  });

  it('promotes warn to deny on decisions where the binding ran in warn without error', async () => {
    const registry = new MemoryPolicyRegistry();
    const warn = simplePolicy('vulns', '!input.findings.exists(f, f.severity == "critical")', { action: 'warn' }).replace(
      '  actions:',
      '  minShadowDecisions: 2\n  actions:',
    );
    await activate(registry, doc(1, BASE, warn));
    await decide(registry, [{ severity: 'critical' }], 'production', 1);
    await decide(registry, [], 'production', 2);
    const { plan } = await activate(registry, doc(2, BASE, warn.replace('action: warn', 'action: deny')), 'promote');
    assert.equal(plan.record.shadowEvidence[0]?.decisions, 2);
  });
});

describe('rollback', () => {
  it('re-points to the previous bundle with a signed record that names the reason and reuses its test attestation', async () => {
    const registry = new MemoryPolicyRegistry();
    const v1 = doc(1, BASE);
    await activate(registry, v1);
    await activate(registry, doc(2, BASE, simplePolicy('x', 'true', { action: 'warn' })));
    const state = await readRollout(registry, [PUB]);
    const target = rollbackTarget(state.history);
    assert.equal(target.record.bundle.digest, bundleRef(v1).digest);
    await refused(
      () => planRollback(state, { target, bundleEnvelope: signBundle(v1, [KEY]), trustedKeys: [PUB], actor: ACTOR, now: T0 }),
      'POLICY_ROLLBACK_TARGET',
    );
    const plan = planRollback(state, { target, bundleEnvelope: signBundle(v1, [KEY]), trustedKeys: [PUB], actor: ACTOR, now: T0, reason: 'SEC-9' });
    const audit: unknown[] = [];
    const applied = await applyRollout(registry, plan, [KEY], (...args) => audit.push(args));
    assert.deepEqual([plan.record.action, plan.record.reason, plan.record.previous?.version], ['rollback', 'SEC-9', 2]);
    assert.deepEqual(plan.record.testResult, target.record.testResult);
    assert.deepEqual(audit, [['policy.rollback', [bundleRef(v1).digest, plan.record.previous?.digest], applied.recordDigest]]);
    const after = await readRollout(registry, [PUB]);
    assert.equal(after.current?.ref.version, 1);
    assert.equal(after.history.length, 3);
  });

  it('walks back past earlier rollbacks, and refuses a "rollback" forward or to a bundle never active', async () => {
    const registry = new MemoryPolicyRegistry();
    for (const v of [1, 2, 3]) await activate(registry, doc(v, BASE, simplePolicy(`p${v}`, 'true', { action: 'warn' })));
    let state = await readRollout(registry, [PUB]);
    const toV2 = rollbackTarget(state.history);
    const envelope = (await registry.getBundle(toV2.record.bundle.digest)) as DsseEnvelope;
    await applyRollout(registry, planRollback(state, { target: toV2, bundleEnvelope: envelope, trustedKeys: [PUB], actor: ACTOR, now: T0, reason: 'r' }), [
      KEY,
    ]);
    state = await readRollout(registry, [PUB]);
    assert.equal(rollbackTarget(state.history).record.bundle.version, 1);
    const v3 = state.history[2]?.record.bundle.digest as Digest;
    await refused(() => rollbackTarget(state.history, v3), 'POLICY_ROLLBACK_TARGET');
    await refused(() => rollbackTarget(state.history, `sha256:${'1'.repeat(64)}`), 'POLICY_ROLLBACK_TARGET');
  });

  it('has nothing to roll back before the first activation', async () => {
    await refused(() => rollbackTarget([]), 'POLICY_NO_ACTIVE');
  });
});

describe('the rollout history', () => {
  async function threeRecords() {
    const registry = new MemoryPolicyRegistry();
    for (const v of [1, 2, 3]) await activate(registry, doc(v, BASE, simplePolicy(`p${v}`, 'true', { action: 'warn' })));
    return { history: await registry.history(), head: await registry.active() };
  }

  it('verifies when untouched', async () => {
    const { history, head } = await threeRecords();
    assert.equal(verifyHistory(history, head, [PUB]).length, 3);
  });

  it('refuses an active pointer moved back to an older record (a downgrade without a rollback record)', async () => {
    const { history, head } = await threeRecords();
    assert.ok(head);
    const older = verifyHistory(history, head, [PUB])[1];
    await refused(() => verifyHistory(history, { seq: 2, recordDigest: older?.digest as Digest }, [PUB]), 'POLICY_HISTORY_INVALID');
    await refused(() => verifyHistory(history.slice(0, 2), head, [PUB]), 'POLICY_HISTORY_INVALID');
  });

  it('refuses a record signed by an untrusted key, a removed record and a reordered history', async () => {
    const { history, head } = await threeRecords();
    await refused(() => verifyHistory(history, head, [publicKeyFromPem(OTHER.publicKeyPem)]), 'POLICY_HISTORY_INVALID');
    await refused(() => verifyHistory([history[0], history[2]] as DsseEnvelope[], head, [PUB]), 'POLICY_HISTORY_INVALID');
    await refused(() => verifyHistory([history[1], history[0], history[2]] as DsseEnvelope[], head, [PUB]), 'POLICY_HISTORY_INVALID');
  });
});

describe('diffEnforcement', () => {
  it('compares per environment named in either bundle, plus every other environment', () => {
    const a = bundle(simplePolicy('p', 'true'));
    const b = bundle(
      simplePolicy('p', 'true').replace(
        '    - { point: deploy, action: deny }',
        '    - { point: deploy, environments: [dev], action: warn }\n    - { point: deploy, action: deny }',
      ),
    );
    assert.deepEqual(
      diffEnforcement(a, b).map((c) => [c.environment, c.from?.action, c.to?.action, c.tightens]),
      [['dev', 'deny', 'warn', false]],
    );
  });
});

describe('gateBundle and bundleByDigest', () => {
  it('decide with the shipped default set until a bundle is activated, then with the active one', async () => {
    const registry = new MemoryPolicyRegistry();
    assert.equal((await gateBundle(registry, [PUB])).ref.digest, defaultBundle().ref.digest);
    const d = doc(1, BASE);
    await activate(registry, d);
    assert.equal((await gateBundle(registry, [PUB])).ref.digest, bundleRef(d).digest);
  });

  it("find a decision's bundle in the registry or as the shipped default, else null", async () => {
    const registry = new MemoryPolicyRegistry();
    const d = doc(1, BASE);
    await activate(registry, d);
    assert.equal((await bundleByDigest(registry, bundleRef(d).digest, [PUB]))?.ref.version, 1);
    assert.equal((await bundleByDigest(registry, defaultBundle().ref.digest, [PUB]))?.ref.name, 'default');
    assert.equal(await bundleByDigest(registry, `sha256:${'2'.repeat(64)}`, [PUB]), null);
  });
});
