import { RE2JS } from 're2js';
import { contextRefs, expressionsIn, secretRefs, type Taint, taintOf } from './expressions.js';
import { actionName, type Access, type Job, type Permissions, type Step, type Workflow } from './github.js';
import { scalars, type YEntry, type YNode } from './yaml.js';

/** Events an outsider can cause that run in the base repository, with its secrets and a write-capable token. */
export const PRIVILEGED_UNTRUSTED = new Set([
  'pull_request_target',
  'workflow_run',
  'issue_comment',
  'issues',
  'discussion',
  'discussion_comment',
  'fork',
  'watch',
  'gollum',
]);
/** Events that run an outsider's code from a fork, without secrets and with a read-only token. */
export const FORK_UNTRUSTED = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment']);
/** Events where a pull request decides what runs. */
export const PULL_REQUEST_EVENTS = new Set([
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
  'issue_comment',
  'workflow_run',
]);

const TAINT_RANK: Record<Taint, number> = { attacker: 3, caller: 2, indirect: 1 };

export function worstTaint(a: Taint | undefined, b: Taint | undefined): Taint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return TAINT_RANK[a] >= TAINT_RANK[b] ? a : b;
}

/** Every context reference in a node's scalars. */
export function refsIn(node: YNode | undefined): string[] {
  if (!node) return [];
  const out: string[] = [];
  for (const s of scalars(node)) if (typeof s.value === 'string') for (const e of expressionsIn(s.value)) out.push(...contextRefs(e.inner));
  return out;
}

/** Env variable name → the worst taint of its value, for the scope a step sees (workflow, job, step). */
export function envTaint(...scopes: ReadonlyMap<string, YEntry>[]): Map<string, Taint> {
  const out = new Map<string, Taint>();
  for (const scope of scopes) {
    for (const [name, e] of scope) {
      let t: Taint | undefined;
      for (const r of refsIn(e.value)) t = worstTaint(t, taintOf(r));
      if (t) out.set(name, t);
      else out.delete(name);
    }
  }
  return out;
}

/** The taint of one context reference, following `env.X` to what X was set from. */
export function refTaint(ref: string, env: ReadonlyMap<string, Taint>): Taint | undefined {
  if (ref.startsWith('env.')) {
    const name = ref.slice(4);
    for (const [k, t] of env) if (k.toLowerCase() === name) return t;
    return undefined;
  }
  return taintOf(ref);
}

const HEAD_REFS = new Set([
  'github.event.pull_request.head.sha',
  'github.event.pull_request.head.ref',
  'github.head_ref',
  'github.event.workflow_run.head_sha',
  'github.event.workflow_run.head_branch',
  'github.event.workflow_run.head_commit.id',
  'github.event.pull_request.number',
  'github.event.issue.number',
  'github.event.pull_request.merge_commit_sha',
  'github.event.pull_request.head.repo.full_name',
  'github.event.workflow_run.head_repository.full_name',
]);

const RUN_CHECKOUT = RE2JS.compile('gh\\s+pr\\s+checkout|git\\s+(?:fetch|pull)\\b[^\\n]*\\bpull/|refs/pull/');
const GIT_CHECKOUT = RE2JS.compile('git\\s+(?:checkout|switch|reset)');
const RUN_DOWNLOAD = RE2JS.compile('gh\\s+run\\s+download|/actions/artifacts/');
const BUILD = RE2JS.compile(
  '(?:^|[\\s;&|(`])(?:npm|npx|yarn|pnpm|bun|node|deno|make|cmake|gradle|\\./gradlew|mvn|\\./mvnw|ant|pip3?|poetry|pipenv|uv|python3?|pytest|tox|nox|go|cargo|bundle|rake|ruby|composer|php|dotnet|bazel|bazelisk|docker|docker-compose|tsc|jest|vitest|eslint|sh|bash|source|\\.)(?:\\s|$)|(?:^|[\\s;&|(])\\./[A-Za-z0-9_./-]+',
  RE2JS.MULTILINE,
);
const EXEC_ACTIONS = new Set([
  'docker/build-push-action',
  'github/codeql-action/autobuild',
  'pre-commit/action',
  'gradle/gradle-build-action',
  'gradle/actions/setup-gradle',
]);

/** Why a step checks out pull-request code (head or merge ref), or undefined. */
export function checksOutPullRequest(step: Step): string | undefined {
  const name = actionName(step);
  if (name === 'actions/checkout') {
    for (const input of ['ref', 'repository']) {
      const e = step.with.get(input);
      if (!e) continue;
      const refs = refsIn(e.value).filter((r) => HEAD_REFS.has(r) || r === 'github.head_ref');
      if (refs.length > 0) return `actions/checkout with ${input}: ${refs.map((r) => `\${{ ${r} }}`).join(', ')}`;
      if (e.value.kind === 'scalar' && e.value.text.includes('refs/pull/')) return `actions/checkout with ${input}: ${e.value.text}`;
    }
    return undefined;
  }
  if (step.run) {
    const refs = [...expressionsIn(step.run.text)].flatMap((e) => contextRefs(e.inner));
    if (RUN_CHECKOUT.test(step.run.text)) return 'the script fetches the pull request';
    if (refs.some((r) => HEAD_REFS.has(r)) && GIT_CHECKOUT.test(step.run.text)) return 'the script checks out the pull-request head';
  }
  return undefined;
}

/** Why a step downloads artifacts of another (possibly untrusted) workflow run, or undefined. */
export function downloadsForeignArtifact(step: Step): string | undefined {
  const name = actionName(step);
  if (name === 'actions/download-artifact' && (step.with.has('run-id') || step.with.has('github-token'))) return 'actions/download-artifact from another run';
  if (name === 'dawidd6/action-download-artifact') return 'dawidd6/action-download-artifact';
  if (step.run && RUN_DOWNLOAD.test(step.run.text)) return 'the script downloads run artifacts';
  if (name === 'actions/github-script') {
    const script = step.with.get('script')?.value;
    if (script?.kind === 'scalar' && script.text.includes('downloadArtifact')) return 'github-script downloads artifacts';
  }
  return undefined;
}

/** Whether a step runs code from the workspace (a build tool, a local script or action). */
export function runsWorkspaceCode(step: Step): boolean {
  if (step.uses?.text.trim().startsWith('./')) return true;
  const name = actionName(step);
  if (name && EXEC_ACTIONS.has(name)) return true;
  return step.run !== undefined && BUILD.test(step.run.text);
}

const CACHE_ACTIONS: Record<string, 'both' | 'restore' | 'save'> = {
  'actions/cache': 'both',
  'actions/cache/restore': 'restore',
  'actions/cache/save': 'save',
};
const SETUP_CACHE: Record<string, { input: string; defaultOn: boolean }> = {
  'actions/setup-node': { input: 'cache', defaultOn: false },
  'actions/setup-python': { input: 'cache', defaultOn: false },
  'actions/setup-java': { input: 'cache', defaultOn: false },
  'actions/setup-dotnet': { input: 'cache', defaultOn: false },
  'actions/setup-go': { input: 'cache', defaultOn: true },
  'ruby/setup-ruby': { input: 'bundler-cache', defaultOn: false },
  'astral-sh/setup-uv': { input: 'enable-cache', defaultOn: false },
  'swatinem/rust-cache': { input: '', defaultOn: true },
  'gradle/actions/setup-gradle': { input: 'cache-disabled', defaultOn: true },
};

/** How a step touches the Actions cache: restores, saves, both, or not at all. */
export function cacheUse(step: Step): 'both' | 'restore' | 'save' | undefined {
  const name = actionName(step);
  if (!name) return undefined;
  const direct = CACHE_ACTIONS[name];
  if (direct) return direct;
  const setup = SETUP_CACHE[name];
  if (!setup) return undefined;
  const input = setup.input === '' ? undefined : step.with.get(setup.input)?.value;
  const value = input?.kind === 'scalar' ? input.text.trim().toLowerCase() : undefined;
  if (setup.input === 'cache-disabled') return value === 'true' ? undefined : 'both';
  if (value === undefined) return setup.defaultOn ? 'both' : undefined;
  return value === '' || value === 'false' ? undefined : 'both';
}

const PUBLISH_RUN = RE2JS.compile(
  '\\b(?:npm\\s+publish|pnpm\\s+publish|yarn\\s+npm\\s+publish|docker\\s+push|twine\\s+upload|cargo\\s+publish|gem\\s+push|gh\\s+release\\s+(?:create|upload)|goreleaser|kubectl\\s+(?:apply|set|rollout)|helm\\s+(?:upgrade|install)|terraform\\s+apply|aws\\s+s3\\s+(?:cp|sync)|gcloud\\s+(?:run\\s+)?deploy|flyctl\\s+deploy|vercel\\s+deploy|wrangler\\s+(?:deploy|publish))',
);
const PUBLISH_ACTIONS = new Set([
  'pypa/gh-action-pypi-publish',
  'softprops/action-gh-release',
  'aws-actions/amazon-ecs-deploy-task-definition',
  'azure/webapps-deploy',
  'google-github-actions/deploy-cloudrun',
  'azure/k8s-deploy',
  'cloudflare/wrangler-action',
  'js-devtools/npm-publish',
]);

/** What a step deploys or publishes, for the blast radius and the release-cache rule. */
export function publishes(step: Step): string | undefined {
  const name = actionName(step);
  if (name && PUBLISH_ACTIONS.has(name)) return name;
  if (name === 'docker/build-push-action') {
    const push = step.with.get('push')?.value;
    return push?.kind === 'scalar' && push.text.trim() === 'true' ? 'docker/build-push-action (push)' : undefined;
  }
  if (step.run) {
    const m = PUBLISH_RUN.exec(step.run.text);
    if (m) return m[0].replace(/\s+/g, ' ');
  }
  return undefined;
}

const CLOUD_AUTH: Record<string, { oidc: readonly string[]; longLived: readonly string[]; target: readonly string[] }> = {
  'aws-actions/configure-aws-credentials': {
    oidc: ['role-to-assume'],
    longLived: ['aws-access-key-id', 'aws-secret-access-key'],
    target: ['role-to-assume', 'aws-region'],
  },
  'google-github-actions/auth': {
    oidc: ['workload_identity_provider'],
    longLived: ['credentials_json'],
    target: ['service_account', 'workload_identity_provider'],
  },
  'azure/login': { oidc: ['client-id'], longLived: ['creds'], target: ['subscription-id', 'client-id'] },
};

export interface CloudAuth {
  readonly provider: string;
  readonly oidc: boolean;
  readonly longLived?: YEntry;
  readonly target: string;
}

/** A cloud login step: which provider, whether it federates (OIDC) or uses a stored key. */
export function cloudAuth(step: Step): CloudAuth | undefined {
  const name = actionName(step);
  const spec = name ? CLOUD_AUTH[name] : undefined;
  if (!name || !spec) return undefined;
  const longLived = spec.longLived.map((k) => step.with.get(k)).find((e) => e !== undefined);
  const target =
    spec.target
      .map((k) => step.with.get(k)?.value)
      .filter((v) => v?.kind === 'scalar')
      .map((v) => (v?.kind === 'scalar' ? v.text : ''))
      .join(' ') || name;
  return {
    provider: name.split('/')[0] ?? name,
    oidc: longLived === undefined && spec.oidc.some((k) => step.with.has(k)),
    ...(longLived ? { longLived } : {}),
    target,
  };
}

/** Effective token permissions of a job: its own block, else the workflow's, else the repository default. */
export function effectivePermissions(workflow: Workflow, job: Job): { source: 'job' | 'workflow' | 'default'; permissions?: Permissions } {
  if (job.permissions) return { source: 'job', permissions: job.permissions };
  if (workflow.permissions) return { source: 'workflow', permissions: workflow.permissions };
  return { source: 'default' };
}

/** Scopes a permissions block grants write on (`*` for write-all, `default` when unknown). */
export function writeScopes(workflow: Workflow, job: Job): string[] {
  const p = effectivePermissions(workflow, job);
  if (!p.permissions) return ['default'];
  if (p.permissions.shorthand === 'write-all') return ['*'];
  return [...p.permissions.scopes].filter(([, v]) => v.access === 'write').map(([k]) => k);
}

export function access(workflow: Workflow, job: Job, scope: string): Access | 'default' {
  const p = effectivePermissions(workflow, job);
  if (!p.permissions) return 'default';
  if (p.permissions.shorthand === 'write-all') return 'write';
  if (p.permissions.shorthand === 'read-all') return scope === 'id-token' ? 'none' : 'read';
  return p.permissions.scopes.get(scope)?.access ?? 'none';
}

/** Secret names a job can read: every `secrets.X` in it, or `*` when all secrets are exposed. */
export function jobSecrets(workflow: Workflow, job: Job): string[] {
  const names = new Set<string>();
  const scan = (node: YNode) => {
    for (const s of scalars(node)) {
      if (typeof s.value !== 'string') continue;
      for (const e of expressionsIn(s.value)) {
        for (const n of secretRefs(e.inner)) if (n !== 'GITHUB_TOKEN') names.add(n);
        if (contextRefs(e.inner).includes('secrets')) names.add('*');
      }
    }
  };
  scan(job.node);
  for (const e of workflow.env.values()) scan(e.value);
  if (job.secrets?.inherit) names.add('*');
  return [...names].sort();
}

/** Facts about one job that the rules and the blast radius share. */
export interface JobFacts {
  readonly triggers: readonly string[];
  /** Step index and reason of the first pull-request checkout or foreign artifact download. */
  readonly untrustedInput?: { readonly step: Step; readonly reason: string; readonly kind: 'checkout' | 'artifact' };
  /** The first step that runs workspace code after untrusted input arrived. */
  readonly execAfterUntrusted?: Step;
  readonly selfHosted: boolean;
  readonly cache: 'both' | 'restore' | 'save' | undefined;
  readonly cacheSteps: readonly Step[];
  readonly publishes: readonly string[];
  readonly cloud: readonly CloudAuth[];
  readonly secrets: readonly string[];
  readonly uploads: readonly string[];
  readonly downloads: readonly { readonly name: string; readonly foreign: boolean }[];
}

export function jobFacts(workflow: Workflow, job: Job, triggers: readonly string[] = workflow.triggers.map((t) => t.event)): JobFacts {
  const privileged = triggers.some((t) => t === 'pull_request_target' || t === 'workflow_run' || t === 'issue_comment');
  let untrustedInput: JobFacts['untrustedInput'];
  let execAfterUntrusted: Step | undefined;
  let cache: JobFacts['cache'];
  const cacheSteps: Step[] = [];
  const pubs: string[] = [];
  const cloud: CloudAuth[] = [];
  const uploads: string[] = [];
  const downloads: { name: string; foreign: boolean }[] = [];
  for (const step of job.steps) {
    if (privileged && !untrustedInput) {
      const checkout = checksOutPullRequest(step);
      const foreign = triggers.includes('workflow_run') ? downloadsForeignArtifact(step) : undefined;
      if (checkout) untrustedInput = { step, reason: checkout, kind: 'checkout' };
      else if (foreign) untrustedInput = { step, reason: foreign, kind: 'artifact' };
      if (untrustedInput) continue;
    }
    if (untrustedInput && !execAfterUntrusted && runsWorkspaceCode(step)) execAfterUntrusted = step;
    const c = cacheUse(step);
    if (c) {
      cacheSteps.push(step);
      cache = cache === undefined || cache === c ? c : 'both';
    }
    const p = publishes(step);
    if (p) pubs.push(p);
    const a = cloudAuth(step);
    if (a) cloud.push(a);
    const name = actionName(step);
    if (name === 'actions/upload-artifact') uploads.push(artifactName(step));
    if (name === 'actions/download-artifact' || name === 'dawidd6/action-download-artifact') {
      downloads.push({ name: step.with.has('name') ? artifactName(step) : '*', foreign: downloadsForeignArtifact(step) !== undefined });
    }
  }
  const labels = job.runsOn.map((l) => l.text.toLowerCase());
  const runsOnText = job.runsOnNode?.kind === 'map' ? 'group' : '';
  return {
    triggers,
    ...(untrustedInput ? { untrustedInput } : {}),
    ...(execAfterUntrusted ? { execAfterUntrusted } : {}),
    selfHosted: labels.includes('self-hosted') || runsOnText === 'group',
    cache,
    cacheSteps,
    publishes: pubs,
    cloud,
    secrets: jobSecrets(workflow, job),
    uploads,
    downloads,
  };
}

function artifactName(step: Step): string {
  const v = step.with.get('name')?.value;
  return v?.kind === 'scalar' && v.text !== '' ? v.text : 'artifact';
}
