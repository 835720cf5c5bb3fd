import { CairnError, type CairnErrorOptions } from '../model/errors.js';

/** A lockfile or other scan input could not be read. */
export class ScanError extends CairnError {
  constructor(code: 'SCAN_LOCKFILE_MALFORMED' | 'SCAN_LOCKFILE_UNSUPPORTED', message: string, options?: CairnErrorOptions) {
    super(code, 'input', message, options);
  }
}
