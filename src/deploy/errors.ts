import { CairnError, type CairnErrorOptions } from '../model/errors.js';

/** A release could not be started or stopped. */
export class DeployError extends CairnError {
  constructor(
    code: 'DEPLOY_START_FAILED' | 'DEPLOY_HEALTH_TIMEOUT' | 'DEPLOY_ARTIFACT_INVALID' | 'DEPLOY_NOT_ALLOWED',
    message: string,
    options?: CairnErrorOptions,
  ) {
    super(code, code === 'DEPLOY_NOT_ALLOWED' ? 'denied' : 'internal', message, options);
  }
}
