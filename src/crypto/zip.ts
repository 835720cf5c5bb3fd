import { Buffer, constants as bufferConstants } from 'node:buffer';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { InputError } from '../model/errors.js';
import { resolveLimits } from './archive.js';

const DEFAULT_MAX_PATH_LENGTH = 4096;

/** One member of a zip archive to write. Directory paths carry no trailing '/'. */
export interface ZipEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits (0o7777), stored as written: the writer does not normalise them. */
  mode: number;
  data?: Uint8Array;
  linkname?: string;
  /** Seconds since the epoch; defaults to the archive's `mtime`. */
  mtime?: number;
}

/** A member read by `unpackZip`, with the metadata the central directory and local header hold. */
export interface ZipMember {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Uncompressed contents of a file. */
  data?: Uint8Array;
  linkname?: string;
  /** Permission bits (0o7777) when the writer was a Unix host and stored them, else null. */
  mode: number | null;
  /** The raw external file attributes (Unix mode in the high 16 bits, DOS attributes low). */
  externalAttributes: number;
  /** Low byte: the zip specification version (30 = 3.0); high byte: the host system (3 = Unix, 0 = DOS). */
  versionMadeBy: number;
  versionNeeded: number;
  flags: number;
  /** 0 stored, 8 deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** The DOS date and time as stored, `YYYY-MM-DD HH:MM:SS`: the writer's local time, 2-second resolution, no zone. */
  dosTime: string;
  /** Seconds since the epoch (UTC) from an extended-timestamp or Unix extra field; null when only the DOS time exists. */
  mtime: number | null;
  uid: number | null;
  gid: number | null;
  comment: string;
  /** Extra-field header ids, e.g. 0x5455 (extended timestamp) and 0x7875 (Info-ZIP Unix uid/gid). */
  extraIds: { central: number[]; local: number[] };
  /** Byte offset of the member's local file header. */
  offset: number;
}

export interface ZipArchive {
  members: ZipMember[];
  comment: string;
}

export interface ZipLimits {
  /** Most members accepted. Default 100 000 (a zip without zip64 holds at most 65 535). */
  maxEntries?: number;
  /** Most bytes of uncompressed data accepted, summed over all members. Default 1 GiB. */
  maxBytes?: number;
  /** Longest path or symlink target accepted, in UTF-8 bytes. Default 4096. */
  maxPathLength?: number;
}

export interface ZipWriteOptions {
  /** Seconds since the epoch for members without their own `mtime`. */
  mtime: number;
  /** Default `deflate`. */
  method?: 'deflate' | 'store';
  /** Deflate level 0..9, default 9. */
  level?: number;
  /** Write an extended-timestamp (UT) extra field with the UTC mtime. Default true. */
  extendedTimestamp?: boolean;
  /** Offset from UTC, in minutes, of the "local time" written into DOS date/time fields. Default 0. */
  utcOffsetMinutes?: number;
  comment?: string;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const LOCAL_SIZE = 30;
const CENTRAL_SIZE = 46;
const END_SIZE = 22;
const MAX_COMMENT = 0xffff;
const HOST_UNIX = 3;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8 = 0x0800;
const FLAG_MASKED_HEADERS = 0x2000;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const EXTRA_ZIP64 = 0x0001;
const EXTRA_PKWARE_UNIX = 0x000d;
const EXTRA_EXTENDED_TIMESTAMP = 0x5455;
const EXTRA_INFOZIP_UNIX_OLD = 0x5855;
const EXTRA_UNICODE_PATH = 0x7075;
const EXTRA_INFOZIP_UNIX = 0x7875;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** DOS dates start at 1980-01-01 00:00:00 and end in 2107. */
const DOS_MIN_SECONDS = 315532800;
const DOS_MAX_SECONDS = 4354819198;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/** Whether `bytes` starts like a zip archive (a local file header, or the end record of an empty zip). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) return false;
  return (bytes[2] === 0x03 && bytes[3] === 0x04) || (bytes[2] === 0x05 && bytes[3] === 0x06);
}

// ---------------------------------------------------------------------------------------------
// Path rules: the same as the tar reader's, plus no drive letters.

function pathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  if (path.includes('\\')) return 'contains a backslash';
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a '${segment}' segment`;
  }
  return undefined;
}

/** A symlink target must be relative and, resolved lexically from the link's folder, stay inside the root. */
function linkTargetProblem(linkPath: string, target: string): string | undefined {
  if (target === '') return 'is empty';
  if (target.includes('\0')) return 'contains a NUL byte';
  if (target.startsWith('/')) return 'is absolute';
  if (target.includes('\\')) return 'contains a backslash';
  let depth = linkPath.split('/').length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (depth === 0) return 'climbs above the archive root';
      depth--;
    } else depth++;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface CentralRecord {
  readonly at: number;
  readonly versionMadeBy: number;
  readonly versionNeeded: number;
  readonly flags: number;
  readonly method: number;
  readonly time: number;
  readonly date: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly nameBytes: Buffer;
  readonly extra: Buffer;
  readonly comment: Buffer;
  readonly externalAttributes: number;
  readonly offset: number;
}

interface ExtraFacts {
  ids: number[];
  mtime?: number;
  uid?: number;
  gid?: number;
  unicodePath?: { crc: number; name: Buffer };
}

/**
 * A strict reader of zip archives (no zip64, no encryption, one disk). It locates the end
 * record (whose comment must reach the end of the file exactly), reads the central directory,
 * checks each local header against it, refuses overlapping members, and decompresses stored
 * and deflate members with the output capped by the declared size, checking every CRC-32.
 * Paths must be relative UTF-8 with no '.', '..' or empty segments and no duplicates; symlink
 * targets must stay inside the root. Errors: `ARCHIVE_CORRUPT`, `ARCHIVE_BAD_PATH`,
 * `ARCHIVE_TOO_LARGE`, `ARCHIVE_TOO_MANY_ENTRIES`, `ARCHIVE_UNSUPPORTED_ENTRY`,
 * `ARCHIVE_UNSUPPORTED_FORMAT`, `ARCHIVE_ZIP64_UNSUPPORTED`, `ARCHIVE_BAD_LIMIT`.
 */
export function unpackZip(zip: Uint8Array, limits: ZipLimits = {}): ZipArchive {
  const { maxEntries, maxBytes, maxPathLength } = resolveLimits(limits);
  const buf = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = findEndRecord(buf);
  if (end >= 20 && buf.readUInt32LE(end - 20) === SIG_ZIP64_LOCATOR) throw zip64('the archive has a zip64 end-of-central-directory locator');
  const disk = buf.readUInt16LE(end + 4);
  const centralDisk = buf.readUInt16LE(end + 6);
  const entriesOnDisk = buf.readUInt16LE(end + 8);
  const entries = buf.readUInt16LE(end + 10);
  const centralSize = buf.readUInt32LE(end + 12);
  const centralOffset = buf.readUInt32LE(end + 16);
  if (entries === 0xffff || centralSize === 0xffffffff || centralOffset === 0xffffffff) throw zip64('the end record defers to zip64 fields');
  if (disk !== 0 || centralDisk !== 0 || entriesOnDisk !== entries) {
    throw new InputError('ARCHIVE_UNSUPPORTED_FORMAT', 'multi-disk (spanned) zip archives are not read');
  }
  if (entries > maxEntries) throw new InputError('ARCHIVE_TOO_MANY_ENTRIES', `archive has ${entries} entries, over ${maxEntries}`);
  if (centralOffset + centralSize !== end) {
    throw corrupt(`central directory at ${centralOffset} (+${centralSize} bytes) does not end where the end record starts (${end})`);
  }

  const records: CentralRecord[] = [];
  let pos = centralOffset;
  let declaredBytes = 0;
  for (let i = 0; i < entries; i++) {
    const record = readCentral(buf, pos, end);
    records.push(record);
    declaredBytes += record.size;
    if (declaredBytes > maxBytes) throw new InputError('ARCHIVE_TOO_LARGE', `members declare more than ${maxBytes} bytes of data`);
    pos = record.at + CENTRAL_SIZE + record.nameBytes.length + record.extra.length + record.comment.length;
  }
  if (pos !== end) throw corrupt(`central directory holds ${end - pos} bytes after its ${entries} records`);

  const members: ZipMember[] = [];
  const seen = new Map<string, number>();
  const ranges: { start: number; end: number; path: string }[] = [];
  for (const record of records) {
    const member = readMember(buf, record, centralOffset, maxPathLength, ranges);
    const previous = seen.get(member.path);
    if (previous !== undefined) {
      throw new InputError('ARCHIVE_BAD_PATH', `member at byte ${record.offset}: duplicate path ${JSON.stringify(member.path)} (also at byte ${previous})`);
    }
    seen.set(member.path, record.offset);
    members.push(member);
  }
  ranges.sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++) {
    const before = ranges[i - 1];
    const here = ranges[i];
    if (before !== undefined && here !== undefined && here.start < before.end) {
      throw corrupt(`members ${JSON.stringify(before.path)} and ${JSON.stringify(here.path)} overlap (bytes ${here.start}..${before.end})`);
    }
  }
  // Nothing may sit beneath a file or symlink: paths starting with "<file>/" sort right after it.
  const sorted = members.map((m) => m.path).sort();
  for (const member of members) {
    if (member.type === 'directory') continue;
    const prefix = `${member.path}/`;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] ?? '') < prefix) lo = mid + 1;
      else hi = mid;
    }
    const beneath = sorted[lo];
    if (beneath?.startsWith(prefix)) {
      throw new InputError('ARCHIVE_BAD_PATH', `${JSON.stringify(beneath)} lies beneath the ${member.type} ${JSON.stringify(member.path)}`);
    }
  }
  const comment = utf8Lenient.decode(buf.subarray(end + END_SIZE, end + END_SIZE + buf.readUInt16LE(end + 20)));
  return { members, comment };
}

function findEndRecord(buf: Buffer): number {
  if (buf.length < END_SIZE) throw corrupt(`${buf.length} bytes is too short for a zip archive`);
  const lowest = Math.max(0, buf.length - END_SIZE - MAX_COMMENT);
  for (let at = buf.length - END_SIZE; at >= lowest; at--) {
    if (buf.readUInt32LE(at) === SIG_END && at + END_SIZE + buf.readUInt16LE(at + 20) === buf.length) return at;
  }
  throw corrupt('no end-of-central-directory record (or bytes follow its comment)');
}

function readCentral(buf: Buffer, at: number, limit: number): CentralRecord {
  if (at + CENTRAL_SIZE > limit || buf.readUInt32LE(at) !== SIG_CENTRAL) throw corrupt(`no central directory record at byte ${at}`);
  const nameLength = buf.readUInt16LE(at + 28);
  const extraLength = buf.readUInt16LE(at + 30);
  const commentLength = buf.readUInt16LE(at + 32);
  const nameStart = at + CENTRAL_SIZE;
  const recordEnd = nameStart + nameLength + extraLength + commentLength;
  if (recordEnd > limit) throw corrupt(`central directory record at byte ${at} runs past the directory`);
  const record: CentralRecord = {
    at,
    versionMadeBy: buf.readUInt16LE(at + 4),
    versionNeeded: buf.readUInt16LE(at + 6),
    flags: buf.readUInt16LE(at + 8),
    method: buf.readUInt16LE(at + 10),
    time: buf.readUInt16LE(at + 12),
    date: buf.readUInt16LE(at + 14),
    crc: buf.readUInt32LE(at + 16),
    compressedSize: buf.readUInt32LE(at + 20),
    size: buf.readUInt32LE(at + 24),
    nameBytes: buf.subarray(nameStart, nameStart + nameLength),
    extra: buf.subarray(nameStart + nameLength, nameStart + nameLength + extraLength),
    comment: buf.subarray(nameStart + nameLength + extraLength, recordEnd),
    externalAttributes: buf.readUInt32LE(at + 38),
    offset: buf.readUInt32LE(at + 42),
  };
  if (record.compressedSize === 0xffffffff || record.size === 0xffffffff || record.offset === 0xffffffff || buf.readUInt16LE(at + 34) === 0xffff) {
    throw zip64(`member at central byte ${at} defers its sizes or offset to a zip64 extra field`);
  }
  if (buf.readUInt16LE(at + 34) !== 0) throw new InputError('ARCHIVE_UNSUPPORTED_FORMAT', `member at central byte ${at} starts on another disk`);
  return record;
}

function readMember(
  buf: Buffer,
  record: CentralRecord,
  centralOffset: number,
  maxPathLength: number,
  ranges: { start: number; end: number; path: string }[],
): ZipMember {
  const where = `member at byte ${record.offset}`;
  if (record.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS)) {
    throw new InputError('ARCHIVE_UNSUPPORTED_ENTRY', `unsupported: ${where} is encrypted`);
  }
  if (record.method !== METHOD_STORED && record.method !== METHOD_DEFLATE) {
    throw new InputError('ARCHIVE_UNSUPPORTED_ENTRY', `unsupported: ${where} uses compression method ${record.method} (only stored and deflate are read)`);
  }
  if (record.nameBytes.length > maxPathLength) {
    throw new InputError('ARCHIVE_BAD_PATH', `${where}: path is ${record.nameBytes.length} bytes, over ${maxPathLength}`);
  }
  let rawPath: string;
  try {
    rawPath = utf8.decode(record.nameBytes);
  } catch (cause) {
    throw new InputError('ARCHIVE_BAD_PATH', `${where}: path is not UTF-8 (CP437 names are not read)`, { cause });
  }

  // Local header: it must agree with the central record on name, method and encryption.
  const local = record.offset;
  if (local + LOCAL_SIZE > centralOffset || buf.readUInt32LE(local) !== SIG_LOCAL) throw corrupt(`${where}: no local file header`);
  const localFlags = buf.readUInt16LE(local + 6);
  const localNameLength = buf.readUInt16LE(local + 26);
  const localExtraLength = buf.readUInt16LE(local + 28);
  const localName = buf.subarray(local + LOCAL_SIZE, local + LOCAL_SIZE + localNameLength);
  const localExtra = buf.subarray(local + LOCAL_SIZE + localNameLength, local + LOCAL_SIZE + localNameLength + localExtraLength);
  const dataStart = local + LOCAL_SIZE + localNameLength + localExtraLength;
  if (dataStart > centralOffset) throw corrupt(`${where}: local header runs into the central directory`);
  if (!localName.equals(record.nameBytes))
    throw corrupt(`${where}: local header names ${JSON.stringify(localName.toString('latin1'))}, central directory ${JSON.stringify(rawPath)}`);
  if (buf.readUInt16LE(local + 8) !== record.method) throw corrupt(`${where}: local and central compression methods differ`);
  if ((localFlags ^ record.flags) & FLAG_ENCRYPTED) throw corrupt(`${where}: local and central encryption flags differ`);
  if (!(localFlags & FLAG_DATA_DESCRIPTOR)) {
    const agrees =
      buf.readUInt32LE(local + 14) === record.crc && buf.readUInt32LE(local + 18) === record.compressedSize && buf.readUInt32LE(local + 22) === record.size;
    if (!agrees) throw corrupt(`${where}: local header CRC or sizes differ from the central directory`);
  }
  const dataEnd = dataStart + record.compressedSize;
  if (dataEnd > centralOffset) throw corrupt(`${where}: data runs into the central directory`);
  ranges.push({ start: local, end: dataEnd, path: rawPath });

  const centralExtra = parseExtra(record.extra, true, where);
  const localFacts = parseExtra(localExtra, false, where);
  for (const facts of [centralExtra, localFacts]) {
    const unicode = facts.unicodePath;
    if (unicode !== undefined && unicode.crc === crc32(record.nameBytes)) {
      const alias = utf8Lenient.decode(unicode.name);
      const problem = pathProblem(alias.endsWith('/') ? alias.slice(0, -1) : alias);
      if (problem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `${where}: Unicode path extra field ${JSON.stringify(alias)} ${problem}`);
    }
  }

  const host = record.versionMadeBy >>> 8;
  const unixBits = host === HOST_UNIX ? record.externalAttributes >>> 16 : 0;
  const format = unixBits & S_IFMT;
  let type: ZipMember['type'];
  if (rawPath.endsWith('/') || format === S_IFDIR) type = 'directory';
  else if (format === S_IFLNK) type = 'symlink';
  else if (format === 0 || format === S_IFREG) type = 'file';
  else throw new InputError('ARCHIVE_UNSUPPORTED_ENTRY', `unsupported: ${where} is a device, FIFO or socket (mode ${unixBits.toString(8)})`);
  const path = type === 'directory' && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  const problem = pathProblem(path);
  if (problem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `${where}: path ${JSON.stringify(rawPath)} ${problem}`);

  const data = inflate(buf.subarray(dataStart, dataEnd), record, where);
  if (type === 'directory' && data.length > 0) throw corrupt(`${where}: directory ${JSON.stringify(path)} carries ${data.length} bytes`);
  let linkname: string | undefined;
  if (type === 'symlink') {
    if (data.length > maxPathLength) throw new InputError('ARCHIVE_BAD_PATH', `${where}: symlink target is ${data.length} bytes, over ${maxPathLength}`);
    try {
      linkname = utf8.decode(data);
    } catch (cause) {
      throw new InputError('ARCHIVE_BAD_PATH', `${where}: symlink target is not UTF-8`, { cause });
    }
    const linkProblem = linkTargetProblem(path, linkname);
    if (linkProblem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `${where}: symlink target ${JSON.stringify(linkname)} ${linkProblem}`);
  }

  const mtime = centralExtra.mtime ?? localFacts.mtime ?? null;
  return {
    path,
    type,
    ...(type === 'file' ? { data } : {}),
    ...(linkname !== undefined ? { linkname } : {}),
    mode: unixBits === 0 ? null : unixBits & 0o7777,
    externalAttributes: record.externalAttributes,
    versionMadeBy: record.versionMadeBy,
    versionNeeded: record.versionNeeded,
    flags: record.flags,
    method: record.method,
    crc32: record.crc,
    compressedSize: record.compressedSize,
    size: record.size,
    dosTime: formatDosTime(record.date, record.time),
    mtime,
    uid: centralExtra.uid ?? localFacts.uid ?? null,
    gid: centralExtra.gid ?? localFacts.gid ?? null,
    comment: utf8Lenient.decode(record.comment),
    extraIds: { central: centralExtra.ids, local: localFacts.ids },
    offset: record.offset,
  };
}

function inflate(compressed: Buffer, record: CentralRecord, where: string): Buffer {
  let data: Buffer;
  if (record.method === METHOD_STORED) {
    if (record.compressedSize !== record.size) throw corrupt(`${where}: stored member has compressed size ${record.compressedSize} but size ${record.size}`);
    data = compressed;
  } else {
    try {
      data = inflateRawSync(compressed, { maxOutputLength: Math.max(1, Math.min(record.size, bufferConstants.MAX_LENGTH)) });
    } catch (error) {
      if (error instanceof RangeError && (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new InputError('ARCHIVE_TOO_LARGE', `${where}: deflate data expands beyond its declared ${record.size} bytes`, { cause: error });
      }
      throw corrupt(`${where}: deflate data is corrupt: ${(error as Error).message}`);
    }
    if (data.length !== record.size) throw corrupt(`${where}: inflates to ${data.length} bytes, not the declared ${record.size}`);
  }
  if (crc32(data) >>> 0 !== record.crc) throw corrupt(`${where}: CRC-32 mismatch`);
  return data;
}

/** Extra-field records (id, size, body). A trailing run of under 4 zero bytes is padding. */
function parseExtra(extra: Buffer, central: boolean, where: string): ExtraFacts {
  const facts: ExtraFacts = { ids: [] };
  let at = 0;
  while (at + 4 <= extra.length) {
    const id = extra.readUInt16LE(at);
    const size = extra.readUInt16LE(at + 2);
    const body = extra.subarray(at + 4, at + 4 + size);
    if (body.length !== size) throw corrupt(`${where}: extra field 0x${id.toString(16).padStart(4, '0')} runs past the extra data`);
    facts.ids.push(id);
    switch (id) {
      case EXTRA_EXTENDED_TIMESTAMP:
        // Flags byte, then mtime/atime/ctime as present; the central copy carries mtime only.
        if (size >= 5 && (body.readUInt8(0) & 1) !== 0) facts.mtime = body.readInt32LE(1);
        break;
      case EXTRA_INFOZIP_UNIX: {
        if (size === 0) break;
        if (body.readUInt8(0) !== 1 || size < 3) throw corrupt(`${where}: unknown Info-ZIP Unix extra field version`);
        const uidSize = body.readUInt8(1);
        const gidAt = 2 + uidSize;
        if (uidSize > 6 || gidAt + 1 > size) throw corrupt(`${where}: bad Info-ZIP Unix extra field`);
        const gidSize = body.readUInt8(gidAt);
        if (gidSize > 6 || gidAt + 1 + gidSize > size) throw corrupt(`${where}: bad Info-ZIP Unix extra field`);
        facts.uid = uidSize === 0 ? 0 : body.readUIntLE(2, uidSize);
        facts.gid = gidSize === 0 ? 0 : body.readUIntLE(gidAt + 1, gidSize);
        break;
      }
      case EXTRA_INFOZIP_UNIX_OLD:
      case EXTRA_PKWARE_UNIX:
        // atime, mtime (u32), then uid and gid (u16) when present.
        if (size >= 8) facts.mtime ??= body.readUInt32LE(4);
        if (size >= 12 && !(id === EXTRA_INFOZIP_UNIX_OLD && central)) {
          facts.uid ??= body.readUInt16LE(8);
          facts.gid ??= body.readUInt16LE(10);
        }
        break;
      case EXTRA_UNICODE_PATH:
        if (size >= 5 && body.readUInt8(0) === 1) facts.unicodePath = { crc: body.readUInt32LE(1), name: body.subarray(5) };
        break;
      case EXTRA_ZIP64:
        // Harmless when no header field is saturated (those were refused earlier).
        break;
      default:
        break;
    }
    at += 4 + size;
  }
  for (; at < extra.length; at++) if (extra[at] !== 0) throw corrupt(`${where}: extra data ends with a partial record`);
  return facts;
}

function formatDosTime(date: number, time: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const year = 1980 + (date >>> 9);
  return `${year}-${two((date >>> 5) & 15)}-${two(date & 31)} ${two(time >>> 11)}:${two((time >>> 5) & 63)}:${two((time & 31) * 2)}`;
}

function corrupt(message: string): InputError {
  return new InputError('ARCHIVE_CORRUPT', `zip: ${message}`);
}

function zip64(message: string): InputError {
  return new InputError('ARCHIVE_ZIP64_UNSUPPORTED', `zip64 archives are not read: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * A zip archive of `entries`, in the order given (sort them for a canonical archive): Unix
 * host, the given modes, uid/gid not recorded, DOS times from `mtime` shifted by
 * `utcOffsetMinutes` and clamped to 1980..2107, an extended-timestamp field with the UTC
 * mtime unless disabled. Throws `InputError` (`ARCHIVE_BAD_PATH`, `ARCHIVE_BAD_ENTRY`,
 * `ARCHIVE_BAD_MTIME`, `ARCHIVE_TOO_MANY_ENTRIES`, `ARCHIVE_TOO_LARGE`) for what `unpackZip` would refuse.
 */
export function packZip(entries: readonly ZipEntry[], options: ZipWriteOptions): Buffer {
  const method = options.method === 'store' ? METHOD_STORED : METHOD_DEFLATE;
  const level = options.level ?? 9;
  const offsetMinutes = options.utcOffsetMinutes ?? 0;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new InputError('ARCHIVE_BAD_ENTRY', `deflate level must be 0..9, got ${level}`);
  if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) > 24 * 60) {
    throw new InputError('ARCHIVE_BAD_MTIME', `utcOffsetMinutes must be a whole number of minutes within a day, got ${offsetMinutes}`);
  }
  if (entries.length > 0xfffe) throw new InputError('ARCHIVE_TOO_MANY_ENTRIES', `${entries.length} entries need zip64, which is not written`);
  const comment = Buffer.from(options.comment ?? '', 'utf8');
  if (comment.length > MAX_COMMENT) throw new InputError('ARCHIVE_BAD_ENTRY', 'archive comment is over 65535 bytes');

  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const seen = new Set<string>();
  let offset = 0;
  entries.forEach((entry, index) => {
    const where = `entries[${index}]`;
    const prepared = prepareZipEntry(entry, where, options.mtime);
    if (seen.has(prepared.path)) throw new InputError('ARCHIVE_BAD_PATH', `${where}: duplicate path ${JSON.stringify(prepared.path)}`);
    seen.add(prepared.path);
    const name = Buffer.from(prepared.type === 'directory' ? `${prepared.path}/` : prepared.path, 'utf8');
    const entryMethod = prepared.data.length === 0 ? METHOD_STORED : method;
    const body = entryMethod === METHOD_DEFLATE ? deflateRawSync(prepared.data, { level }) : Buffer.from(prepared.data);
    const crc = crc32(prepared.data) >>> 0;
    const dos = dosDateTime(prepared.mtime + offsetMinutes * 60);
    const flags = /[^\u0000-\u007f]/.test(name.toString('utf8')) ? FLAG_UTF8 : 0;
    const versionNeeded = entryMethod === METHOD_DEFLATE ? 20 : 10;
    const extra = options.extendedTimestamp === false ? Buffer.alloc(0) : extendedTimestamp(prepared.mtime);
    const typeBits = prepared.type === 'directory' ? S_IFDIR : prepared.type === 'symlink' ? S_IFLNK : S_IFREG;
    const external = (((typeBits | (prepared.mode & 0o7777)) << 16) >>> 0) + (prepared.type === 'directory' ? 0x10 : 0);

    const header = Buffer.alloc(LOCAL_SIZE);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(versionNeeded, 4);
    header.writeUInt16LE(flags, 6);
    header.writeUInt16LE(entryMethod, 8);
    header.writeUInt16LE(dos.time, 10);
    header.writeUInt16LE(dos.date, 12);
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(body.length, 18);
    header.writeUInt32LE(prepared.data.length, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(extra.length, 28);
    const local = Buffer.concat([header, name, extra, body]);

    const central = Buffer.alloc(CENTRAL_SIZE);
    central.writeUInt32LE(SIG_CENTRAL, 0);
    central.writeUInt16LE((HOST_UNIX << 8) | 30, 4);
    central.writeUInt16LE(versionNeeded, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(entryMethod, 10);
    central.writeUInt16LE(dos.time, 12);
    central.writeUInt16LE(dos.date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(prepared.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(external, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(Buffer.concat([central, name, extra]));
    locals.push(local);
    offset += local.length;
    if (offset > 0xfffffffe) throw new InputError('ARCHIVE_TOO_LARGE', 'archive would need zip64, which is not written');
  });
  const directory = Buffer.concat(centrals);
  const endRecord = Buffer.alloc(END_SIZE);
  endRecord.writeUInt32LE(SIG_END, 0);
  endRecord.writeUInt16LE(entries.length, 8);
  endRecord.writeUInt16LE(entries.length, 10);
  endRecord.writeUInt32LE(directory.length, 12);
  endRecord.writeUInt32LE(offset, 16);
  endRecord.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, directory, endRecord, comment]);
}

interface PreparedZipEntry {
  readonly path: string;
  readonly type: ZipEntry['type'];
  readonly mode: number;
  readonly data: Uint8Array;
  readonly mtime: number;
}

function prepareZipEntry(entry: ZipEntry, where: string, defaultMtime: number): PreparedZipEntry {
  const { type } = entry;
  if (type !== 'file' && type !== 'directory' && type !== 'symlink')
    throw new InputError('ARCHIVE_BAD_ENTRY', `${where}: unknown type ${JSON.stringify(type)}`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) throw new InputError('ARCHIVE_BAD_ENTRY', `${where}: mode must be 0..0o7777`);
  const mtime = entry.mtime ?? defaultMtime;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > 0x7fffffff)
    throw new InputError('ARCHIVE_BAD_MTIME', `${where}: mtime must be whole seconds in 0..2^31-1`);
  const path = type === 'directory' && entry.path.endsWith('/') ? entry.path.slice(0, -1) : entry.path;
  const problem = typeof path === 'string' ? pathProblem(path) : 'is not a string';
  if (problem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `${where}: path ${JSON.stringify(entry.path)} ${problem}`);
  if (Buffer.byteLength(path, 'utf8') > DEFAULT_MAX_PATH_LENGTH)
    throw new InputError('ARCHIVE_BAD_PATH', `${where}: path is over ${DEFAULT_MAX_PATH_LENGTH} bytes`);
  let data = entry.data ?? new Uint8Array(0);
  if (type === 'symlink') {
    if (typeof entry.linkname !== 'string' || data.length > 0) throw new InputError('ARCHIVE_BAD_ENTRY', `${where}: a symlink needs a linkname and no data`);
    const linkProblem = linkTargetProblem(path, entry.linkname);
    if (linkProblem !== undefined) throw new InputError('ARCHIVE_BAD_PATH', `${where}: symlink target ${JSON.stringify(entry.linkname)} ${linkProblem}`);
    data = Buffer.from(entry.linkname, 'utf8');
  } else if (entry.linkname !== undefined) {
    throw new InputError('ARCHIVE_BAD_ENTRY', `${where}: a ${type} cannot have a linkname`);
  } else if (type === 'directory' && data.length > 0) {
    throw new InputError('ARCHIVE_BAD_ENTRY', `${where}: a directory cannot carry data`);
  }
  if (data.length > 0xfffffffe) throw new InputError('ARCHIVE_TOO_LARGE', `${where}: member would need zip64, which is not written`);
  return { path, type, mode: entry.mode, data, mtime };
}

function dosDateTime(seconds: number): { date: number; time: number } {
  const clamped = Math.min(Math.max(seconds, DOS_MIN_SECONDS), DOS_MAX_SECONDS);
  const d = new Date(clamped * 1000);
  return {
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
  };
}

function extendedTimestamp(mtime: number): Buffer {
  const field = Buffer.alloc(9);
  field.writeUInt16LE(EXTRA_EXTENDED_TIMESTAMP, 0);
  field.writeUInt16LE(5, 2);
  field.writeUInt8(1, 4);
  field.writeInt32LE(mtime, 5);
  return field;
}
