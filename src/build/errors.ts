import { CairnError, type CairnErrorOptions, type ErrorCategory } from '../model/errors.js';

const CATEGORY: Readonly<Record<string, ErrorCategory>> = {
  // The project's own failures: its recipe, its output, its dependencies.
  BUILD_RECIPE_FAILED: 'denied',
  BUILD_TIMEOUT: 'denied',
  BUILD_OUTPUT_MISSING: 'denied',
  BUILD_OUTPUT_UNSAFE: 'denied',
  BUILD_OUTPUT_TOO_LARGE: 'denied',
  BUILD_VARY_DEADLINE: 'denied',
  BUILD_DEPENDENCY_INTEGRITY: 'denied',
  BUILD_DEPENDENCY_NO_INTEGRITY: 'denied',
  BUILD_DEPENDENCY_UNSUPPORTED: 'denied',
  // Something the user must provide.
  BUILD_DEPENDENCY_NOT_CACHED: 'input',
  BUILD_LOCKFILE_MISSING: 'input',
};

/** The recipe failed or its inputs or output could not be used; cairn's own failures are `internal`. */
export class BuildError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, CATEGORY[code] ?? 'internal', message, options);
  }
}
