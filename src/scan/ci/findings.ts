import { sha256Digest } from '../../crypto/digest.js';
import type { Finding, Severity } from '../../model/finding.js';
import type { RuleDescription } from '../sarif.js';

/** A rule of the CI audit: id, the severity it usually has, and what it means. */
export interface CiRule extends RuleDescription {
  readonly severity: Severity;
}

const HELP = 'https://cairn.dev/docs/ci-audit#';

function rule(id: string, severity: Severity, name: string, shortDescription: string): CiRule {
  return { id, severity, name, shortDescription, helpUri: `${HELP}${id}` };
}

/** Every rule `cairn ci audit` can report, in the order the docs list them. */
export const CI_RULES: readonly CiRule[] = [
  rule('gha-script-injection', 'critical', 'ScriptInjection', 'An untrusted context is expanded into a run script or github-script before it runs'),
  rule(
    'gha-untrusted-checkout',
    'critical',
    'UntrustedCheckout',
    'A privileged trigger (pull_request_target, workflow_run, issue_comment) checks out and runs pull-request code',
  ),
  rule('gha-artifact-poisoning', 'high', 'ArtifactPoisoning', 'A workflow_run job downloads artifacts of an untrusted run and then runs code'),
  rule('gha-excessive-permissions', 'high', 'ExcessivePermissions', 'write-all, or write scopes granted to every job of a workflow'),
  rule('gha-default-permissions', 'medium', 'DefaultPermissions', 'A job runs with the repository default token permissions, which may be read-write'),
  rule('gha-unpinned-uses', 'medium', 'UnpinnedUses', 'An action or reusable workflow is referenced by a tag or branch, not a full commit SHA'),
  rule('gha-unpinned-image', 'medium', 'UnpinnedImage', 'A container image is referenced by tag, not by digest'),
  rule('gha-secrets-inherit', 'medium', 'SecretsInherit', 'A reusable workflow receives every secret of the caller'),
  rule('gha-self-hosted-runner', 'high', 'SelfHostedRunnerOnPullRequest', 'A self-hosted runner runs jobs that pull requests can trigger'),
  rule('gha-artipacked', 'high', 'PersistedCredentialsInArtifact', 'checkout leaves the token in .git/config and the workspace is uploaded as an artifact'),
  rule('gha-github-env', 'high', 'UntrustedGithubEnv', 'Untrusted data is written to GITHUB_ENV or GITHUB_PATH'),
  rule('gha-cache-poisoning', 'high', 'CachePoisoning', 'A cache crosses trust levels: untrusted code can write what a privileged or release job restores'),
  rule('gha-long-lived-credentials', 'medium', 'LongLivedCloudCredentials', 'A long-lived cloud key is used where OIDC federation would do'),
  rule('gha-insecure-commands', 'high', 'InsecureCommands', 'ACTIONS_ALLOW_UNSECURE_COMMANDS re-enables set-env and add-path'),
  rule('gha-hardcoded-credentials', 'high', 'HardcodedContainerCredentials', 'A container registry password is written in the workflow'),
  rule('gitlab-script-injection', 'high', 'GitlabScriptInjection', 'Attacker-controlled CI variables or component inputs are evaluated as code'),
  rule('gitlab-mr-secrets', 'high', 'GitlabMergeRequestSecrets', 'A merge-request pipeline job uses credentials or deploys'),
  rule('gitlab-unpinned-include', 'high', 'GitlabUnpinnedInclude', 'include: remote without integrity, or project/component not pinned to a commit SHA'),
  rule('gitlab-unpinned-image', 'medium', 'GitlabUnpinnedImage', 'A job or service image is referenced by tag, not by digest'),
  rule('gitlab-debug-trace', 'medium', 'GitlabDebugTrace', 'CI_DEBUG_TRACE or CI_DEBUG_SERVICES prints every variable, secrets included, into the job log'),
  rule('gitlab-long-lived-credentials', 'medium', 'GitlabLongLivedCloudCredentials', 'A job uses long-lived cloud keys without id_tokens (OIDC)'),
];

const BY_ID = new Map(CI_RULES.map((r) => [r.id, r]));

export interface At {
  readonly line: number;
  readonly column: number;
  readonly endLine?: number;
  readonly endColumn?: number;
}

/**
 * A finding of the CI audit. The fingerprint digests the rule, the file and `key` (structural
 * facts such as job id, step path and expression), never a line number, so baselines survive edits.
 */
export function ciFinding(
  ruleId: string,
  file: string,
  at: At,
  message: string,
  key: readonly string[],
  evidence: Record<string, unknown> = {},
  severity?: Severity,
): Finding {
  const r = BY_ID.get(ruleId);
  if (!r) throw new TypeError(`unknown CI rule ${ruleId}`);
  return {
    ruleId,
    severity: severity ?? r.severity,
    message,
    location: {
      file,
      line: at.line,
      column: at.column,
      ...(at.endLine !== undefined ? { endLine: at.endLine } : {}),
      ...(at.endColumn !== undefined ? { endColumn: at.endColumn } : {}),
    },
    evidence,
    fingerprint: sha256Digest(['cairn-ci/v1', ruleId, file, ...key].join('\u0000')),
  };
}
