import { CairnError, type CairnErrorOptions } from '../model/errors.js';

export type DeployErrorCode = 'DEPLOY_START_FAILED' | 'DEPLOY_HEALTH_TIMEOUT' | 'DEPLOY_ARTIFACT_INVALID' | 'DEPLOY_PINNED' | 'DEPLOY_LEASE_HELD';

/**
 * A release could not be started or rolled out: the service never became healthy, the
 * environment is pinned against this release, or another controller holds the environment's
 * lease (denied, exit 1); or its artifact would not unpack (internal).
 */
export class DeployError extends CairnError {
  constructor(code: DeployErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, code === 'DEPLOY_ARTIFACT_INVALID' ? 'internal' : 'denied', message, options);
  }
}
