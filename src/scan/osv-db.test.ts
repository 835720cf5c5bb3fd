import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { crc32, deflateRawSync } from 'node:zlib';
import { type CairnError, isCairnError } from '../model/errors.js';
import { REPO_ROOT, useScratch } from '../testkit.js';
import { DEFAULT_OSV_DB_LIMITS, loadOsvDatabase } from './osv-db.js';

const OSV_DIR = path.resolve(REPO_ROOT, '../shared/data/osv-npm');
const SKIP = existsSync(OSV_DIR) ? false : `the real OSV records are not at ${OSV_DIR}`;
const scratch = useScratch();

/**
 * A minimal zip writer for tests (stored or deflated members), optionally in zip64 form:
 * 64-bit sizes and offsets in extra fields and the zip64 end records, as large archives have.
 */
function zipOf(files: Readonly<Record<string, string | Buffer>>, options: { deflate?: boolean; zip64?: boolean; corruptCrc?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const stored = options.deflate ? deflateRawSync(data) : data;
    const crc = (crc32(data) ^ (options.corruptCrc ? 1 : 0)) >>> 0;
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(options.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(options.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    locals.push(local, nameBytes, stored);
    const extra = Buffer.alloc(options.zip64 ? 28 : 0);
    if (options.zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(stored.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(options.zip64 ? 45 : 20, 6);
    central.writeUInt16LE(options.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : stored.length, 20);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    centrals.push(central, nameBytes, extra);
    offset += 30 + nameBytes.length + stored.length;
  }
  const cd = Buffer.concat(centrals);
  const count = Object.keys(files).length;
  const tail: Buffer[] = [];
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.zip64 ? 0xffff : count, 8);
  end.writeUInt16LE(options.zip64 ? 0xffff : count, 10);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, end]);
}

const rec = (id: string, name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, modified: '2025-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name }, versions: ['1.0.0'] }], ...extra });

async function expectCode(promise: Promise<unknown>, code: string): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isCairnError(error), String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('loadOsvDatabase', () => {
  it('reads the real records from a folder, records its digest and freshness', { skip: SKIP }, async () => {
    const db = await loadOsvDatabase(OSV_DIR);
    assert.equal(db.source, 'directory');
    assert.equal(db.records.length, 51);
    assert.equal(db.files, 51);
    assert.equal(db.modifiedMax, '2024-10-04T20:31:00Z');
    const manifest = readdirSync(OSV_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map(
        (f) =>
          `${createHash('sha256')
            .update(readFileSync(path.join(OSV_DIR, f)))
            .digest('hex')}  ${f}\n`,
      )
      .join('');
    assert.equal(db.digest, `sha256:${createHash('sha256').update(manifest).digest('hex')}`);
  });

  it('reads the same records from a zip, a zip64 and osv-scanner’s offline folder, digesting the zip bytes', { skip: SKIP }, async () => {
    const files = Object.fromEntries(
      readdirSync(OSV_DIR)
        .filter((f) => f.endsWith('.json'))
        .map((f) => [f, readFileSync(path.join(OSV_DIR, f))]),
    );
    const dir = scratch();
    const plain = zipOf(files, { deflate: true });
    writeFileSync(path.join(dir, 'all.zip'), plain);
    writeFileSync(path.join(dir, 'all64.zip'), zipOf(files, { zip64: true }));
    mkdirSync(path.join(dir, 'offline/osv-scanner/npm'), { recursive: true });
    writeFileSync(path.join(dir, 'offline/osv-scanner/npm/all.zip'), plain);
    const fromDir = await loadOsvDatabase(OSV_DIR);
    for (const location of ['all.zip', 'all64.zip', 'offline']) {
      const db = await loadOsvDatabase(path.join(dir, location));
      assert.equal(db.source, 'zip', location);
      assert.deepEqual(db.records, fromDir.records, location);
    }
    assert.equal((await loadOsvDatabase(path.join(dir, 'offline'))).digest, `sha256:${createHash('sha256').update(plain).digest('hex')}`);
  });

  it('reads one record file, and keeps only records with an npm entry', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'one.json'), rec('A-1', 'p'));
    writeFileSync(
      path.join(dir, 'py.json'),
      JSON.stringify({ id: 'PY-1', modified: 'x', affected: [{ package: { ecosystem: 'PyPI', name: 'p' }, versions: ['1'] }] }),
    );
    assert.deepEqual(
      (await loadOsvDatabase(path.join(dir, 'one.json'))).records.map((r) => r.id),
      ['A-1'],
    );
    const db = await loadOsvDatabase(dir);
    assert.deepEqual([db.files, db.records.map((r) => r.id)], [2, ['A-1']]);
  });

  it('keeps one record per id, the most recently modified', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'a.json'), rec('A-1', 'old', { modified: '2024-01-01T00:00:00Z' }));
    writeFileSync(path.join(dir, 'b.json'), rec('A-1', 'new', { modified: '2025-01-01T00:00:00Z' }));
    const [only] = (await loadOsvDatabase(dir)).records;
    assert.equal(only?.affected[0]?.name, 'new');
  });

  it('changes its digest when a record changes', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'a.json'), rec('A-1', 'p'));
    const before = (await loadOsvDatabase(dir)).digest;
    writeFileSync(path.join(dir, 'a.json'), rec('A-1', 'q'));
    assert.notEqual((await loadOsvDatabase(dir)).digest, before);
  });

  it('fails on malformed records with SCAN_OSV_MALFORMED, naming each file', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'good.json'), rec('A-1', 'p'));
    writeFileSync(path.join(dir, 'bad.json'), '{"id": "B-1", "modified": 3}');
    writeFileSync(path.join(dir, 'broken.json'), '{');
    const error = await expectCode(loadOsvDatabase(dir), 'SCAN_OSV_MALFORMED');
    assert.deepEqual(error.problems.map((p) => p.path).sort(), ['bad.json#modified', 'broken.json']);
  });

  it('fails on a missing path with SCAN_OSV_UNREADABLE', async () => {
    await expectCode(loadOsvDatabase(path.join(scratch(), 'nothing-here')), 'SCAN_OSV_UNREADABLE');
  });

  it('caps the number of records and their bytes with SCAN_OSV_TOO_LARGE', async () => {
    const dir = scratch();
    for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, `${i}.json`), rec(`A-${i}`, 'p'));
    await expectCode(loadOsvDatabase(dir, { ...DEFAULT_OSV_DB_LIMITS, maxRecords: 2 }), 'SCAN_OSV_TOO_LARGE');
    await expectCode(loadOsvDatabase(dir, { ...DEFAULT_OSV_DB_LIMITS, maxTotalBytes: 100 }), 'SCAN_OSV_TOO_LARGE');
    const zip = path.join(dir, 'x.zip');
    writeFileSync(zip, zipOf({ 'a.json': rec('A', 'p'), 'b.json': rec('B', 'p'), 'c.json': rec('C', 'p') }));
    await expectCode(loadOsvDatabase(zip, { ...DEFAULT_OSV_DB_LIMITS, maxRecords: 2 }), 'SCAN_OSV_TOO_LARGE');
  });

  it('refuses a zip member over the per-record cap and a member whose CRC does not match', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'big.zip'), zipOf({ 'big.json': Buffer.alloc(5 * 1024 * 1024, 0x20) }, { deflate: true }));
    await expectCode(loadOsvDatabase(path.join(dir, 'big.zip')), 'SCAN_OSV_TOO_LARGE');
    writeFileSync(path.join(dir, 'crc.zip'), zipOf({ 'a.json': rec('A', 'p') }, { corruptCrc: true }));
    await expectCode(loadOsvDatabase(path.join(dir, 'crc.zip')), 'SCAN_OSV_MALFORMED');
  });

  it('refuses a truncated zip', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'cut.zip'), zipOf({ 'a.json': rec('A', 'p') }).subarray(0, 40));
    await expectCode(loadOsvDatabase(path.join(dir, 'cut.zip')), 'SCAN_OSV_MALFORMED');
  });
});
