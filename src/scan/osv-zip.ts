import { crc32, inflateRawSync } from 'node:zlib';
import { InputError } from '../model/errors.js';

/** One member of a zip as the central directory describes it. */
export interface ZipMemberRef {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

export interface ZipReadLimits {
  readonly maxEntries: number;
  /** Largest uncompressed member read; a bigger one is refused. */
  readonly maxMemberBytes: number;
  /** Most uncompressed bytes over all members. */
  readonly maxTotalBytes: number;
}

function corrupt(message: string): InputError {
  return new InputError('SCAN_OSV_MALFORMED', `advisory zip: ${message}`, { problems: [{ code: 'INVALID_FORMAT', path: '', message }] });
}

function tooLarge(message: string): InputError {
  return new InputError('SCAN_OSV_TOO_LARGE', `advisory zip: ${message}`, { problems: [{ code: 'TOO_LARGE', path: '', message }] });
}

function u64(buf: Buffer, at: number): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('a 64-bit size or offset is out of range');
  return Number(value);
}

/**
 * Lists the members of a zip archive from its central directory, zip64 included (osv-scanner's
 * `all.zip` for npm holds far more than 65,535 records). Only the directory is read here;
 * `readMember` inflates one member at a time, so memory stays at one record.
 */
export function zipMembers(zip: Buffer, limits: ZipReadLimits): ZipMemberRef[] {
  const floor = Math.max(0, zip.length - (22 + 0xffff));
  let eocd = -1;
  for (let i = zip.length - 22; i >= floor; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt('no end of central directory record');
  let entries = zip.readUInt16LE(eocd + 10);
  let cdSize = zip.readUInt32LE(eocd + 12);
  let cdOffset = zip.readUInt32LE(eocd + 16);
  if (zip.readUInt16LE(eocd + 4) !== 0 || zip.readUInt16LE(eocd + 6) !== 0) throw corrupt('multi-disk archives are not read');
  const locator = eocd - 20;
  if (locator >= 0 && zip.readUInt32LE(locator) === 0x07064b50) {
    const at = u64(zip, locator + 8);
    if (at + 56 > zip.length || zip.readUInt32LE(at) !== 0x06064b50) throw corrupt('bad zip64 end of central directory record');
    entries = u64(zip, at + 32);
    cdSize = u64(zip, at + 40);
    cdOffset = u64(zip, at + 48);
  }
  if (entries > limits.maxEntries) throw tooLarge(`${entries} members, over ${limits.maxEntries}`);
  if (cdOffset + cdSize > zip.length) throw corrupt('central directory out of bounds');
  const out: ZipMemberRef[] = [];
  let p = cdOffset;
  for (let n = 0; n < entries; n++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== 0x02014b50) throw corrupt(`bad central directory header ${n}`);
    const flags = zip.readUInt16LE(p + 8);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    let compressedSize = zip.readUInt32LE(p + 20);
    let size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    let localOffset = zip.readUInt32LE(p + 42);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > zip.length) throw corrupt(`central directory header ${n} out of bounds`);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    // zip64 extended information: only the fields whose 32-bit slot is saturated, in this order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = zip.readUInt16LE(e);
      const length = zip.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = u64(zip, q);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(zip, q);
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = u64(zip, q);
      }
      e += 4 + length;
    }
    out.push({ name, method, flags, crc, compressedSize, size, localOffset });
    p = end;
  }
  return out;
}

/** The uncompressed bytes of one member, checked against its CRC-32 and the caps. */
export function readMember(zip: Buffer, member: ZipMemberRef, limits: ZipReadLimits): Buffer {
  if (member.flags & 0x1) throw corrupt(`${member.name} is encrypted`);
  if (member.size > limits.maxMemberBytes) throw tooLarge(`${member.name} is ${member.size} bytes, over ${limits.maxMemberBytes}`);
  const at = member.localOffset;
  if (at + 30 > zip.length || zip.readUInt32LE(at) !== 0x04034b50) throw corrupt(`bad local header for ${member.name}`);
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  if (start + member.compressedSize > zip.length) throw corrupt(`${member.name} data out of bounds`);
  const raw = zip.subarray(start, start + member.compressedSize);
  let data: Buffer;
  if (member.method === 0) data = raw;
  else if (member.method === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, member.size) });
    } catch (cause) {
      throw new InputError('SCAN_OSV_MALFORMED', `advisory zip: ${member.name} does not inflate to its declared size`, { cause });
    }
  } else throw corrupt(`${member.name} uses compression method ${member.method} (stored and deflate are read)`);
  if (data.length !== member.size) throw corrupt(`${member.name} is ${data.length} bytes, not the declared ${member.size}`);
  if (crc32(data) >>> 0 !== member.crc) throw corrupt(`${member.name} fails its CRC-32`);
  return data;
}
