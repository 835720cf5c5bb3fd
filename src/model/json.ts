import { InputError } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonLimits {
  /** Maximum size of the text in bytes (UTF-8). */
  readonly maxBytes: number;
  /** Maximum nesting of arrays and objects. */
  readonly maxDepth: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxBytes: 16 * 1024 * 1024, maxDepth: 64 };

/**
 * Parses JSON from untrusted text after checking its size and nesting depth in one linear
 * pass (no recursion), so a hostile document cannot exhaust the stack or memory.
 */
export function parseJson(text: string | Uint8Array, what: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength;
  if (bytes > limits.maxBytes) {
    throw new InputError('JSON_TOO_LARGE', `${what}: ${bytes} bytes exceeds the limit of ${limits.maxBytes}`, {
      problems: [{ code: 'JSON_TOO_LARGE', path: '', message: `larger than ${limits.maxBytes} bytes` }],
    });
  }
  const source = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: false }).decode(text);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limits.maxDepth) {
        throw new InputError('JSON_TOO_DEEP', `${what}: nesting deeper than ${limits.maxDepth}`, {
          problems: [{ code: 'JSON_TOO_DEEP', path: '', message: `nested deeper than ${limits.maxDepth}` }],
        });
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(source);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new InputError('JSON_MALFORMED', `${what}: not valid JSON (${message})`, {
      cause,
      problems: [{ code: 'JSON_MALFORMED', path: '', message }],
    });
  }
}
