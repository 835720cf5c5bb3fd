import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import { openBlobStore } from './blobs.js';
import { StoreError, type StoreErrorCode } from './port.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-blobs-'));
after(() => rmSync(root, { recursive: true, force: true }));

let stores = 0;
function freshDir(): string {
  stores += 1;
  return join(root, `blobs-${stores}`);
}

function isStoreError(code: StoreErrorCode): (error: unknown) => boolean {
  return (error) => error instanceof StoreError && error.code === code;
}

const HELLO = new TextEncoder().encode('hello, cairn\n');

describe('openBlobStore', () => {
  it('returns the sha256 digest of what it stores and gives the bytes back', async () => {
    const blobs = openBlobStore(freshDir());
    const digest = await blobs.put(HELLO);
    assert.equal(digest, sha256Digest(HELLO));
    assert.deepEqual(new Uint8Array(await blobs.get(digest)), HELLO);
  });

  it('stores a blob at <dir>/sha256/<2 hex>/<62 hex>', async () => {
    const dir = freshDir();
    const blobs = openBlobStore(dir);
    const digest = await blobs.put(HELLO);
    const hex = digest.slice('sha256:'.length);
    const path = blobs.pathOf(digest);
    assert.equal(relative(dir, path), join('sha256', hex.slice(0, 2), hex.slice(2)));
    assert.deepEqual(new Uint8Array(readFileSync(path)), HELLO);
  });

  it('stores the empty blob', async () => {
    const blobs = openBlobStore(freshDir());
    const digest = await blobs.put(new Uint8Array());
    assert.equal((await blobs.get(digest)).length, 0);
  });

  it('is idempotent: a second put keeps one file and leaves no temporary files', async () => {
    const blobs = openBlobStore(freshDir());
    const first = await blobs.put(HELLO);
    const second = await blobs.put(Buffer.from(HELLO));
    assert.equal(second, first);
    assert.deepEqual(readdirSync(dirname(blobs.pathOf(first))), [basename(blobs.pathOf(first))]);
  });

  it('stores many blobs concurrently, each readable afterwards', async () => {
    const blobs = openBlobStore(freshDir());
    const payloads = Array.from({ length: 32 }, (_, i) => new TextEncoder().encode(`blob ${i % 8}`));
    const digests = await Promise.all(payloads.map((bytes) => blobs.put(bytes)));
    for (const [i, digest] of digests.entries()) assert.deepEqual(new Uint8Array(await blobs.get(digest)), payloads[i]);
  });

  it('has() tells stored blobs from missing ones', async () => {
    const blobs = openBlobStore(freshDir());
    const digest = await blobs.put(HELLO);
    assert.equal(await blobs.has(digest), true);
    assert.equal(await blobs.has(sha256Digest('never stored')), false);
  });

  it('throws STORE_NOT_FOUND for a missing blob', async () => {
    const blobs = openBlobStore(freshDir());
    await assert.rejects(blobs.get(sha256Digest('never stored')), isStoreError('STORE_NOT_FOUND'));
  });

  it('throws STORE_BLOB_CORRUPT when the file on disk no longer matches its digest', async () => {
    const blobs = openBlobStore(freshDir());
    const digest = await blobs.put(HELLO);
    writeFileSync(blobs.pathOf(digest), 'hello, tampered\n');
    await assert.rejects(blobs.get(digest), isStoreError('STORE_BLOB_CORRUPT'));
  });

  it('repairs a corrupted blob when the same bytes are put again', async () => {
    const blobs = openBlobStore(freshDir());
    const digest = await blobs.put(HELLO);
    writeFileSync(blobs.pathOf(digest), 'hello, tampered\n');
    await blobs.put(HELLO);
    assert.deepEqual(new Uint8Array(await blobs.get(digest)), HELLO);
  });

  it('rejects malformed digests before touching the filesystem', async () => {
    const blobs = openBlobStore(freshDir());
    const bad = [
      'sha256:../../../../etc/passwd',
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'0'.repeat(63)}`,
      `sha256:${'0'.repeat(64)}/..`,
      `sha512:${'0'.repeat(64)}`,
      '',
    ] as Digest[];
    for (const digest of bad) {
      assert.throws(() => blobs.pathOf(digest), TypeError, digest);
      await assert.rejects(blobs.get(digest), TypeError);
      await assert.rejects(blobs.has(digest), TypeError);
    }
  });
});
