import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalDigest, canonicalize } from '../crypto/jcs.js';
import { gateInputFromJSON } from './evidence.js';
import { EVAL_CODES } from './errors.js';
import { decisionId, evaluateGate, gateDecisionOf, type PolicyDecision } from './gate.js';
import { defaultBundle } from './default.js';
import { EVALUATOR } from './kernel.js';
import { EVALUATION_LIMITS } from './limits.js';
import { bundle, NOW, PROD, release, releaseJson, simplePolicy } from './kit.test.js';
import { replayDecision } from './replay.js';

const CRITICAL = {
  ruleId: 'osv-vulnerability',
  severity: 'critical' as const,
  message: 'GHSA-xxxx-yyyy-zzzz: openssl',
  package: { name: 'openssl', version: '3.0.1' },
  location: { file: 'package-lock.json', line: 7 },
  evidence: { advisory: 'GHSA-xxxx-yyyy-zzzz' },
  fingerprint: 'f-crit',
};

function results(decision: PolicyDecision, binding: string) {
  return decision.evaluations.find((e) => e.binding === binding)?.results.map((r) => [r.validation, r.result]) ?? [];
}

describe('evaluateGate with the default policy set', () => {
  const defaults = defaultBundle();

  it('allows a proven release, passing every validation of every binding', () => {
    const d = evaluateGate(release(), defaults, PROD);
    assert.equal(d.allow, true);
    assert.deepEqual(d.violations, []);
    assert.equal(d.counts.pass, 12);
    assert.equal(d.enforcing, 7);
  });

  it('denies a release that nobody rebuilt independently', () => {
    const d = evaluateGate(
      release((r) => {
        r.rebuild.rebuilderKeyid = r.provenance.keyids[0] ?? null;
      }),
      defaults,
      PROD,
    );
    assert.equal(d.allow, false);
    assert.deepEqual(
      d.violations.map((v) => [v.binding, v.validation, v.result, v.action]),
      [['rebuild', 'rebuild-independent', 'fail', 'deny']],
    );
    assert.match(d.violations[0]?.message ?? '', /not independent/);
  });

  it('denies a critical vulnerability, a lockfile-tampering finding and a leaked secret', () => {
    const d = evaluateGate(
      release((r) => {
        r.findings.push(
          CRITICAL,
          { ...CRITICAL, ruleId: 'lockfile-sha1-integrity', severity: 'high', fingerprint: 'f2' },
          { ...CRITICAL, ruleId: 'secret-github-token', severity: 'critical', fingerprint: 'f3' },
        );
      }),
      defaults,
      PROD,
    );
    assert.deepEqual(d.violations.map((v) => v.validation).sort(), ['no-critical-vulnerability', 'no-leaked-secret', 'no-lockfile-tampering']);
  });

  it('reads only the clock it is given: the same input and now give the same decision and id', () => {
    const a = evaluateGate(release(), defaults, PROD);
    const b = evaluateGate(gateInputFromJSON(JSON.parse(JSON.stringify(releaseJson()))), defaults, { ...PROD, now: new Date(NOW.getTime()) });
    assert.equal(canonicalize(b), canonicalize(a));
    assert.match(a.id, /^dec_[0-9a-f]{24}$/);
    const { id, ...body } = a;
    assert.equal(decisionId(body), id);
    assert.notEqual(evaluateGate(release(), defaults, { ...PROD, now: new Date(NOW.getTime() + 1) }).id, id);
    assert.notEqual(evaluateGate(release(), defaults, { ...PROD, environment: 'staging' }).id, id);
  });

  it('records the evaluator, the bundle and the digest of the canonical input', () => {
    const input = release();
    const d = evaluateGate(input, defaults, PROD);
    assert.equal(d.evaluator, EVALUATOR);
    assert.deepEqual(d.bundle, defaults.ref);
    assert.equal(d.inputDigest, canonicalDigest(input));
    assert.equal(d.decidedAt, '2026-03-01T00:00:00.000Z');
    assert.ok(d.evaluations.every((e) => e.bindingDigest.startsWith('sha256:') && e.policyDigest.startsWith('sha256:')));
  });

  it('does not modify its input', () => {
    const input = release();
    const before = JSON.stringify(input);
    evaluateGate(input, defaults, PROD);
    assert.equal(JSON.stringify(input), before);
  });

  it('replays byte for byte from the stored JSON of its input', () => {
    const input = release((r) => r.findings.push(CRITICAL));
    const d = evaluateGate(input, defaults, PROD);
    const stored = JSON.parse(JSON.stringify({ decision: d, input }));
    const replay = replayDecision({ decision: stored.decision, input: gateInputFromJSON(stored.input) }, defaults);
    assert.equal(replay.identical, true, replay.differences.join('\n'));
  });

  it('names what differs when a stored decision was altered', () => {
    const input = release();
    const d = evaluateGate(input, defaults, PROD);
    const replay = replayDecision({ decision: { ...d, allow: false }, input }, defaults);
    assert.equal(replay.identical, false);
    assert.deepEqual(replay.differences, ['allow: false → true']);
  });

  it('denies input over a cap with an error in every validation, never an exception thrown', () => {
    const findings = Array.from({ length: 10_001 }, (_, i) => ({ ...CRITICAL, fingerprint: `f${i}` }));
    const d = evaluateGate({ ...release(), findings }, defaults, PROD);
    assert.equal(d.allow, false);
    assert.deepEqual(d.inputError, { path: 'findings', message: 'list longer than 10000 elements' });
    assert.equal(d.counts.error, 12);
    assert.ok(d.evaluations.every((e) => e.results.every((r) => r.code === EVAL_CODES.input)));
  });

  it('gives the skeleton GateDecision view with the same id, one rule per enforced validation', () => {
    const d = evaluateGate(release(), defaults, PROD);
    const g = gateDecisionOf(d);
    assert.equal(g.id, d.id);
    assert.equal(g.rules.length, 12);
    assert.ok(g.rules.some((r) => r.id === 'provenance/provenance-verified' && r.outcome === 'pass'));
  });
});

describe('evaluateGate semantics', () => {
  it('marks every validation notApplicable when a matchCondition is false', () => {
    const b = bundle(
      simplePolicy('prod', 'false', { extra: '  matchConditions:\n    - { name: prod-only, expression: environment == "production" }\n' }),
      simplePolicy('always', 'true'),
    );
    const d = evaluateGate(release(), b, { ...PROD, environment: 'dev' });
    assert.deepEqual(results(d, 'prod'), [['prod-check', 'notApplicable']]);
    assert.equal(d.allow, true);
    assert.equal(evaluateGate(release(), b, PROD).allow, false);
  });

  it('counts an evaluation error as a violation (failurePolicy Fail) and denies', () => {
    const d = evaluateGate(release(), bundle(simplePolicy('e', 'input.findings[99].ruleId == "x"')), PROD);
    assert.equal(d.allow, false);
    assert.equal(d.violations[0]?.result, 'error');
    assert.equal(d.violations[0]?.action, 'deny');
    assert.match(d.violations[0]?.message ?? '', /at 1:\d+/);
  });

  it('binds params with their declared CEL types: a double stays a double when integral', () => {
    const policy = simplePolicy('p', 'params.ratio * 1.5 == 3.0 && params.count + 1 == 3', {
      extra: '  params:\n    ratio: { type: double, default: 2 }\n    count: { type: int, default: 2 }\n',
    });
    assert.equal(evaluateGate(release(), bundle(policy), PROD).allow, true);
  });

  it('refuses a non-bool result as a type error', () => {
    const d = evaluateGate(release(), bundle(simplePolicy('t', 'size(input.findings)')), PROD);
    assert.deepEqual([d.violations[0]?.result, d.violations[0]?.message], ['error', 'returned int, want bool']);
  });

  it('lets warn, report and shadow violations through, but records them', () => {
    const b = bundle(
      simplePolicy('w', 'false', { action: 'warn' }),
      simplePolicy('r', 'false', { action: 'report' }),
      simplePolicy('s', 'false', { action: 'shadow' }),
      simplePolicy('ok', 'true'),
    );
    const d = evaluateGate(release(), b, PROD);
    assert.equal(d.allow, true);
    assert.deepEqual(
      d.violations.map((v) => [v.binding, v.action]),
      [
        ['r', 'report'],
        ['s', 'shadow'],
        ['w', 'warn'],
      ],
    );
  });

  it('denies when no binding could deny at this point and environment, except at audit', () => {
    const b = bundle(simplePolicy('w', 'true', { action: 'warn' }));
    assert.equal(evaluateGate(release(), b, PROD).allow, false);
    assert.equal(evaluateGate(release(), b, PROD).enforcing, 0);
  });

  it('resolves actions per environment, first matching rule wins', () => {
    const b = bundle(
      simplePolicy('p', 'false').replace(
        '    - { point: deploy, action: deny }',
        '    - { point: deploy, environments: [production], action: deny }\n    - { point: deploy, action: warn }',
      ),
      simplePolicy('ok', 'true'),
    );
    assert.equal(evaluateGate(release(), b, PROD).allow, false);
    assert.equal(evaluateGate(release(), b, { ...PROD, environment: 'staging' }).allow, true);
    assert.equal(evaluateGate(release(), b, { ...PROD, environment: 'staging' }).violations[0]?.action, 'warn');
  });

  it('falls back to message when messageExpression fails, and records why', () => {
    const policy = simplePolicy('m', 'false', { message: 'plain message' }).replace(
      '      message: "plain message"',
      '      message: "plain message"\n      messageExpression: input.findings[42].message',
    );
    const d = evaluateGate(release(), bundle(policy), PROD);
    const r = d.evaluations[0]?.results[0];
    assert.equal(r?.result, 'fail');
    assert.equal(r?.message, 'plain message');
    assert.match(r?.messageError ?? '', /index|range|out of/i);
  });

  it('turns a failing variable into an error of every validation that reads it', () => {
    const policy = simplePolicy('v', 'variables.broken == 1', { extra: '  variables:\n    - { name: broken, expression: input.nope }\n' });
    const d = evaluateGate(release(), bundle(policy), PROD);
    assert.equal(d.violations[0]?.result, 'error');
    assert.match(d.violations[0]?.message ?? '', /^variable broken: /);
  });

  it('fails closed when the deadline passes mid-decision, and says so', () => {
    let t = 0;
    const d = evaluateGate(release(), bundle(simplePolicy('a', 'true'), simplePolicy('b', 'true')), {
      ...PROD,
      limits: { ...EVALUATION_LIMITS, deadlineMs: 1 },
      clock: () => (t += 1),
    });
    assert.equal(d.deadlineExceeded, true);
    assert.equal(d.allow, false);
    assert.ok(d.violations.some((v) => v.message.includes('deadline')));
  });
});

describe('exceptions', () => {
  const exception = (
    approvedAt: string,
    expiresAt: string,
    condition = 'input.findings.exists(f, f.evidence.advisory == "GHSA-xxxx-yyyy-zzzz")',
  ) => `apiVersion: cairn.dev/v1
kind: PolicyException
metadata: { name: sec-1 }
spec:
  policyRefs: [{ name: vulns, validations: [vulns-check] }]
  matchConditions:
    - { name: the-advisory, expression: '${condition}' }
  reason: SEC-1
  approvedBy: [alice@example.com]
  approvedAt: ${approvedAt}
  expiresAt: ${expiresAt}
`;
  const vulns = simplePolicy('vulns', '!input.findings.exists(f, f.severity == "critical")');
  const input = release((r) => r.findings.push(CRITICAL));

  it('waive a failing validation while approved and unexpired, counted apart', () => {
    const d = evaluateGate(input, bundle(vulns, exception('2026-02-01T00:00:00Z', '2026-03-02T00:00:00Z')), PROD);
    assert.equal(d.allow, true);
    assert.deepEqual(
      d.exceptionsApplied.map((e) => [e.name, e.binding, e.validation, e.role]),
      [['sec-1', 'vulns', 'vulns-check', 'active']],
    );
    assert.equal(d.counts.waived, 1);
    assert.equal(d.counts.fail, 0);
    assert.equal(d.evaluations[0]?.results[0]?.exception, 'sec-1');
  });

  it('stop applying at expiresAt exactly, by the decision clock', () => {
    const b = bundle(vulns, exception('2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z'));
    const d = evaluateGate(input, b, PROD);
    assert.equal(d.allow, false);
    assert.deepEqual(d.exceptionsIgnored, [{ name: 'sec-1', why: 'expired', message: 'expired at 2026-03-01T00:00:00Z' }]);
    assert.equal(evaluateGate(input, b, { ...PROD, now: new Date('2026-02-28T23:59:59.999Z') }).allow, true);
  });

  it('do not apply before approval', () => {
    const d = evaluateGate(input, bundle(vulns, exception('2026-03-01T00:00:01Z', '2026-03-10T00:00:00Z')), PROD);
    assert.equal(d.allow, false);
    assert.equal(d.exceptionsIgnored[0]?.why, 'not-yet-approved');
  });

  it('do not apply when a matchCondition is false or errors', () => {
    const other = evaluateGate(input, bundle(vulns, exception('2026-02-01T00:00:00Z', '2026-03-10T00:00:00Z', 'input.artifact.name == "other"')), PROD);
    assert.equal(other.exceptionsIgnored[0]?.why, 'conditions-false');
    const broken = evaluateGate(input, bundle(vulns, exception('2026-02-01T00:00:00Z', '2026-03-10T00:00:00Z', 'input.nope == 1')), PROD);
    assert.equal(broken.allow, false);
    assert.equal(broken.exceptionsIgnored[0]?.why, 'conditions-error');
  });

  it('never waive an evaluation error', () => {
    const erroring = simplePolicy('vulns', 'input.findings[99].severity != "critical"');
    const d = evaluateGate(input, bundle(erroring, exception('2026-02-01T00:00:00Z', '2026-03-10T00:00:00Z')), PROD);
    assert.equal(d.allow, false);
    assert.deepEqual(d.exceptionsApplied, []);
  });
});

describe('shadow candidates', () => {
  const candidateBundle = (expectedChanges: string) => {
    const v1 = simplePolicy('vulns', '!input.findings.exists(f, f.severity == "critical")');
    const v2 = `---
apiVersion: cairn.dev/v1
kind: Policy
metadata: { name: vulns, version: 2 }
spec:
  decisionPoint: deploy
  validations:
    - id: vulns-check
      expression: '!input.findings.exists(f, f.severity in ["critical", "high", "medium"])'
    - id: new-check
      expression: 'size(input.findings) < 100'
`;
    return bundle(
      v1.replace('  actions:', `  candidate:\n    policyRef: { name: vulns, version: 2 }\n    expectedChanges: [${expectedChanges}]\n  actions:`) + v2,
    );
  };

  it('are evaluated beside the active policy and never change the decision', () => {
    const d = evaluateGate(release(), candidateBundle('vulns-check'), PROD);
    assert.equal(d.allow, true);
    const s = d.shadow[0];
    assert.equal(s?.policyVersion, 2);
    assert.deepEqual(s?.changes, [
      { validation: 'vulns-check', active: 'pass', candidate: 'fail' },
      { validation: 'new-check', active: 'absent', candidate: 'pass' },
    ]);
    assert.equal(s?.divergent, true);
    assert.equal(s?.candidateViolates, true);
    assert.equal(s?.activeViolates, false);
  });

  it('call a divergence explained only when every changed validation is expected', () => {
    assert.equal(evaluateGate(release(), candidateBundle('vulns-check'), PROD).shadow[0]?.explained, false);
    assert.equal(evaluateGate(release(), candidateBundle('vulns-check, new-check'), PROD).shadow[0]?.explained, true);
  });

  it('do not diverge when both agree', () => {
    const d = evaluateGate(
      release((r) => {
        r.findings = [];
      }),
      candidateBundle('vulns-check, new-check'),
      PROD,
    );
    assert.deepEqual(
      d.shadow[0]?.changes.map((c) => c.validation),
      ['new-check'],
    );
  });
});
