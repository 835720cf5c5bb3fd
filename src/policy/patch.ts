import type { JsonValue } from '../model/json.js';

/** One RFC 6902 JSON Patch operation. */
export type PatchOperation =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string };

export const PATCH_OPS = ['add', 'remove', 'replace', 'test', 'move', 'copy'] as const;

/** Splits an RFC 6901 JSON Pointer into its unescaped tokens; null if malformed. */
export function parsePointer(pointer: string): string[] | null {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return null;
  const tokens = pointer.slice(1).split('/');
  for (const t of tokens) if (/~[^01]|~$/.test(t)) return null;
  return tokens.map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = JsonValue[] | { [key: string]: JsonValue };

function isContainer(v: JsonValue | undefined): v is Container {
  return typeof v === 'object' && v !== null;
}

function arrayIndex(token: string, length: number, forAdd: boolean): number | null {
  if (forAdd && token === '-') return length;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(token)) return null;
  const i = Number(token);
  return i < length || (forAdd && i === length) ? i : null;
}

function resolve(doc: JsonValue, tokens: readonly string[]): { parent: Container; key: string } | string {
  let node: JsonValue = doc;
  for (const [n, token] of tokens.slice(0, -1).entries()) {
    if (!isContainer(node)) return `/${tokens.slice(0, n).join('/')} is not an object or array`;
    const next: JsonValue | undefined = Array.isArray(node)
      ? arrayIndex(token, node.length, false) === null
        ? undefined
        : node[Number(token)]
      : Object.hasOwn(node, token)
        ? node[token]
        : undefined;
    if (next === undefined) return `no member ${JSON.stringify(token)}`;
    node = next;
  }
  if (!isContainer(node)) return 'the parent is not an object or array';
  return { parent: node, key: tokens[tokens.length - 1] as string };
}

function get(doc: JsonValue, tokens: readonly string[]): JsonValue | undefined {
  if (tokens.length === 0) return doc;
  const r = resolve(doc, tokens);
  if (typeof r === 'string') return undefined;
  if (Array.isArray(r.parent)) {
    const i = arrayIndex(r.key, r.parent.length, false);
    return i === null ? undefined : r.parent[i];
  }
  return Object.hasOwn(r.parent, r.key) ? r.parent[r.key] : undefined;
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i] as JsonValue));
  const ao = a as Record<string, JsonValue>;
  const bo = b as Record<string, JsonValue>;
  const keys = Object.keys(ao);
  return keys.length === Object.keys(bo).length && keys.every((k) => Object.hasOwn(bo, k) && deepEqual(ao[k] as JsonValue, bo[k] as JsonValue));
}

function setMember(parent: Container, key: string, value: JsonValue): void {
  Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Applies RFC 6902 operations to a copy of `doc`; returns the new document or the first
 * failure as `operation N (op path): why`. The original is never modified.
 */
export function applyPatch(doc: JsonValue, operations: readonly PatchOperation[]): { ok: true; value: JsonValue } | { ok: false; message: string } {
  let root: JsonValue = structuredClone(doc);
  for (const [n, op] of operations.entries()) {
    const fail = (why: string) => ({ ok: false as const, message: `patch operation ${n} (${op.op} ${op.path}): ${why}` });
    const tokens = parsePointer(op.path);
    if (tokens === null) return fail('not a JSON Pointer');
    let value: JsonValue | undefined;
    if (op.op === 'move' || op.op === 'copy') {
      const from = parsePointer(op.from);
      if (from === null) return fail('from is not a JSON Pointer');
      value = get(root, from);
      if (value === undefined) return fail(`nothing at ${op.from}`);
      if (op.op === 'move') {
        if (op.path.startsWith(`${op.from}/`)) return fail('cannot move a value into itself');
        const removed = applyPatch(root, [{ op: 'remove', path: op.from }]);
        if (!removed.ok) return fail(removed.message);
        root = removed.value;
      } else value = structuredClone(value);
    } else if (op.op === 'add' || op.op === 'replace' || op.op === 'test') value = op.value;

    if (op.op === 'test') {
      const current = get(root, tokens);
      if (current === undefined || !deepEqual(current, value as JsonValue)) return fail('value differs');
      continue;
    }
    if (tokens.length === 0) {
      if (op.op === 'remove') return fail('cannot remove the whole document');
      root = value as JsonValue;
      continue;
    }
    const target = resolve(root, tokens);
    if (typeof target === 'string') return fail(target);
    const { parent, key } = target;
    if (Array.isArray(parent)) {
      const adding = op.op === 'add' || op.op === 'move' || op.op === 'copy';
      const i = arrayIndex(key, parent.length, adding);
      if (i === null) return fail(`index ${key} is out of range`);
      if (adding) parent.splice(i, 0, value as JsonValue);
      else if (op.op === 'remove') parent.splice(i, 1);
      else parent[i] = value as JsonValue;
    } else {
      const has = Object.hasOwn(parent, key);
      if ((op.op === 'remove' || op.op === 'replace') && !has) return fail(`no member ${JSON.stringify(key)}`);
      if (op.op === 'remove') delete parent[key];
      else setMember(parent, key, value as JsonValue);
    }
  }
  return { ok: true, value: root };
}
