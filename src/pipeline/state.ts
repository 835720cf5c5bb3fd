import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { AuditError } from '../audit/errors.js';
import { AuditLog, generateLogKey } from '../audit/log.js';
import { NO_WITNESSES, parseWitnessPolicy, type WitnessPolicy } from '../audit/policy.js';
import { generateKeyPair, keyIdOf, privateKeyFromPem } from '../crypto/keys.js';
import { type NoteSigner, formatVerifierKey, parseSignerKey } from '../crypto/note.js';
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
  /** The audit log (its key is created on first use); one per state, so appends group-commit. */
  audit(): Promise<AuditLog>;
  /** Commits pending audit appends, then closes the store. */
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
  let log: Promise<AuditLog> | undefined;
  const audit = () => {
    log ??= (async () => {
      // A missing key must not be replaced by a new one while checkpoints signed by the old one exist.
      if (!(await exists(path.join(abs, 'keys', 'log.key'))) && (await store.latestAuditCheckpoint(false)) !== null) {
        throw new AuditError(
          'AUDIT_LOG_KEY_MISMATCH',
          `${path.join(abs, 'keys', 'log.key')} is missing, but this audit log has checkpoints signed by its key: restore the key file`,
        );
      }
      const [key, policy] = await Promise.all([logKey(abs), auditPolicy(abs)]);
      return new AuditLog(store, { signer: key.signer, policy });
    })();
    return log;
  };
  const close = async () => {
    try {
      if (log) await (await log.catch(() => null))?.close();
    } finally {
      await store.close();
    }
  };
  return { dir: abs, store, blobs, runtimeDir: path.join(abs, 'runtime'), audit, close };
}

export interface LogKey {
  readonly signer: NoteSigner;
  /** The verifier key text (`cairn.local/<8 hex>+<key id>+<base64>`) third parties pin. */
  readonly verifierKey: string;
  readonly path: string;
  readonly created: boolean;
}

/**
 * The state's audit log key: `keys/log.key` in the signed-note signer form
 * (`PRIVATE+KEY+cairn.local/<8 hex>+<key id>+<base64>`, mode 0600), generated on first use,
 * with its verifier key in `keys/log.vkey`. The key name is the log's origin.
 */
export async function logKey(stateDir: string): Promise<LogKey> {
  const keysDir = path.join(stateDir, 'keys');
  const keyPath = path.join(keysDir, 'log.key');
  let created = false;
  if (!(await exists(keyPath))) {
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    const fresh = generateLogKey();
    try {
      await writeFile(keyPath, `${fresh.signerKey}\n`, { mode: 0o600, flag: 'wx' });
      await writeFile(path.join(keysDir, 'log.vkey'), `${fresh.verifierKey}\n`, { mode: 0o644 });
      created = true;
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  await chmod(keyPath, 0o600);
  const signer = parseSignerKey((await readFile(keyPath, 'utf8')).trim());
  return { signer, verifierKey: formatVerifierKey(signer), path: keyPath, created };
}

/**
 * The witness policy the log publishes checkpoints under: `audit.policy` in the state
 * directory (C2SP tlog-policy subset; see docs/audit.md), or no witnesses when absent.
 */
export async function auditPolicy(stateDir: string): Promise<WitnessPolicy> {
  const file = path.join(stateDir, 'audit.policy');
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  return text === null ? NO_WITNESSES : parseWitnessPolicy(text, file);
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
