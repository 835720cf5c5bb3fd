import { createPublicKey, type KeyObject } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, keyIdOf, privateKeyFromPem } from '../crypto/keys.js';

export interface StateKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyid: string;
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
  /** True when this call generated the key. */
  readonly created: boolean;
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * A signing key kept in the state directory as `keys/<name>.key` (PKCS#8, 0600) and
 * `keys/<name>.pub` (SPKI), generated as Ed25519 on first use. Each role (builder,
 * rebuilder) has its own key so that agreeing signatures come from distinct keys.
 */
export async function stateKey(stateDir: string, name: string): Promise<StateKey> {
  if (!NAME.test(name)) throw new TypeError(`bad key name ${name}`);
  const keysDir = path.join(stateDir, 'keys');
  const privateKeyPath = path.join(keysDir, `${name}.key`);
  const publicKeyPath = path.join(keysDir, `${name}.pub`);
  const present = await access(privateKeyPath).then(
    () => true,
    () => false,
  );
  if (!present) {
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    const pair = generateKeyPair('ed25519');
    await writeFile(privateKeyPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicKeyPath, pair.publicKeyPem, { mode: 0o644 });
  }
  await chmod(privateKeyPath, 0o600);
  const privateKey = privateKeyFromPem(await readFile(privateKeyPath, 'utf8'), privateKeyPath);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: keyIdOf(publicKey), privateKeyPath, publicKeyPath, created: !present };
}
