import { canonicalDigest } from '../crypto/jcs.js';
import { LocalTarget } from '../deploy/local.js';
import type { Actor } from '../model/audit.js';
import type { State } from './state.js';

/** Stops the running deployments of the named environments; returns the ones it stopped. */
export async function stopEnvironments(state: State, environments: readonly string[], actor: Actor, clock: () => Date = () => new Date()): Promise<string[]> {
  const target = new LocalTarget({ root: state.runtimeDir, clock });
  const stopped: string[] = [];
  for (const environment of environments) {
    const deployment = await state.store.getDeployment(environment);
    // The environment's router goes too, whatever ran behind it.
    const routerStopped = await target.stopRouter(environment).catch(() => false);
    if (deployment?.status !== 'running') {
      if (routerStopped) stopped.push(environment);
      continue;
    }
    const wasRunning = await target.stop(deployment);
    const next = { ...deployment, status: 'stopped' as const };
    await state.store.putDeployment(next);
    await (await state.audit()).append(
      { actor, action: 'deploy.stop', subjects: [deployment.releaseDigest], payloadDigest: canonicalDigest({ ...next, wasRunning }) },
      clock(),
    );
    stopped.push(environment);
  }
  return stopped;
}
