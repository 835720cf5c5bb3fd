import { Buffer, constants as bufferConstants } from 'node:buffer';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { InputError, InternalError, type Problem } from '../model/errors.js';

/** One member of an archive to write, or read back. Directory paths carry no trailing '/'. */
export interface TarEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  data?: Uint8Array;
  linkname?: string;
}

/** A member read by `unpackTar`, with the header metadata it was stored with. */
export interface TarMember extends TarEntry {
  /** Seconds since the epoch; fractional when a PAX `mtime` record says so. */
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Byte offset of the member's first header block (its PAX or GNU long-name header when present). */
  offset: number;
}

export interface TarLimits {
  /** Most members accepted (extended headers not counted). Default 100 000. */
  maxEntries?: number;
  /** Most bytes of file data accepted, summed over all files. Default 1 GiB. */
  maxBytes?: number;
  /** Longest path or symlink target accepted, in UTF-8 bytes. Default 4096. */
  maxPathLength?: number;
}

export interface GzipHeader {
  method: number;
  flags: number;
  mtime: number;
  xfl: number;
  os: number;
  name: string | null;
  comment: string | null;
}

const BLOCK = 512;
// Archives are padded to GNU tar's default record size (blocking factor 20 × 512 bytes),
// so our output matches what `tar` itself would write for the same members.
const RECORD = 10240;
const NAME_MAX = 100;
const PREFIX_MAX = 155;
const OCTAL_11_MAX = 8 ** 11 - 1;
const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BYTES = 1024 ** 3;
const DEFAULT_MAX_PATH_LENGTH = 4096;
/** Largest PAX / GNU long-name header body read; real ones are a few hundred bytes. */
const MAX_EXTENDED_HEADER = 1024 * 1024;
/** Symlinks followed while resolving one target, as Linux's MAXSYMLINKS. */
const MAX_SYMLINK_HOPS = 40;
const MAX_RESOLVE_STEPS = 8192;
const GZIP_OS_UNKNOWN = 0xff;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

// ---------------------------------------------------------------------------------------------
// Path rules shared by the writer and the reader, so packTar never writes what unpackTar refuses.

function pathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (/[\uD800-\uDFFF]/u.test(path)) return 'is not well-formed Unicode';
  if (path.startsWith('/')) return 'is absolute';
  if (path.includes('\\')) return 'contains a backslash';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a '${segment}' segment`;
  }
  return undefined;
}

function linkTargetProblem(target: string): string | undefined {
  if (target === '') return 'is empty';
  if (target.includes('\0')) return 'contains a NUL byte';
  if (/[\uD800-\uDFFF]/u.test(target)) return 'is not well-formed Unicode';
  if (target.startsWith('/')) return 'is absolute';
  if (target.includes('\\')) return 'contains a backslash';
  return undefined;
}

interface TreeNode {
  readonly path: string;
  readonly type: TarEntry['type'];
  readonly linkname?: string | undefined;
  /** Where the node came from, for messages: `entries[3]` or `offset 1024`. */
  readonly where: string;
}

/**
 * Whole-archive rules: no duplicate paths, nothing stored beneath a file or symlink, and every
 * symlink resolves (following the archive's other symlinks) to a place inside the root.
 */
function treeProblems(nodes: readonly TreeNode[]): Problem[] {
  const problems: Problem[] = [];
  const byPath = new Map<string, TreeNode>();
  const links = new Map<string, string>();
  for (const node of nodes) {
    const seen = byPath.get(node.path);
    if (seen !== undefined) {
      problems.push(badPath(node.where, `duplicate path ${JSON.stringify(node.path)} (also at ${seen.where})`));
      continue;
    }
    byPath.set(node.path, node);
    if (node.type === 'symlink' && node.linkname !== undefined) links.set(node.path, node.linkname);
  }
  for (const node of byPath.values()) {
    let slash = node.path.indexOf('/');
    while (slash !== -1) {
      const ancestor = byPath.get(node.path.slice(0, slash));
      if (ancestor !== undefined && ancestor.type !== 'directory') {
        problems.push(badPath(node.where, `${JSON.stringify(node.path)} lies beneath the ${ancestor.type} ${JSON.stringify(ancestor.path)}`));
        break;
      }
      slash = node.path.indexOf('/', slash + 1);
    }
    if (node.type === 'symlink' && node.linkname !== undefined) {
      const why = symlinkEscape(node.path, node.linkname, links);
      if (why !== undefined) {
        problems.push(badPath(node.where, `symlink ${JSON.stringify(node.path)} -> ${JSON.stringify(node.linkname)} ${why}`));
      }
    }
  }
  return problems;
}

/**
 * Resolves `target` relative to the directory holding `linkPath` as the kernel would once the
 * archive is extracted into an empty root, following intermediate symlinks from `links`.
 * Returns why it is unsafe, or undefined when it stays inside the root.
 */
function symlinkEscape(linkPath: string, target: string, links: ReadonlyMap<string, string>): string | undefined {
  // keys[i] is the root-relative path of the first i+1 resolved components.
  const keys: string[] = [];
  const parts = linkPath.split('/');
  parts.pop();
  for (const part of parts) keys.push(keys.length === 0 ? part : `${keys[keys.length - 1]}/${part}`);
  const pending = target.split('/').reverse();
  let hops = 0;
  let steps = 0;
  for (let part = pending.pop(); part !== undefined; part = pending.pop()) {
    if (++steps > MAX_RESOLVE_STEPS) return 'is too deep to resolve';
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (keys.length === 0) return 'climbs above the archive root';
      keys.pop();
      continue;
    }
    const key = keys.length === 0 ? part : `${keys[keys.length - 1]}/${part}`;
    keys.push(key);
    // The last component is not followed: a symlink there is checked on its own.
    const next = pending.length > 0 ? links.get(key) : undefined;
    if (next === undefined) continue;
    if (++hops > MAX_SYMLINK_HOPS) return 'loops through other symlinks';
    keys.pop();
    if (next.startsWith('/')) return 'passes through an absolute symlink';
    pending.push(...next.split('/').reverse());
  }
  return undefined;
}

function badPath(where: string, message: string): Problem {
  return { code: 'ARCHIVE_BAD_PATH', path: where, message };
}

// ---------------------------------------------------------------------------------------------
// Writing

interface PreparedEntry {
  readonly node: TreeNode;
  readonly pathBytes: Buffer;
  readonly mode: number;
  readonly data: Uint8Array;
}

/**
 * A deterministic POSIX ustar archive of `entries`: members sorted by the UTF-8 bytes of their
 * paths; every header has `mtime` (seconds), uid/gid 0, empty owner names and a normalised mode
 * (directories 0755, files 0755 when any execute bit is set else 0644, symlinks 0777). Paths
 * over 100 bytes use the ustar prefix when they fit, else a PAX header. Throws `InputError`
 * listing every bad entry (`ARCHIVE_BAD_PATH`, `ARCHIVE_BAD_ENTRY`, `ARCHIVE_BAD_MTIME`).
 */
export function packTar(entries: readonly TarEntry[], mtime: number): Buffer {
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > OCTAL_11_MAX) {
    throw new InputError('ARCHIVE_BAD_MTIME', `mtime must be a whole number of seconds in 0..${OCTAL_11_MAX}, got ${mtime}`);
  }
  const problems: Problem[] = [];
  const prepared: PreparedEntry[] = [];
  entries.forEach((entry, index) => {
    const result = prepareEntry(entry, `entries[${index}]`);
    if ('problem' in result) problems.push(result.problem);
    else prepared.push(result);
  });
  problems.push(...treeProblems(prepared.map((p) => p.node)));
  const first = problems[0];
  if (first !== undefined) {
    const detail = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new InputError(first.code, `cannot pack archive: ${detail}`, { problems });
  }

  prepared.sort((a, b) => Buffer.compare(a.pathBytes, b.pathBytes));
  const chunks: Buffer[] = [];
  let length = 0;
  for (const entry of prepared) {
    for (const chunk of encodeEntry(entry, mtime)) {
      chunks.push(chunk);
      length += chunk.length;
    }
  }
  // Two zero blocks end the archive; zeros then fill the last record.
  const end = roundUp(length + 2 * BLOCK, RECORD);
  chunks.push(Buffer.alloc(end - length));
  return Buffer.concat(chunks, end);
}

function prepareEntry(entry: TarEntry, where: string): PreparedEntry | { problem: Problem } {
  const fail = (code: string, message: string) => ({ problem: { code, path: where, message } });
  const { type } = entry;
  if (type !== 'file' && type !== 'directory' && type !== 'symlink') {
    return fail('ARCHIVE_BAD_ENTRY', `unknown type ${JSON.stringify(type)}`);
  }
  if (!Number.isInteger(entry.mode) || entry.mode < 0) return fail('ARCHIVE_BAD_ENTRY', `mode must be a non-negative integer`);
  let path = entry.path;
  if (typeof path !== 'string') return fail('ARCHIVE_BAD_PATH', 'path must be a string');
  if (type === 'directory' && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const problem = pathProblem(path);
  if (problem !== undefined) return fail('ARCHIVE_BAD_PATH', `path ${JSON.stringify(entry.path)} ${problem}`);
  const pathBytes = Buffer.from(path, 'utf8');
  if (pathBytes.length > DEFAULT_MAX_PATH_LENGTH) {
    return fail('ARCHIVE_BAD_PATH', `path is ${pathBytes.length} bytes, over ${DEFAULT_MAX_PATH_LENGTH}`);
  }
  const data = entry.data ?? new Uint8Array(0);
  if (type !== 'file' && data.length > 0) return fail('ARCHIVE_BAD_ENTRY', `a ${type} cannot carry data`);
  if (data.length > OCTAL_11_MAX) return fail('ARCHIVE_BAD_ENTRY', `file of ${data.length} bytes is too large for ustar`);
  if (type === 'symlink') {
    if (typeof entry.linkname !== 'string') return fail('ARCHIVE_BAD_ENTRY', 'a symlink needs a linkname');
    const linkProblem = linkTargetProblem(entry.linkname);
    if (linkProblem !== undefined) {
      return fail('ARCHIVE_BAD_PATH', `symlink target ${JSON.stringify(entry.linkname)} ${linkProblem}`);
    }
    if (Buffer.byteLength(entry.linkname, 'utf8') > DEFAULT_MAX_PATH_LENGTH) {
      return fail('ARCHIVE_BAD_PATH', `symlink target is over ${DEFAULT_MAX_PATH_LENGTH} bytes`);
    }
  } else if (entry.linkname !== undefined) {
    return fail('ARCHIVE_BAD_ENTRY', `a ${type} cannot have a linkname`);
  }
  const mode = type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : entry.mode & 0o111 ? 0o755 : 0o644;
  return { node: { path, type, linkname: entry.linkname, where }, pathBytes, mode, data };
}

interface HeaderFields {
  readonly name: Buffer;
  readonly prefix?: Buffer;
  readonly mode: number;
  readonly size: number;
  readonly mtime: number;
  readonly typeflag: string;
  readonly linkname?: Buffer;
}

function encodeEntry(entry: PreparedEntry, mtime: number): Buffer[] {
  const { node, data } = entry;
  const headerName = node.type === 'directory' ? Buffer.from(`${node.path}/`, 'utf8') : entry.pathBytes;
  const records: [string, string][] = [];
  let name = headerName;
  let prefix: Buffer | undefined;
  if (headerName.length > NAME_MAX) {
    const split = splitUstarName(headerName);
    if (split !== undefined) {
      ({ name, prefix } = split);
    } else {
      records.push(['path', `${node.path}${node.type === 'directory' ? '/' : ''}`]);
      name = truncateUtf8(headerName, NAME_MAX);
    }
  }
  let linkname: Buffer | undefined;
  if (node.type === 'symlink' && node.linkname !== undefined) {
    linkname = Buffer.from(node.linkname, 'utf8');
    if (linkname.length > NAME_MAX) {
      records.push(['linkpath', node.linkname]);
      linkname = truncateUtf8(linkname, NAME_MAX);
    }
  }
  const out: Buffer[] = [];
  if (records.length > 0) {
    // Records sorted by key; the header name depends only on the member's own path.
    records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
    const base = Buffer.from(node.path.slice(node.path.lastIndexOf('/') + 1), 'utf8');
    const paxName = Buffer.concat([Buffer.from('PaxHeader/', 'ascii'), truncateUtf8(base, NAME_MAX - 10)]);
    out.push(encodeHeader({ name: paxName, mode: 0o644, size: body.length, mtime, typeflag: 'x' }));
    out.push(padToBlock(body));
  }
  const typeflag = node.type === 'directory' ? '5' : node.type === 'symlink' ? '2' : '0';
  out.push(
    encodeHeader({
      name,
      ...(prefix !== undefined ? { prefix } : {}),
      mode: entry.mode,
      size: data.length,
      mtime,
      typeflag,
      ...(linkname !== undefined ? { linkname } : {}),
    }),
  );
  if (data.length > 0) out.push(padToBlock(Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  return out;
}

/** The split with the longest prefix (≤155 bytes) whose remaining name fits in 100 bytes. */
function splitUstarName(full: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  const slash = 0x2f;
  for (let i = Math.min(PREFIX_MAX, full.length - 2); i > 0; i--) {
    if (full[i] !== slash) continue;
    const name = full.subarray(i + 1);
    if (name.length > NAME_MAX || name.length === 0) return undefined;
    return { name, prefix: full.subarray(0, i) };
  }
  return undefined;
}

function paxRecord(key: string, value: string): Buffer {
  // "<length> <key>=<value>\n" where <length> counts its own digits.
  const rest = Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8') + 3;
  let digits = String(rest).length;
  while (String(rest + digits).length !== digits) digits++;
  return Buffer.from(`${rest + digits} ${key}=${value}\n`, 'utf8');
}

function encodeHeader(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  fields.name.copy(block, 0);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 'ascii');
  fields.linkname?.copy(block, 157);
  block.write('ustar\u000000', 257, 'ascii');
  // uname and gname (265..329) stay empty.
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  fields.prefix?.copy(block, 345);
  block.fill(0x20, 148, 156);
  const sum = headerSum(block, false);
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return block;
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1) throw new InternalError('ARCHIVE_FIELD_OVERFLOW', `${value} does not fit a ${width}-byte field`);
  block.write(digits, offset, 'ascii');
  block[offset + width - 1] = 0;
}

/** Header checksum with the checksum field counted as spaces, bytes read unsigned or signed. */
function headerSum(block: Uint8Array, signed: boolean): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    sum += signed && byte > 127 ? byte - 256 : byte;
  }
  return sum;
}

function padToBlock(bytes: Buffer): Buffer {
  const padded = roundUp(bytes.length, BLOCK);
  return padded === bytes.length ? bytes : Buffer.concat([bytes, Buffer.alloc(padded - bytes.length)]);
}

function truncateUtf8(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let cut = max;
  // Back up over continuation bytes so the cut never splits a character.
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

// ---------------------------------------------------------------------------------------------
// Gzip

/**
 * gzip at level 9 with a fixed header: no FNAME, mtime 0, XFL as zlib writes it (2 for level 9)
 * and OS 0xff (unknown) whatever the platform. The deflate stream itself still depends on the
 * zlib build Node bundles (version and CPU), so digest the tar, not the tgz, across machines.
 */
export function gzipDeterministic(data: Uint8Array): Buffer {
  const out = gzipSync(data, { level: 9 });
  // zlib writes a bare 10-byte header: 1f 8b, CM 8, FLG 0, MTIME 0 (4 bytes), XFL, OS.
  const bare = out.length >= 18 && out[0] === 0x1f && out[1] === 0x8b && out[2] === 8 && out[3] === 0 && out.readUInt32LE(4) === 0;
  if (!bare) {
    throw new InternalError('ARCHIVE_GZIP_HEADER', `zlib wrote an unexpected gzip header: ${out.subarray(0, 10).toString('hex')}`);
  }
  // With FLG 0 there is no header CRC, so the OS byte can be rewritten without other changes.
  out[9] = GZIP_OS_UNKNOWN;
  return out;
}

/** Decompresses gzip, refusing (`ARCHIVE_TOO_LARGE`) to produce more than `maxBytes` bytes. */
export function gunzip(data: Uint8Array, maxBytes: number): Buffer {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new InputError('ARCHIVE_BAD_LIMIT', `maxBytes must be a non-negative integer, got ${maxBytes}`);
  }
  const cap = Math.max(1, Math.min(maxBytes, bufferConstants.MAX_LENGTH));
  let out: Buffer;
  try {
    out = gunzipSync(data, { maxOutputLength: cap });
  } catch (error) {
    if (error instanceof RangeError && (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InputError('ARCHIVE_TOO_LARGE', `gzip data expands to more than ${maxBytes} bytes`, { cause: error });
    }
    throw new InputError('ARCHIVE_CORRUPT', `gzip data is corrupt: ${(error as Error).message}`, { cause: error });
  }
  if (out.length > maxBytes) throw new InputError('ARCHIVE_TOO_LARGE', `gzip data expands to more than ${maxBytes} bytes`);
  return out;
}

/** Parses the gzip member header (RFC 1952 §2.3), checking FHCRC when present. */
export function readGzipHeader(data: Uint8Array): GzipHeader {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const corrupt = (message: string) => new InputError('ARCHIVE_CORRUPT', `gzip header: ${message}`);
  if (bytes.length < 10) throw corrupt('shorter than 10 bytes');
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) throw corrupt('bad magic');
  const method = bytes.readUInt8(2);
  const flags = bytes.readUInt8(3);
  if (flags & 0xe0) throw corrupt(`reserved flag bits set (0x${flags.toString(16)})`);
  let at = 10;
  if (flags & 0x04) {
    if (at + 2 > bytes.length) throw corrupt('truncated FEXTRA length');
    at += 2 + bytes.readUInt16LE(at);
    if (at > bytes.length) throw corrupt('truncated FEXTRA');
  }
  const zeroTerminated = (what: string): string => {
    const end = bytes.indexOf(0, at);
    if (end === -1) throw corrupt(`unterminated ${what}`);
    const text = bytes.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  const name = flags & 0x08 ? zeroTerminated('FNAME') : null;
  const comment = flags & 0x10 ? zeroTerminated('FCOMMENT') : null;
  if (flags & 0x02) {
    if (at + 2 > bytes.length) throw corrupt('truncated FHCRC');
    const expected = crc32(bytes.subarray(0, at)) & 0xffff;
    if (bytes.readUInt16LE(at) !== expected) throw corrupt('FHCRC does not match');
  }
  return { method, flags, mtime: bytes.readUInt32LE(4), xfl: bytes.readUInt8(8), os: bytes.readUInt8(9), name, comment };
}

/** `gzipDeterministic(packTar(entries, mtime))`. */
export function packTgz(entries: readonly TarEntry[], mtime: number): Buffer {
  return gzipDeterministic(packTar(entries, mtime));
}

/**
 * `unpackTar(gunzip(data))`. The decompressed tar may be at most `maxBytes` plus 2 KiB per
 * allowed entry plus 10 KiB (room for headers and padding), so a gzip bomb stops early.
 */
export function unpackTgz(data: Uint8Array, limits: TarLimits = {}): TarMember[] {
  const resolved = resolveLimits(limits);
  const tarCap = resolved.maxBytes + resolved.maxEntries * 4 * BLOCK + RECORD;
  return unpackTar(gunzip(data, Math.min(tarCap, Number.MAX_SAFE_INTEGER)), limits);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Fills in the default caps (shared by the tar and zip readers) and rejects nonsense. */
export function resolveLimits(limits: TarLimits): Required<TarLimits> {
  const resolved = {
    maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
    maxPathLength: limits.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH,
  };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InputError('ARCHIVE_BAD_LIMIT', `${key} must be a non-negative integer, got ${value}`);
    }
  }
  return resolved;
}

/** Extended-header state that applies to the next member. */
interface Pending {
  offset: number;
  pax?: Map<string, Buffer>;
  longName?: Buffer;
  longLink?: Buffer;
}

const GLOBAL_KEYS_REFUSED = new Set(['path', 'linkpath', 'size', 'mtime', 'uid', 'gid', 'uname', 'gname']);

/**
 * A strict reader of ustar, PAX and GNU tar archives. Every header checksum is verified; paths
 * from the ustar prefix, PAX `path`/`linkpath` and GNU long names are decoded as UTF-8 and must
 * be relative with no '.', '..' or empty segments; symlink targets must resolve inside the root;
 * nothing may sit beneath a file or symlink; hard links, devices, FIFOs and sparse files are
 * refused. File `data` are views into `tar`, not copies.
 */
export function unpackTar(tar: Uint8Array, limits: TarLimits = {}): TarMember[] {
  const { maxEntries, maxBytes, maxPathLength } = resolveLimits(limits);
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  const members: TarMember[] = [];
  const nodes: TreeNode[] = [];
  let dataBytes = 0;
  let pending: Pending | undefined;
  let pos = 0;

  for (;;) {
    if (pos + BLOCK > buf.length) throw corrupt(`archive is truncated at byte ${pos} (no end-of-archive marker)`);
    const block = buf.subarray(pos, pos + BLOCK);
    if (isZero(block)) {
      if (pending !== undefined) throw corrupt(`extended header at byte ${pending.offset} is not followed by a member`);
      if (pos + 2 * BLOCK > buf.length || !isZero(buf.subarray(pos + BLOCK, pos + 2 * BLOCK))) {
        throw corrupt(`archive is truncated at byte ${pos + BLOCK} (one zero block where two end an archive)`);
      }
      if (!isZero(buf.subarray(pos + 2 * BLOCK))) throw corrupt(`non-zero bytes after the end-of-archive marker at byte ${pos}`);
      break;
    }
    verifyChecksum(block, pos);
    const magic = block.toString('latin1', 257, 265);
    const posix = magic === 'ustar\u000000';
    if (!posix && magic !== 'ustar  \u0000') {
      throw new InputError('ARCHIVE_UNSUPPORTED_FORMAT', `header at byte ${pos} is not ustar, PAX or GNU (pre-POSIX tar?)`);
    }
    const typeflag = String.fromCharCode(block.readUInt8(156));
    const headerSize = readNumber(block, 124, 12, pos, 'size');

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (headerSize > MAX_EXTENDED_HEADER) {
        throw new InputError('ARCHIVE_TOO_LARGE', `extended header at byte ${pos} is ${headerSize} bytes`);
      }
      const body = takeData(buf, pos, headerSize);
      if (typeflag === 'g') {
        if (pending !== undefined) throw corrupt(`global header at byte ${pos} interrupts the extended header at byte ${pending.offset}`);
        for (const key of parsePax(body, pos).keys()) {
          if (GLOBAL_KEYS_REFUSED.has(key) || key.startsWith('GNU.sparse.')) {
            throw unsupported(`global PAX header at byte ${pos} sets '${key}' for every member`);
          }
        }
      } else {
        pending ??= { offset: pos };
        const repeated = `two '${typeflag}' headers for one member at byte ${pos}`;
        if (typeflag === 'x') {
          if (pending.pax !== undefined) throw corrupt(repeated);
          pending.pax = parsePax(body, pos);
        } else {
          const slot = typeflag === 'L' ? 'longName' : 'longLink';
          if (pending[slot] !== undefined) throw corrupt(repeated);
          pending[slot] = body.subarray(0, nulIndex(body, 0, body.length));
        }
      }
      pos += BLOCK + roundUp(headerSize, BLOCK);
      continue;
    }

    const offset = pending?.offset ?? pos;
    const pax = pending?.pax;
    const type = memberType(typeflag, offset);
    if (pax !== undefined) {
      for (const key of pax.keys()) if (key.startsWith('GNU.sparse.')) throw unsupported(`sparse file at byte ${offset}`);
    }
    if (members.length >= maxEntries) {
      throw new InputError('ARCHIVE_TOO_MANY_ENTRIES', `archive has more than ${maxEntries} entries`);
    }

    const size = paxInteger(pax, 'size', offset) ?? headerSize;
    let rawPath = pax?.get('path') ?? pending?.longName;
    if (rawPath === undefined) {
      const name = field(block, 0, NAME_MAX);
      const prefix = posix ? field(block, 345, PREFIX_MAX) : Buffer.alloc(0);
      rawPath = prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
    }
    let path = decodePath(rawPath, offset, 'path', maxPathLength);
    if (type === 'directory' && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const problem = pathProblem(path);
    if (problem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `member at byte ${offset}: path ${JSON.stringify(path)} ${problem}`);

    let linkname: string | undefined;
    if (type === 'symlink') {
      linkname = decodePath(pax?.get('linkpath') ?? pending?.longLink ?? field(block, 157, NAME_MAX), offset, 'symlink target', maxPathLength);
      const linkProblem = linkTargetProblem(linkname);
      if (linkProblem !== undefined) {
        throw new InputError('ARCHIVE_BAD_PATH', `member at byte ${offset}: symlink target ${JSON.stringify(linkname)} ${linkProblem}`);
      }
    }

    if (type !== 'file' && size !== 0) throw corrupt(`${type} at byte ${offset} has size ${size}`);
    if (type === 'file' && dataBytes + size > maxBytes) {
      throw new InputError('ARCHIVE_TOO_LARGE', `file data exceeds ${maxBytes} bytes at ${JSON.stringify(path)}`);
    }
    const data = type === 'file' ? takeData(buf, pos, size) : undefined;
    dataBytes += size;

    const member: TarMember = {
      path,
      type,
      mode: readNumber(block, 100, 8, pos, 'mode') & 0o7777,
      ...(data !== undefined ? { data } : {}),
      ...(linkname !== undefined ? { linkname } : {}),
      mtime: paxNumber(pax, 'mtime', offset) ?? readNumber(block, 136, 12, pos, 'mtime'),
      uid: paxInteger(pax, 'uid', offset) ?? readNumber(block, 108, 8, pos, 'uid'),
      gid: paxInteger(pax, 'gid', offset) ?? readNumber(block, 116, 8, pos, 'gid'),
      uname: utf8Lenient.decode(pax?.get('uname') ?? field(block, 265, 32)),
      gname: utf8Lenient.decode(pax?.get('gname') ?? field(block, 297, 32)),
      offset,
    };
    members.push(member);
    nodes.push({ path, type, linkname, where: `member at byte ${offset}` });
    pending = undefined;
    pos += BLOCK + roundUp(size, BLOCK);
  }

  const [problem] = treeProblems(nodes);
  if (problem !== undefined) throw new InputError(problem.code, `${problem.path}: ${problem.message}`);
  return members;
}

function memberType(typeflag: string, offset: number): TarEntry['type'] {
  switch (typeflag) {
    case '0':
    case '\u0000':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      throw unsupported(`hard link at byte ${offset}`);
    case '3':
    case '4':
      throw unsupported(`device node at byte ${offset}`);
    case '6':
      throw unsupported(`FIFO at byte ${offset}`);
    default:
      throw unsupported(`entry type ${JSON.stringify(typeflag)} at byte ${offset}`);
  }
}

function verifyChecksum(block: Buffer, pos: number): void {
  const stored = readNumber(block, 148, 8, pos, 'checksum');
  if (stored !== headerSum(block, false) && stored !== headerSum(block, true)) {
    throw corrupt(`header checksum mismatch at byte ${pos}`);
  }
}

/** A header field up to its first NUL. */
function field(block: Buffer, offset: number, length: number): Buffer {
  return block.subarray(offset, nulIndex(block, offset, offset + length));
}

function nulIndex(bytes: Buffer, from: number, to: number): number {
  const nul = bytes.indexOf(0, from);
  return nul === -1 || nul > to ? to : nul;
}

function takeData(buf: Buffer, headerPos: number, size: number): Buffer {
  const start = headerPos + BLOCK;
  if (start + roundUp(size, BLOCK) > buf.length) throw corrupt(`archive is truncated inside the member at byte ${headerPos}`);
  return buf.subarray(start, start + size);
}

function decodePath(raw: Buffer, offset: number, what: string, maxPathLength: number): string {
  if (raw.length > maxPathLength) {
    throw new InputError('ARCHIVE_BAD_PATH', `member at byte ${offset}: ${what} is ${raw.length} bytes, over ${maxPathLength}`);
  }
  try {
    return utf8.decode(raw);
  } catch (error) {
    throw new InputError('ARCHIVE_BAD_PATH', `member at byte ${offset}: ${what} is not UTF-8`, { cause: error });
  }
}

/**
 * Numeric header field: octal digits with optional leading spaces and a NUL/space terminator,
 * or GNU base-256 (first byte 0x80 positive, 0xff negative two's complement).
 */
function readNumber(block: Buffer, offset: number, length: number, pos: number, what: string): number {
  const first = block.readUInt8(offset);
  if (first & 0x80) {
    if (first !== 0x80 && first !== 0xff) throw corrupt(`bad base-256 ${what} at byte ${pos}`);
    let value = 0n;
    for (let i = offset; i < offset + length; i++) value = (value << 8n) | BigInt(block.readUInt8(i));
    if (first === 0x80) value -= 0x80n << BigInt(8 * (length - 1));
    else value -= 1n << BigInt(8 * length);
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw corrupt(`${what} at byte ${pos} is out of range`);
    return n;
  }
  const text = block.toString('latin1', offset, offset + length);
  const match = /^ *([0-7]*)[ \0]*$/.exec(text);
  if (match === null) throw corrupt(`${what} field at byte ${pos} is not octal: ${JSON.stringify(text)}`);
  const digits = match[1] ?? '';
  return digits === '' ? 0 : Number.parseInt(digits, 8);
}

/** PAX records ("<len> <key>=<value>\n"); empty values unset the key, as POSIX says. */
function parsePax(body: Buffer, pos: number): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : body.toString('latin1', at, space);
    if (!/^[1-9][0-9]{0,7}$/.test(lengthText)) throw corrupt(`bad PAX record length at byte ${pos}`);
    const end = at + Number(lengthText);
    if (end > body.length || end <= space + 1 || body[end - 1] !== 0x0a) throw corrupt(`bad PAX record at byte ${pos}`);
    const record = body.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw corrupt(`PAX record without a key at byte ${pos}`);
    const key = record.toString('utf8', 0, eq);
    const value = record.subarray(eq + 1);
    if (value.length === 0) records.delete(key);
    else records.set(key, value);
    at = end;
  }
  return records;
}

function paxInteger(pax: Map<string, Buffer> | undefined, key: string, offset: number): number | undefined {
  const raw = pax?.get(key);
  if (raw === undefined) return undefined;
  const text = raw.toString('latin1');
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) throw corrupt(`bad PAX ${key} ${JSON.stringify(text)} at byte ${offset}`);
  return n;
}

function paxNumber(pax: Map<string, Buffer> | undefined, key: string, offset: number): number | undefined {
  const raw = pax?.get(key);
  if (raw === undefined) return undefined;
  const text = raw.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text)) throw corrupt(`bad PAX ${key} ${JSON.stringify(text)} at byte ${offset}`);
  return Number(text);
}

function isZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

function corrupt(message: string): InputError {
  return new InputError('ARCHIVE_CORRUPT', message);
}

function unsupported(message: string): InputError {
  return new InputError('ARCHIVE_UNSUPPORTED_ENTRY', `unsupported: ${message}`);
}
