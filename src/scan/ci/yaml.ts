import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, parseAllDocuments, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { CiAuditError } from './errors.js';

/** A region of a file: 1-based lines and columns (UTF-16 code units), 0-based offsets. */
export interface Span {
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly offset: number;
  readonly endOffset: number;
}

export interface YScalar {
  readonly kind: 'scalar';
  readonly value: string | number | boolean | null;
  /** The value as text (`''` for null). */
  readonly text: string;
  readonly span: Span;
}

export interface YEntry {
  readonly key: YScalar;
  readonly value: YNode;
}

export interface YMap {
  readonly kind: 'map';
  readonly entries: readonly YEntry[];
  readonly span: Span;
}

export interface YSeq {
  readonly kind: 'seq';
  readonly items: readonly YNode[];
  readonly span: Span;
}

/** A YAML node with its position; aliases are expanded (within the caps) and `<<` merges applied. */
export type YNode = YScalar | YMap | YSeq;

export interface YamlLimits {
  readonly maxBytes: number;
  /** Nesting of mappings and sequences, aliases expanded. */
  readonly maxDepth: number;
  /** Nodes after alias expansion: what stops "billion laughs". */
  readonly maxNodes: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = { maxBytes: 1024 * 1024, maxDepth: 64, maxNodes: 200_000 };

export interface YamlFile {
  readonly file: string;
  readonly text: string;
  readonly root: YNode;
  /** Position of an offset into `text`. */
  at(offset: number): { line: number; column: number };
}

function fail(
  code: 'SCAN_CI_FILE_TOO_LARGE' | 'SCAN_CI_YAML_SYNTAX' | 'SCAN_CI_YAML_TOO_DEEP' | 'SCAN_CI_YAML_ALIASES' | 'SCAN_CI_YAML_TOO_LARGE',
  file: string,
  message: string,
  line?: number,
): never {
  throw new CiAuditError(code, `${file}: ${message}`, {
    problems: [{ code, path: file, message: line === undefined ? message : `${message} (line ${line})` }],
  });
}

/**
 * Parses one CI file into positioned nodes. Size, flow nesting (before the parser sees it),
 * block nesting, node count and alias expansion are capped; each breach is a CiAuditError
 * with its own code, and the work done is linear in the capped size.
 */
export function parseCiYaml(text: string, file: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): YamlFile {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) fail('SCAN_CI_FILE_TOO_LARGE', file, `${bytes} bytes is over the ${limits.maxBytes}-byte cap`);
  const lines = new LineCounter();
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  // The lexer is iterative; the composer recurses on flow collections, so their depth is checked first.
  let flow = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++flow > limits.maxDepth) {
        fail('SCAN_CI_YAML_TOO_DEEP', file, `flow collections nested deeper than ${limits.maxDepth}`, lineOfOffset(text, offset));
      }
    } else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    offset += token.length;
  }
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true, version: '1.2' });
  const list = Array.isArray(docs) ? docs : [];
  // A GitLab component starts with a `spec:` header document; anything else must be one document.
  const first = list[0]?.contents;
  const header = list.length === 2 && isMap(first) && first.items.some((p) => isScalar(p.key) && p.key.value === 'spec');
  if (list.length > 1 && !header) fail('SCAN_CI_YAML_SYNTAX', file, `${list.length} YAML documents in one file`);
  const doc = (header ? list[1] : list[0]) ?? parseDocument('');
  const errors = list.flatMap((d) => d.errors);
  if (errors.length > 0) {
    const first = errors[0];
    const line = first ? at(first.pos[0]).line : undefined;
    const tooDeep = errors.some((e) => e.code === 'RESOURCE_EXHAUSTION');
    fail(tooDeep ? 'SCAN_CI_YAML_TOO_DEEP' : 'SCAN_CI_YAML_SYNTAX', file, `not valid YAML: ${first?.message.split('\n')[0] ?? 'unknown error'}`, line);
  }
  const converter = new Converter(doc, file, limits, at);
  const root = doc.contents === null ? converter.empty(0) : converter.node(doc.contents as YamlNode, 0, new Set<YamlNode>());
  return { file, text, root, at };
}

function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

interface Converted {
  readonly node: YNode;
  /** Nodes in the expanded subtree. */
  readonly size: number;
  /** Nesting below the node. */
  readonly height: number;
}

class Converter {
  private nodes = 0;
  /** Anchored subtrees already converted: an alias reuses them, so expansion costs arithmetic, not copies. */
  private readonly anchored = new Map<YamlNode, Converted>();

  constructor(
    private readonly doc: Document,
    private readonly file: string,
    private readonly limits: YamlLimits,
    private readonly at: (offset: number) => { line: number; column: number },
  ) {}

  span(start: number, end: number): Span {
    const a = this.at(start);
    const b = this.at(Math.max(start, end));
    return { line: a.line, column: a.column, endLine: b.line, endColumn: b.column, offset: start, endOffset: Math.max(start, end) };
  }

  empty(offset: number): YScalar {
    return { kind: 'scalar', value: null, text: '', span: this.span(offset, offset) };
  }

  private count(n: number, viaAlias: boolean): void {
    this.nodes += n;
    if (this.nodes > this.limits.maxNodes) {
      if (viaAlias) fail('SCAN_CI_YAML_ALIASES', this.file, `alias expansion produces more than ${this.limits.maxNodes} nodes`);
      fail('SCAN_CI_YAML_TOO_LARGE', this.file, `more than ${this.limits.maxNodes} nodes`);
    }
  }

  node(node: YamlNode, depth: number, expanding: ReadonlySet<YamlNode>): YNode {
    return this.convert(node, depth, expanding).node;
  }

  private tooDeep(node: YamlNode): never {
    fail('SCAN_CI_YAML_TOO_DEEP', this.file, `nested deeper than ${this.limits.maxDepth}`, this.at(node.range?.[0] ?? 0).line);
  }

  private convert(node: YamlNode, depth: number, expanding: ReadonlySet<YamlNode>): Converted {
    if (depth > this.limits.maxDepth) this.tooDeep(node);
    if (isAlias(node)) {
      const target = node.resolve(this.doc) as YamlNode | undefined;
      if (target === undefined) fail('SCAN_CI_YAML_SYNTAX', this.file, `unknown alias *${node.source}`);
      if (expanding.has(target)) fail('SCAN_CI_YAML_ALIASES', this.file, `alias *${node.source} refers to a node that contains it`);
      const done = this.anchored.get(target);
      if (done) {
        if (depth + done.height > this.limits.maxDepth) this.tooDeep(node);
        this.count(done.size, true);
        return done;
      }
      return this.convert(target, depth, expanding);
    }
    const before = this.nodes;
    this.count(1, false);
    const inner = node.anchor ? new Set([...expanding, node]) : expanding;
    let height = 0;
    const child = (n: YamlNode): YNode => {
      const c = this.convert(n, depth + 1, inner);
      height = Math.max(height, c.height + 1);
      return c.node;
    };
    const [start, , end] = node.range ?? [0, 0, 0];
    let out: YNode;
    if (isScalar(node)) {
      const v = node.value;
      const value =
        v === null || v === undefined ? null : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : String(node.source ?? v);
      out = { kind: 'scalar', value, text: value === null ? '' : String(value), span: this.span(start, node.range?.[1] ?? end) };
    } else if (isSeq(node)) {
      const items = node.items.map((item) => (item === null || item === undefined ? this.empty(start) : child(item as YamlNode)));
      out = { kind: 'seq', items, span: this.span(start, end) };
    } else if (isMap(node)) {
      const entries: YEntry[] = [];
      const merged: YEntry[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YamlNode | null;
        const keyStart = keyNode?.range?.[0] ?? start;
        const key: YScalar =
          keyNode && isScalar(keyNode)
            ? (child(keyNode) as YScalar)
            : {
                kind: 'scalar',
                value: String(keyNode?.toString() ?? ''),
                text: String(keyNode?.toString() ?? ''),
                span: this.span(keyStart, keyNode?.range?.[1] ?? keyStart),
              };
        const valueNode = pair.value as YamlNode | null;
        const value = valueNode === null || valueNode === undefined ? this.empty(key.span.endOffset) : child(valueNode);
        if (key.text === '<<' && keyNode && isScalar(keyNode) && keyNode.type === 'PLAIN') {
          const sources = value.kind === 'seq' ? value.items : [value];
          for (const source of sources) if (source.kind === 'map') merged.push(...source.entries);
          continue;
        }
        entries.push({ key, value });
      }
      const own = new Set(entries.map((e) => e.key.text));
      const seen = new Set<string>();
      // Explicit keys win over merged ones; earlier merge sources win over later ones (YAML merge-key rules).
      const fromMerge = merged.filter((e) => !own.has(e.key.text) && !seen.has(e.key.text) && seen.add(e.key.text));
      out = { kind: 'map', entries: [...fromMerge, ...entries], span: this.span(start, end) };
    } else out = this.empty(start);
    const converted = { node: out, size: this.nodes - before, height };
    if (node.anchor) this.anchored.set(node, converted);
    return converted;
  }
}

/** The value at `key` of a map node, or undefined. */
export function get(node: YNode | undefined, key: string): YNode | undefined {
  if (node?.kind !== 'map') return undefined;
  for (let i = node.entries.length - 1; i >= 0; i--) if (node.entries[i]?.key.text === key) return node.entries[i]?.value;
  return undefined;
}

/** The entry at `key` of a map node, or undefined. */
export function entry(node: YNode | undefined, key: string): YEntry | undefined {
  if (node?.kind !== 'map') return undefined;
  for (let i = node.entries.length - 1; i >= 0; i--) if (node.entries[i]?.key.text === key) return node.entries[i];
  return undefined;
}

export function scalar(node: YNode | undefined): YScalar | undefined {
  return node?.kind === 'scalar' && node.value !== null ? node : undefined;
}

/** Scalar text, or undefined for a missing, null or collection node. */
export function text(node: YNode | undefined): string | undefined {
  return scalar(node)?.text;
}

/** A scalar or a sequence of scalars as a list of scalars (`runs-on: x` and `runs-on: [x, y]`). */
export function scalarList(node: YNode | undefined): YScalar[] {
  if (node === undefined) return [];
  if (node.kind === 'scalar') return node.value === null ? [] : [node];
  if (node.kind === 'seq') return node.items.filter((i): i is YScalar => i.kind === 'scalar' && i.value !== null);
  return [];
}

/** Every scalar below a node, depth first, in document order. */
export function* scalars(node: YNode): Generator<YScalar> {
  const stack: YNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as YNode;
    if (n.kind === 'scalar') yield n;
    else if (n.kind === 'seq') for (let i = n.items.length - 1; i >= 0; i--) stack.push(n.items[i] as YNode);
    else
      for (let i = n.entries.length - 1; i >= 0; i--) {
        const e = n.entries[i] as YEntry;
        stack.push(e.value);
        stack.push(e.key);
      }
  }
}

/**
 * Where `needle` (a substring of the scalar's value) sits in the file: its k-th occurrence in
 * the scalar's source text when found there (plain, literal and folded scalars keep the
 * characters), else the scalar's own start.
 */
export function locateIn(
  file: YamlFile,
  node: YScalar,
  needle: string,
  occurrence: number,
): { line: number; column: number; endLine: number; endColumn: number } {
  const source = file.text.slice(node.span.offset, node.span.endOffset);
  let index = -1;
  for (let k = 0; k <= occurrence; k++) {
    index = source.indexOf(needle, index + 1);
    if (index === -1) break;
  }
  if (index === -1) return { line: node.span.line, column: node.span.column, endLine: node.span.endLine, endColumn: node.span.endColumn };
  const a = file.at(node.span.offset + index);
  const b = file.at(node.span.offset + index + needle.length);
  return { line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
}
