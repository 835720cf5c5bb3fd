import { sha256Digest } from './digest.js';
import type { Digest } from '../model/digest.js';

const MAX_DEPTH = 128;
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * RFC 8785 JSON Canonicalization Scheme: object members sorted by UTF-16 code units,
 * ECMAScript number and string serialisation, no whitespace. Throws on values JSON cannot
 * represent canonically (undefined, non-finite numbers, lone surrogates, cycles by depth).
 */
export function canonicalize(value: unknown): string {
  return serialize(value, 0);
}

/** sha256 of the JCS bytes of `value`. */
export function canonicalDigest(value: unknown): Digest {
  return sha256Digest(canonicalize(value));
}

function serializeString(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new TypeError('JCS: string contains a lone surrogate');
  return JSON.stringify(s);
}

function serialize(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`JCS: nesting deeper than ${MAX_DEPTH}`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number');
      return Object.is(value, -0) ? '0' : JSON.stringify(value);
    case 'string':
      return serializeString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => serialize(v, depth + 1)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined);
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 requires.
      keys.sort();
      return `{${keys.map((k) => `${serializeString(k)}:${serialize(record[k], depth + 1)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`JCS: cannot serialise a ${typeof value}`);
  }
}
