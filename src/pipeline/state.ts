import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { generateKeyPair, keyIdOf, privateKeyFromPem } from '../crypto/keys.js';
import { openBlobStore } from '../store/blobs.js';
import { openStore } from '../store/open.js';
import type { BlobStore, Store } from '../store/port.js';

/** Everything a command needs from a state directory. */
export interface State {
  readonly dir: string;
  readonly store: Store;
  readonly blobs: BlobStore;
  /** Where the local target keeps unpacked releases and logs. */
  readonly runtimeDir: string;
  close(): Promise<void>;
}

export interface BuilderKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyid: string;
  readonly publicKeyPath: string;
}

/**
 * Opens (creating if needed) a state directory: SQLite database `cairn.db` (or the
 * database named by `storeUrl`), blobs under `blobs/`, keys under `keys/`.
 */
export async function openState(dir: string, storeUrl?: string): Promise<State> {
  const abs = path.resolve(dir);
  await mkdir(path.join(abs, 'blobs'), { recursive: true });
  const store = await openStore(storeUrl ?? path.join(abs, 'cairn.db'));
  const blobs = openBlobStore(path.join(abs, 'blobs'));
  return { dir: abs, store, blobs, runtimeDir: path.join(abs, 'runtime'), close: () => store.close() };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** The state's builder signing key, generated (Ed25519, PKCS#8, mode 0600) on first use. */
export async function builderKey(stateDir: string): Promise<BuilderKey & { created: boolean }> {
  const keysDir = path.join(stateDir, 'keys');
  const privatePath = path.join(keysDir, 'builder.key');
  const publicKeyPath = path.join(keysDir, 'builder.pub');
  let created = false;
  if (!(await exists(privatePath))) {
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    const pair = generateKeyPair('ed25519');
    await writeFile(privatePath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicKeyPath, pair.publicKeyPem, { mode: 0o644 });
    created = true;
  }
  await chmod(privatePath, 0o600);
  const privateKey = privateKeyFromPem(await readFile(privatePath, 'utf8'), privatePath);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: keyIdOf(publicKey), publicKeyPath, created };
}
