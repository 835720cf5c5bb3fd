/**
 * Explains why two builds of an artifact differ: a recursive, format-aware differ for gzip,
 * tar, zip, JSON and text that emits a diffoscope-shaped tree, plus heuristics that name the
 * likely causes (timestamps, modes, order, paths, locale, time zone, environment, compression,
 * randomness) from the pair of artifacts alone. Pure and capped: no I/O, no clock, every loop
 * bounded by a limit, every scanner linear in its input.
 */
import { Buffer } from 'node:buffer';
import { gunzip, readGzipHeader, unpackTar, type GzipHeader, type TarMember } from '../crypto/archive.js';
import { sha256Hex } from '../crypto/digest.js';
import { isZip, unpackZip, type ZipMember } from '../crypto/zip.js';
import { CairnError, InputError } from '../model/errors.js';
import { parseJson, type JsonValue } from '../model/json.js';

// ---------------------------------------------------------------------------------------------
// Public types

export type CauseKind =
  | 'timestamp'
  | 'file-mode'
  | 'file-order'
  | 'build-path'
  | 'locale'
  | 'timezone'
  | 'environment'
  | 'compression'
  | 'randomness'
  | 'content';

export type Confidence = 'high' | 'medium' | 'low';

/** Where a cause shows, with the two differing values (clipped to `maxValueLength`). */
export interface Evidence {
  /** Member path, nested archives joined by `!/` (`inner.tgz!/pkg/index.js`); `''` for the artifact itself. */
  readonly path: string;
  /** What differs: a header field (`mtime`, `mode`, `gzip MTIME`), a JSON path (`$.builtAt`), `member order`. */
  readonly field?: string;
  /** 1-based line numbers in source1 and source2, for text. */
  readonly line1?: number;
  readonly line2?: number;
  readonly value1?: string;
  readonly value2?: string;
}

export interface Cause {
  readonly kind: CauseKind;
  readonly confidence: Confidence;
  readonly detail: string;
  /** How many differences were attributed to this cause (evidence lists at most `maxEvidence`). */
  readonly occurrences: number;
  readonly evidence: readonly Evidence[];
}

/** One node of the difference tree, in the shape of diffoscope's JSON output. */
export interface DiffNode {
  source1: string;
  source2: string;
  unified_diff: string | null;
  details: DiffNode[];
  comments?: string[];
}

/** The root carries diffoscope's format marker, so `diffoscope --load-existing-diff` can render it. */
export interface DiffTree extends DiffNode {
  readonly 'diffoscope-json-version': 1;
}

export interface ExplainResult {
  /** Bit-for-bit identical. */
  readonly identical: boolean;
  /** Likely causes, most confident first; empty when identical. */
  readonly causes: readonly Cause[];
  /** What differs; null when identical. */
  readonly diff: DiffTree | null;
}

/** Environment facts the caller knows about either build; matches name the cause with high confidence. */
export interface ExplainHints {
  readonly hostnames?: readonly string[];
  readonly users?: readonly string[];
  readonly homes?: readonly string[];
  readonly buildPaths?: readonly string[];
}

export interface ExplainLimits {
  /** Largest artifact accepted, per side. */
  readonly maxInputBytes: number;
  /** Bytes produced by decompression, per side, over all nesting levels. */
  readonly maxUnpackedBytes: number;
  /** Archive members, per side, over all nesting levels. */
  readonly maxMembers: number;
  /** Containers (gzip, tar, zip) unpacked inside each other. */
  readonly maxDepth: number;
  /** Larger files are compared as binary. */
  readonly maxTextBytes: number;
  /** Lines of one unified diff. */
  readonly maxDiffLines: number;
  /** Lines of all unified diffs together. */
  readonly maxTotalDiffLines: number;
  /** Characters kept of one diff line. */
  readonly maxLineLength: number;
  /** Nodes of the difference tree. */
  readonly maxNodes: number;
  /** Differing line (or JSON value) pairs examined by the cause heuristics. */
  readonly maxLinePairs: number;
  /** Evidence items kept per cause. */
  readonly maxEvidence: number;
  /** Characters kept of one evidence value. */
  readonly maxValueLength: number;
}

export interface ExplainOptions {
  /** Labels of the two artifacts in the tree (file names). Default `['a', 'b']`. */
  readonly names?: readonly [string, string];
  readonly hints?: ExplainHints;
  readonly limits?: Partial<ExplainLimits>;
}

export const DEFAULT_EXPLAIN_LIMITS: ExplainLimits = Object.freeze({
  maxInputBytes: 512 * 1024 * 1024,
  maxUnpackedBytes: 1024 * 1024 * 1024,
  maxMembers: 100_000,
  maxDepth: 8,
  maxTextBytes: 8 * 1024 * 1024,
  maxDiffLines: 400,
  maxTotalDiffLines: 10_000,
  maxLineLength: 400,
  maxNodes: 5_000,
  maxLinePairs: 20_000,
  maxEvidence: 8,
  maxValueLength: 160,
});

const MAX_HINTS = 64;
const MAX_HINT_LENGTH = 1024;

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Compares two artifacts and names the likely causes of their differences. Identical bytes
 * give `{ identical: true, causes: [], diff: null }`. Throws `InputError`: `EXPLAIN_TOO_LARGE`
 * (an input over `maxInputBytes`, or more unpacked data than `maxUnpackedBytes`),
 * `EXPLAIN_BAD_OPTION` (limits or hints), and the archive readers' own codes for a malformed
 * or oversized top-level archive (`ARCHIVE_CORRUPT`, `ARCHIVE_TOO_LARGE`,
 * `ARCHIVE_TOO_MANY_ENTRIES`, …). A malformed archive nested inside is compared as bytes.
 */
export function explainArtifacts(a: Uint8Array, b: Uint8Array, options: ExplainOptions = {}): ExplainResult {
  const limits = resolveLimits(options.limits ?? {});
  const hints = resolveHints(options.hints ?? {});
  const [name1, name2] = options.names ?? ['a', 'b'];
  for (const [bytes, name] of [
    [a, name1],
    [b, name2],
  ] as const) {
    if (bytes.length > limits.maxInputBytes) {
      throw new InputError('EXPLAIN_TOO_LARGE', `${name}: ${bytes.length} bytes is over the ${limits.maxInputBytes}-byte cap`);
    }
  }
  if (equalBytes(a, b)) return { identical: true, causes: [], diff: null };

  const ctx: Ctx = {
    limits,
    hints,
    unpacked: [0, 0],
    members: [0, 0],
    nodes: 1,
    elidedNodes: 0,
    diffLines: 0,
    linePairs: 0,
    elidedPairs: 0,
    causes: new Map(),
  };
  const node = compareBytes(ctx, name1, name2, '', a, b, 0) ?? compareOpaque(ctx, name1, name2, '', a, b, []);
  if (ctx.elidedNodes > 0) addComment(node, `${ctx.elidedNodes} more differences not shown (maxNodes ${limits.maxNodes})`);
  if (ctx.elidedPairs > 0) addComment(node, `${ctx.elidedPairs} differing lines not examined for causes (maxLinePairs ${limits.maxLinePairs})`);
  const causes = aggregate(ctx);
  if (causes.length === 0) {
    causes.push({
      kind: 'content',
      confidence: 'low',
      detail: 'the bytes differ but no difference was found in their structure',
      occurrences: 1,
      evidence: [{ path: '' }],
    });
  }
  return { identical: false, causes, diff: { 'diffoscope-json-version': 1, ...node } };
}

function resolveLimits(partial: Partial<ExplainLimits>): ExplainLimits {
  const limits = { ...DEFAULT_EXPLAIN_LIMITS, ...partial };
  for (const [key, value] of Object.entries(limits)) {
    const min = key === 'maxDepth' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new InputError('EXPLAIN_BAD_OPTION', `limit ${key} must be an integer ≥ ${min}, got ${String(value)}`);
    }
  }
  return limits;
}

interface Hint {
  readonly value: string;
  readonly kind: 'environment' | 'build-path';
  readonly label: string;
}

function resolveHints(hints: ExplainHints): Hint[] {
  const out: Hint[] = [];
  const groups: [keyof ExplainHints, Hint['kind'], string][] = [
    ['hostnames', 'environment', 'hostname'],
    ['users', 'environment', 'user name'],
    ['homes', 'environment', 'HOME'],
    ['buildPaths', 'build-path', 'build path'],
  ];
  for (const [key, kind, label] of groups) {
    const values = hints[key] ?? [];
    if (!Array.isArray(values) || values.length > MAX_HINTS)
      throw new InputError('EXPLAIN_BAD_OPTION', `hints.${key} must be a list of at most ${MAX_HINTS} strings`);
    values.forEach((raw: unknown, index) => {
      if (typeof raw !== 'string' || raw.length < 2 || raw.length > MAX_HINT_LENGTH) {
        throw new InputError('EXPLAIN_BAD_OPTION', `hints.${key}[${index}] must be a string of 2..${MAX_HINT_LENGTH} characters`);
      }
      const value = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
      out.push({ value, kind, label });
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Findings, aggregated into causes as they arrive (memory bounded by maxEvidence per kind)

interface Ctx {
  readonly limits: ExplainLimits;
  readonly hints: readonly Hint[];
  readonly unpacked: [number, number];
  readonly members: [number, number];
  nodes: number;
  elidedNodes: number;
  diffLines: number;
  linePairs: number;
  elidedPairs: number;
  readonly causes: Map<CauseKind, CauseAccumulator>;
}

interface CauseAccumulator {
  rank: number;
  occurrences: number;
  readonly details: { rank: number; text: string }[];
  readonly evidence: Evidence[];
  readonly keys: Set<string>;
}

const RANK: Readonly<Record<Confidence, number>> = { high: 3, medium: 2, low: 1 };
const KIND_ORDER: readonly CauseKind[] = [
  'timestamp',
  'timezone',
  'locale',
  'build-path',
  'environment',
  'file-mode',
  'file-order',
  'randomness',
  'compression',
  'content',
];
const MAX_DETAILS = 3;

function record(ctx: Ctx, kind: CauseKind, confidence: Confidence, detail: string, evidence: Evidence): void {
  let acc = ctx.causes.get(kind);
  if (acc === undefined) {
    acc = { rank: 0, occurrences: 0, details: [], evidence: [], keys: new Set() };
    ctx.causes.set(kind, acc);
  }
  const rank = RANK[confidence];
  acc.occurrences++;
  acc.rank = Math.max(acc.rank, rank);
  const known = acc.details.find((d) => d.text === detail);
  if (known !== undefined) known.rank = Math.max(known.rank, rank);
  else if (acc.details.length < 16) acc.details.push({ rank, text: detail });
  if (acc.evidence.length >= ctx.limits.maxEvidence) return;
  const clipped: Evidence = {
    path: clip(evidence.path, ctx.limits.maxValueLength * 2),
    ...(evidence.field !== undefined ? { field: clip(evidence.field, ctx.limits.maxValueLength) } : {}),
    ...(evidence.line1 !== undefined ? { line1: evidence.line1 } : {}),
    ...(evidence.line2 !== undefined ? { line2: evidence.line2 } : {}),
    ...(evidence.value1 !== undefined ? { value1: clip(evidence.value1, ctx.limits.maxValueLength) } : {}),
    ...(evidence.value2 !== undefined ? { value2: clip(evidence.value2, ctx.limits.maxValueLength) } : {}),
  };
  const key = JSON.stringify([clipped.path, clipped.field, clipped.value1, clipped.value2]);
  if (acc.keys.has(key)) return;
  acc.keys.add(key);
  acc.evidence.push(clipped);
}

function aggregate(ctx: Ctx): Cause[] {
  const causes = [...ctx.causes.entries()].map(([kind, acc]) => {
    const details = [...acc.details].sort((x, y) => y.rank - x.rank).slice(0, MAX_DETAILS);
    const extra = acc.details.length - details.length;
    const confidence: Confidence = acc.rank >= 3 ? 'high' : acc.rank === 2 ? 'medium' : 'low';
    return {
      kind,
      confidence,
      detail: details.map((d) => d.text).join('; ') + (extra > 0 ? ` (and ${extra} more)` : ''),
      occurrences: acc.occurrences,
      evidence: acc.evidence,
    };
  });
  return causes.sort(
    (x, y) => RANK[y.confidence] - RANK[x.confidence] || y.occurrences - x.occurrences || KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind),
  );
}

// ---------------------------------------------------------------------------------------------
// Tree helpers

function newNode(source1: string, source2: string): DiffNode {
  return { source1, source2, unified_diff: null, details: [] };
}

function addDetail(ctx: Ctx, parent: DiffNode, child: DiffNode): void {
  if (ctx.nodes >= ctx.limits.maxNodes) {
    ctx.elidedNodes++;
    return;
  }
  ctx.nodes++;
  parent.details.push(child);
}

function addComment(node: DiffNode, text: string): void {
  if (node.comments === undefined) node.comments = [text];
  else node.comments.push(text);
}

function memberWhere(where: string, path: string): string {
  return where === '' ? path : `${where}!/${path}`;
}

// ---------------------------------------------------------------------------------------------
// Dispatch by content

type Layout = 'gzip' | 'zip' | 'tar' | 'other';

function layoutOf(bytes: Uint8Array): Layout {
  if (bytes.length >= 18 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (isZip(bytes)) return 'zip';
  if (bytes.length >= 512 && Buffer.from(bytes.buffer, bytes.byteOffset + 257, 5).toString('latin1') === 'ustar') return 'tar';
  return 'other';
}

/** The difference between two byte strings, or null when they are equal. */
function compareBytes(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array, depth: number): DiffNode | null {
  if (equalBytes(a, b)) return null;
  const layout1 = layoutOf(a);
  const layout2 = layoutOf(b);
  if (layout1 !== layout2) {
    record(ctx, 'content', 'low', 'the two sides hold different kinds of data', { path: where, field: 'format', value1: layout1, value2: layout2 });
    return compareOpaque(ctx, name1, name2, where, a, b, [`formats differ: ${layout1} vs ${layout2}`], false);
  }
  if (layout1 !== 'other' && depth >= ctx.limits.maxDepth) {
    return compareOpaque(ctx, name1, name2, where, a, b, [`${layout1} not unpacked: nested deeper than ${ctx.limits.maxDepth} containers (maxDepth)`]);
  }
  switch (layout1) {
    case 'gzip':
      return compareGzip(ctx, name1, name2, where, a, b, depth);
    case 'tar':
      return compareTar(ctx, name1, name2, where, a, b, depth);
    case 'zip':
      return compareZip(ctx, name1, name2, where, a, b, depth);
    case 'other':
      return compareContent(ctx, name1, name2, where, a, b);
  }
}

/** Codes after which a nested container is shown as bytes instead of failing the comparison. */
const DEGRADABLE = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_BAD_PATH', 'ARCHIVE_UNSUPPORTED_ENTRY', 'ARCHIVE_UNSUPPORTED_FORMAT', 'ARCHIVE_ZIP64_UNSUPPORTED']);

type Unpacked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

function unpack<T>(depth: number, name: string, fn: () => T): Unpacked<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (!(error instanceof CairnError) || error.category !== 'input') throw error;
    if (depth > 0 && DEGRADABLE.has(error.code)) return { ok: false, reason: `${name}: cannot unpack (${error.code}: ${error.message})` };
    throw new InputError(error.code, `${name}: ${error.message}`, { cause: error, problems: error.problems });
  }
}

function remainingBytes(ctx: Ctx, side: 0 | 1): number {
  return Math.max(0, ctx.limits.maxUnpackedBytes - ctx.unpacked[side]);
}

function charge(ctx: Ctx, side: 0 | 1, bytes: number, name: string): void {
  ctx.unpacked[side] += bytes;
  if (ctx.unpacked[side] > ctx.limits.maxUnpackedBytes) {
    throw new InputError('EXPLAIN_TOO_LARGE', `${name}: more than ${ctx.limits.maxUnpackedBytes} bytes unpacked (maxUnpackedBytes)`);
  }
}

function remainingMembers(ctx: Ctx, side: 0 | 1): number {
  return Math.max(0, ctx.limits.maxMembers - ctx.members[side]);
}

// ---------------------------------------------------------------------------------------------
// gzip

const GZIP_OS: Readonly<Record<number, string>> = { 0: 'FAT', 3: 'Unix', 7: 'Macintosh', 11: 'NTFS', 255: 'unknown' };
const GZIP_XFL: Readonly<Record<number, string>> = { 0: 'no hint', 2: 'maximum compression (level 9)', 4: 'fastest (level 1)' };

function gzipFields(h: GzipHeader): [string, string][] {
  return [
    ['method', `${h.method}${h.method === 8 ? ' (deflate)' : ''}`],
    ['flags', `0x${h.flags.toString(16).padStart(2, '0')}`],
    ['MTIME', h.mtime === 0 ? '0 (none)' : `${h.mtime} (${isoSeconds(h.mtime)})`],
    ['XFL', `${h.xfl} (${GZIP_XFL[h.xfl] ?? 'other'})`],
    ['OS', `${h.os} (${GZIP_OS[h.os] ?? 'other'})`],
    ['FNAME', h.name === null ? '(none)' : JSON.stringify(h.name)],
    ['FCOMMENT', h.comment === null ? '(none)' : JSON.stringify(h.comment)],
  ];
}

function gzipBodyOffset(bytes: Uint8Array, h: GzipHeader): number {
  let at = 10;
  if (h.flags & 0x04) at += 2 + ((bytes[10] ?? 0) | ((bytes[11] ?? 0) << 8));
  // Names were decoded as latin1: one character per byte, plus the NUL.
  if (h.name !== null) at += h.name.length + 1;
  if (h.comment !== null) at += h.comment.length + 1;
  if (h.flags & 0x02) at += 2;
  return at;
}

function innerName(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith('.tgz')) return `${name.slice(0, -4)}.tar`;
  if (lower.endsWith('.gz')) return name.slice(0, -3);
  return `${name} (decompressed)`;
}

function compareGzip(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array, depth: number): DiffNode {
  const open = (bytes: Uint8Array, side: 0 | 1, name: string) =>
    unpack(depth, name, () => {
      const header = readGzipHeader(bytes);
      const data = gunzip(bytes, remainingBytes(ctx, side));
      charge(ctx, side, data.length, name);
      return { header, data };
    });
  const left = open(a, 0, name1);
  const right = open(b, 1, name2);
  if (!left.ok || !right.ok) return compareOpaque(ctx, name1, name2, where, a, b, failures(left, right));

  const node = newNode(name1, name2);
  const fields1 = gzipFields(left.value.header);
  const fields2 = gzipFields(right.value.header);
  const changed = fields1.filter(([, value], i) => value !== fields2[i]?.[1]).map(([field], i) => field ?? String(i));
  if (changed.length > 0) {
    const lines = (fields: [string, string][]) => fields.map(([k, v]) => `${k}: ${v}`);
    addDetail(ctx, node, { ...newNode('gzip header', 'gzip header'), unified_diff: lineDiff(ctx, lines(fields1), lines(fields2)).text });
  }
  const evidenceFor = (field: string): Evidence => ({
    path: where,
    field: `gzip ${field}`,
    value1: fields1.find(([k]) => k === field)?.[1] ?? '',
    value2: fields2.find(([k]) => k === field)?.[1] ?? '',
  });
  if (equalBytes(left.value.data, right.value.data)) {
    addComment(node, 'the decompressed data is identical');
    for (const field of changed) {
      record(
        ctx,
        'compression',
        'high',
        `the gzip header differs while the decompressed data is identical (${changed.join(', ')}): write it without name or mtime (gzip -n) and with a fixed OS byte`,
        evidenceFor(field),
      );
    }
    const body1 = a.subarray(gzipBodyOffset(a, left.value.header));
    const body2 = b.subarray(gzipBodyOffset(b, right.value.header));
    if (!equalBytes(body1, body2)) {
      addComment(node, 'the compressed streams differ');
      record(
        ctx,
        'compression',
        'high',
        'the compressed streams differ while the decompressed data is identical: another compressor implementation, version or level (pin zlib/Node, or compare the uncompressed payload)',
        {
          path: where,
          field: 'deflate stream',
          value1: `${body1.length} bytes, XFL ${left.value.header.xfl}`,
          value2: `${body2.length} bytes, XFL ${right.value.header.xfl}`,
        },
      );
    }
    return node;
  }
  for (const field of changed) {
    record(ctx, 'compression', 'medium', `the gzip header differs as well (${changed.join(', ')})`, evidenceFor(field));
  }
  const inner = compareBytes(ctx, innerName(name1), innerName(name2), where, left.value.data, right.value.data, depth + 1);
  if (inner !== null) addDetail(ctx, node, inner);
  return node;
}

function failures(...results: Unpacked<unknown>[]): string[] {
  return results.flatMap((r) => (r.ok ? [] : [r.reason]));
}

// ---------------------------------------------------------------------------------------------
// Archives (tar and zip share one member model)

interface Member {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly data: Uint8Array | undefined;
  readonly linkname: string | undefined;
  readonly mode: number | null;
  /** Seconds since the epoch, UTC; null for a zip member with only a DOS time. */
  readonly mtime: number | null;
  readonly owner: string | null;
  readonly listing: string;
  readonly zip?: {
    readonly dosTime: string;
    readonly method: number;
    readonly compressedSize: number;
    readonly tool: string;
    readonly comment: string;
  };
}

function compareTar(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array, depth: number): DiffNode {
  const open = (bytes: Uint8Array, side: 0 | 1, name: string) =>
    unpack(depth, name, () => {
      const members = unpackTar(bytes, { maxEntries: remainingMembers(ctx, side), maxBytes: ctx.limits.maxUnpackedBytes });
      ctx.members[side] += members.length;
      return members.map(tarMember);
    });
  const left = open(a, 0, name1);
  const right = open(b, 1, name2);
  if (!left.ok || !right.ok) return compareOpaque(ctx, name1, name2, where, a, b, failures(left, right));
  return compareArchive(ctx, 'tar', name1, name2, where, left.value, right.value, depth);
}

function tarMember(m: TarMember): Member {
  const size = m.data?.length ?? 0;
  const owner = `${m.uid}/${m.gid} ${m.uname || '-'}/${m.gname || '-'}`;
  const link = m.linkname !== undefined ? ` -> ${m.linkname}` : '';
  return {
    path: m.path,
    type: m.type,
    data: m.data,
    linkname: m.linkname,
    mode: m.mode,
    mtime: m.mtime,
    owner,
    listing: `${modeString(m.type, m.mode)} ${owner} ${String(size).padStart(9)} ${isoSeconds(m.mtime)} ${m.path}${link}`,
  };
}

const ZIP_HOSTS: Readonly<Record<number, string>> = { 0: 'fat', 3: 'unx', 7: 'mac', 10: 'ntf', 14: 'vft', 19: 'osx' };

function compareZip(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array, depth: number): DiffNode {
  const open = (bytes: Uint8Array, side: 0 | 1, name: string) =>
    unpack(depth, name, () => {
      const archive = unpackZip(bytes, { maxEntries: remainingMembers(ctx, side), maxBytes: remainingBytes(ctx, side) });
      ctx.members[side] += archive.members.length;
      charge(
        ctx,
        side,
        archive.members.reduce((sum, m) => sum + m.size, 0),
        name,
      );
      return { comment: archive.comment, members: archive.members.map(zipMember) };
    });
  const left = open(a, 0, name1);
  const right = open(b, 1, name2);
  if (!left.ok || !right.ok) return compareOpaque(ctx, name1, name2, where, a, b, failures(left, right));
  const node = compareArchive(ctx, 'zip', name1, name2, where, left.value.members, right.value.members, depth);
  if (left.value.comment !== right.value.comment) {
    addComment(node, `archive comments differ: ${JSON.stringify(clip(left.value.comment, 80))} vs ${JSON.stringify(clip(right.value.comment, 80))}`);
    record(ctx, 'content', 'low', 'the zip archive comments differ', {
      path: where,
      field: 'zip comment',
      value1: left.value.comment,
      value2: right.value.comment,
    });
  }
  return node;
}

function zipMember(m: ZipMember): Member {
  const version = m.versionMadeBy & 0xff;
  const host = m.versionMadeBy >>> 8;
  const tool = `${Math.floor(version / 10)}.${version % 10} ${ZIP_HOSTS[host] ?? `host${host}`} extra ${[
    ...new Set([...m.extraIds.local, ...m.extraIds.central]),
  ]
    .map((id) => id.toString(16).padStart(4, '0'))
    .join(',')}`;
  const owner = m.uid === null && m.gid === null ? null : `${m.uid ?? '-'}/${m.gid ?? '-'}`;
  const method = m.method === 0 ? 'stor' : m.method === 8 ? 'defN' : `m${m.method}`;
  const link = m.linkname !== undefined ? ` -> ${m.linkname}` : '';
  const utc = m.mtime === null ? '' : ` UT ${isoSeconds(m.mtime)}`;
  return {
    path: m.path,
    type: m.type,
    data: m.type === 'file' ? m.data : undefined,
    linkname: m.linkname,
    mode: m.mode,
    mtime: m.mtime,
    owner,
    listing: `${modeString(m.type, m.mode)} ${tool} ${owner ?? '-'} ${String(m.size).padStart(9)} ${method} ${String(m.compressedSize).padStart(9)} ${m.dosTime}${utc} ${m.path}${link}`,
    zip: { dosTime: m.dosTime, method: m.method, compressedSize: m.compressedSize, tool, comment: m.comment },
  };
}

function compareArchive(ctx: Ctx, kind: 'tar' | 'zip', name1: string, name2: string, where: string, m1: Member[], m2: Member[], depth: number): DiffNode {
  const node = newNode(name1, name2);
  const list1 = m1.map((m) => m.listing);
  const list2 = m2.map((m) => m.listing);
  if (!sameStrings(list1, list2)) addDetail(ctx, node, { ...newNode('file list', 'file list'), unified_diff: lineDiff(ctx, list1, list2).text });

  const by1 = new Map(m1.map((m) => [m.path, m]));
  const by2 = new Map(m2.map((m) => [m.path, m]));
  const common1 = m1.filter((m) => by2.has(m.path)).map((m) => m.path);
  const common2 = m2.filter((m) => by1.has(m.path)).map((m) => m.path);
  const firstMoved = common1.findIndex((p, i) => p !== common2[i]);
  if (firstMoved !== -1) {
    const sameSet = common1.length === m1.length && common2.length === m2.length;
    record(
      ctx,
      'file-order',
      sameSet ? 'high' : 'medium',
      `the ${kind} members are stored in another order (directory listing or completion order): add members sorted by name`,
      { path: where, field: 'member order', value1: `#${firstMoved + 1} ${common1[firstMoved]}`, value2: `#${firstMoved + 1} ${common2[firstMoved]}` },
    );
  }
  const only1 = m1.filter((m) => !by2.has(m.path)).map((m) => m.path);
  const only2 = m2.filter((m) => !by1.has(m.path)).map((m) => m.path);
  for (const [only, side, name] of [
    [only1, 1, name1],
    [only2, 2, name2],
  ] as const) {
    if (only.length === 0) continue;
    addComment(node, `only in ${name}: ${only.slice(0, 10).join(', ')}${only.length > 10 ? ` (and ${only.length - 10} more)` : ''}`);
    for (const path of only) {
      record(ctx, 'content', 'low', 'members are present on one side only', {
        path: memberWhere(where, path),
        ...(side === 1 ? { value1: 'present', value2: 'absent' } : { value1: 'absent', value2: 'present' }),
      });
    }
  }

  let toolDifferences = 0;
  let toolExample: Evidence | undefined;
  for (const x of m1) {
    const y = by2.get(x.path);
    if (y === undefined) continue;
    const at = memberWhere(where, x.path);
    compareMemberHeaders(ctx, kind, at, x, y);
    if (x.zip !== undefined && y.zip !== undefined && x.zip.tool !== y.zip.tool) {
      toolDifferences++;
      toolExample ??= { path: at, field: 'version made by / extra fields', value1: x.zip.tool, value2: y.zip.tool };
    }
    if (x.type !== y.type) {
      record(ctx, 'content', 'low', 'a member changed type', { path: at, field: 'type', value1: x.type, value2: y.type });
      continue;
    }
    if (x.linkname !== y.linkname) {
      record(ctx, 'content', 'low', 'a symlink points elsewhere', { path: at, field: 'symlink target', value1: x.linkname ?? '', value2: y.linkname ?? '' });
    }
    if (x.data !== undefined && y.data !== undefined) {
      const child = compareBytes(ctx, x.path, y.path, at, x.data, y.data, depth + 1);
      if (child !== null) addDetail(ctx, node, child);
    }
  }
  if (toolExample !== undefined) {
    record(
      ctx,
      'compression',
      'medium',
      `the zip archives were written by different tools or options (version made by, extra fields) for ${toolDifferences} member(s)`,
      toolExample,
    );
  }
  if (node.details.length === 0 && node.comments === undefined)
    addComment(node, 'the members and their metadata are identical; the archives differ in layout only');
  return node;
}

function compareMemberHeaders(ctx: Ctx, kind: 'tar' | 'zip', at: string, x: Member, y: Member): void {
  compareTimes(ctx, kind, at, x, y);
  if (x.mode !== null && y.mode !== null && x.mode !== y.mode) {
    const diff = x.mode ^ y.mode;
    const detail =
      (diff & ~0o077) === 0
        ? 'file permissions differ in the group/other bits only, as checkouts or builds under different umasks (077 vs 022) produce: normalise modes (0644/0755) when packing'
        : diff & 0o111
          ? 'file permissions differ in the executable bits: set modes explicitly when packing'
          : 'file permissions differ: normalise modes (0644/0755) when packing';
    record(ctx, 'file-mode', 'high', detail, { path: at, field: 'mode', value1: describeMode(x.mode), value2: describeMode(y.mode) });
  }
  if (x.owner !== null && y.owner !== null && x.owner !== y.owner) {
    record(ctx, 'environment', 'high', `the ${kind} records the building user (uid/gid or owner names): store owner 0/0 without names`, {
      path: at,
      field: 'owner',
      value1: x.owner,
      value2: y.owner,
    });
  }
  if (x.zip !== undefined && y.zip !== undefined && equalOptionalBytes(x.data, y.data)) {
    if (x.zip.method !== y.zip.method || x.zip.compressedSize !== y.zip.compressedSize) {
      record(ctx, 'compression', 'high', 'a zip member is compressed differently though its data is identical (method, level or deflate implementation)', {
        path: at,
        field: 'compression',
        value1: `method ${x.zip.method}, ${x.zip.compressedSize} bytes`,
        value2: `method ${y.zip.method}, ${y.zip.compressedSize} bytes`,
      });
    }
  }
  if (x.zip !== undefined && y.zip !== undefined && x.zip.comment !== y.zip.comment) {
    record(ctx, 'content', 'low', 'zip member comments differ', { path: at, field: 'comment', value1: x.zip.comment, value2: y.zip.comment });
  }
}

function compareTimes(ctx: Ctx, kind: 'tar' | 'zip', at: string, x: Member, y: Member): void {
  if (x.mtime !== null && y.mtime !== null && x.mtime !== y.mtime) {
    record(ctx, 'timestamp', 'high', `the ${kind} member modification times differ: clamp them to SOURCE_DATE_EPOCH when packing`, {
      path: at,
      field: 'mtime',
      value1: isoSeconds(x.mtime),
      value2: isoSeconds(y.mtime),
    });
    return;
  }
  const dos1 = x.zip?.dosTime;
  const dos2 = y.zip?.dosTime;
  if (dos1 === undefined || dos2 === undefined || dos1 === dos2) return;
  const delta = dosSeconds(dos2) - dosSeconds(dos1);
  const evidence: Evidence = { path: at, field: 'DOS time', value1: dos1, value2: dos2 };
  if (x.mtime !== null && x.mtime === y.mtime) {
    record(
      ctx,
      'timezone',
      'high',
      `zip DOS times (local time, no zone) differ by ${formatHours(delta)} while the UTC timestamps agree: the archiver ran in different time zones (run it with TZ=UTC)`,
      evidence,
    );
  } else if (delta % 3600 === 0 && Math.abs(delta) <= 26 * 3600) {
    record(
      ctx,
      'timezone',
      'medium',
      `zip DOS times (local time, no zone) differ by exactly ${formatHours(delta)}: probably the archiver ran in different time zones (run it with TZ=UTC)`,
      evidence,
    );
  } else {
    record(ctx, 'timestamp', 'high', 'the zip member modification times differ: set them from SOURCE_DATE_EPOCH (not before 1980)', evidence);
  }
}

function dosSeconds(text: string): number {
  // `YYYY-MM-DD HH:MM:SS` as written by unpackZip; read as UTC since DOS times carry no zone.
  const n = (from: number, to: number) => Number(text.slice(from, to));
  return Date.UTC(n(0, 4), n(5, 7) - 1, n(8, 10), n(11, 13), n(14, 16), n(17, 19)) / 1000;
}

function formatHours(seconds: number): string {
  const hours = seconds / 3600;
  return `${hours > 0 ? '+' : ''}${Number.isInteger(hours) ? hours : hours.toFixed(2)} h`;
}

function modeString(type: Member['type'], mode: number | null): string {
  const lead = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : '-';
  if (mode === null) return `${lead}?????????`;
  const bits = 'rwxrwxrwx';
  let out = lead;
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

function describeMode(mode: number): string {
  return `${mode.toString(8).padStart(4, '0')} (${modeString('file', mode).slice(1)})`;
}

// ---------------------------------------------------------------------------------------------
// Leaves: text, JSON, bytes

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asText(ctx: Ctx, bytes: Uint8Array): string | null {
  if (bytes.length > ctx.limits.maxTextBytes || bytes.includes(0)) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function asJson(ctx: Ctx, text: string, name: string): { value: JsonValue } | undefined {
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  if (text[i] !== '{' && text[i] !== '[') return undefined;
  try {
    // JSON.parse yields only JSON values; parseJson capped its size and depth.
    return { value: parseJson(text, name, { maxBytes: ctx.limits.maxTextBytes, maxDepth: 64 }) as JsonValue };
  } catch (error) {
    if (error instanceof CairnError && error.category === 'input') return undefined;
    throw error;
  }
}

function compareContent(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array): DiffNode {
  const text1 = asText(ctx, a);
  const text2 = asText(ctx, b);
  if (text1 === null || text2 === null) {
    const comments = text1 === text2 ? [] : ['one side is text, the other binary (or over maxTextBytes)'];
    return compareOpaque(ctx, name1, name2, where, a, b, comments);
  }
  const json1 = asJson(ctx, text1, name1);
  const json2 = json1 === undefined ? undefined : asJson(ctx, text2, name2);
  if (json1 !== undefined && json2 !== undefined) return compareJson(ctx, name1, name2, where, json1.value, json2.value);
  return compareText(ctx, name1, name2, where, text1, text2);
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function compareText(ctx: Ctx, name1: string, name2: string, where: string, text1: string, text2: string): DiffNode {
  const lines1 = splitLines(text1);
  const lines2 = splitLines(text2);
  const node = newNode(name1, name2);
  const diff = lineDiff(ctx, lines1, lines2);
  if (diff.blocks.length === 0) {
    addComment(node, 'only the final newline differs');
    record(ctx, 'content', 'low', 'only the final newline differs', { path: where });
    return node;
  }
  node.unified_diff = diff.text;
  if (diff.elided > 0) addComment(node, `diff truncated: ${diff.elided} lines not shown`);
  if (sameMultiset(diff.ids1, diff.ids2)) {
    const first = diff.blocks[0];
    const line1 = first?.i1 ?? 0;
    const line2 = first?.j1 ?? 0;
    record(ctx, 'file-order', 'medium', 'the same lines appear in another order (an unsorted listing, or output in completion order): sort it', {
      path: where,
      line1: line1 + 1,
      line2: line2 + 1,
      value1: lines1[line1] ?? '',
      value2: lines2[line2] ?? '',
    });
    return node;
  }
  for (const block of diff.blocks) {
    const pairs = Math.min(block.i2 - block.i1, block.j2 - block.j1);
    for (let t = 0; t < pairs; t++) {
      analysePair(ctx, lines1[block.i1 + t] ?? '', lines2[block.j1 + t] ?? '', { path: where, line1: block.i1 + t + 1, line2: block.j1 + t + 1 });
    }
    if (block.i2 - block.i1 > pairs) {
      record(ctx, 'content', 'low', 'lines are present on one side only', { path: where, line1: block.i1 + pairs + 1, value1: lines1[block.i1 + pairs] ?? '' });
    }
    if (block.j2 - block.j1 > pairs) {
      record(ctx, 'content', 'low', 'lines are present on one side only', { path: where, line2: block.j1 + pairs + 1, value2: lines2[block.j1 + pairs] ?? '' });
    }
  }
  return node;
}

function compareOpaque(ctx: Ctx, name1: string, name2: string, where: string, a: Uint8Array, b: Uint8Array, comments: string[], count = true): DiffNode {
  const node = newNode(name1, name2);
  for (const comment of comments) addComment(node, comment);
  let first = 0;
  const shorter = Math.min(a.length, b.length);
  while (first < shorter && a[first] === b[first]) first++;
  addComment(node, `sizes: ${a.length} vs ${b.length} bytes; sha256 ${sha256Hex(a)} vs ${sha256Hex(b)}; first difference at byte ${first}`);
  const start = first - (first % 16);
  node.unified_diff = lineDiff(ctx, hexLines(a, start), hexLines(b, start)).text;
  if (count) {
    record(ctx, 'content', 'low', 'binary data differs', {
      path: where,
      field: 'bytes',
      value1: `${a.length} bytes sha256:${sha256Hex(a).slice(0, 16)}…`,
      value2: `${b.length} bytes sha256:${sha256Hex(b).slice(0, 16)}…`,
    });
  }
  return node;
}

/** Four xxd-style lines from `start`. */
function hexLines(bytes: Uint8Array, start: number): string[] {
  const lines: string[] = [];
  for (let at = start; at < Math.min(bytes.length, start + 64); at += 16) {
    const row = bytes.subarray(at, Math.min(bytes.length, at + 16));
    let hex = '';
    let text = '';
    row.forEach((byte, i) => {
      hex += byte.toString(16).padStart(2, '0') + (i % 2 === 1 ? ' ' : '');
      text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
    });
    lines.push(`${at.toString(16).padStart(8, '0')}: ${hex.padEnd(40)} ${text}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// JSON

type JsonChange =
  | { readonly op: 'key-order' | 'array-order'; readonly path: string; readonly value1: string; readonly value2: string }
  | { readonly op: 'changed'; readonly path: string; readonly key: string; readonly a: JsonValue; readonly b: JsonValue }
  | { readonly op: 'added' | 'removed'; readonly path: string; readonly value: JsonValue };

const MAX_JSON_CHANGES = 10_000;

function compareJson(ctx: Ctx, name1: string, name2: string, where: string, a: JsonValue, b: JsonValue): DiffNode {
  const changes: JsonChange[] = [];
  jsonWalk(a, b, '$', '', changes);
  const node = newNode(name1, name2);
  const pretty1 = JSON.stringify(a, null, 2).split('\n');
  const pretty2 = JSON.stringify(b, null, 2).split('\n');
  const child = newNode('Pretty-printed', 'Pretty-printed');
  const diff = lineDiff(ctx, pretty1, pretty2);
  child.unified_diff = diff.text;
  if (diff.elided > 0) addComment(child, `diff truncated: ${diff.elided} lines not shown`);
  if (changes.length === 0) {
    addComment(node, 'the JSON values are equal; only whitespace, escapes or number spelling differ');
    record(ctx, 'content', 'low', 'JSON formatting differs (whitespace, escapes or number spelling)', { path: where });
    return node;
  }
  if (changes.every((c) => c.op === 'key-order' || c.op === 'array-order')) addComment(child, 'Ordering differences only');
  for (const change of changes.slice(0, 20)) addComment(child, describeJsonChange(change));
  if (changes.length > 20) addComment(child, `and ${changes.length - 20} more structural changes`);
  addDetail(ctx, node, child);

  for (const change of changes) {
    switch (change.op) {
      case 'key-order':
        record(
          ctx,
          'file-order',
          'high',
          'JSON object keys appear in another order (insertion order from a directory listing, a Map or completion order): serialise with sorted keys',
          {
            path: where,
            field: change.path,
            value1: change.value1,
            value2: change.value2,
          },
        );
        break;
      case 'array-order':
        record(ctx, 'file-order', 'high', 'a JSON array holds the same elements in another order (e.g. an unsorted directory listing): sort it', {
          path: where,
          field: change.path,
          value1: change.value1,
          value2: change.value2,
        });
        break;
      case 'changed':
        if (typeof change.a === 'string' && typeof change.b === 'string') {
          analysePair(ctx, change.a, change.b, { path: where, field: change.path }, change.key);
        } else if (typeof change.a === 'number' && typeof change.b === 'number' && epochPair(String(change.a), String(change.b)) !== undefined) {
          record(ctx, 'timestamp', 'medium', 'an embedded epoch time differs (build time leaked: derive it from SOURCE_DATE_EPOCH)', {
            path: where,
            field: change.path,
            value1: String(change.a),
            value2: String(change.b),
          });
        } else {
          record(ctx, 'content', 'low', 'JSON values differ', {
            path: where,
            field: change.path,
            value1: JSON.stringify(change.a),
            value2: JSON.stringify(change.b),
          });
        }
        break;
      case 'added':
      case 'removed':
        record(ctx, 'content', 'low', 'JSON members are present on one side only', {
          path: where,
          field: change.path,
          ...(change.op === 'removed' ? { value1: JSON.stringify(change.value) } : { value2: JSON.stringify(change.value) }),
        });
        break;
    }
  }
  return node;
}

function describeJsonChange(change: JsonChange): string {
  switch (change.op) {
    case 'key-order':
      return `${change.path}: keys in another order: ${clip(change.value1, 80)} vs ${clip(change.value2, 80)}`;
    case 'array-order':
      return `${change.path}: same elements in another order`;
    case 'changed':
      return `${change.path}: ${clip(JSON.stringify(change.a), 60)} vs ${clip(JSON.stringify(change.b), 60)}`;
    case 'added':
      return `${change.path}: only in source2`;
    case 'removed':
      return `${change.path}: only in source1`;
  }
}

function jsonPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Structural differences; recursion depth is bounded by parseJson's depth cap. */
function jsonWalk(a: JsonValue, b: JsonValue, path: string, key: string, out: JsonChange[]): void {
  if (out.length >= MAX_JSON_CHANGES || a === b) return;
  if (isObject(a) && isObject(b)) {
    const keys1 = Object.keys(a);
    const keys2 = Object.keys(b);
    const common1 = keys1.filter((k) => Object.hasOwn(b, k));
    const common2 = keys2.filter((k) => Object.hasOwn(a, k));
    if (common1.some((k, i) => k !== common2[i])) {
      out.push({ op: 'key-order', path, value1: common1.join(','), value2: common2.join(',') });
    }
    for (const k of keys1) if (!Object.hasOwn(b, k)) out.push({ op: 'removed', path: jsonPath(path, k), value: a[k] ?? null });
    for (const k of keys2) if (!Object.hasOwn(a, k)) out.push({ op: 'added', path: jsonPath(path, k), value: b[k] ?? null });
    for (const k of common1) jsonWalk(a[k] ?? null, b[k] ?? null, jsonPath(path, k), k, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const canon1 = a.map(canonicalJson);
    const canon2 = b.map(canonicalJson);
    if (sameStrings(canon1, canon2)) return;
    if (canon1.length === canon2.length && sameStrings([...canon1].sort(), [...canon2].sort())) {
      out.push({ op: 'array-order', path, value1: clip(JSON.stringify(a), 200), value2: clip(JSON.stringify(b), 200) });
      return;
    }
    const { ids1, ids2 } = intern(canon1, canon2);
    for (const block of diffBlocks(ids1, ids2, 2_000_000)) {
      const pairs = Math.min(block.i2 - block.i1, block.j2 - block.j1);
      for (let t = 0; t < pairs; t++) jsonWalk(a[block.i1 + t] ?? null, b[block.j1 + t] ?? null, jsonPath(path, block.i1 + t), key, out);
      for (let i = block.i1 + pairs; i < block.i2; i++) out.push({ op: 'removed', path: jsonPath(path, i), value: a[i] ?? null });
      for (let j = block.j1 + pairs; j < block.j2; j++) out.push({ op: 'added', path: jsonPath(path, j), value: b[j] ?? null });
    }
    return;
  }
  if (canonicalJson(a) === canonicalJson(b)) return;
  out.push({ op: 'changed', path, key, a, b });
}

function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] ?? null)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Sequence diff (Myers, with the number of edits capped) and unified diffs

interface Block {
  /** a[i1, i2) is replaced by b[j1, j2). */
  readonly i1: number;
  readonly i2: number;
  readonly j1: number;
  readonly j2: number;
}

/** Most edits searched before the differing middle is reported as one block; memory is O(edits²). */
const MAX_EDITS = 1500;

function intern(list1: readonly string[], list2: readonly string[]): { ids1: Int32Array; ids2: Int32Array } {
  const ids = new Map<string, number>();
  const idOf = (s: string) => {
    let id = ids.get(s);
    if (id === undefined) {
      id = ids.size;
      ids.set(s, id);
    }
    return id;
  };
  return { ids1: Int32Array.from(list1, idOf), ids2: Int32Array.from(list2, idOf) };
}

/**
 * The blocks where `a` and `b` differ. Common prefix and suffix are trimmed first; the middle
 * is diffed with Myers' O((N+M)·D) algorithm while D stays under a bound derived from `work`
 * (so time and memory are capped), else reported as a single block.
 */
function diffBlocks(a: Int32Array, b: Int32Array, work: number): Block[] {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const n = a.length - prefix - suffix;
  const m = b.length - prefix - suffix;
  if (n === 0 && m === 0) return [];
  const whole: Block = { i1: prefix, i2: prefix + n, j1: prefix, j2: prefix + m };
  if (n === 0 || m === 0) return [whole];
  const maxD = Math.min(n + m, MAX_EDITS, Math.max(16, Math.floor(work / (n + m))));
  const blocks = myers(a.subarray(prefix, prefix + n), b.subarray(prefix, prefix + m), maxD);
  if (blocks === null) return [whole];
  return blocks.map((x) => ({ i1: x.i1 + prefix, i2: x.i2 + prefix, j1: x.j1 + prefix, j2: x.j2 + prefix }));
}

function myers(a: Int32Array, b: Int32Array, maxD: number): Block[] | null {
  const n = a.length;
  const m = b.length;
  const offset = maxD + 1;
  const v = new Int32Array(2 * maxD + 3);
  v[offset + 1] = 0;
  // trace[d] holds v[k] for k in [-d-1, d+1] as it was before step d.
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= maxD && found === -1; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found === -1) return null;

  const blocks: Block[] = [];
  let current: { i1: number; i2: number; j1: number; j2: number } | null = null;
  let x = n;
  let y = m;
  for (let d = found; d >= 0; d--) {
    const snapshot = trace[d] ?? new Int32Array(0);
    const at = (k: number) => snapshot[k + d + 1] ?? 0;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = d === 0 ? 0 : prevX - prevK;
    while (x > prevX && y > prevY) {
      if (current !== null) {
        blocks.push(current);
        current = null;
      }
      x--;
      y--;
    }
    if (d > 0) {
      current ??= { i1: x, i2: x, j1: y, j2: y };
      x = prevX;
      y = prevY;
      current.i1 = x;
      current.j1 = y;
    }
  }
  if (current !== null) blocks.push(current);
  return blocks.reverse();
}

const CONTEXT = 3;

interface LineDiff {
  readonly text: string | null;
  readonly blocks: Block[];
  readonly elided: number;
  readonly ids1: Int32Array;
  readonly ids2: Int32Array;
}

/** A unified diff of two line lists (3 lines of context), capped by maxDiffLines and maxTotalDiffLines. */
function lineDiff(ctx: Ctx, lines1: readonly string[], lines2: readonly string[]): LineDiff {
  const { ids1, ids2 } = intern(lines1, lines2);
  const blocks = diffBlocks(ids1, ids2, 20_000_000);
  if (blocks.length === 0) return { text: null, blocks, elided: 0, ids1, ids2 };
  const budget = Math.max(0, Math.min(ctx.limits.maxDiffLines, ctx.limits.maxTotalDiffLines - ctx.diffLines));
  const out: string[] = [];
  let elided = 0;
  const emit = (line: string) => {
    if (out.length < budget) out.push(clip(line, ctx.limits.maxLineLength));
    else elided++;
  };
  let h = 0;
  while (h < blocks.length) {
    // A hunk gathers blocks separated by at most 2·CONTEXT unchanged lines.
    let last = h;
    while (last + 1 < blocks.length && (blocks[last + 1]?.i1 ?? 0) - (blocks[last]?.i2 ?? 0) <= 2 * CONTEXT) last++;
    const first = blocks[h] as Block;
    const final = blocks[last] as Block;
    const aStart = Math.max(0, first.i1 - CONTEXT);
    const aEnd = Math.min(lines1.length, final.i2 + CONTEXT);
    const bStart = first.j1 - (first.i1 - aStart);
    const bEnd = final.j2 + (aEnd - final.i2);
    emit(`@@ -${range(aStart, aEnd - aStart)} +${range(bStart, bEnd - bStart)} @@`);
    let i = aStart;
    for (let k = h; k <= last; k++) {
      const block = blocks[k] as Block;
      for (; i < block.i1; i++) emit(` ${lines1[i] ?? ''}`);
      for (let x = block.i1; x < block.i2; x++) emit(`-${lines1[x] ?? ''}`);
      for (let y = block.j1; y < block.j2; y++) emit(`+${lines2[y] ?? ''}`);
      i = block.i2;
    }
    for (; i < aEnd; i++) emit(` ${lines1[i] ?? ''}`);
    h = last + 1;
  }
  ctx.diffLines += out.length;
  if (elided > 0) out.push(`[ ${elided} lines elided ]`);
  return { text: `${out.join('\n')}\n`, blocks, elided, ids1, ids2 };
}

function range(start: number, length: number): string {
  if (length === 1) return `${start + 1}`;
  return `${length === 0 ? start : start + 1},${length}`;
}

// ---------------------------------------------------------------------------------------------
// Cause heuristics over one pair of differing strings (two lines, or two JSON strings)

interface Region {
  readonly a1: number;
  readonly b1: number;
  readonly a2: number;
  readonly b2: number;
}

interface Classified {
  readonly kind: CauseKind;
  readonly confidence: Confidence;
  readonly detail: string;
  readonly value1: string;
  readonly value2: string;
}

const MAX_REGIONS = 32;
/** Characters either side of a differing run kept when tokenising (covers one date or number). */
const TOKEN_WINDOW = 96;
const MAX_TOKENISED = 16 * 1024;

function analysePair(ctx: Ctx, s1: string, s2: string, at: Evidence, keyContext = ''): void {
  if (ctx.linePairs >= ctx.limits.maxLinePairs) {
    ctx.elidedPairs++;
    return;
  }
  ctx.linePairs++;
  const regions = differingRegions(s1, s2);
  const seen = new Set<string>();
  for (const region of regions.slice(0, MAX_REGIONS)) {
    for (const found of classify(ctx, s1, s2, region, keyContext)) {
      const key = `${found.kind}\u0000${found.value1}\u0000${found.value2}`;
      if (seen.has(key)) continue;
      seen.add(key);
      record(ctx, found.kind, found.confidence, found.detail, { ...at, value1: found.value1, value2: found.value2 });
    }
  }
  if (regions.length > MAX_REGIONS) {
    record(ctx, 'content', 'low', 'many separate differences on one line', { ...at, value1: `${regions.length} differing runs` });
  }
}

/** The runs where two strings differ, aligned on word tokens so that each run is small. */
function differingRegions(s1: string, s2: string): Region[] {
  const shorter = Math.min(s1.length, s2.length);
  let prefix = 0;
  while (prefix < shorter && s1.charCodeAt(prefix) === s2.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (suffix < shorter - prefix && s1.charCodeAt(s1.length - 1 - suffix) === s2.charCodeAt(s2.length - 1 - suffix)) suffix++;
  if (prefix === s1.length && prefix === s2.length) return [];
  const start = Math.max(0, prefix - TOKEN_WINDOW);
  const end1 = Math.min(s1.length, s1.length - suffix + TOKEN_WINDOW);
  const end2 = Math.min(s2.length, s2.length - suffix + TOKEN_WINDOW);
  if (end1 - start + (end2 - start) > MAX_TOKENISED) {
    // Too long to tokenise (a minified bundle): equal lengths still align character by character.
    if (s1.length === s2.length) return alignedRuns(s1, s2, prefix, s1.length - suffix);
    return [{ a1: prefix, b1: s1.length - suffix, a2: prefix, b2: s2.length - suffix }];
  }
  const t1 = tokenize(s1, start, end1);
  const t2 = tokenize(s2, start, end2);
  const { ids1, ids2 } = intern(t1.tokens, t2.tokens);
  return diffBlocks(ids1, ids2, 1_000_000).map((block) => ({
    a1: t1.starts[block.i1] ?? end1,
    b1: t1.starts[block.i2] ?? end1,
    a2: t2.starts[block.j1] ?? end2,
    b2: t2.starts[block.j2] ?? end2,
  }));
}

/** Runs of differing characters between equal-length strings, widened to whole words; at most MAX_REGIONS + 1. */
function alignedRuns(s1: string, s2: string, from: number, to: number): Region[] {
  const regions: Region[] = [];
  let i = from;
  while (i < to && regions.length <= MAX_REGIONS) {
    if (s1.charCodeAt(i) === s2.charCodeAt(i)) {
      i++;
      continue;
    }
    let start = i;
    let end = i + 1;
    while (end < to && s1.charCodeAt(end) !== s2.charCodeAt(end)) end++;
    while (start > from && isWordChar(s1.charCodeAt(start - 1)) && isWordChar(s2.charCodeAt(start - 1))) start--;
    while (end < to && isWordChar(s1.charCodeAt(end)) && isWordChar(s2.charCodeAt(end))) end++;
    const last = regions[regions.length - 1];
    if (last !== undefined && start <= last.b1) regions[regions.length - 1] = { a1: last.a1, b1: end, a2: last.a2, b2: end };
    else regions.push({ a1: start, b1: end, a2: start, b2: end });
    i = end;
  }
  return regions;
}

/** Words (letters, digits, `_`) and single other characters; `starts` ends with the window's end. */
function tokenize(s: string, from: number, to: number): { tokens: string[]; starts: number[] } {
  const tokens: string[] = [];
  const starts: number[] = [];
  let i = from;
  while (i < to) {
    const begin = i;
    if (isWordChar(s.charCodeAt(i))) {
      while (i < to && isWordChar(s.charCodeAt(i))) i++;
    } else i++;
    tokens.push(s.slice(begin, i));
    starts.push(begin);
  }
  starts.push(to);
  return { tokens, starts };
}

function classify(ctx: Ctx, s1: string, s2: string, r: Region, keyContext: string): Classified[] {
  const hinted = matchHints(ctx, s1, s2, r);
  if (hinted !== null) return [hinted];
  const time1 = dateTimeAround(s1, r.a1, r.b1);
  const time2 = time1 === null ? null : dateTimeAround(s2, r.a2, r.b2);
  if (time1 !== null && time2 !== null) return classifyTimes(time1, time2);
  const path1 = pathAround(s1, r.a1, r.b1);
  const path2 = path1 === null ? null : pathAround(s2, r.a2, r.b2);
  if (path1 !== null && path2 !== null && path1.text !== path2.text) return [classifyPaths(path1.text, path2.text)];
  const number1 = numberAround(s1, r.a1, r.b1);
  const number2 = number1 === null ? null : numberAround(s2, r.a2, r.b2);
  if (number1 !== null && number2 !== null) {
    const found = classifyNumbers(number1, number2);
    if (found !== null) return [found];
  }
  const word1 = expand(s1, r.a1, r.b1, isWordChar, 40);
  const word2 = word1 === null ? null : expand(s2, r.a2, r.b2, isWordChar, 40);
  if (word1 !== null && word2 !== null) {
    const found = classifyNames(word1.text, word2.text);
    if (found !== null) return [found];
  }
  const environment = environmentByContext(s1, s2, r, keyContext);
  if (environment !== null) return [environment];
  const random = randomTokens(s1, s2, r);
  if (random !== null) return [random];
  const text1 = s1.slice(r.a1, r.b1);
  const text2 = s2.slice(r.a2, r.b2);
  if ((text1 === '\r' && text2 === '') || (text1 === '' && text2 === '\r')) {
    return [
      {
        kind: 'content',
        confidence: 'low',
        detail: 'line endings differ (CRLF vs LF): check out with a fixed core.autocrlf',
        value1: JSON.stringify(text1),
        value2: JSON.stringify(text2),
      },
    ];
  }
  return [
    {
      kind: 'content',
      confidence: 'low',
      detail: 'the contents differ in a way none of the heuristics recognise',
      value1: excerpt(s1, r.a1, r.b1),
      value2: excerpt(s2, r.a2, r.b2),
    },
  ];
}

/** The region with a little context, at most ~250 characters (callers clip further). */
function excerpt(s: string, a: number, b: number): string {
  const from = Math.max(0, a - 24);
  const to = Math.min(s.length, Math.min(Math.max(b, a) + 24, from + 250));
  return `${from > 0 ? '…' : ''}${s.slice(from, to)}${to < s.length ? '…' : ''}`;
}

// --- character classes (all O(1))

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isSpaceLike(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Letters and digits of any script, and `_`; not spaces, ASCII or general punctuation. */
function isWordChar(c: number): boolean {
  if (c < 0x80) return isDigit(c) || isAsciiLetter(c) || c === 0x5f;
  if (Number.isNaN(c) || isSpaceLike(c)) return false;
  if (c <= 0xbf || c === 0xd7 || c === 0xf7) return false;
  return !(c >= 0x2010 && c <= 0x205e);
}

function isPathChar(c: number): boolean {
  return (
    isDigit(c) ||
    isAsciiLetter(c) ||
    c === 0x2f ||
    c === 0x5c ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x2d ||
    c === 0x7e ||
    c === 0x40 ||
    c === 0x2b ||
    c === 0x25 ||
    (c >= 0xc0 && isWordChar(c))
  );
}

function isHostChar(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c) || c === 0x2e || c === 0x2d || c === 0x5f;
}

/** Base64 and base64url characters, padding included. */
function isTokenChar(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c) || c === 0x2b || c === 0x2f || c === 0x3d || c === 0x5f || c === 0x2d;
}

/**
 * Grows the region [a, b) left and right over characters of one class (at most `max` each way).
 * Returns null when the region itself holds other characters, or nothing was found.
 */
function expand(s: string, a: number, b: number, isMember: (c: number) => boolean, max: number): { start: number; end: number; text: string } | null {
  if (b - a > max) return null;
  for (let i = a; i < b; i++) if (!isMember(s.charCodeAt(i))) return null;
  let start = a;
  while (start > 0 && a - start < max && isMember(s.charCodeAt(start - 1))) start--;
  let end = b;
  while (end < s.length && end - b < max && isMember(s.charCodeAt(end))) end++;
  if (start === end) return null;
  return { start, end, text: s.slice(start, end) };
}

// --- hints

function matchHints(ctx: Ctx, s1: string, s2: string, r: Region): Classified | null {
  if (r.b1 - r.a1 > MAX_HINT_LENGTH * 4 || r.b2 - r.a2 > MAX_HINT_LENGTH * 4) return null;
  let best: Hint | undefined;
  for (const hint of ctx.hints) {
    if (best !== undefined && hint.value.length <= best.value.length) continue;
    if (occursAround(s1, hint.value, r.a1, r.b1) || occursAround(s2, hint.value, r.a2, r.b2)) best = hint;
  }
  if (best === undefined) return null;
  const around = (s: string, a: number, b: number) => {
    const span = best.value.startsWith('/') ? pathAround(s, a, b) : expand(s, a, b, isHostChar, 256);
    return span?.text ?? excerpt(s, a, b);
  };
  const detail =
    best.kind === 'build-path'
      ? 'a known build path is embedded: build at a fixed path, or make embedded paths relative'
      : `the build's ${best.label} is embedded (a known fact of one build): keep host identity out of the output`;
  return { kind: best.kind, confidence: 'high', detail, value1: around(s1, r.a1, r.b1), value2: around(s2, r.a2, r.b2) };
}

/** Whether `value` occurs in `s` overlapping [a, b) (or touching a, for an insertion point). */
function occursAround(s: string, value: string, a: number, b: number): boolean {
  const from = Math.max(0, a - value.length);
  const window = s.slice(from, Math.min(s.length, Math.max(b, a + 1) + value.length));
  for (let i = window.indexOf(value); i !== -1; i = window.indexOf(value, i + 1)) {
    const start = from + i;
    if (start < Math.max(b, a + 1) && start + value.length > a) return true;
  }
  return false;
}

// --- dates and times

interface Clock {
  readonly h: number;
  readonly mi: number;
  readonly s: number | undefined;
  /** Fraction of the second, when written. */
  readonly frac: number | undefined;
}

interface DateTimeSpan {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Candidate calendar dates [y, m, d]; two when day and month order is ambiguous, none for a bare time. */
  readonly dates: readonly (readonly [number, number, number])[];
  readonly clock: Clock | undefined;
  /** Minutes east of UTC, when the text states it. */
  readonly offset: number | undefined;
}

const EN_MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const EN_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const SCAN_BEFORE = 96;

/** The date/time whose text contains the region [a, b), scanning word starts near it. */
function dateTimeAround(s: string, a: number, b: number): DateTimeSpan | null {
  if (b - a > 128) return null;
  const to = Math.min(s.length, b + 1);
  let i = Math.max(0, a - SCAN_BEFORE);
  while (i < to) {
    const c = s.charCodeAt(i);
    if ((isDigit(c) || isAsciiLetter(c)) && (i === 0 || !isWordChar(s.charCodeAt(i - 1)))) {
      const span = parseDateTimeAt(s, i);
      if (span !== null) {
        if (span.start <= a && b <= span.end) return span;
        i = Math.max(span.end, i + 1);
        continue;
      }
    }
    i++;
  }
  return null;
}

function parseDateTimeAt(s: string, p: number): DateTimeSpan | null {
  return isoAt(s, p) ?? namedAt(s, p) ?? numericDateAt(s, p) ?? clockOnlyAt(s, p);
}

function span(s: string, start: number, end: number, dates: DateTimeSpan['dates'], clock: Clock | undefined, offset: number | undefined): DateTimeSpan {
  return { start, end, text: s.slice(start, end), dates, clock, offset };
}

/** Exactly `min..max` ASCII digits at p, not followed by another digit. */
function digitsAt(s: string, p: number, min: number, max: number): { value: number; end: number } | null {
  let e = p;
  while (e < s.length && e - p < max && isDigit(s.charCodeAt(e))) e++;
  if (e - p < min || isDigit(s.charCodeAt(e))) return null;
  return { value: Number(s.slice(p, e)), end: e };
}

function lettersAt(s: string, p: number): { word: string; end: number } | null {
  let e = p;
  while (e < s.length && e - p < 12 && isAsciiLetter(s.charCodeAt(e))) e++;
  if (e === p || isAsciiLetter(s.charCodeAt(e))) return null;
  return { word: s.slice(p, e).toLowerCase(), end: e };
}

function nameAt(s: string, p: number, names: readonly string[]): { index: number; end: number } | null {
  const found = lettersAt(s, p);
  if (found === null) return null;
  const { word } = found;
  const index = names.findIndex((name) => name === word || (word.length === 3 && name.startsWith(word)) || (word === 'sept' && name === 'september'));
  return index === -1 ? null : { index, end: found.end };
}

function isSpaceAt(s: string, p: number): boolean {
  const c = s.charCodeAt(p);
  return c === 0x20 || c === 0xa0 || c === 0x202f;
}

function validDate(y: number, m: number, d: number): boolean {
  return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/** `H:MM[:SS[.fff]][ AM|PM][zone]`, 24-hour after conversion. */
function clockAt(s: string, p: number): { clock: Clock; end: number; offset: number | undefined } | null {
  const hour = digitsAt(s, p, 1, 2);
  if (hour === null || s[hour.end] !== ':') return null;
  const minute = digitsAt(s, hour.end + 1, 2, 2);
  if (minute === null) return null;
  let end = minute.end;
  let second: number | undefined;
  let fraction: number | undefined;
  if (s[end] === ':') {
    const sec = digitsAt(s, end + 1, 2, 2);
    if (sec !== null) {
      second = sec.value;
      end = sec.end;
      if ((s[end] === '.' || s[end] === ',') && isDigit(s.charCodeAt(end + 1))) {
        const frac = digitsAt(s, end + 1, 1, 9);
        if (frac !== null) {
          fraction = Number(`0.${s.slice(end + 1, frac.end)}`);
          end = frac.end;
        }
      }
    }
  }
  let h = hour.value;
  const meridiem = meridiemAt(s, end);
  if (meridiem !== null) {
    if (h < 1 || h > 12) return null;
    h = (h % 12) + (meridiem.pm ? 12 : 0);
    end = meridiem.end;
  }
  if (h > 24 || minute.value > 59 || (second ?? 0) > 60) return null;
  const zone = zoneAt(s, end);
  return { clock: { h, mi: minute.value, s: second, frac: fraction }, end: zone?.end ?? end, offset: zone?.offset };
}

function meridiemAt(s: string, p: number): { pm: boolean; end: number } | null {
  let q = isSpaceAt(s, p) ? p + 1 : p;
  const first = s[q]?.toLowerCase();
  if (first !== 'a' && first !== 'p') return null;
  q++;
  if (s[q] === '.') q++;
  if (s[q]?.toLowerCase() !== 'm') return null;
  q++;
  if (s[q] === '.') q++;
  if (isWordChar(s.charCodeAt(q))) return null;
  return { pm: first === 'p', end: q };
}

/** `Z`, `±HH[:]MM`, ` GMT±HHMM`, ` UTC`, ` +HHMM`, optionally followed by ` (Zone Name)`. */
function zoneAt(s: string, p: number): { offset: number | undefined; end: number } | null {
  if (s[p] === 'Z' && !isWordChar(s.charCodeAt(p + 1))) return { offset: 0, end: p + 1 };
  if (s[p] === '+' || s[p] === '-') {
    const direct = offsetAt(s, p);
    if (direct !== null) return direct;
  }
  if (s[p] !== ' ') return null;
  const q = p + 1;
  for (const word of ['GMT', 'UTC', 'UT']) {
    if (!s.startsWith(word, q) || isAsciiLetter(s.charCodeAt(q + word.length))) continue;
    let end = q + word.length;
    let offset = 0;
    const signed = s[end] === '+' || s[end] === '-' ? offsetAt(s, end) : null;
    if (signed !== null) {
      offset = signed.offset;
      end = signed.end;
    }
    return { offset, end: parenAt(s, end) };
  }
  if (s[q] === '+' || s[q] === '-') {
    const rfc = offsetAt(s, q);
    if (rfc !== null) return { offset: rfc.offset, end: parenAt(s, rfc.end) };
  }
  // A zone abbreviation (CET, EST): a zone, but its offset is not known here.
  let e = q;
  while (e < s.length && e - q < 5 && s.charCodeAt(e) >= 0x41 && s.charCodeAt(e) <= 0x5a) e++;
  if (e - q >= 3 && !isAsciiLetter(s.charCodeAt(e))) return { offset: undefined, end: e };
  return null;
}

function offsetAt(s: string, p: number): { offset: number; end: number } | null {
  const sign = s[p] === '-' ? -1 : 1;
  const digits = digitsAt(s, p + 1, 1, 4);
  if (digits === null) return null;
  const length = digits.end - p - 1;
  let hours: number;
  let minutes = 0;
  let end = digits.end;
  if (length === 4) {
    hours = Math.floor(digits.value / 100);
    minutes = digits.value % 100;
  } else if (length <= 2) {
    hours = digits.value;
    if (s[end] === ':') {
      const mm = digitsAt(s, end + 1, 2, 2);
      if (mm === null) return null;
      minutes = mm.value;
      end = mm.end;
    }
  } else return null;
  if (hours > 14 || minutes > 59) return null;
  return { offset: sign * (hours * 60 + minutes), end };
}

function parenAt(s: string, p: number): number {
  if (s[p] !== ' ' || s[p + 1] !== '(') return p;
  for (let i = p + 2; i < s.length && i < p + 66; i++) {
    if (s[i] === '(') return p;
    if (s[i] === ')') return i + 1;
  }
  return p;
}

/** ISO 8601: `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]][Z|±HH:MM]]`. */
function isoAt(s: string, p: number): DateTimeSpan | null {
  const y = digitsAt(s, p, 4, 4);
  if (y === null || s[y.end] !== '-') return null;
  const m = digitsAt(s, y.end + 1, 2, 2);
  if (m === null || s[m.end] !== '-') return null;
  const d = digitsAt(s, m.end + 1, 2, 2);
  if (d === null || !validDate(y.value, m.value, d.value)) return null;
  const date = [[y.value, m.value, d.value] as const];
  if (s[d.end] === 'T' || (s[d.end] === ' ' && isDigit(s.charCodeAt(d.end + 1)))) {
    const clock = clockAt(s, d.end + 1);
    if (clock !== null) return span(s, p, clock.end, date, clock.clock, clock.offset);
  }
  return span(s, p, d.end, date, undefined, undefined);
}

/** Forms with English month or weekday names: `Date#toString`, RFC 2822 / `toUTCString`, `Oct 26, 1985`, `26 Oct 1985`. */
function namedAt(s: string, p: number): DateTimeSpan | null {
  const weekday = nameAt(s, p, EN_DAYS);
  let q = p;
  if (weekday !== null) {
    q = weekday.end;
    if (s[q] === ',') q++;
    if (!isSpaceAt(s, q)) return null;
    q++;
  }
  // Month first: `Oct 26 1985`, `Oct 26, 1985`.
  const month = nameAt(s, q, EN_MONTHS);
  if (month !== null && isSpaceAt(s, month.end)) {
    const day = digitsAt(s, month.end + 1, 1, 2);
    if (day === null) return null;
    let r = day.end;
    if (s[r] === ',') r++;
    if (!isSpaceAt(s, r)) return null;
    const year = digitsAt(s, r + 1, 4, 4);
    if (year === null || !validDate(year.value, month.index + 1, day.value)) return null;
    return withClock(s, p, year.end, [[year.value, month.index + 1, day.value]]);
  }
  // Day first: `26 Oct 1985`.
  const day = digitsAt(s, q, 1, 2);
  if (day === null || !isSpaceAt(s, day.end)) return null;
  const dayMonth = nameAt(s, day.end + 1, EN_MONTHS);
  if (dayMonth === null || !isSpaceAt(s, dayMonth.end)) return null;
  const year = digitsAt(s, dayMonth.end + 1, 4, 4);
  if (year === null || !validDate(year.value, dayMonth.index + 1, day.value)) return null;
  return withClock(s, p, year.end, [[year.value, dayMonth.index + 1, day.value]]);
}

/** Numeric dates: `2024/01/02`, `1/2/2024` (both orders), `02.01.2024`, `2-1-2024`. */
function numericDateAt(s: string, p: number): DateTimeSpan | null {
  const first = digitsAt(s, p, 1, 4);
  if (first === null) return null;
  const sep = s[first.end];
  if (sep !== '/' && sep !== '.' && sep !== '-') return null;
  const second = digitsAt(s, first.end + 1, 1, 2);
  if (second === null || s[second.end] !== sep) return null;
  const third = digitsAt(s, second.end + 1, 1, 4);
  if (third === null) return null;
  const firstLength = first.end - p;
  const thirdLength = third.end - second.end - 1;
  const dates: [number, number, number][] = [];
  if (firstLength === 4 && thirdLength <= 2) dates.push([first.value, second.value, third.value]);
  else if (thirdLength === 4 && firstLength <= 2) {
    if (sep === '/') {
      dates.push([third.value, first.value, second.value]);
      dates.push([third.value, second.value, first.value]);
    } else dates.push([third.value, second.value, first.value]);
  }
  const valid = dates.filter(([y, m, d]) => validDate(y, m, d));
  if (valid.length === 0) return null;
  // A trailing dot is part of some locales' dates (`26.10.1985.`), not a sentence end we need.
  return withClock(s, p, third.end, valid);
}

/** A date followed by `[,] time`. */
function withClock(s: string, start: number, end: number, dates: DateTimeSpan['dates']): DateTimeSpan {
  let q = end;
  if (s[q] === ',') q++;
  if (isSpaceAt(s, q) || (s[q] === 'T' && q === end)) {
    const clock = clockAt(s, q + 1);
    if (clock !== null) return span(s, start, clock.end, dates, clock.clock, clock.offset);
  }
  return span(s, start, end, dates, undefined, undefined);
}

function clockOnlyAt(s: string, p: number): DateTimeSpan | null {
  const clock = clockAt(s, p);
  return clock === null ? null : span(s, p, clock.end, [], clock.clock, clock.offset);
}

function dayNumber([y, m, d]: readonly [number, number, number]): number {
  return Date.UTC(y, m - 1, d) / 86_400_000;
}

function instant(t: DateTimeSpan): number | undefined {
  const date = t.dates[0];
  if (date === undefined || t.clock === undefined || t.offset === undefined || t.dates.length > 1) return undefined;
  return (dayNumber(date) * 1440 + t.clock.h * 60 + t.clock.mi - t.offset) * 60 + (t.clock.s ?? 0);
}

function sameWallTime(x: DateTimeSpan, y: DateTimeSpan): boolean {
  if ((x.clock === undefined) !== (y.clock === undefined) || (x.dates.length === 0) !== (y.dates.length === 0)) return false;
  if (x.clock !== undefined && y.clock !== undefined) {
    if (x.clock.h !== y.clock.h || x.clock.mi !== y.clock.mi) return false;
    if (x.clock.s !== undefined && y.clock.s !== undefined && x.clock.s !== y.clock.s) return false;
    if (x.clock.frac !== undefined && y.clock.frac !== undefined && x.clock.frac !== y.clock.frac) return false;
  }
  if (x.dates.length === 0) return true;
  return x.dates.some((d1) => y.dates.some((d2) => d1[0] === d2[0] && d1[1] === d2[1] && d1[2] === d2[2]));
}

/** Whole hours between two wall times with equal minutes and seconds (≤ 26 h), else undefined. */
function wholeHourShift(x: DateTimeSpan, y: DateTimeSpan): number | undefined {
  if (x.clock === undefined || y.clock === undefined || x.clock.mi !== y.clock.mi) return undefined;
  if (x.clock.s !== undefined && y.clock.s !== undefined && x.clock.s !== y.clock.s) return undefined;
  if (x.clock.frac !== undefined && y.clock.frac !== undefined && x.clock.frac !== y.clock.frac) return undefined;
  const minutes1 = x.clock.h * 60 + x.clock.mi;
  const minutes2 = y.clock.h * 60 + y.clock.mi;
  let best: number | undefined;
  if (x.dates.length === 0 && y.dates.length === 0) best = minutes2 - minutes1;
  else {
    for (const d1 of x.dates) {
      for (const d2 of y.dates) {
        const delta = (dayNumber(d2) - dayNumber(d1)) * 1440 + minutes2 - minutes1;
        if (best === undefined || Math.abs(delta) < Math.abs(best)) best = delta;
      }
    }
  }
  if (best === undefined || best === 0 || best % 60 !== 0 || Math.abs(best) > 26 * 60) return undefined;
  return best / 60;
}

function classifyTimes(x: DateTimeSpan, y: DateTimeSpan): Classified[] {
  const values = { value1: x.text, value2: y.text };
  if (x.offset !== undefined && y.offset !== undefined && x.offset !== y.offset) {
    const i1 = instant(x);
    if (i1 !== undefined && i1 === instant(y)) {
      return [
        {
          kind: 'timezone',
          confidence: 'high',
          detail: `the same instant is rendered in different time zones (UTC${formatOffset(x.offset)} vs UTC${formatOffset(y.offset)}): the build's TZ leaked; render times in UTC or set TZ=UTC`,
          ...values,
        },
      ];
    }
    return [
      {
        kind: 'timezone',
        confidence: 'high',
        detail: `times are rendered with different UTC offsets (UTC${formatOffset(x.offset)} vs UTC${formatOffset(y.offset)}): the build's TZ leaked; set TZ=UTC`,
        ...values,
      },
      { kind: 'timestamp', confidence: 'medium', detail: 'an embedded date/time differs (build time leaked: derive it from SOURCE_DATE_EPOCH)', ...values },
    ];
  }
  if (sameWallTime(x, y)) {
    return [
      {
        kind: 'locale',
        confidence: 'medium',
        detail: 'the same date/time is formatted differently (locale: LANG/LC_ALL); format with a fixed locale',
        ...values,
      },
    ];
  }
  const hours = x.offset === undefined && y.offset === undefined ? wholeHourShift(x, y) : undefined;
  if (hours !== undefined) {
    return [
      {
        kind: 'timezone',
        confidence: 'medium',
        detail: `local times differ by exactly ${hours > 0 ? '+' : ''}${hours} h with the same minutes and seconds: rendered in different time zones (set TZ=UTC)`,
        ...values,
      },
    ];
  }
  const full = x.dates.length > 0 && x.clock !== undefined && y.dates.length > 0 && y.clock !== undefined;
  return [
    {
      kind: 'timestamp',
      confidence: full ? 'high' : 'medium',
      detail: 'an embedded date/time differs (build time leaked: derive it from SOURCE_DATE_EPOCH)',
      ...values,
    },
  ];
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

// --- paths

const KNOWN_ROOTS = new Set([
  'tmp',
  'home',
  'build',
  'builds',
  'root',
  'Users',
  'var',
  'private',
  'nix',
  'opt',
  'srv',
  'workspace',
  'github',
  'runner',
  'mnt',
  'usr',
  'src',
  'nonexistent',
]);

function pathAround(s: string, a: number, b: number): { text: string } | null {
  const grown = expand(s, a, b, isPathChar, 4096);
  if (grown === null) return null;
  let { start } = grown;
  const { end } = grown;
  // A drive letter: `C:\…` or `C:/…`.
  if (start >= 2 && s[start - 1] === ':' && isAsciiLetter(s.charCodeAt(start - 2)) && (start < 3 || !isPathChar(s.charCodeAt(start - 3)))) start -= 2;
  let text = s.slice(start, end);
  if (text.startsWith('//')) {
    // `file:///abs` is a path; `https://host/…` and `// comment` are not.
    if (
      !s
        .slice(Math.max(0, start - 5), start)
        .toLowerCase()
        .endsWith('file:')
    )
      return null;
    let slashes = 0;
    while (text[slashes] === '/') slashes++;
    text = text.slice(slashes - 1);
  }
  const drive = /^[A-Za-z]:[\\/]/.test(text);
  if (!text.startsWith('/') && !drive) return null;
  const segments = text.split(/[\\/]/).filter((segment) => segment !== '');
  const first = drive ? segments[1] : segments[0];
  if (segments.length < (drive ? 3 : 2) && !KNOWN_ROOTS.has(first ?? '')) return null;
  return { text };
}

function isHomePath(path: string): boolean {
  const parts = path.split('/').filter((p) => p !== '');
  if (path === '/root') return true;
  if (parts[0] === 'nonexistent') return true;
  return parts.length === 2 && (parts[0] === 'home' || parts[0] === 'Users');
}

function classifyPaths(p1: string, p2: string): Classified {
  if (isHomePath(p1) || isHomePath(p2)) {
    return {
      kind: 'environment',
      confidence: 'medium',
      detail: "the build's HOME directory is embedded: keep HOME out of the output (or fix it)",
      value1: p1,
      value2: p2,
    };
  }
  const segments1 = p1.split(/[\\/]/);
  const segments2 = p2.split(/[\\/]/);
  const at = segments1.findIndex((segment, i) => segment !== segments2[i]);
  const root = segments1[1] ?? '';
  const confidence: Confidence = KNOWN_ROOTS.has(root) && at > 1 ? 'high' : 'medium';
  return {
    kind: 'build-path',
    confidence,
    detail: 'absolute build paths are embedded (the build directory differs): build at a fixed path, or make embedded paths relative',
    value1: p1,
    value2: p2,
  };
}

// --- numbers

const GROUP_SEPARATORS = [',', '.', ' ', '\u00a0', '\u202f', '\u2009', "'", '\u2019', ''];

function isNumberChar(c: number): boolean {
  return isDigit(c) || c === 0x2c || c === 0x2e || c === 0x20 || c === 0xa0 || c === 0x202f || c === 0x2009 || c === 0x27 || c === 0x2019;
}

function numberAround(s: string, a: number, b: number): string | null {
  const grown = expand(s, a, b, isNumberChar, 64);
  if (grown === null) return null;
  let { start, end } = grown;
  while (start < end && !isDigit(s.charCodeAt(start))) start++;
  while (end > start && !isDigit(s.charCodeAt(end - 1))) end--;
  if (start === end || start > a || end < b) return null;
  if (isWordChar(s.charCodeAt(start - 1)) || isWordChar(s.charCodeAt(end))) return null;
  return s.slice(start, end);
}

/** Every value the text can mean under some grouping and decimal separator convention. */
function numberReadings(text: string): Set<string> {
  const readings = new Set<string>();
  for (const decimal of ['.', ',', '']) {
    for (const group of GROUP_SEPARATORS) {
      if (group === decimal) continue;
      const reading = readNumber(text, group, decimal);
      if (reading !== null) readings.add(reading);
    }
  }
  return readings;
}

function readNumber(text: string, group: string, decimal: string): string | null {
  let integer = text;
  let fraction = '';
  if (decimal !== '') {
    const at = text.indexOf(decimal);
    if (at !== -1) {
      if (text.indexOf(decimal, at + 1) !== -1) return null;
      integer = text.slice(0, at);
      fraction = text.slice(at + 1);
      if (!allDigits(fraction)) return null;
    }
  }
  const groups = group === '' ? [integer] : integer.split(group);
  if (!groups.every(allDigits)) return null;
  if (groups.length > 1 && ((groups[0]?.length ?? 0) > 3 || groups.slice(1).some((g) => g.length !== 3))) return null;
  return groups.join('') + (fraction === '' ? '' : `.${fraction}`);
}

function allDigits(text: string): boolean {
  if (text === '') return false;
  for (let i = 0; i < text.length; i++) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

/** Seconds or milliseconds since the epoch (years 2000..2100) within 400 days of each other. */
function epochPair(x: string, y: string): 'seconds' | 'milliseconds' | undefined {
  if (!allDigits(x) || !allDigits(y) || x.length !== y.length) return undefined;
  const unit = x.length === 10 ? 'seconds' : x.length === 13 ? 'milliseconds' : undefined;
  if (unit === undefined) return undefined;
  const scale = unit === 'seconds' ? 1 : 1000;
  const [vx, vy] = [Number(x) / scale, Number(y) / scale];
  const inRange = (v: number) => v >= 946_684_800 && v < 4_102_444_800;
  return inRange(vx) && inRange(vy) && Math.abs(vx - vy) <= 400 * 86_400 ? unit : undefined;
}

function classifyNumbers(n1: string, n2: string): Classified | null {
  const digits = (t: string) => t.replace(/[^0-9]/g, '');
  if (n1 !== n2 && digits(n1) === digits(n2)) {
    const readings2 = numberReadings(n2);
    if ([...numberReadings(n1)].some((r) => readings2.has(r))) {
      return {
        kind: 'locale',
        confidence: 'high',
        detail: 'numbers are formatted with different digit grouping or decimal separators (locale: LANG/LC_ALL); format with a fixed locale',
        value1: n1,
        value2: n2,
      };
    }
  }
  const unit = epochPair(n1, n2);
  if (unit !== undefined) {
    return {
      kind: 'timestamp',
      confidence: 'medium',
      detail: `an embedded epoch time (${unit}) differs: build time leaked; derive it from SOURCE_DATE_EPOCH`,
      value1: n1,
      value2: n2,
    };
  }
  return null;
}

// --- month and weekday names in other languages

const MONTH_NAMES: Readonly<Record<string, string>> = {
  en: 'january february march april may june july august september october november december|jan feb mar apr may jun jul aug sep oct nov dec',
  de: 'januar februar märz april mai juni juli august september oktober november dezember|jan feb mär apr mai jun jul aug sep okt nov dez',
  fr: 'janvier février mars avril mai juin juillet août septembre octobre novembre décembre|janv févr mars avr mai juin juil août sept oct nov déc',
  es: 'enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre|ene feb mar abr may jun jul ago sept oct nov dic',
  it: 'gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre|gen feb mar apr mag giu lug ago set ott nov dic',
  nl: 'januari februari maart april mei juni juli augustus september oktober november december|jan feb mrt apr mei jun jul aug sep okt nov dec',
  pt: 'janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro|jan fev mar abr mai jun jul ago set out nov dez',
  et: 'jaanuar veebruar märts aprill mai juuni juuli august september oktoober november detsember|jaan veebr märts apr mai juuni juuli aug sept okt nov dets',
};

const DAY_NAMES: Readonly<Record<string, string>> = {
  en: 'sunday monday tuesday wednesday thursday friday saturday|sun mon tue wed thu fri sat',
  de: 'sonntag montag dienstag mittwoch donnerstag freitag samstag|',
  fr: 'dimanche lundi mardi mercredi jeudi vendredi samedi|dim lun mar mer jeu ven sam',
  es: 'domingo lunes martes miércoles jueves viernes sábado|dom lun mar mié jue vie sáb',
  it: 'domenica lunedì martedì mercoledì giovedì venerdì sabato|dom lun mar mer gio ven sab',
  nl: 'zondag maandag dinsdag woensdag donderdag vrijdag zaterdag|',
  pt: 'domingo segunda terça quarta quinta sexta sábado|dom seg ter qua qui sex sáb',
  et: 'pühapäev esmaspäev teisipäev kolmapäev neljapäev reede laupäev|',
};

/** word → the months/weekdays it names, as `m3` / `d1`. */
const CALENDAR_WORDS: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const words = new Map<string, Set<string>>();
  const add = (table: Readonly<Record<string, string>>, prefix: string) => {
    for (const spec of Object.values(table)) {
      for (const part of spec.split('|')) {
        part
          .split(' ')
          .filter((w) => w.length >= 3)
          .forEach((word, index) => {
            const meanings = words.get(word) ?? new Set<string>();
            meanings.add(`${prefix}${index}`);
            words.set(word, meanings);
          });
      }
    }
  };
  add(MONTH_NAMES, 'm');
  add(DAY_NAMES, 'd');
  return words;
})();

function classifyNames(w1: string, w2: string): Classified | null {
  const key = (w: string) => (w.endsWith('.') ? w.slice(0, -1) : w).toLowerCase();
  const k1 = key(w1);
  const k2 = key(w2);
  if (k1 === k2) return null;
  const m1 = CALENDAR_WORDS.get(k1);
  const m2 = CALENDAR_WORDS.get(k2);
  if (m1 === undefined || m2 === undefined || ![...m1].some((meaning) => m2.has(meaning))) return null;
  return {
    kind: 'locale',
    confidence: 'medium',
    detail: 'month or weekday names are in different languages (locale: LANG/LC_ALL); format with a fixed locale',
    value1: w1,
    value2: w2,
  };
}

// --- host and user names

const HOST_WORDS = ['hostname', 'host', 'machine', 'computer', 'nodename', 'node'];
const USER_WORDS = ['username', 'user', 'login', 'owner', 'whoami', 'builder', 'built by', 'author'];

function environmentByContext(s1: string, s2: string, r: Region, keyContext: string): Classified | null {
  const t1 = expand(s1, r.a1, r.b1, isHostChar, 253);
  const t2 = t1 === null ? null : expand(s2, r.a2, r.b2, isHostChar, 253);
  if (t1 === null || t2 === null) return null;
  if (!looksLikeName(t1.text) || !looksLikeName(t2.text)) return null;
  if (t1.text.includes('capture') || t2.text.includes('capture')) {
    return {
      kind: 'environment',
      confidence: 'high',
      detail: "a reprotest/Debian capture value is embedded: the build copies its host's name, user or environment into the output",
      value1: t1.text,
      value2: t2.text,
    };
  }
  let what: 'hostname' | 'user name' | undefined;
  if (s1[t1.start - 1] === '@') what = 'hostname';
  else if (s1[t1.end] === '@') what = 'user name';
  else {
    const before = `${keyContext} ${s1.slice(Math.max(0, t1.start - 40), t1.start)}`.toLowerCase();
    const lastOf = (words: readonly string[]) => Math.max(...words.map((w) => before.lastIndexOf(w)));
    const host = lastOf(HOST_WORDS);
    const user = lastOf(USER_WORDS);
    if (host > user) what = 'hostname';
    else if (user > host) what = 'user name';
  }
  if (what === undefined) return null;
  return {
    kind: 'environment',
    confidence: 'medium',
    detail: `the building machine's ${what} is embedded: keep host identity out of the output`,
    value1: t1.text,
    value2: t2.text,
  };
}

function looksLikeName(text: string): boolean {
  if (text.length === 0 || text.length > 253 || text.startsWith('.') || text.startsWith('-')) return false;
  for (let i = 0; i < text.length; i++) if (isAsciiLetter(text.charCodeAt(i))) return true;
  return false;
}

// --- random tokens

function randomTokens(s1: string, s2: string, r: Region): Classified | null {
  // A UUID needs its dashes; `id-3f9c…` must still yield `3f9c…`; base64 needs `+/=`.
  for (const isMember of [isUuidChar, isAlphanumeric, isTokenChar]) {
    const t1 = expand(s1, r.a1, r.b1, isMember, 256);
    const t2 = t1 === null ? null : expand(s2, r.a2, r.b2, isMember, 256);
    if (t1 === null || t2 === null || t1.text.length !== t2.text.length || t1.text === t2.text) continue;
    const class1 = tokenClass(t1.text);
    if (class1 === null || class1 !== tokenClass(t2.text)) continue;
    if (class1 === 'uuid') {
      return {
        kind: 'randomness',
        confidence: 'high',
        detail: 'random UUIDs are embedded: derive identifiers from the inputs (e.g. a digest)',
        value1: t1.text,
        value2: t2.text,
      };
    }
    const digestLength = class1 === 'hex' && [32, 40, 56, 64, 96, 128].includes(t1.text.length);
    return {
      kind: 'randomness',
      confidence: digestLength ? 'low' : 'medium',
      detail: digestLength
        ? 'random-looking hex tokens of a digest length differ: a random id, or a digest of content that differs elsewhere'
        : 'random-looking tokens (ids, nonces, temporary names) are embedded: seed them from the inputs',
      value1: t1.text,
      value2: t2.text,
    };
  }
  return null;
}

function isAlphanumeric(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c);
}

function isUuidChar(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c) || c === 0x2d;
}

function tokenClass(text: string): 'uuid' | 'hex' | 'base64' | null {
  if (text.length === 36 && text[8] === '-' && text[13] === '-' && text[18] === '-' && text[23] === '-') {
    if (isHex(text.replaceAll('-', ''))) return 'uuid';
  }
  let upper = false;
  let lower = false;
  let digit = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c >= 0x61 && c <= 0x7a) lower = true;
    else if (isDigit(c)) digit = true;
  }
  const entropy = shannon(text);
  if (text.length >= 8 && isHex(text) && digit && (upper || lower) && !(upper && lower)) {
    return entropy >= 0.6 * Math.min(Math.log2(text.length), 4) ? 'hex' : null;
  }
  if (text.length >= 12 && upper && lower && digit) return entropy >= 0.6 * Math.min(Math.log2(text.length), 6) ? 'base64' : null;
  return null;
}

function isHex(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c) && !((c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return text.length > 0;
}

function shannon(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------
// diffoscope's JSON, parsed at the edge

const MAX_TREE_DEPTH = 100;

/**
 * A diffoscope `--json` report as a `DiffNode` tree: every node needs string `source1` and
 * `source2`; `unified_diff` is a string or null; `details` (absent on leaves) a list of nodes;
 * `comments` a list of strings. Other keys are dropped. Throws `InputError`
 * `EXPLAIN_DIFFOSCOPE_OUTPUT` listing every bad field.
 */
export function diffTreeFromJson(value: unknown, maxNodes: number): DiffNode {
  const problems: { code: string; path: string; message: string }[] = [];
  let nodes = 0;
  const walk = (raw: unknown, path: string, depth: number): DiffNode => {
    nodes++;
    const node = newNode('', '');
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push({ code: 'WRONG_TYPE', path, message: 'must be an object' });
      return node;
    }
    const record = raw as Record<string, unknown>;
    for (const key of ['source1', 'source2'] as const) {
      const text = record[key];
      if (typeof text === 'string') node[key] = text;
      else problems.push({ code: typeof text === 'undefined' ? 'MISSING' : 'WRONG_TYPE', path: `${path}.${key}`, message: 'must be a string' });
    }
    const diff = record.unified_diff;
    if (typeof diff === 'string') node.unified_diff = diff;
    else if (diff !== null && diff !== undefined) problems.push({ code: 'WRONG_TYPE', path: `${path}.unified_diff`, message: 'must be a string or null' });
    const comments = record.comments;
    if (Array.isArray(comments) && comments.every((c) => typeof c === 'string')) {
      if (comments.length > 0) node.comments = comments;
    } else if (comments !== undefined) problems.push({ code: 'WRONG_TYPE', path: `${path}.comments`, message: 'must be a list of strings' });
    const details = record.details;
    if (Array.isArray(details)) {
      if (depth >= MAX_TREE_DEPTH) problems.push({ code: 'TOO_DEEP', path: `${path}.details`, message: `nested deeper than ${MAX_TREE_DEPTH}` });
      else {
        details.forEach((child: unknown, i) => {
          if (nodes < maxNodes && problems.length < 20) node.details.push(walk(child, `${path}.details[${i}]`, depth + 1));
        });
      }
    } else if (details !== undefined) problems.push({ code: 'WRONG_TYPE', path: `${path}.details`, message: 'must be a list' });
    return node;
  };
  const tree = walk(value, '$', 0);
  if (problems.length > 0) {
    const first = problems[0];
    throw new InputError('EXPLAIN_DIFFOSCOPE_OUTPUT', `diffoscope's JSON is not in the expected shape: ${first?.path}: ${first?.message}`, { problems });
  }
  return tree;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function equalOptionalBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return equalBytes(a, b);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameMultiset(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  const x = Int32Array.from(a).sort();
  const y = Int32Array.from(b).sort();
  return x.every((v, i) => v === y[i]);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

function isoSeconds(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(seconds);
  const iso = new Date(ms).toISOString();
  return Number.isInteger(seconds) ? `${iso.slice(0, 19)}Z` : iso;
}
