import { CairnError, type CairnErrorOptions } from '../../model/errors.js';

export type SecretScanCode =
  | 'SCAN_SECRET_NOT_A_DIRECTORY'
  | 'SCAN_SECRET_TOO_MANY_FILES'
  | 'SCAN_SECRET_TOO_LARGE'
  | 'SCAN_SECRET_BAD_REVISION'
  | 'SCAN_SECRET_HISTORY_TOO_LARGE'
  | 'SCAN_SECRET_BASELINE_INVALID'
  | 'SCAN_SECRET_GIT_FAILED';

const INTERNAL = new Set<SecretScanCode>(['SCAN_SECRET_GIT_FAILED']);

/** The secret scan could not read its input, or the input breaks a cap. */
export class SecretScanError extends CairnError {
  constructor(code: SecretScanCode, message: string, options?: CairnErrorOptions) {
    super(code, INTERNAL.has(code) ? 'internal' : 'input', message, options);
  }
}
