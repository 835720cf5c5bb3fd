import { CairnError, type CairnErrorOptions } from '../model/errors.js';

const INPUT_CODES = new Set([
  'SOURCE_NOT_A_REPOSITORY',
  'SOURCE_BAD_REVISION',
  'SOURCE_PATH_NOT_IN_COMMIT',
  'SOURCE_UNSAFE_PATH',
  'SOURCE_TOO_LARGE',
  'CONFIG_MISSING',
  'CONFIG_INVALID',
  'CONFIG_YAML',
]);

/** Reading a commit or its project configuration failed. */
export class SourceError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, INPUT_CODES.has(code) ? 'input' : 'internal', message, options);
  }
}
