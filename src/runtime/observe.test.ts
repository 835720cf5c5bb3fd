import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { sha256Digest } from '../crypto/digest.js';
import type { Digest } from '../model/digest.js';
import type { Deployment, DesiredState, Release } from '../model/release.js';
import { compareEnvironment, type EnvironmentStatus, type Observation, observeService } from './observe.js';

const ARTIFACT: Digest = sha256Digest('artifact v2');
const OLD_ARTIFACT: Digest = sha256Digest('artifact v1');
const RELEASE_DIGEST: Digest = sha256Digest('release v2');
const OLD_RELEASE_DIGEST: Digest = sha256Digest('release v1');
const ENDPOINT = 'http://127.0.0.1:43123';

const RELEASE: Release = {
  environment: 'production',
  service: 'hello',
  artifactDigest: ARTIFACT,
  configDigest: sha256Digest('config'),
  decisionId: 'dec_0123456789abcdef01234567',
  provenanceDigest: sha256Digest('provenance'),
  vsaDigest: sha256Digest('vsa'),
  rollbackUnsafe: false,
};

const DESIRED: DesiredState = {
  environment: 'production',
  release: RELEASE,
  releaseDigest: RELEASE_DIGEST,
  revision: 3,
  updatedAt: '2025-06-01T12:00:00.000Z',
};

function deployment(changes: Partial<Deployment> = {}): Deployment {
  return {
    environment: 'production',
    releaseDigest: RELEASE_DIGEST,
    target: 'local',
    endpoint: ENDPOINT,
    pid: 4242,
    handle: 'token',
    startedAt: '2025-06-01T12:01:00.000Z',
    status: 'running',
    ...changes,
  };
}

const running = (digest: Digest | null): Observation => ({
  reachable: true,
  artifactDigest: digest,
  error: digest === null ? '/version has no sha256 digest' : null,
});
const unreachable: Observation = { reachable: false, artifactDigest: null, error: 'connect ECONNREFUSED 127.0.0.1:43123' };

interface CompareCase {
  readonly name: string;
  readonly deployment: Deployment | null;
  readonly observed: Observation;
  readonly status: EnvironmentStatus;
  /** Text the detail must show. */
  readonly mentions?: readonly string[];
}

const CASES: readonly CompareCase[] = [
  { name: 'the desired release is deployed and runs the desired artifact', deployment: deployment(), observed: running(ARTIFACT), status: 'in-sync' },
  {
    name: 'the service runs another artifact',
    deployment: deployment(),
    observed: running(OLD_ARTIFACT),
    status: 'drift',
    mentions: [OLD_ARTIFACT, ARTIFACT],
  },
  { name: 'the service does not say which artifact it runs', deployment: deployment(), observed: running(null), status: 'drift' },
  {
    name: 'another release is deployed, even though the artifact matches',
    deployment: deployment({ releaseDigest: OLD_RELEASE_DIGEST }),
    observed: running(ARTIFACT),
    status: 'drift',
    mentions: [OLD_RELEASE_DIGEST, RELEASE_DIGEST],
  },
  {
    name: 'the running deployment does not answer',
    deployment: deployment(),
    observed: unreachable,
    status: 'down',
    mentions: [ENDPOINT, 'ECONNREFUSED'],
  },
  { name: 'a failed deployment does not answer', deployment: deployment({ status: 'failed', pid: null }), observed: unreachable, status: 'down' },
  {
    name: 'the deployment was stopped and does not answer',
    deployment: deployment({ status: 'stopped', pid: null }),
    observed: unreachable,
    status: 'stopped',
  },
  { name: 'nothing was deployed', deployment: null, observed: unreachable, status: 'not-deployed' },
];

describe('compareEnvironment', () => {
  for (const c of CASES) {
    it(`reports ${c.status} when ${c.name}`, () => {
      const report = compareEnvironment(DESIRED, c.deployment, c.observed);
      assert.equal(report.status, c.status, report.detail);
      for (const text of c.mentions ?? []) assert.ok(report.detail.includes(text), `detail "${report.detail}" does not mention ${text}`);
    });
  }

  it('carries the desired state, the deployment and the observation into the report', () => {
    const d = deployment();
    const report = compareEnvironment(DESIRED, d, running(ARTIFACT));
    assert.equal(report.environment, 'production');
    assert.deepEqual(report.desired, { artifactDigest: ARTIFACT, releaseDigest: RELEASE_DIGEST, decisionId: RELEASE.decisionId, revision: 3 });
    assert.deepEqual(report.deployment, { endpoint: ENDPOINT, pid: 4242, startedAt: d.startedAt, releaseDigest: RELEASE_DIGEST });
    assert.deepEqual(report.observed, running(ARTIFACT));
  });

  it('reports no deployment when nothing was deployed', () => {
    assert.equal(compareEnvironment(DESIRED, null, unreachable).deployment, null);
  });

  it('is pure: the same inputs give a deep-equal report', () => {
    assert.deepEqual(compareEnvironment(DESIRED, deployment(), running(OLD_ARTIFACT)), compareEnvironment(DESIRED, deployment(), running(OLD_ARTIFACT)));
  });
});

const servers: Server[] = [];
after(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** A real HTTP server on 127.0.0.1 with an ephemeral port; returns its base URL. */
async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Answers `GET /version` with the given status and body, anything else with 404. */
function versionServer(status: number, body: string): Promise<string> {
  return serve((request, response) => {
    if (request.method !== 'GET' || request.url !== '/version') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
}

describe('observeService', () => {
  it('reports the digest a reachable service gives on /version', async () => {
    const endpoint = await versionServer(200, JSON.stringify({ digest: ARTIFACT, name: 'hello' }));
    assert.deepEqual(await observeService(endpoint), { reachable: true, artifactDigest: ARTIFACT, error: null });
  });

  it('reports a reachable service with the status when /version answers 500', async () => {
    const endpoint = await versionServer(500, JSON.stringify({ digest: ARTIFACT }));
    const observation = await observeService(endpoint);
    assert.equal(observation.reachable, true);
    assert.equal(observation.artifactDigest, null);
    assert.match(observation.error ?? '', /500/);
  });

  it('reports a reachable service with a null digest when /version has no digest field', async () => {
    const endpoint = await versionServer(200, JSON.stringify({ version: '1.2.3' }));
    const observation = await observeService(endpoint);
    assert.equal(observation.reachable, true);
    assert.equal(observation.artifactDigest, null);
    assert.notEqual(observation.error, null);
  });

  for (const digest of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`, 42]) {
    it(`reports a null digest when /version gives the malformed digest ${JSON.stringify(digest)}`, async () => {
      const endpoint = await versionServer(200, JSON.stringify({ digest }));
      const observation = await observeService(endpoint);
      assert.equal(observation.reachable, true);
      assert.equal(observation.artifactDigest, null);
    });
  }

  it('reports an unreachable service when the port is closed', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    const observation = await observeService(`http://127.0.0.1:${port}`);
    assert.equal(observation.reachable, false);
    assert.equal(observation.artifactDigest, null);
    assert.equal(typeof observation.error, 'string');
  });

  // The test's own deadline fails it if observeService ignored its timeout and waited for the socket's.
  it('reports an unreachable service when it does not answer within the timeout', { timeout: 10_000 }, async () => {
    const endpoint = await serve(() => {
      // Never answers.
    });
    const observation = await observeService(endpoint, 100);
    assert.equal(observation.reachable, false);
    assert.notEqual(observation.error, null);
  });

  it('reports a reachable service with an error when /version answers 200 with text that is not JSON', {}, async () => {
    const endpoint = await versionServer(200, 'hello world');
    const observation = await observeService(endpoint);
    assert.equal(observation.reachable, true);
    assert.equal(observation.artifactDigest, null);
    assert.notEqual(observation.error, null);
  });

  it('reports a reachable service with an error when /version answers the JSON literal null', {}, async () => {
    const endpoint = await versionServer(200, 'null');
    const observation = await observeService(endpoint);
    assert.equal(observation.reachable, true);
    assert.equal(observation.artifactDigest, null);
  });
});
