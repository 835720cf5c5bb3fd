import { IN_TOTO_STATEMENT_V1, type ResourceDescriptor, type Statement, type Subject } from '../model/attestation.js';
import { Fields } from '../model/fields.js';
import { IN_TOTO_TEST_RESULT_V01 } from '../model/policy.js';
import { enumField } from '../model/trust.js';
import { PREDICATE_LIMITS, resourceListField, stringListField } from './resource.js';

export type TestOutcome = 'PASSED' | 'WARNED' | 'FAILED';

/** in-toto test-result v0.1 predicate: "these tests ran with this configuration on the subject". */
export interface TestResult {
  readonly result: TestOutcome;
  /** The configuration the tests ran with (e.g. the CI workflow file, by digest). */
  readonly configuration: readonly ResourceDescriptor[];
  readonly url?: string;
  readonly passedTests: readonly string[];
  readonly warnedTests: readonly string[];
  readonly failedTests: readonly string[];
}

export interface TestResultInput {
  /** What was tested: normally the source commit (`{ gitCommit }`). */
  readonly subject: readonly Subject[];
  readonly configuration: readonly ResourceDescriptor[];
  readonly url?: string;
  readonly passedTests?: readonly string[];
  readonly warnedTests?: readonly string[];
  readonly failedTests?: readonly string[];
  /** Default: FAILED if any test failed, else WARNED if any warned, else PASSED. */
  readonly result?: TestOutcome;
}

/** An in-toto Statement v1 carrying a test-result v0.1 predicate. */
export function testResultStatement(input: TestResultInput): Statement<TestResult> {
  const passedTests = input.passedTests ?? [];
  const warnedTests = input.warnedTests ?? [];
  const failedTests = input.failedTests ?? [];
  const result = input.result ?? (failedTests.length > 0 ? 'FAILED' : warnedTests.length > 0 ? 'WARNED' : 'PASSED');
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: input.subject,
    predicateType: IN_TOTO_TEST_RESULT_V01,
    predicate: {
      result,
      configuration: input.configuration,
      ...(input.url !== undefined ? { url: input.url } : {}),
      passedTests,
      warnedTests,
      failedTests,
    },
  };
}

/**
 * Parses a test-result v0.1 predicate, reporting every bad field with its path. Required:
 * result (PASSED|WARNED|FAILED) and configuration (ResourceDescriptors); the test lists
 * default to empty. A result of PASSED with failed tests listed is malformed. Unknown fields
 * are ignored.
 */
export function testResultFromJSON(raw: unknown): TestResult {
  const f = new Fields();
  const root = f.object(raw, 'predicate');
  if (!root) return f.finish<TestResult>(undefined, 'ATTEST_PREDICATE_MALFORMED', 'test result');
  const result = enumField(f, root.result, 'predicate.result', ['PASSED', 'WARNED', 'FAILED'] as const);
  const configuration = resourceListField(f, root.configuration, 'predicate.configuration', 1024);
  const url = f.optionalString(root.url, 'predicate.url', { maxLength: PREDICATE_LIMITS.maxUri });
  const list = (key: 'passedTests' | 'warnedTests' | 'failedTests') =>
    root[key] === undefined ? [] : stringListField(f, root[key], `predicate.${key}`, PREDICATE_LIMITS.maxTests);
  const passedTests = list('passedTests');
  const warnedTests = list('warnedTests');
  const failedTests = list('failedTests');
  if (result === 'PASSED' && failedTests && failedTests.length > 0) f.report('predicate.result', 'INVALID_FORMAT', 'PASSED, yet failedTests is not empty');
  const testResult =
    result !== undefined && configuration !== undefined && passedTests && warnedTests && failedTests
      ? { result, configuration, ...(url !== undefined ? { url } : {}), passedTests, warnedTests, failedTests }
      : undefined;
  return f.finish(testResult, 'ATTEST_PREDICATE_MALFORMED', 'test result');
}
