import os from 'node:os';
import { type RollbackOutcome, rollbackEnvironment } from '../deploy/rollback.js';
import type { Actor } from '../model/audit.js';
import { targetFor } from './deliver.js';
import type { State } from './state.js';

/**
 * `cairn rollback` against a state directory: the environment goes back to its previous good
 * release, each step recorded in the audit log under the operator's identity and purpose,
 * with the payload (what was rolled back, to what, why, the operation id) kept as a blob.
 */
export async function rollbackInState(
  state: State,
  environment: string,
  actor: Actor,
  reason: string,
  onProgress?: (message: string) => void,
): Promise<RollbackOutcome> {
  const log = await state.audit();
  return rollbackEnvironment({
    store: state.store,
    blobs: state.blobs,
    environment,
    holder: `${os.hostname()}/${process.pid}`,
    reason,
    targetFor: (config) => targetFor(state, config),
    audit: async (action, subjects, payloadDigest, payload) => {
      // The payload is kept as a blob under the digest the entry names.
      await state.blobs.put(Buffer.from(payload));
      await log.append({ actor, action, subjects, payloadDigest });
    },
    ...(onProgress ? { onProgress } : {}),
  });
}
