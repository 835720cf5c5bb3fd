import { InputError, type Problem } from './errors.js';

/** Joins a parent path and a key or index into `a.b[2].c` form. */
export function joinPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Collects every problem found while turning raw JSON into a typed value, so that a parser
 * reports all bad fields at once instead of stopping at the first.
 */
export class Fields {
  readonly problems: Problem[] = [];

  report(path: string, code: string, message: string): void {
    this.problems.push({ code, path, message });
  }

  /** An object whose keys are all in `allowed` (unknown keys are reported). */
  object(value: unknown, path: string, allowed?: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.report(path, 'WRONG_TYPE', `expected an object, got ${describe(value)}`);
      return undefined;
    }
    const record = value as Record<string, unknown>;
    if (allowed) {
      for (const key of Object.keys(record)) {
        if (!allowed.includes(key)) this.report(joinPath(path, key), 'UNKNOWN_KEY', `unknown key "${key}"`);
      }
    }
    return record;
  }

  array(value: unknown, path: string, maxItems = 10_000): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.report(path, 'WRONG_TYPE', `expected an array, got ${describe(value)}`);
      return undefined;
    }
    if (value.length > maxItems) {
      this.report(path, 'TOO_MANY', `more than ${maxItems} items`);
      return undefined;
    }
    return value;
  }

  string(value: unknown, path: string, options: { maxLength?: number; pattern?: RegExp; empty?: boolean } = {}): string | undefined {
    if (value === undefined) {
      this.report(path, 'MISSING', 'required');
      return undefined;
    }
    if (typeof value !== 'string') {
      this.report(path, 'WRONG_TYPE', `expected a string, got ${describe(value)}`);
      return undefined;
    }
    if (!options.empty && value.length === 0) {
      this.report(path, 'EMPTY', 'must not be empty');
      return undefined;
    }
    const max = options.maxLength ?? 4096;
    if (value.length > max) {
      this.report(path, 'TOO_LONG', `longer than ${max} characters`);
      return undefined;
    }
    if (options.pattern && !options.pattern.test(value)) {
      this.report(path, 'INVALID_FORMAT', `does not match ${options.pattern.source}`);
      return undefined;
    }
    return value;
  }

  optionalString(value: unknown, path: string, options?: { maxLength?: number; pattern?: RegExp; empty?: boolean }): string | undefined {
    return value === undefined ? undefined : this.string(value, path, options);
  }

  integer(value: unknown, path: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (value === undefined) {
      this.report(path, 'MISSING', 'required');
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.report(path, 'WRONG_TYPE', `expected an integer, got ${describe(value)}`);
      return undefined;
    }
    if (value < min || value > max) {
      this.report(path, 'OUT_OF_RANGE', `must be between ${min} and ${max}`);
      return undefined;
    }
    return value;
  }

  /** A finite number in [min, max]. */
  number(value: unknown, path: string, min: number, max: number): number | undefined {
    if (value === undefined) {
      this.report(path, 'MISSING', 'required');
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.report(path, 'WRONG_TYPE', `expected a number, got ${describe(value)}`);
      return undefined;
    }
    if (value < min || value > max) {
      this.report(path, 'OUT_OF_RANGE', `must be between ${min} and ${max}`);
      return undefined;
    }
    return value;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (typeof value !== 'boolean') {
      this.report(path, value === undefined ? 'MISSING' : 'WRONG_TYPE', value === undefined ? 'required' : `expected a boolean, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** Throws an InputError with every collected problem, or returns the value. */
  finish<T>(value: T | undefined, code: string, what: string): T {
    if (this.problems.length > 0 || value === undefined) {
      const first = this.problems[0];
      const summary = first ? `${first.path || '(root)'}: ${first.message}` : 'invalid';
      const more = this.problems.length > 1 ? ` (and ${this.problems.length - 1} more)` : '';
      throw new InputError(code, `${what} is invalid: ${summary}${more}`, { problems: [...this.problems] });
    }
    return value;
  }
}
