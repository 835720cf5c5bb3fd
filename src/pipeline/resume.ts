import type { Actor } from '../model/audit.js';
import { type Digest, isDigest } from '../model/digest.js';
import { type ResumeOutcome, resumeDelivery } from './deliver.js';
import { decisionInput, stepGate } from './gate-step.js';
import type { State } from './state.js';

/**
 * `cairn deploy --resume` against a state directory: the environment's unfinished rollout is
 * continued under the operator's identity and purpose, the gate asked again before every
 * remaining step on the evidence the release was admitted on, and every step audited.
 */
export async function resumeInState(state: State, environment: string, actor: Actor, onProgress?: (message: string) => void): Promise<ResumeOutcome> {
  const log = await state.audit();
  // The controller names the environment among its subjects; the log's subjects are digests.
  const append = async (action: string, subjects: readonly string[], payloadDigest: Digest) => {
    await log.append({ actor, action, subjects: subjects.filter(isDigest), payloadDigest });
  };
  return resumeDelivery({
    state,
    environment,
    gateFor: async (release, releaseDigest) =>
      stepGate({
        state,
        input: await decisionInput(state, release.decisionId),
        environment,
        subjects: [release.artifactDigest, releaseDigest],
        audit: append,
      }),
    audit: async (action, subjects, payloadDigest, payload) => {
      // The payload is kept as a blob under the digest the entry names.
      await state.blobs.put(Buffer.from(payload));
      await append(action, subjects, payloadDigest);
    },
    ...(onProgress ? { onProgress } : {}),
  });
}
