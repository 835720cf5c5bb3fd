import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, linkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { crc32, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { InputError } from '../model/errors.js';
import { gunzip, gzipDeterministic, packTar, packTgz, readGzipHeader, type TarEntry, type TarMember, unpackTar, unpackTgz } from './archive.js';

/** npm's fixed tarball date, 1985-10-26T08:15:00Z. */
const MTIME = 499162500;
const MTIME_TEXT = '1985-10-26 08:15:00';

/** 150 bytes: fits the ustar prefix (70) + name (79) split. */
const PATH_150 = `${'p'.repeat(70)}/${'q'.repeat(79)}`;
/** 300 bytes: needs a PAX `path` record. */
const PATH_300 = `${'r'.repeat(99)}/${'r'.repeat(99)}/${'s'.repeat(100)}`;

const scratch = mkdtempSync(join(tmpdir(), 'cairn-archive-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let scratchCount = 0;
function tempDir(): string {
  const dir = join(scratch, String(scratchCount++));
  mkdirSync(dir);
  return dir;
}

const bytes = (text: string) => Buffer.from(text, 'utf8');
const file = (path: string, text: string, mode = 0o644): TarEntry => ({ path, type: 'file', mode, data: bytes(text) });
const dir = (path: string, mode = 0o755): TarEntry => ({ path, type: 'directory', mode });
const symlink = (path: string, linkname: string): TarEntry => ({ path, type: 'symlink', mode: 0o777, linkname });

function sampleTree(): TarEntry[] {
  return [
    dir('bin'),
    file('bin/run', '#!/bin/sh\necho run\n', 0o755),
    file('package.json', '{"name":"x"}\n'),
    dir('src'),
    file('src/index.js', 'export {};\n'),
    symlink('latest', 'bin/run'),
  ];
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

function run(command: string, args: readonly string[], options: { cwd?: string; input?: Buffer } = {}): Buffer {
  const result = spawnSync(command, args, { ...options, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  assert.equal(result.error, undefined, `${command} could not start: ${String(result.error)}`);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

/** Rewrites fields of the header at `at` and recomputes its checksum, as a forger would. */
function forge(tar: Buffer, at: number, patch: { name?: string; linkname?: string; typeflag?: string }): Buffer {
  const out = Buffer.from(tar);
  if (patch.name !== undefined) {
    out.fill(0, at, at + 100);
    out.write(patch.name, at, 'utf8');
  }
  if (patch.linkname !== undefined) {
    out.fill(0, at + 157, at + 257);
    out.write(patch.linkname, at + 157, 'utf8');
  }
  if (patch.typeflag !== undefined) out.write(patch.typeflag, at + 156, 'latin1');
  out.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += out.readUInt8(i);
  out.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, at + 148, 'latin1');
  return out;
}

const cstring = (buf: Buffer, start: number, length: number) => {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? length : nul).toString('utf8');
};

const summary = (members: readonly TarMember[]) =>
  members.map((m) => ({
    path: m.path,
    type: m.type,
    mode: m.mode,
    data: m.data === undefined ? undefined : Buffer.from(m.data).toString('utf8'),
    linkname: m.linkname,
  }));

describe('packTar', () => {
  it('writes the same bytes whatever the entry order and the input modes', () => {
    const content = new Uint8Array(Buffer.from('xxexport const a = 1;\n')).subarray(2);
    const first = [dir('src', 0o755), file('src/a.js', 'export const a = 1;\n', 0o644), file('bin/tool', '#!/bin/sh\n', 0o755), dir('bin', 0o755)];
    const second = [
      dir('bin', 0o700),
      { path: 'src/a.js', type: 'file', mode: 0o600, data: content } satisfies TarEntry,
      file('bin/tool', '#!/bin/sh\n', 0o700),
      dir('src/', 0o750),
    ];
    assert.deepEqual(packTar(second, MTIME), packTar(first, MTIME));
    assert.deepEqual(packTgz(second, MTIME), packTgz(first, MTIME));
    assert.notDeepEqual(packTar(first, MTIME + 1), packTar(first, MTIME));
  });

  it('normalises modes: directories 0755, files with any execute bit 0755, other files 0644, symlinks 0777', () => {
    const members = unpackTar(
      packTar([dir('d', 0o700), file('d/owner-x', '', 0o744), file('d/group-x', '', 0o610), file('d/plain', '', 0o4666), symlink('l', 'd')], MTIME),
    );
    assert.deepEqual(
      members.map((m) => [m.path, m.mode.toString(8)]),
      [
        ['d', '755'],
        ['d/group-x', '755'],
        ['d/owner-x', '755'],
        ['d/plain', '644'],
        ['l', '777'],
      ],
    );
  });

  it('stamps every header with the given mtime, uid and gid 0 and empty owner names', () => {
    const tar = packTar([...sampleTree(), file(PATH_300, 'long')], MTIME);
    const members = unpackTar(tar);
    assert.equal(members.length, 7);
    for (const m of members) {
      assert.deepEqual([m.mtime, m.uid, m.gid, m.uname, m.gname], [MTIME, 0, 0, '', ''], m.path);
    }
    // Including the PAX header block itself.
    const paxAt = members.find((m) => m.path === PATH_300)?.offset ?? -1;
    assert.equal(tar.toString('latin1', paxAt + 156, paxAt + 157), 'x');
    assert.equal(Number.parseInt(cstring(tar, paxAt + 136, 12), 8), MTIME);
    assert.ok(tar.subarray(paxAt + 265, paxAt + 329).every((b) => b === 0));
  });

  it('orders members by the UTF-8 bytes of their paths, not by locale', () => {
    const entries = [file('é', ''), file('b', ''), file('B', ''), file('a-b', ''), dir('a'), file('a/x', ''), file('Z', '')];
    const order = unpackTar(packTar(entries, MTIME)).map((m) => m.path);
    assert.deepEqual(order, ['B', 'Z', 'a', 'a-b', 'a/x', 'b', 'é']);
  });

  it('writes directory names with a trailing slash', () => {
    const tar = packTar([dir('only')], MTIME);
    assert.equal(cstring(tar, 0, 100), 'only/');
    assert.equal(tar.toString('latin1', 156, 157), '5');
  });

  it('ends with two zero blocks and pads the archive to a multiple of 10240 bytes', () => {
    assert.deepEqual(packTar([], MTIME), Buffer.alloc(10240));
    const big = packTar([file('big', 'z'.repeat(9000))], MTIME);
    // header 512 + data 9216 + end 1024 = 10752 → two records.
    assert.equal(big.length, 20480);
    assert.ok(big.subarray(512 + 9216).every((b) => b === 0));
  });

  it('splits a 150-byte path into the ustar prefix and name fields', () => {
    const tar = packTar([file(PATH_150, 'mid')], MTIME);
    assert.equal(tar.toString('latin1', 156, 157), '0', 'no PAX header is needed');
    assert.equal(cstring(tar, 345, 155), 'p'.repeat(70));
    assert.equal(cstring(tar, 0, 100), 'q'.repeat(79));
    assert.equal(unpackTar(tar)[0]?.path, PATH_150);
  });

  it('stores a 300-byte path and a 150-byte symlink target in a PAX header', () => {
    const target = `${'t'.repeat(74)}/${'u'.repeat(75)}`;
    const tar = packTar([file(PATH_300, 'long'), symlink('link', target)], MTIME);
    const members = unpackTar(tar);
    assert.deepEqual(summary(members), [
      { path: 'link', type: 'symlink', mode: 0o777, data: undefined, linkname: target },
      { path: PATH_300, type: 'file', mode: 0o644, data: 'long', linkname: undefined },
    ]);
    const linkAt = members[0]?.offset ?? -1;
    assert.equal(cstring(tar, linkAt, 100), 'PaxHeader/link');
    assert.equal(cstring(tar, linkAt + 512, 512), `164 linkpath=${target}\n`);
    const pathAt = members[1]?.offset ?? -1;
    assert.equal(cstring(tar, pathAt, 100), `PaxHeader/${'s'.repeat(90)}`);
    assert.equal(cstring(tar, pathAt + 512, 512), `310 path=${PATH_300}\n`);
  });

  it('keeps the bytes of a reference tree stable (golden digest)', () => {
    const tar = packTar([...sampleTree(), file(PATH_150, 'mid'), file(PATH_300, 'long')], MTIME);
    assert.equal(createHash('sha256').update(tar).digest('hex'), '1d7bb0c23b9b348134532d5c12c70abb4868b36d43f146720c78105006bd8e92');
  });

  it('accepts symlinks that stay inside the root', () => {
    const members = unpackTar(
      packTar([dir('a'), dir('a/b'), symlink('a/b/up', '../c'), symlink('a/top', '../x/./y'), symlink('lib64', 'a/b'), symlink('via', 'lib64/../b')], MTIME),
    );
    assert.equal(members.length, 6);
  });

  describe('rejects unsafe or malformed entries', () => {
    for (const path of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a/.', 'a\u0000b', '', 'a\\b', 'x/..']) {
      it(`rejects the path ${JSON.stringify(path)}`, () => {
        expectCode(() => packTar([file(path, 'x')], MTIME), 'ARCHIVE_BAD_PATH');
      });
    }

    it('rejects duplicate paths, including a directory given with and without its slash', () => {
      expectCode(() => packTar([file('a', '1'), file('a', '2')], MTIME), 'ARCHIVE_BAD_PATH');
      expectCode(() => packTar([dir('d'), dir('d/')], MTIME), 'ARCHIVE_BAD_PATH');
    });

    it('rejects symlinks that are absolute or climb above the root', () => {
      expectCode(() => packTar([symlink('l', '../../etc')], MTIME), 'ARCHIVE_BAD_PATH');
      expectCode(() => packTar([dir('a'), symlink('a/l', '../../etc')], MTIME), 'ARCHIVE_BAD_PATH');
      expectCode(() => packTar([symlink('l', '/etc/passwd')], MTIME), 'ARCHIVE_BAD_PATH');
    });

    it('rejects a symlink that escapes through another symlink', () => {
      // x/up resolves to the root itself, so x/up/.. is the root's parent.
      expectCode(() => packTar([dir('x'), symlink('x/up', '..'), symlink('q', 'x/up/..')], MTIME), 'ARCHIVE_BAD_PATH');
      expectCode(() => packTar([symlink('a', 'b/c'), symlink('b', 'a/d')], MTIME), 'ARCHIVE_BAD_PATH');
    });

    it('rejects an entry stored beneath a symlink or a file', () => {
      expectCode(() => packTar([dir('d'), symlink('l', 'd'), file('l/x', 'x')], MTIME), 'ARCHIVE_BAD_PATH');
      expectCode(() => packTar([file('f', ''), file('f/x', 'x')], MTIME), 'ARCHIVE_BAD_PATH');
    });

    it('reports every bad entry at once', () => {
      const error = expectCode(() => packTar([file('../a', ''), file('ok', ''), symlink('l', '/abs')], MTIME), 'ARCHIVE_BAD_PATH');
      assert.deepEqual(
        error.problems.map((p) => p.path),
        ['entries[0]', 'entries[2]'],
      );
    });

    it('rejects a bad mtime and data on a directory', () => {
      expectCode(() => packTar([], -1), 'ARCHIVE_BAD_MTIME');
      expectCode(() => packTar([], 1.5), 'ARCHIVE_BAD_MTIME');
      expectCode(() => packTar([{ path: 'd', type: 'directory', mode: 0o755, data: bytes('x') }], MTIME), 'ARCHIVE_BAD_ENTRY');
    });
  });
});

describe('gzipDeterministic', () => {
  it('writes a bare header: no FNAME, mtime 0, XFL 2 for level 9, OS 0xff', () => {
    const gz = gzipDeterministic(bytes('hello'));
    assert.equal(gz.subarray(0, 10).toString('hex'), '1f8b08000000000002ff');
    assert.deepEqual(readGzipHeader(gz), { method: 8, flags: 0, mtime: 0, xfl: 2, os: 0xff, name: null, comment: null });
  });

  it('compresses at level 9 and round-trips through zlib', () => {
    const input = Buffer.from('abcabcabd'.repeat(5000));
    const gz = gzipDeterministic(input);
    const level9 = gzipSync(input, { level: 9 });
    assert.deepEqual(gz.subarray(10), level9.subarray(10));
    assert.deepEqual(gunzipSync(gz), input);
  });

  it('is accepted by system gzip, which decompresses it to the input', () => {
    const work = tempDir();
    const input = packTar(sampleTree(), MTIME);
    writeFileSync(join(work, 'a.tgz'), gzipDeterministic(input));
    run('gzip', ['-t', join(work, 'a.tgz')]);
    assert.deepEqual(run('gzip', ['-dc', join(work, 'a.tgz')]), input);
  });
});

describe('readGzipHeader', () => {
  it('reads the name and mtime that system gzip records', () => {
    const work = tempDir();
    writeFileSync(join(work, 'hello.txt'), 'hello\n');
    utimesSync(join(work, 'hello.txt'), MTIME, MTIME);
    const header = readGzipHeader(run('gzip', ['-c', 'hello.txt'], { cwd: work }));
    assert.equal(header.name, 'hello.txt');
    assert.equal(header.mtime, MTIME);
    assert.equal(header.flags & 0x08, 0x08);
  });

  it('parses FEXTRA, FNAME, FCOMMENT and a valid FHCRC that zlib also accepts', () => {
    const head = Buffer.from([0x1f, 0x8b, 8, 0x1e, 0x78, 0x56, 0x34, 0x12, 0, 3]);
    const extra = Buffer.from([4, 0, 0x41, 0x42, 0x00, 0x00]);
    const name = Buffer.from('caf\u00e9\u0000', 'latin1');
    const comment = Buffer.from('note\u0000', 'latin1');
    const before = Buffer.concat([head, extra, name, comment]);
    const hcrc = Buffer.alloc(2);
    hcrc.writeUInt16LE(crc32(before) & 0xffff);
    const payload = bytes('payload');
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(payload), 0);
    trailer.writeUInt32LE(payload.length, 4);
    const gz = Buffer.concat([before, hcrc, deflateRawSync(payload), trailer]);

    assert.deepEqual(readGzipHeader(gz), { method: 8, flags: 0x1e, mtime: 0x12345678, xfl: 0, os: 3, name: 'café', comment: 'note' });
    assert.deepEqual(gunzipSync(gz), payload);

    const badCrc = Buffer.from(gz);
    badCrc[before.length] = (badCrc.readUInt8(before.length) + 1) & 0xff;
    expectCode(() => readGzipHeader(badCrc), 'ARCHIVE_CORRUPT');
  });

  it('rejects bad magic, reserved flags and truncated fields', () => {
    expectCode(() => readGzipHeader(Buffer.from('1f8c0800000000000003', 'hex')), 'ARCHIVE_CORRUPT');
    expectCode(() => readGzipHeader(Buffer.from('1f8b0820000000000003', 'hex')), 'ARCHIVE_CORRUPT');
    expectCode(() => readGzipHeader(Buffer.from('1f8b08080000000000036e616d65', 'hex')), 'ARCHIVE_CORRUPT');
    expectCode(() => readGzipHeader(Buffer.from('1f8b0804000000000003ff00', 'hex')), 'ARCHIVE_CORRUPT');
    expectCode(() => readGzipHeader(Buffer.from('1f8b08', 'hex')), 'ARCHIVE_CORRUPT');
  });
});

describe('unpackTar', () => {
  it('returns each member with its data, header metadata and offset', () => {
    const tar = packTar([file('a', 'A'.repeat(600)), file('b', 'B')], MTIME);
    const members = unpackTar(tar);
    assert.deepEqual(summary(members), [
      { path: 'a', type: 'file', mode: 0o644, data: 'A'.repeat(600), linkname: undefined },
      { path: 'b', type: 'file', mode: 0o644, data: 'B', linkname: undefined },
    ]);
    assert.deepEqual(
      members.map((m) => m.offset),
      [0, 512 + 1024],
    );
  });

  it('reproduces the archive byte for byte when its members are packed again', () => {
    const tar = packTar([...sampleTree(), file(PATH_150, 'mid'), file(PATH_300, 'long'), symlink('far', 't'.repeat(120))], MTIME);
    assert.deepEqual(packTar(unpackTar(tar), MTIME), tar);
  });

  it('rejects a header whose checksum does not match', () => {
    const tar = packTar([file('a', 'A'), file('b', 'B')], MTIME);
    const flipped = Buffer.from(tar);
    flipped[1024] = 0x63; // 'b' → 'c' in the second header's name
    expectCode(() => unpackTar(flipped), 'ARCHIVE_CORRUPT');
    const flippedMode = Buffer.from(tar);
    flippedMode[104] = 0x37; // first header's mode digit
    expectCode(() => unpackTar(flippedMode), 'ARCHIVE_CORRUPT');
  });

  it('rejects a truncated archive', () => {
    const tar = packTar([file('a', 'A'.repeat(700))], MTIME);
    for (const length of [0, 100, 512, 700, 512 + 1024, 512 + 1024 + 512]) {
      expectCode(() => unpackTar(tar.subarray(0, length)), 'ARCHIVE_CORRUPT');
    }
    assert.equal(unpackTar(tar.subarray(0, 512 + 1024 + 1024)).length, 1, 'two zero blocks suffice');
  });

  it('rejects non-zero bytes after the end-of-archive marker', () => {
    const tar = packTar([file('a', 'A')], MTIME);
    const tail = Buffer.from(tar);
    tail[tail.length - 1] = 1;
    expectCode(() => unpackTar(tail), 'ARCHIVE_CORRUPT');
  });

  it('rejects unsafe member paths', () => {
    const tar = packTar([file('placeholder-name', 'x')], MTIME);
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a']) {
      expectCode(() => unpackTar(forge(tar, 0, { name })), 'ARCHIVE_BAD_PATH');
    }
  });

  it('rejects a path that is not UTF-8', () => {
    const latin1 = packTar([file('ab', 'x')], MTIME);
    latin1[1] = 0xff; // 'a\xff' is Latin-1, not UTF-8
    expectCode(() => unpackTar(forge(latin1, 0, {})), 'ARCHIVE_BAD_PATH');
  });

  it('rejects a symlink whose target climbs out of the root', () => {
    const tar = packTar([dir('a'), symlink('a/l', 'placeholder-target')], MTIME);
    const at = unpackTar(tar)[1]?.offset ?? -1;
    expectCode(() => unpackTar(forge(tar, at, { linkname: '../../etc' })), 'ARCHIVE_BAD_PATH');
    expectCode(() => unpackTar(forge(tar, at, { linkname: '/etc' })), 'ARCHIVE_BAD_PATH');
    assert.equal(unpackTar(forge(tar, at, { linkname: '../etc' }))[1]?.linkname, '../etc');
  });

  it('rejects duplicate paths and entries beneath a symlink', () => {
    const tar = packTar([file('a', 'A'), file('b', 'B')], MTIME);
    expectCode(() => unpackTar(forge(tar, 1024, { name: 'a' })), 'ARCHIVE_BAD_PATH');
    const linked = packTar([dir('d'), symlink('l', 'd'), file('zz/x', 'x')], MTIME);
    const at = unpackTar(linked)[2]?.offset ?? -1;
    expectCode(() => unpackTar(forge(linked, at, { name: 'l/x' })), 'ARCHIVE_BAD_PATH');
  });

  it('rejects an extended header that is repeated or not followed by a member', () => {
    const tar = packTar([file(PATH_300, 'long')], MTIME);
    const pax = tar.subarray(0, 1024);
    const rest = tar.subarray(1024);
    expectCode(() => unpackTar(Buffer.concat([pax, pax, rest])), 'ARCHIVE_CORRUPT');
    expectCode(() => unpackTar(Buffer.concat([pax, Buffer.alloc(10240)])), 'ARCHIVE_CORRUPT');
  });

  it('rejects a pre-POSIX header that has no ustar magic', () => {
    const v7 = packTar([file('a', 'A')], MTIME);
    v7.fill(0, 257, 265);
    expectCode(() => unpackTar(forge(v7, 0, {})), 'ARCHIVE_UNSUPPORTED_FORMAT');
  });

  it('rejects hard links, devices and FIFOs', () => {
    const tar = packTar([file('a', '')], MTIME);
    for (const typeflag of ['1', '3', '4', '6', 'S', 'V']) {
      expectCode(() => unpackTar(forge(tar, 0, { typeflag })), 'ARCHIVE_UNSUPPORTED_ENTRY');
    }
  });

  it('enforces the entry-count cap', () => {
    const tar = packTar(
      ['a', 'b', 'c', 'd', 'e'].map((p) => file(p, p)),
      MTIME,
    );
    assert.equal(unpackTar(tar, { maxEntries: 5 }).length, 5);
    expectCode(() => unpackTar(tar, { maxEntries: 4 }), 'ARCHIVE_TOO_MANY_ENTRIES');
  });

  it('enforces the cap on total file data', () => {
    const tar = packTar([file('a', 'x'.repeat(60)), file('b', 'y'.repeat(40))], MTIME);
    assert.equal(unpackTar(tar, { maxBytes: 100 }).length, 2);
    expectCode(() => unpackTar(tar, { maxBytes: 99 }), 'ARCHIVE_TOO_LARGE');
  });

  it('enforces the path-length cap, for paths and symlink targets', () => {
    const tar = packTar([file('x'.repeat(20), '')], MTIME);
    assert.equal(unpackTar(tar, { maxPathLength: 20 }).length, 1);
    expectCode(() => unpackTar(tar, { maxPathLength: 19 }), 'ARCHIVE_BAD_PATH');
    const link = packTar([symlink('l', 'y'.repeat(30))], MTIME);
    expectCode(() => unpackTar(link, { maxPathLength: 29 }), 'ARCHIVE_BAD_PATH');
  });
});

describe('gunzip and unpackTgz', () => {
  const zeros = gzipSync(Buffer.alloc(10 * 1024 * 1024));

  it('refuses a gzip bomb that expands beyond maxBytes', () => {
    expectCode(() => gunzip(zeros, 1024 * 1024), 'ARCHIVE_TOO_LARGE');
    expectCode(() => unpackTgz(zeros, { maxBytes: 1024 * 1024, maxEntries: 10 }), 'ARCHIVE_TOO_LARGE');
  });

  it('returns output of exactly maxBytes', () => {
    assert.equal(gunzip(zeros, 10 * 1024 * 1024).length, 10 * 1024 * 1024);
    expectCode(() => gunzip(zeros, 10 * 1024 * 1024 - 1), 'ARCHIVE_TOO_LARGE');
    assert.equal(gunzip(gzipSync(Buffer.alloc(0)), 0).length, 0);
    expectCode(() => gunzip(gzipSync(bytes('a')), 0), 'ARCHIVE_TOO_LARGE');
  });

  it('rejects corrupt or truncated gzip', () => {
    const gz = packTgz(sampleTree(), MTIME);
    expectCode(() => gunzip(gz.subarray(0, gz.length - 4), 1 << 20), 'ARCHIVE_CORRUPT');
    expectCode(() => gunzip(bytes('not gzip at all'), 1 << 20), 'ARCHIVE_CORRUPT');
  });

  it('round-trips packTgz through unpackTgz', () => {
    const entries = [...sampleTree(), file(PATH_300, 'long')];
    assert.deepEqual(summary(unpackTgz(packTgz(entries, MTIME))), summary(unpackTar(packTar(entries, MTIME))));
  });
});

describe('interoperability with GNU tar', () => {
  const entries = [...sampleTree(), file(PATH_150, 'mid\n'), file(PATH_300, 'long\n'), symlink('far', 'src/./index.js')];

  it('lists our archive with the names, modes, owner 0/0 and mtime we wrote', () => {
    const work = tempDir();
    writeFileSync(join(work, 'ours.tgz'), packTgz(entries, MTIME));
    const listing = run('tar', ['--numeric-owner', '--full-time', '-tvzf', 'ours.tgz'], { cwd: work }).toString('utf8');
    const lines = listing
      .trimEnd()
      .split('\n')
      .map((line) => {
        const match = /^(\S{10}) (\d+)\/(\d+)\s+\d+ (\S+ \S+) (.*)$/.exec(line);
        assert.ok(match, `unexpected listing line: ${line}`);
        const [, perms, uid, gid, date, name] = match;
        return { perms, owner: `${uid}/${gid}`, date, name };
      });
    assert.deepEqual(lines, [
      { perms: 'drwxr-xr-x', owner: '0/0', date: MTIME_TEXT, name: 'bin/' },
      { perms: '-rwxr-xr-x', owner: '0/0', date: MTIME_TEXT, name: 'bin/run' },
      { perms: 'lrwxrwxrwx', owner: '0/0', date: MTIME_TEXT, name: 'far -> src/./index.js' },
      { perms: 'lrwxrwxrwx', owner: '0/0', date: MTIME_TEXT, name: 'latest -> bin/run' },
      { perms: '-rw-r--r--', owner: '0/0', date: MTIME_TEXT, name: 'package.json' },
      { perms: '-rw-r--r--', owner: '0/0', date: MTIME_TEXT, name: PATH_150 },
      { perms: '-rw-r--r--', owner: '0/0', date: MTIME_TEXT, name: PATH_300 },
      { perms: 'drwxr-xr-x', owner: '0/0', date: MTIME_TEXT, name: 'src/' },
      { perms: '-rw-r--r--', owner: '0/0', date: MTIME_TEXT, name: 'src/index.js' },
    ]);
  });

  it('extracts our archive to the same bytes, modes and link targets', () => {
    const work = tempDir();
    const out = join(work, 'out');
    mkdirSync(out);
    writeFileSync(join(work, 'ours.tgz'), packTgz(entries, MTIME));
    run('tar', ['-xpzf', join(work, 'ours.tgz'), '-C', out]);
    for (const entry of entries) {
      const stat = lstatSync(join(out, entry.path));
      if (entry.type === 'symlink') {
        assert.ok(stat.isSymbolicLink(), entry.path);
        assert.equal(readlinkSync(join(out, entry.path)), entry.linkname);
        continue;
      }
      const expectedMode = entry.type === 'directory' || entry.mode & 0o111 ? 0o755 : 0o644;
      assert.equal((stat.mode & 0o7777).toString(8), expectedMode.toString(8), entry.path);
      assert.equal(stat.mtimeMs, MTIME * 1000, entry.path);
      if (entry.type === 'file') assert.deepEqual(readFileSync(join(out, entry.path)), Buffer.from(entry.data ?? []), entry.path);
    }
  });

  /** A tree on disk holding a short file, an executable, a symlink and one long path. */
  function makeTree(longPath: string): string {
    const root = tempDir();
    mkdirSync(join(root, 't', dirname(longPath)), { recursive: true });
    writeFileSync(join(root, 't', 'short.txt'), 'short\n', { mode: 0o644 });
    writeFileSync(join(root, 't', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(root, 't', longPath), 'deep\n');
    symlinkSync('short.txt', join(root, 't', 'link'));
    return root;
  }

  const gnuTarOptions = ['--sort=name', `--mtime=@${MTIME}`, '--owner=root:0', '--group=root:0'];

  for (const [format, longPath] of [
    ['ustar', PATH_150],
    ['pax', PATH_300],
    ['gnu', PATH_300],
  ] as const) {
    it(`reads a ${format} archive written by GNU tar, including a ${longPath.length}-byte path`, () => {
      const root = makeTree(longPath);
      const tar = run('tar', [`--format=${format}`, ...gnuTarOptions, '-cf', '-', 't'], { cwd: root });
      const members = unpackTar(tar);
      const byPath = new Map(members.map((m) => [m.path, m]));
      assert.equal(Buffer.from(byPath.get(`t/${longPath}`)?.data ?? []).toString(), 'deep\n');
      assert.equal(Buffer.from(byPath.get('t/short.txt')?.data ?? []).toString(), 'short\n');
      assert.equal(byPath.get('t/run.sh')?.mode, 0o755);
      assert.equal(byPath.get('t/short.txt')?.mode, 0o644);
      assert.equal(byPath.get('t/link')?.type, 'symlink');
      assert.equal(byPath.get('t/link')?.linkname, 'short.txt');
      assert.equal(byPath.get('t')?.type, 'directory');
      for (const m of members) assert.deepEqual([m.mtime, m.uid, m.uname], [MTIME, 0, 'root'], m.path);
    });
  }

  it('reads a gzipped PAX archive written by GNU tar', () => {
    const root = makeTree(PATH_300);
    const tgz = run('tar', ['--format=pax', ...gnuTarOptions, '-czf', '-', 't'], { cwd: root });
    assert.ok(unpackTgz(tgz).some((m) => m.path === `t/${PATH_300}`));
  });

  it('reads the base-256 numbers GNU tar writes for a large uid and a pre-1970 mtime', () => {
    const root = tempDir();
    writeFileSync(join(root, 'f'), 'f');
    const tar = run('tar', ['--format=gnu', '--owner=big:3000000000', '--mtime=@-1000', '-cf', '-', 'f'], { cwd: root });
    const [member] = unpackTar(tar);
    assert.deepEqual([member?.uid, member?.mtime, member?.uname], [3000000000, -1000, 'big']);
  });

  it('rejects a hard link written by GNU tar', () => {
    const root = tempDir();
    writeFileSync(join(root, 'f'), 'f');
    linkSync(join(root, 'f'), join(root, 'g'));
    const tar = run('tar', ['--format=ustar', '-cf', '-', 'f', 'g'], { cwd: root });
    expectCode(() => unpackTar(tar), 'ARCHIVE_UNSUPPORTED_ENTRY');
  });

  it('rejects a symlink escaping the root written by GNU tar', () => {
    const root = tempDir();
    symlinkSync('../../etc', join(root, 'escape'));
    const tar = run('tar', ['--format=pax', '-cf', '-', 'escape'], { cwd: root });
    expectCode(() => unpackTar(tar), 'ARCHIVE_BAD_PATH');
  });
});
