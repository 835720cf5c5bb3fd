import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { sha256Digest } from '../crypto/digest.js';
import { type Digest, digestHex, isDigest } from '../model/digest.js';
import { type BlobStore, StoreError } from './port.js';

/**
 * Opens a content-addressed blob store rooted at `dir`; a blob lives at
 * `<dir>/sha256/<first 2 hex>/<remaining 62 hex>`. Directories are created on first write.
 */
export function openBlobStore(dir: string): BlobStore {
  return new FileBlobStore(resolve(dir));
}

class FileBlobStore implements BlobStore {
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  /** Throws a TypeError for anything but `sha256:<64 lowercase hex>`, so no input can name a path outside the root. */
  pathOf(digest: Digest): string {
    if (!isDigest(digest)) throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)}`);
    const hex = digestHex(digest);
    return join(this.#root, 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  async put(bytes: Uint8Array): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const path = this.pathOf(digest);
    // Rewriting a blob that fails its hash repairs it; an intact one is left alone.
    if ((await hashOfFile(path)) === digest) return digest;
    try {
      await writeAtomically(path, bytes);
    } catch (error) {
      throw ioError(`writing blob ${digest}`, error);
    }
    return digest;
  }

  async get(digest: Digest): Promise<Buffer> {
    const path = this.pathOf(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (isMissing(error)) throw new StoreError('STORE_NOT_FOUND', `no blob ${digest}`, { cause: error });
      throw ioError(`reading blob ${digest}`, error);
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new StoreError('STORE_BLOB_CORRUPT', `blob ${digest} at ${path} now hashes to ${actual}`);
    return bytes;
  }

  async has(digest: Digest): Promise<boolean> {
    const path = this.pathOf(digest);
    try {
      await stat(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw ioError(`checking blob ${digest}`, error);
    }
  }
}

/** The digest of the file's bytes, or null when there is no file. */
async function hashOfFile(path: string): Promise<Digest | null> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if (isMissing(error)) return null;
    throw ioError(`reading ${path}`, error);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Readers see either no file or the whole file, and the bytes are on disk before the name is. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Makes the rename durable; some platforms cannot fsync a directory, and there it is skipped. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort only: the blob itself is already synced and renamed.
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

function ioError(what: string, error: unknown): StoreError {
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError('STORE_IO', `${what} failed: ${detail}`, { cause: error });
}
