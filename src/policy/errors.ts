import { CairnError, type CairnErrorOptions, type ErrorCategory } from '../model/errors.js';

/**
 * Every code the policy stage raises, with its category. Invalid documents and inputs are
 * `input` (exit 2); well-formed things that policy or verification refuses are `denied`
 * (exit 1); a registry that cannot be read or written is `internal` (exit 3).
 */
export const POLICY_CODES = {
  POLICY_YAML: 'input',
  POLICY_DOCUMENT_INVALID: 'input',
  POLICY_COMPILE: 'input',
  POLICY_BUNDLE_INVALID: 'input',
  POLICY_TEST_INVALID: 'input',
  POLICY_INPUT_INVALID: 'input',
  POLICY_NO_ACTIVE: 'input',
  POLICY_NOT_FOUND: 'input',
  POLICY_ROLLBACK_TARGET: 'input',
  POLICY_BUNDLE_SIGNATURE: 'denied',
  POLICY_TEST_ATTESTATION: 'denied',
  POLICY_TEST_FAILED: 'denied',
  POLICY_DOWNGRADE: 'denied',
  POLICY_PROMOTION_REQUIRED: 'denied',
  POLICY_SHADOW_INSUFFICIENT: 'denied',
  POLICY_HISTORY_INVALID: 'denied',
  POLICY_REPLAY_MISMATCH: 'denied',
  POLICY_REGISTRY_CONFLICT: 'denied',
  POLICY_REGISTRY_IO: 'internal',
} as const satisfies Record<string, ErrorCategory>;

export type PolicyErrorCode = keyof typeof POLICY_CODES;

/** The policy stage's one error class; the category follows from the code. */
export class PolicyError extends CairnError {
  constructor(code: PolicyErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, POLICY_CODES[code], message, options);
  }
}

/**
 * Codes recorded inside a decision's results (never thrown): why a validation is `error`.
 * They fail closed under `failurePolicy: Fail`.
 */
export const EVAL_CODES = {
  /** CEL returned an error (no such key, bad overload, overflow…). */
  evaluation: 'POLICY_EVAL_ERROR',
  /** The expression returned something other than the type it must. */
  type: 'POLICY_EVAL_TYPE',
  /** The deterministic step budget ran out. */
  budget: 'POLICY_EVAL_BUDGET',
  /** A value grew past the size cap. */
  size: 'POLICY_EVAL_SIZE',
  /** The wall-clock deadline passed (the decision is then not replayable by construction). */
  deadline: 'POLICY_EVAL_DEADLINE',
  /** The input broke a cap (size, depth, list length, number range). */
  input: 'POLICY_INPUT_LIMIT',
} as const;

export type EvalCode = (typeof EVAL_CODES)[keyof typeof EVAL_CODES];
