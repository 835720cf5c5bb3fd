import { isDigest, type Digest } from '../model/digest.js';
import type { Deployment, DesiredState } from '../model/release.js';

/** What a running service says about itself. */
export interface Observation {
  readonly reachable: boolean;
  /** The artifact digest the service reports from `/version`, or null. */
  readonly artifactDigest: Digest | null;
  readonly error: string | null;
}

export type EnvironmentStatus = 'in-sync' | 'drift' | 'down' | 'stopped' | 'not-deployed';

export interface EnvironmentReport {
  readonly environment: string;
  readonly status: EnvironmentStatus;
  readonly desired: { readonly artifactDigest: Digest; readonly releaseDigest: Digest; readonly decisionId: string; readonly revision: number };
  readonly deployment: { readonly endpoint: string; readonly pid: number | null; readonly startedAt: string; readonly releaseDigest: Digest } | null;
  readonly observed: Observation;
  readonly detail: string;
}

const MAX_VERSION_BYTES = 64 * 1024;

/** Reads at most `max` bytes of a response body; null when it is longer. */
async function readCapped(response: Response, max: number): Promise<Buffer | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (!response.body) return Buffer.alloc(0);
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > max) {
      await response.body.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Asks a running service which artifact it runs from (`GET <endpoint>/version` →
 * `{ "digest": "sha256:…" }`). A service that answers at all is reachable, whatever it says.
 */
export async function observeService(endpoint: string, timeoutMs = 2000): Promise<Observation> {
  let response: Response;
  let body: Buffer | null;
  try {
    response = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    body = await readCapped(response, MAX_VERSION_BYTES);
  } catch (error) {
    return { reachable: false, artifactDigest: null, error: error instanceof Error ? error.message : String(error) };
  }
  if (response.status !== 200) return { reachable: true, artifactDigest: null, error: `/version answered ${response.status}` };
  if (body === null) return { reachable: true, artifactDigest: null, error: `/version answer larger than ${MAX_VERSION_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { reachable: true, artifactDigest: null, error: '/version did not answer JSON' };
  }
  const digest = typeof parsed === 'object' && parsed !== null ? (parsed as { digest?: unknown }).digest : undefined;
  if (!isDigest(digest)) return { reachable: true, artifactDigest: null, error: '/version has no sha256 digest' };
  return { reachable: true, artifactDigest: digest, error: null };
}

/** Compares desired state with what the service reports (pure). */
export function compareEnvironment(desired: DesiredState, deployment: Deployment | null, observed: Observation): EnvironmentReport {
  const want = desired.release.artifactDigest;
  const base = {
    environment: desired.environment,
    desired: { artifactDigest: want, releaseDigest: desired.releaseDigest, decisionId: desired.release.decisionId, revision: desired.revision },
    deployment: deployment && { endpoint: deployment.endpoint, pid: deployment.pid, startedAt: deployment.startedAt, releaseDigest: deployment.releaseDigest },
    observed,
  };
  if (!deployment) return { ...base, status: 'not-deployed', detail: 'desired state is recorded but nothing was deployed' };
  if (deployment.releaseDigest !== desired.releaseDigest) {
    return { ...base, status: 'drift', detail: `the deployed release ${deployment.releaseDigest} is not the desired ${desired.releaseDigest}` };
  }
  if (deployment.status === 'stopped' && !observed.reachable) return { ...base, status: 'stopped', detail: 'the deployment was stopped on purpose' };
  if (!observed.reachable)
    return { ...base, status: 'down', detail: `the service at ${deployment.endpoint} does not answer (${observed.error ?? 'no answer'})` };
  if (observed.artifactDigest !== want) {
    return { ...base, status: 'drift', detail: `the service runs ${observed.artifactDigest ?? 'an unknown artifact'} but ${want} is desired` };
  }
  return { ...base, status: 'in-sync', detail: 'the running artifact is the desired one' };
}
