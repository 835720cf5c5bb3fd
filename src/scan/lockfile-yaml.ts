import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { assertLockfileSize } from '../model/lockfile.js';
import { InputError } from '../model/errors.js';

export interface YamlLockfile {
  /** The document as plain data; every scalar is a string (YAML failsafe schema). */
  readonly data: Record<string, unknown>;
  /** 1-based line of each key of the top-level mapping `section`, by key. */
  keyLines(section: string): Map<string, number>;
}

/**
 * Parses a YAML lockfile (pnpm, yarn berry) under the lockfile caps. The failsafe schema
 * keeps every scalar a string, so `1.10` stays a version and never becomes the number 1.1;
 * anchors and aliases are refused (no lockfile writer emits them); duplicate keys are errors.
 */
export function parseYamlLockfile(text: string | Uint8Array, file: string): YamlLockfile {
  assertLockfileSize(file, typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength);
  const source = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: false }).decode(text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { schema: 'failsafe', lineCounter, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line ?? 0;
    throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: not valid YAML${line ? ` (line ${line})` : ''}: ${first.message.split('\n')[0]}`, {
      problems: doc.errors
        .slice(0, 20)
        .map((e) => ({ code: 'YAML_SYNTAX', path: e.linePos?.[0] ? `line ${e.linePos[0].line}` : '', message: e.message.split('\n')[0] ?? '' })),
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 0 });
  } catch (cause) {
    throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      problems: [{ code: 'YAML_ALIASES', path: '', message: 'aliases are not accepted in a lockfile' }],
    });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError('SCAN_LOCKFILE_MALFORMED', `${file}: expected a mapping at the top level`, {
      problems: [{ code: 'WRONG_TYPE', path: '', message: 'expected a mapping' }],
    });
  }
  return {
    data: data as Record<string, unknown>,
    keyLines(section: string): Map<string, number> {
      const lines = new Map<string, number>();
      const node = section === '' ? doc.contents : doc.get(section, true);
      if (!isMap(node)) return lines;
      for (const item of node.items) {
        if (isScalar(item.key) && item.key.range) lines.set(String(item.key.value), lineCounter.linePos(item.key.range[0]).line);
      }
      return lines;
    },
  };
}

/** The record at `value`, or an empty one (lockfile sections are optional). */
export function recordOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** String values of a `name: value` mapping, others dropped. */
export function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(recordOf(value))) if (typeof v === 'string') out[k] = v;
  return out;
}

export function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
