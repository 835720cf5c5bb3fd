import { CairnError, type CairnErrorOptions } from '../model/errors.js';

/** A release could not be started: the service never became healthy (denied, exit 1) or its artifact would not unpack (internal). */
export class DeployError extends CairnError {
  constructor(code: 'DEPLOY_START_FAILED' | 'DEPLOY_HEALTH_TIMEOUT' | 'DEPLOY_ARTIFACT_INVALID', message: string, options?: CairnErrorOptions) {
    super(code, code === 'DEPLOY_ARTIFACT_INVALID' ? 'internal' : 'denied', message, options);
  }
}
