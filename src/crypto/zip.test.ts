import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { crc32, deflateRawSync } from 'node:zlib';
import { InputError } from '../model/errors.js';
import { isZip, packZip, unpackZip, type ZipEntry } from './zip.js';

/** 2024-01-02T03:04:06Z: an even second, so the DOS time holds it exactly. */
const MTIME = 1704164646;

const scratch = mkdtempSync(join(tmpdir(), 'cairn-zip-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let scratchCount = 0;
function tempDir(): string {
  const dir = join(scratch, String(scratchCount++));
  mkdirSync(dir);
  return dir;
}

/** CI must install Info-ZIP (`apt-get install zip unzip`); without it these interop cases are skipped, not passed. */
const HAS_ZIP = spawnSync('zip', ['-v']).status === 0;
const HAS_UNZIP = spawnSync('unzip', ['-v']).status === 0;

const bytes = (text: string) => Buffer.from(text, 'utf8');
const file = (path: string, text: string, mode = 0o644): ZipEntry => ({ path, type: 'file', mode, data: bytes(text) });

function run(command: string, args: readonly string[], cwd: string): Buffer {
  const result = spawnSync(command, args, { cwd, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  assert.equal(result.error, undefined, `${command} could not start: ${String(result.error)}`);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

function expectCode(fn: () => unknown, code: string): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InputError, `expected InputError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Replaces every occurrence of `from` (local header and central directory) with `to`, of equal length. */
function renameEverywhere(zip: Buffer, from: string, to: string): Buffer {
  assert.equal(Buffer.byteLength(from), Buffer.byteLength(to));
  const out = Buffer.from(zip);
  const needle = bytes(from);
  for (let at = out.indexOf(needle); at !== -1; at = out.indexOf(needle, at + 1)) bytes(to).copy(out, at);
  return out;
}

function offsetsOf(zip: Buffer, signature: number): number[] {
  const sig = Buffer.alloc(4);
  sig.writeUInt32LE(signature);
  const found: number[] = [];
  for (let at = zip.indexOf(sig); at !== -1; at = zip.indexOf(sig, at + 1)) found.push(at);
  return found;
}
const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;

describe('unpackZip reads what packZip writes', () => {
  it('keeps paths, order, types, modes, data, times and symlinks', () => {
    const entries: ZipEntry[] = [
      { path: 'pkg', type: 'directory', mode: 0o755 },
      file('pkg/b.txt', 'bee\n', 0o600),
      file('pkg/a.js', 'console.log(1);\n'.repeat(50), 0o755),
      { path: 'pkg/link', type: 'symlink', mode: 0o777, linkname: 'a.js' },
      { path: 'pkg/empty', type: 'file', mode: 0o644, data: new Uint8Array(0), mtime: MTIME + 60 },
    ];
    const archive = unpackZip(packZip(entries, { mtime: MTIME, comment: 'hello' }));
    assert.equal(archive.comment, 'hello');
    assert.deepEqual(
      archive.members.map((m) => [m.path, m.type, m.mode, m.mtime, m.dosTime]),
      [
        ['pkg', 'directory', 0o755, MTIME, '2024-01-02 03:04:06'],
        ['pkg/b.txt', 'file', 0o600, MTIME, '2024-01-02 03:04:06'],
        ['pkg/a.js', 'file', 0o755, MTIME, '2024-01-02 03:04:06'],
        ['pkg/link', 'symlink', 0o777, MTIME, '2024-01-02 03:04:06'],
        ['pkg/empty', 'file', 0o644, MTIME + 60, '2024-01-02 03:05:06'],
      ],
    );
    const [, b, a, link] = archive.members;
    assert.equal(Buffer.from(b?.data ?? []).toString(), 'bee\n');
    assert.equal(a?.method, 8, 'a compressible file is deflated');
    assert.ok((a?.compressedSize ?? 0) < (a?.size ?? 0));
    assert.equal(Buffer.from(a?.data ?? []).toString(), 'console.log(1);\n'.repeat(50));
    assert.equal(link?.linkname, 'a.js');
    assert.equal(link?.data, undefined);
  });

  it('writes DOS times in the offset given, leaving the extended timestamp in UTC', () => {
    const [member] = unpackZip(packZip([file('x', 'x')], { mtime: MTIME, utcOffsetMinutes: 120 })).members;
    assert.equal(member?.dosTime, '2024-01-02 05:04:06');
    assert.equal(member?.mtime, MTIME);
    const [bare] = unpackZip(packZip([file('x', 'x')], { mtime: MTIME, extendedTimestamp: false })).members;
    assert.equal(bare?.mtime, null, 'only the DOS time exists');
    assert.deepEqual(bare?.extraIds, { central: [], local: [] });
  });

  it('is deterministic and stores when asked', () => {
    const entries = [file('a', 'aaaa'.repeat(100))];
    assert.deepEqual(packZip(entries, { mtime: MTIME }), packZip(entries, { mtime: MTIME }));
    const [stored] = unpackZip(packZip(entries, { mtime: MTIME, method: 'store' })).members;
    assert.equal(stored?.method, 0);
    assert.equal(stored?.compressedSize, 400);
  });

  it('refuses to write what the reader would refuse', () => {
    expectCode(() => packZip([file('../x', 'x')], { mtime: MTIME }), 'ARCHIVE_BAD_PATH');
    expectCode(() => packZip([file('a', 'x'), file('a', 'y')], { mtime: MTIME }), 'ARCHIVE_BAD_PATH');
    expectCode(() => packZip([{ path: 'l', type: 'symlink', mode: 0o777, linkname: '../../etc' }], { mtime: MTIME }), 'ARCHIVE_BAD_PATH');
    expectCode(() => packZip([file('a', 'x')], { mtime: -1 }), 'ARCHIVE_BAD_MTIME');
  });

  it('recognises zip magic', () => {
    assert.equal(isZip(packZip([file('a', 'x')], { mtime: MTIME })), true);
    assert.equal(isZip(packZip([], { mtime: MTIME })), true);
    assert.equal(isZip(bytes('PK')), false);
    assert.equal(isZip(bytes('{"a":1}')), false);
  });
});

describe('unpackZip reads archives made by Info-ZIP zip', { skip: !HAS_ZIP && 'zip is not installed (CI must install it)' }, () => {
  it('reads modes, DOS and extended times, uid/gid, symlinks and member order', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pkg/sub'), { recursive: true });
    writeFileSync(join(dir, 'pkg/z.txt'), 'last letter\n');
    writeFileSync(join(dir, 'pkg/sub/run.sh'), '#!/bin/sh\necho hi\n'.repeat(20));
    writeFileSync(join(dir, 'pkg/secret'), 'shh\n');
    chmodSync(join(dir, 'pkg/sub/run.sh'), 0o755);
    chmodSync(join(dir, 'pkg/secret'), 0o600);
    symlinkSync('z.txt', join(dir, 'pkg/link'));
    for (const name of ['pkg/z.txt', 'pkg/sub/run.sh', 'pkg/secret']) utimesSync(join(dir, name), MTIME, MTIME);
    run('zip', ['-q', '-y', '../out.zip', 'pkg/z.txt', 'pkg/sub/run.sh', 'pkg/secret', 'pkg/link'], dir);
    const archive = unpackZip(readFileSync(join(dir, '../out.zip')));
    assert.deepEqual(
      archive.members.map((m) => m.path),
      ['pkg/z.txt', 'pkg/sub/run.sh', 'pkg/secret', 'pkg/link'],
      'order as given on the command line',
    );
    const byPath = new Map(archive.members.map((m) => [m.path, m]));
    assert.equal(byPath.get('pkg/secret')?.mode, 0o600);
    assert.equal(byPath.get('pkg/sub/run.sh')?.mode, 0o755);
    assert.equal(byPath.get('pkg/sub/run.sh')?.method, 8);
    assert.equal(Buffer.from(byPath.get('pkg/sub/run.sh')?.data ?? []).toString(), '#!/bin/sh\necho hi\n'.repeat(20));
    assert.equal(byPath.get('pkg/z.txt')?.mtime, MTIME);
    assert.equal(byPath.get('pkg/z.txt')?.dosTime, '2024-01-02 03:04:06', 'zip ran with TZ=UTC');
    assert.equal(byPath.get('pkg/z.txt')?.uid, process.getuid?.());
    assert.equal(byPath.get('pkg/link')?.type, 'symlink');
    assert.equal(byPath.get('pkg/link')?.linkname, 'z.txt');
    assert.ok(byPath.get('pkg/z.txt')?.extraIds.local.includes(0x5455), 'extended timestamp present');
    assert.equal((byPath.get('pkg/z.txt')?.versionMadeBy ?? 0) >>> 8, 3, 'made on Unix');
  });

  it('reads directories, stored members and archives without extra fields (-X -0)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'd/f'), 'stored\n');
    run('zip', ['-q', '-r', '-X', '-0', '../plain.zip', 'd'], dir);
    const archive = unpackZip(readFileSync(join(dir, '../plain.zip')));
    assert.deepEqual(
      archive.members.map((m) => [m.path, m.type, m.method, m.mtime]),
      [
        ['d', 'directory', 0, null],
        ['d/f', 'file', 0, null],
      ],
    );
  });

  it('refuses zip64 archives with ARCHIVE_ZIP64_UNSUPPORTED', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), 'x\n');
    run('zip', ['-q', '-fz', '../z64.zip', 'f'], dir);
    expectCode(() => unpackZip(readFileSync(join(dir, '../z64.zip'))), 'ARCHIVE_ZIP64_UNSUPPORTED');
  });
});

describe('packZip output is read by Info-ZIP unzip', { skip: !HAS_UNZIP && 'unzip is not installed (CI must install it)' }, () => {
  it('extracts the same files and modes', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'a.zip'),
      packZip([{ path: 'p', type: 'directory', mode: 0o755 }, file('p/x.txt', 'hello\n'.repeat(10), 0o640), file('p/run', '#!/bin/sh\n', 0o755)], {
        mtime: MTIME,
      }),
    );
    run('unzip', ['-q', 'a.zip', '-d', 'out'], dir);
    assert.equal(readFileSync(join(dir, 'out/p/x.txt'), 'utf8'), 'hello\n'.repeat(10));
    assert.equal(statSync(join(dir, 'out/p/x.txt')).mode & 0o777, 0o640);
    assert.equal(statSync(join(dir, 'out/p/run')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'out/p/x.txt')).mtimeMs, MTIME * 1000);
    run('unzip', ['-tq', 'a.zip'], dir);
  });
});

describe('unpackZip refuses', () => {
  const good = () => packZip([file('aa/x', 'data'), file('b', 'bee')], { mtime: MTIME, method: 'store' });

  it('paths that climb, are absolute, use backslashes or drive letters', () => {
    for (const bad of ['../x', '/a/x', 'a\\x', 'C:/x', 'aa//']) {
      const forged = renameEverywhere(good(), 'aa/x', bad.padEnd(4, '/').slice(0, 4));
      expectCode(() => unpackZip(forged), 'ARCHIVE_BAD_PATH');
    }
  });

  it('duplicate paths and members beneath a file', () => {
    const twins = packZip([file('name-one', '1'), file('name-two', '2')], { mtime: MTIME });
    expectCode(() => unpackZip(renameEverywhere(twins, 'name-two', 'name-one')), 'ARCHIVE_BAD_PATH');
    const nested = packZip([file('top', '1'), file('zzz/cc', '2')], { mtime: MTIME });
    expectCode(() => unpackZip(renameEverywhere(nested, 'zzz/cc', 'top/cc')), 'ARCHIVE_BAD_PATH');
  });

  it('symlinks that leave the archive', () => {
    const zip = packZip([{ path: 'l', type: 'symlink', mode: 0o777, linkname: 'abc' }], { mtime: MTIME, method: 'store' });
    // The target is stored data; rewrite it and its CRC.
    const forged = Buffer.from(zip);
    const at = forged.indexOf(bytes('abc'));
    bytes('../').copy(forged, at);
    const crc = crc32(bytes('../')) >>> 0;
    for (const local of offsetsOf(forged, LOCAL)) forged.writeUInt32LE(crc, local + 14);
    for (const central of offsetsOf(forged, CENTRAL)) forged.writeUInt32LE(crc, central + 16);
    expectCode(() => unpackZip(forged), 'ARCHIVE_BAD_PATH');
  });

  it('zip64 markers, encryption and unknown methods', () => {
    const sized = Buffer.from(good());
    const [central] = offsetsOf(sized, CENTRAL);
    sized.writeUInt32LE(0xffffffff, (central ?? 0) + 24);
    expectCode(() => unpackZip(sized), 'ARCHIVE_ZIP64_UNSUPPORTED');

    const encrypted = Buffer.from(good());
    for (const at of [...offsetsOf(encrypted, LOCAL).map((o) => o + 6), ...offsetsOf(encrypted, CENTRAL).map((o) => o + 8)]) encrypted.writeUInt16LE(1, at);
    expectCode(() => unpackZip(encrypted), 'ARCHIVE_UNSUPPORTED_ENTRY');

    const bzip2 = Buffer.from(good());
    for (const at of [...offsetsOf(bzip2, LOCAL).map((o) => o + 8), ...offsetsOf(bzip2, CENTRAL).map((o) => o + 10)]) bzip2.writeUInt16LE(12, at);
    expectCode(() => unpackZip(bzip2), 'ARCHIVE_UNSUPPORTED_ENTRY');
  });

  it('corruption: CRC, truncation, trailing bytes, overlapping members, a local header that disagrees', () => {
    const flipped = Buffer.from(good());
    const dataAt = flipped.indexOf(bytes('data'));
    flipped.writeUInt8(flipped.readUInt8(dataAt) ^ 1, dataAt);
    expectCode(() => unpackZip(flipped), 'ARCHIVE_CORRUPT');
    expectCode(() => unpackZip(good().subarray(0, good().length - 5)), 'ARCHIVE_CORRUPT');
    expectCode(() => unpackZip(Buffer.concat([good(), bytes('junk')])), 'ARCHIVE_CORRUPT');
    expectCode(() => unpackZip(bytes('PK\u0003\u0004 not really')), 'ARCHIVE_CORRUPT');

    const overlapping = Buffer.from(good());
    const centrals = offsetsOf(overlapping, CENTRAL);
    // Point the second member's central record at the first member's local header.
    overlapping.writeUInt32LE(0, (centrals[1] ?? 0) + 42);
    expectCode(() => unpackZip(overlapping), 'ARCHIVE_CORRUPT');

    const renamedLocally = Buffer.from(good());
    renamedLocally.write('zz/x', (offsetsOf(renamedLocally, LOCAL)[0] ?? 0) + 30, 'utf8');
    expectCode(() => unpackZip(renamedLocally), 'ARCHIVE_CORRUPT');
  });

  it('deflate bombs: declared sizes over the cap, and data inflating past its declared size', () => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const bomb = packZip([{ path: 'zeros', type: 'file', mode: 0o644, data: zeros }], { mtime: MTIME });
    assert.ok(bomb.length < 20_000, 'the bomb is small');
    expectCode(() => unpackZip(bomb, { maxBytes: 1024 * 1024 }), 'ARCHIVE_TOO_LARGE');

    // A liar: the headers declare 16 bytes, the deflate stream holds 8 MiB.
    const liar = Buffer.from(bomb);
    const body = deflateRawSync(zeros, { level: 9 });
    const crc = crc32(zeros.subarray(0, 16)) >>> 0;
    for (const local of offsetsOf(liar, LOCAL)) {
      liar.writeUInt32LE(crc, local + 14);
      liar.writeUInt32LE(16, local + 22);
    }
    for (const central of offsetsOf(liar, CENTRAL)) {
      liar.writeUInt32LE(crc, central + 16);
      liar.writeUInt32LE(16, central + 24);
    }
    assert.ok(liar.includes(body));
    expectCode(() => unpackZip(liar), 'ARCHIVE_TOO_LARGE');
  });

  it('more members than the cap', () => {
    const many = packZip(
      Array.from({ length: 50 }, (_, i) => file(`f${i}`, 'x')),
      { mtime: MTIME },
    );
    assert.equal(unpackZip(many, { maxEntries: 50 }).members.length, 50);
    expectCode(() => unpackZip(many, { maxEntries: 49 }), 'ARCHIVE_TOO_MANY_ENTRIES');
    expectCode(() => unpackZip(many, { maxEntries: -1 }), 'ARCHIVE_BAD_LIMIT');
  });

  it('a multi-disk end record', () => {
    const spanned = Buffer.from(good());
    const [end] = offsetsOf(spanned, END);
    spanned.writeUInt16LE(1, (end ?? 0) + 4);
    expectCode(() => unpackZip(spanned), 'ARCHIVE_UNSUPPORTED_FORMAT');
  });
});
