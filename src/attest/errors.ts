import { CairnError, type CairnErrorOptions } from '../model/errors.js';

/**
 * Evidence that does not verify. Every code is `denied` (exit 1): a malformed attestation
 * is a failed verification, not bad usage.
 */
export class AttestError extends CairnError {
  constructor(code: AttestErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, 'denied', message, options);
  }
}

export type AttestErrorCode =
  | 'ATTEST_ENVELOPE_MALFORMED'
  | 'ATTEST_PAYLOAD_TYPE'
  | 'ATTEST_SIGNATURE_INVALID'
  | 'ATTEST_STATEMENT_MALFORMED'
  | 'ATTEST_SUBJECT_DIGEST_MISMATCH';
