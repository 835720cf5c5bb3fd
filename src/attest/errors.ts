import { CairnError, type CairnErrorOptions } from '../model/errors.js';

/**
 * Evidence that does not verify. Every code is `denied` (exit 1): a malformed attestation
 * is a failed verification, not bad usage. Bad verifier inputs (trust store, policy, limits)
 * are InputErrors with the `input` codes below (exit 2).
 */
export class AttestError extends CairnError {
  constructor(code: AttestErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, 'denied', message, options);
  }
}

/**
 * - `evidence`: the attestation is malformed or not authentic (invalid evidence).
 * - `policy`: the attestation is authentic and well formed, but not what the policy allows.
 */
export type FailureKind = 'evidence' | 'policy';

/** Every code a failed check can carry, with its kind. */
export const CHECK_CODES = {
  ATTEST_ENVELOPE_MALFORMED: 'evidence',
  ATTEST_PAYLOAD_TYPE: 'evidence',
  ATTEST_SIGNATURE_INVALID: 'evidence',
  ATTEST_STATEMENT_MALFORMED: 'evidence',
  ATTEST_PREDICATE_MALFORMED: 'evidence',
  ATTEST_KEY_REVOKED: 'evidence',
  ATTEST_KEY_EXPIRED: 'evidence',
  ATTEST_KEY_NOT_YET_VALID: 'evidence',
  ATTEST_EVIDENCE_TIME_INVALID: 'evidence',
  ATTEST_BUNDLE_MALFORMED: 'evidence',
  ATTEST_BUNDLE_HINT_MISMATCH: 'evidence',
  ATTEST_BUNDLE_UNSUPPORTED: 'evidence',
  ATTEST_SUBJECT_DIGEST_MISMATCH: 'policy',
  ATTEST_SUBJECT_NAME_MISMATCH: 'policy',
  ATTEST_PREDICATE_TYPE_NOT_ALLOWED: 'policy',
  ATTEST_THRESHOLD_NOT_MET: 'policy',
  ATTEST_BUILDER_UNTRUSTED: 'policy',
  ATTEST_BUILDER_NOT_ALLOWED: 'policy',
  ATTEST_VERIFIER_UNTRUSTED: 'policy',
  ATTEST_VERIFIER_NOT_ALLOWED: 'policy',
  ATTEST_SIGNER_UNTRUSTED: 'policy',
  ATTEST_BUILD_TYPE_NOT_ALLOWED: 'policy',
  ATTEST_EXTERNAL_PARAMETER_UNKNOWN: 'policy',
  ATTEST_SOURCE_MISMATCH: 'policy',
  ATTEST_TOO_OLD: 'policy',
  ATTEST_VSA_FAILED: 'policy',
  ATTEST_VSA_RESOURCE_MISMATCH: 'policy',
  ATTEST_VSA_LEVEL_MISSING: 'policy',
  ATTEST_TEST_RESULT_FAILED: 'policy',
} as const satisfies Readonly<Record<string, FailureKind>>;

export type AttestErrorCode = keyof typeof CHECK_CODES;

/** Codes of InputErrors about what the verifier was given rather than the evidence. */
export type AttestInputCode = 'ATTEST_TRUST_STORE_INVALID' | 'ATTEST_POLICY_INVALID' | 'ATTEST_OPTIONS_INVALID' | 'ATTEST_PREDICATE_MALFORMED';
