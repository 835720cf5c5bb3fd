import { CairnError, type CairnErrorOptions } from '../model/errors.js';

export type DeployErrorCode =
  | 'DEPLOY_START_FAILED'
  | 'DEPLOY_HEALTH_TIMEOUT'
  | 'DEPLOY_ARTIFACT_INVALID'
  | 'DEPLOY_PINNED'
  | 'DEPLOY_LEASE_HELD'
  // The `command` target's scripts: they failed, ran too long or answered out of contract (denied); or could not be run at all, or the target's own record is unreadable (internal).
  | 'DEPLOY_COMMAND_FAILED'
  | 'DEPLOY_COMMAND_TIMEOUT'
  | 'DEPLOY_COMMAND_OUTPUT'
  | 'DEPLOY_COMMAND_SPAWN'
  | 'DEPLOY_COMMAND_STATE'
  // Rollback and replay: a stored release bundle is malformed (internal); nothing to roll back to, no allow decision, fenced out, or an unclassifiable target state (denied).
  | 'DEPLOY_RELEASE_INVALID'
  | 'DEPLOY_NOTHING_TO_ROLL_BACK'
  | 'DEPLOY_NO_PREVIOUS_RELEASE'
  | 'DEPLOY_NOT_ALLOWED'
  | 'DEPLOY_FENCED'
  | 'DEPLOY_INDETERMINATE'
  // The `local` target's router: it cannot be started, reached or trusted, or it refused a change its state does not allow; an operation id reused for another release (internal).
  | 'DEPLOY_ROUTER_UNAVAILABLE'
  | 'DEPLOY_ROUTER_REJECTED'
  | 'DEPLOY_OPERATION_CONFLICT'
  // The rollout controller: a plan for another environment, a stored rollout that stopped unfinished (denied) or is missing (input); a stored rollout that does not parse, or a controller stopped in flight (internal).
  | 'DEPLOY_PLAN_MISMATCH'
  | 'DEPLOY_ROLLOUT_UNFINISHED'
  | 'DEPLOY_NO_ROLLOUT'
  | 'DEPLOY_ROLLOUT_CORRUPT'
  | 'DEPLOY_ABORTED';

const INTERNAL: ReadonlySet<DeployErrorCode> = new Set<DeployErrorCode>([
  'DEPLOY_ARTIFACT_INVALID',
  'DEPLOY_COMMAND_SPAWN',
  'DEPLOY_COMMAND_STATE',
  'DEPLOY_RELEASE_INVALID',
  'DEPLOY_ROUTER_UNAVAILABLE',
  'DEPLOY_ROUTER_REJECTED',
  'DEPLOY_OPERATION_CONFLICT',
  'DEPLOY_ROLLOUT_CORRUPT',
  'DEPLOY_ABORTED',
]);

/**
 * A release could not be started or rolled out: the service never became healthy, the
 * environment is pinned against this release, or another controller holds the environment's
 * lease, or a `command` target script failed or broke its output contract (denied, exit 1);
 * or its artifact would not unpack, a script could not be started, or a target's own record
 * is unreadable (internal).
 */
export class DeployError extends CairnError {
  constructor(code: DeployErrorCode, message: string, options?: CairnErrorOptions) {
    super(code, INTERNAL.has(code) ? 'internal' : code === 'DEPLOY_NO_ROLLOUT' ? 'input' : 'denied', message, options);
  }
}
