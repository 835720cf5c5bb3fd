import { CairnError, type CairnErrorOptions } from '../model/errors.js';

const INPUT_CODES = new Set(['BUILD_OUTPUT_MISSING', 'BUILD_OUTPUT_UNSAFE', 'BUILD_OUTPUT_TOO_LARGE']);

/** The recipe failed or its output could not be packed. `BUILD_RECIPE_FAILED` is the project's failure, not cairn's. */
export class BuildError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, INPUT_CODES.has(code) || code === 'BUILD_RECIPE_FAILED' || code === 'BUILD_TIMEOUT' ? 'denied' : 'internal', message, options);
  }
}
