import { CairnError, type CairnErrorOptions } from '../../model/errors.js';

/** Every code the CI audit raises; all but `SCAN_CI_IO` are about the input (exit 2). */
export type CiAuditCode =
  | 'SCAN_CI_FILE_TOO_LARGE'
  | 'SCAN_CI_TOO_MANY_FILES'
  | 'SCAN_CI_YAML_SYNTAX'
  | 'SCAN_CI_YAML_TOO_DEEP'
  | 'SCAN_CI_YAML_ALIASES'
  | 'SCAN_CI_YAML_TOO_LARGE'
  | 'SCAN_CI_WORKFLOW_INVALID'
  | 'SCAN_CI_NOT_A_DIRECTORY'
  | 'SCAN_CI_IO';

/** A CI configuration could not be read or audited. */
export class CiAuditError extends CairnError {
  constructor(code: CiAuditCode, message: string, options?: CairnErrorOptions) {
    super(code, code === 'SCAN_CI_IO' ? 'internal' : 'input', message, options);
  }
}
