import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveTrustStore, type TrustRoot } from '../attest/trust.js';
import { keyAlgorithmOf } from '../crypto/keys.js';
import { trustStoreFromJSON } from '../model/trust.js';
import { type StateKey, stateKey } from './keys.js';

/** The identities the state's own keys sign as. */
export const LOCAL_BUILDER_ID = 'https://cairn.dev/builders/local';
export const LOCAL_REBUILDER_ID = 'https://cairn.dev/rebuilders/local';

export interface StateTrust {
  readonly builder: StateKey;
  readonly rebuilder: StateKey;
  readonly builderId: string;
  readonly rebuilderId: string;
  readonly trust: TrustRoot;
  /** `trust.json` in the state folder, usable with `cairn verify --trust`. */
  readonly trustPath: string;
}

async function entry(key: StateKey, role: 'builder' | 'rebuilder', id: string): Promise<Record<string, unknown>> {
  const created = (await stat(key.privateKeyPath)).mtime;
  created.setUTCMilliseconds(0);
  return {
    keyid: key.keyid,
    algorithm: keyAlgorithmOf(key.publicKey),
    publicKey: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    identities: [{ role, id }],
    validFrom: created.toISOString().replace('.000Z', 'Z'),
    description: `the ${role} key of ${path.basename(path.dirname(path.dirname(key.privateKeyPath)))} (created by cairn)`,
  };
}

/**
 * The state's builder and rebuilder keys — distinct keys, so that an agreeing rebuild is a
 * second signature, not the first one again — and the trust store binding each to its
 * identity, written to `trust.json` so that anyone can check the state's evidence with
 * `cairn verify --trust`.
 */
export async function stateTrust(stateDir: string): Promise<StateTrust> {
  const builder = await stateKey(stateDir, 'builder');
  const rebuilder = await stateKey(stateDir, 'rebuilder');
  const document = { version: 1, keys: [await entry(builder, 'builder', LOCAL_BUILDER_ID), await entry(rebuilder, 'rebuilder', LOCAL_REBUILDER_ID)] };
  const trustPath = path.join(stateDir, 'trust.json');
  await writeFile(trustPath, `${JSON.stringify(document, null, 2)}\n`);
  return {
    builder,
    rebuilder,
    builderId: LOCAL_BUILDER_ID,
    rebuilderId: LOCAL_REBUILDER_ID,
    trust: resolveTrustStore(trustStoreFromJSON(document)),
    trustPath,
  };
}
