import type { KeyObject } from 'node:crypto';
import { sha256Digest } from '../crypto/digest.js';
import { signEnvelope, verifyEnvelope } from '../crypto/dsse.js';
import { canonicalize } from '../crypto/jcs.js';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement, statementFromJSON } from '../model/attestation.js';
import { type Digest, digestHex } from '../model/digest.js';
import { parseJson } from '../model/json.js';
import type { BundleRef } from './bundle.js';
import { PolicyError } from './errors.js';
import type { TestReport } from './testing.js';

/** in-toto test-result predicate v0.1 (github.com/in-toto/attestation spec/predicates/test-result.md). */
export const TEST_RESULT_PREDICATE = 'https://in-toto.io/attestation/test-result/v0.1';

export interface TestResultPredicate {
  readonly result: 'PASSED' | 'WARNED' | 'FAILED';
  /** The test files and fixtures that ran, by digest. */
  readonly configuration: readonly { readonly name: string; readonly digest: { readonly sha256: string } }[];
  readonly passedTests: readonly string[];
  readonly warnedTests: readonly string[];
  readonly failedTests: readonly string[];
}

/** The subject name a policy bundle goes by in statements: `policy-bundle:<name>@<version>`. */
export function bundleSubjectName(ref: BundleRef): string {
  return `policy-bundle:${ref.name}@${ref.version}`;
}

/**
 * An in-toto Statement v1 with the test-result predicate, about the policy bundle the tests
 * ran against (its digest is the subject). Coverage below the threshold makes the result FAILED.
 */
export function testResultStatement(report: TestReport, files: readonly { readonly path: string; readonly digest: Digest }[]): Statement<TestResultPredicate> {
  const names = (passed: boolean) => report.tests.flatMap((t) => t.cases.filter((c) => c.passed === passed).map((c) => `${t.name}/${c.name}`));
  const failedTests = names(false);
  if (!report.coverage.ok) failedTests.push(`coverage/${report.coverage.covered} of ${report.coverage.total} validations seen passing and failing`);
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: bundleSubjectName(report.bundle), digest: { sha256: digestHex(report.bundle.digest) } }],
    predicateType: TEST_RESULT_PREDICATE,
    predicate: {
      result: report.result,
      configuration: files.map((f) => ({ name: f.path, digest: { sha256: digestHex(f.digest) } })),
      passedTests: names(true),
      warnedTests: [],
      failedTests,
    },
  };
}

export function signTestResult(statement: Statement<TestResultPredicate>, keys: readonly KeyObject[]): DsseEnvelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(canonicalize(statement), 'utf8'), keys);
}

export interface VerifiedTestResult {
  readonly keyids: readonly string[];
  /** sha256 of the statement bytes. */
  readonly statementDigest: Digest;
  readonly passed: number;
}

/**
 * Checks a signed test-result attestation for a bundle: in-toto payload type, a signature by
 * a trusted key, a v1 statement with the test-result predicate, a subject whose sha256 is the
 * bundle digest, and result PASSED with no failed test. Anything else is
 * POLICY_TEST_ATTESTATION.
 */
export function verifyTestResult(envelope: DsseEnvelope, bundle: Digest, trustedKeys: readonly KeyObject[]): VerifiedTestResult {
  const refuse = (why: string, cause?: unknown) =>
    new PolicyError('POLICY_TEST_ATTESTATION', `the test-result attestation does not allow activating ${bundle}: ${why}`, cause === undefined ? {} : { cause });
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw refuse(`payloadType is "${envelope.payloadType}"`);
  const verification = verifyEnvelope(envelope, trustedKeys);
  if (verification.payload === null || verification.verifiedKeyids.length === 0) throw refuse('it is not signed by a trusted policy key');
  let statement: Statement;
  try {
    statement = statementFromJSON(parseJson(verification.payload, 'test-result statement', { maxBytes: 8 * 1024 * 1024, maxDepth: 32 }));
  } catch (cause) {
    throw refuse(`not an in-toto statement (${cause instanceof Error ? cause.message : String(cause)})`, cause);
  }
  if (statement.predicateType !== TEST_RESULT_PREDICATE) throw refuse(`predicateType is ${statement.predicateType}`);
  if (!statement.subject.some((s) => s.digest.sha256 === digestHex(bundle))) throw refuse('no subject names the bundle digest');
  const p = statement.predicate as Partial<TestResultPredicate>;
  if (p.result !== 'PASSED') throw refuse(`the tests did not pass (result ${String(p.result)})`);
  if (!Array.isArray(p.failedTests) || p.failedTests.length > 0) throw refuse('failedTests is not an empty list');
  return {
    keyids: verification.verifiedKeyids,
    statementDigest: sha256Digest(verification.payload),
    passed: Array.isArray(p.passedTests) ? p.passedTests.length : 0,
  };
}
