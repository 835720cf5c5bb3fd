/**
 * Errors cairn raises on purpose. Each area has its own subclass; every error carries a
 * stable string code (public: it appears in `--json`, HTTP bodies and docs) and a category
 * that the one translation point per edge maps to an exit code or an HTTP status.
 */

/** A single thing wrong with an input, at a path inside it. */
export interface Problem {
  readonly code: string;
  /** Dotted/indexed path into the input, e.g. `build.run` or `subject[0].digest`; `''` for the whole. */
  readonly path: string;
  readonly message: string;
}

/**
 * - `input`: the request or a file it names is malformed (exit 2).
 * - `denied`: the input is well formed but verification or policy said no (exit 1).
 * - `internal`: cairn or its environment failed (exit 3).
 */
export type ErrorCategory = 'input' | 'denied' | 'internal';

export interface CairnErrorOptions {
  readonly cause?: unknown;
  readonly problems?: readonly Problem[];
}

export class CairnError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly problems: readonly Problem[];

  constructor(code: string, category: ErrorCategory, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = category;
    this.problems = options.problems ?? [];
  }
}

/** Bad usage of a command or API: unknown flag, missing argument. */
export class UsageError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, 'input', message, options);
  }
}

/** A document (config, envelope, record) failed to parse; `problems` lists every bad field. */
export class InputError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, 'input', message, options);
  }
}

/** Evidence did not verify, or a rule said no. */
export class DeniedError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, 'denied', message, options);
  }
}

/** cairn or its environment failed (I/O, a subprocess, a database). */
export class InternalError extends CairnError {
  constructor(code: string, message: string, options?: CairnErrorOptions) {
    super(code, 'internal', message, options);
  }
}

export function isCairnError(error: unknown): error is CairnError {
  return error instanceof CairnError;
}
