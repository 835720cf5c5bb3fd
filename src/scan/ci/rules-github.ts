import { RE2JS } from 're2js';
import type { Finding, Severity } from '../../model/finding.js';
import {
  cacheUse,
  envTaint,
  FORK_UNTRUSTED,
  jobFacts,
  PRIVILEGED_UNTRUSTED,
  PULL_REQUEST_EVENTS,
  publishes,
  refsIn,
  refTaint,
  cloudAuth,
  worstTaint,
} from './analyze.js';
import { contextRefs, expressionsIn, type Taint } from './expressions.js';
import { ciFinding } from './findings.js';
import { actionName, parseUses, type Action, type Job, type Permissions, type Step, type Workflow } from './github.js';
import { locateIn, type YEntry, type YamlFile, type YScalar } from './yaml.js';

const SHA40 = RE2JS.compile('^[0-9a-f]{40}$');
const DIGEST = RE2JS.compile('@sha256:[0-9a-f]{64}$');
const BRANCHISH = new Set(['main', 'master', 'develop', 'dev', 'trunk', 'latest', 'head', 'stable', 'nightly', 'next']);
const ENV_WRITE = RE2JS.compile('(?:>>?|\\btee\\b(?:\\s+-a)?|Out-File|Add-Content|Set-Content)[^\\n]*(?:GITHUB_ENV|GITHUB_PATH)\\b');
const ENV_VAR = RE2JS.compile('\\$\\{?(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\\}?');
const READS_DATA = RE2JS.compile('\\bcat\\b|\\$\\(|<\\s*[^<\\s]|\\bjq\\b|\\bhead\\b|\\btail\\b|\\bread\\b|Get-Content');
const LONG_LIVED_ENV = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'GOOGLE_CREDENTIALS',
  'GOOGLE_APPLICATION_CREDENTIALS_JSON',
  'GCP_SA_KEY',
  'AZURE_CLIENT_SECRET',
  'ARM_CLIENT_SECRET',
  'AZURE_CREDENTIALS',
]);

function pos(s: YScalar) {
  return { line: s.span.line, column: s.span.column, endLine: s.span.endLine, endColumn: s.span.endColumn };
}

function where(step: Step): string {
  return step.name ? `step "${step.name}"` : step.id ? `step ${step.id}` : `step ${step.index + 1}`;
}

function events(workflow: Workflow): string[] {
  return workflow.triggers.map((t) => t.event);
}

interface Context {
  readonly file: string;
  readonly source: YamlFile;
  readonly triggers: readonly string[];
  readonly out: Finding[];
}

/** Expressions expanded into code: `run:` and `actions/github-script`'s `script`. */
function injection(ctx: Context, step: Step, env: ReadonlyMap<string, Taint>, scope: string, composite: boolean): void {
  const privileged = ctx.triggers.some((t) => PRIVILEGED_UNTRUSTED.has(t));
  const untrusted = privileged || ctx.triggers.some((t) => FORK_UNTRUSTED.has(t));
  const targets: { node: YScalar; what: string }[] = [];
  if (step.run) targets.push({ node: step.run, what: 'run script' });
  if (actionName(step) === 'actions/github-script') {
    const script = step.with.get('script')?.value;
    if (script?.kind === 'scalar') targets.push({ node: script, what: 'github-script' });
  }
  for (const { node, what } of targets) {
    const seen = new Map<string, number>();
    for (const e of expressionsIn(node.text)) {
      const occurrence = seen.get(e.raw) ?? 0;
      seen.set(e.raw, occurrence + 1);
      let taint: Taint | undefined;
      let source = '';
      for (const r of contextRefs(e.inner)) {
        const t = refTaint(r, env);
        if (t && worstTaint(taint, t) === t && t !== taint) {
          taint = t;
          source = r;
        }
      }
      if (!taint || (taint === 'indirect' && !untrusted && !composite)) continue;
      const severity: Severity = taint === 'attacker' ? (privileged ? 'critical' : 'high') : taint === 'caller' ? 'medium' : 'low';
      const who =
        taint === 'attacker'
          ? 'whoever opens the issue, pull request or comment'
          : taint === 'caller'
            ? 'whoever calls or dispatches the workflow'
            : 'an earlier step or job';
      ctx.out.push(
        ciFinding(
          'gha-script-injection',
          ctx.file,
          locateIn(ctx.source, node, e.raw, occurrence),
          `${e.raw} is pasted into the ${what} of ${where(step)} in ${scope} before it runs; ${source} is set by ${who}. Pass it through env: and quote "$VAR".`,
          [scope, step.path, what, e.inner],
          { expression: e.inner, context: source, taint, scope, triggers: [...ctx.triggers] },
          severity,
        ),
      );
    }
  }
}

function unpinnedUses(ctx: Context, uses: YScalar, scope: string): void {
  const u = parseUses(uses.text);
  if (u.kind === 'local') return;
  if (u.kind === 'docker') {
    if (!DIGEST.test(u.image)) unpinnedImage(ctx, uses, u.image, scope);
    return;
  }
  const ref = u.ref;
  if (ref !== undefined && SHA40.test(ref)) return;
  const name = [u.owner, u.repo, u.path].filter((s) => s !== '').join('/');
  const branch = ref === undefined || BRANCHISH.has(ref.toLowerCase());
  ctx.out.push(
    ciFinding(
      'gha-unpinned-uses',
      ctx.file,
      pos(uses),
      ref === undefined
        ? `${name} has no ref: it runs whatever the default branch holds`
        : `${name}@${ref} is a ${branch ? 'branch' : 'tag'}, which its owner (or whoever takes over the repository) can move; pin the full commit SHA`,
      [scope, uses.text],
      { action: name, ...(ref !== undefined ? { ref } : {}) },
      branch ? 'high' : 'medium',
    ),
  );
}

function unpinnedImage(ctx: Context, node: YScalar, image: string, scope: string): void {
  if (image.includes('${{') || DIGEST.test(image)) return;
  const colon = image.lastIndexOf(':');
  const tag = colon > image.lastIndexOf('/') ? image.slice(colon + 1) : undefined;
  const floating = tag === undefined || tag === 'latest';
  ctx.out.push(
    ciFinding(
      'gha-unpinned-image',
      ctx.file,
      pos(node),
      `image ${image} is ${floating ? 'unversioned' : `tagged ${tag}`}; tags move, pin @sha256:<digest>`,
      [scope, image],
      { image },
      floating ? 'high' : 'medium',
    ),
  );
}

function permissionsBlock(ctx: Context, p: Permissions, scope: string, workflowLevel: boolean, jobCount: number): void {
  if (p.shorthand === 'write-all') {
    ctx.out.push(
      ciFinding(
        'gha-excessive-permissions',
        ctx.file,
        pos(p.node.kind === 'scalar' ? p.node : p.key),
        `${scope} grants write-all: every scope of the token can write`,
        [scope, 'write-all'],
        { scopes: ['*'] },
      ),
    );
    return;
  }
  // With one job a workflow-level block is that job's block.
  if (!workflowLevel || jobCount < 2) return;
  const writes = [...p.scopes].filter(([, v]) => v.access === 'write');
  const first = writes[0];
  if (!first) return;
  ctx.out.push(
    ciFinding(
      'gha-excessive-permissions',
      ctx.file,
      pos(first[1].key),
      `the workflow grants ${writes.map(([k]) => `${k}: write`).join(', ')} to all ${jobCount} job(s); grant write scopes only to the job that needs them`,
      [scope, ...writes.map(([k]) => k)],
      { scopes: writes.map(([k]) => k) },
      'medium',
    ),
  );
}

function longLived(ctx: Context, envs: Iterable<YEntry>, scope: string): void {
  for (const e of envs) {
    if (!LONG_LIVED_ENV.has(e.key.text.toUpperCase())) continue;
    if (!refsIn(e.value).some((r) => r.startsWith('secrets.') || r.startsWith('vars.'))) continue;
    ctx.out.push(
      ciFinding(
        'gha-long-lived-credentials',
        ctx.file,
        pos(e.key),
        `${e.key.text} is a long-lived cloud key in ${scope}; federate with OIDC (permissions: id-token: write) and a role scoped to this repository instead`,
        [scope, e.key.text],
        { variable: e.key.text },
      ),
    );
  }
}

function insecureCommands(ctx: Context, envs: Iterable<YEntry>, scope: string): void {
  for (const e of envs) {
    if (e.key.text !== 'ACTIONS_ALLOW_UNSECURE_COMMANDS') continue;
    if (e.value.kind === 'scalar' && e.value.text.trim().toLowerCase() === 'false') continue;
    ctx.out.push(
      ciFinding(
        'gha-insecure-commands',
        ctx.file,
        pos(e.key),
        `${scope} re-enables ::set-env and ::add-path, which let any log line set variables and PATH`,
        [scope],
        {},
      ),
    );
  }
}

function hardcodedPassword(ctx: Context, password: YEntry | undefined, scope: string): void {
  if (password?.value.kind !== 'scalar' || password.value.value === null) return;
  if (password.value.text.includes('${{')) return;
  ctx.out.push(
    ciFinding(
      'gha-hardcoded-credentials',
      ctx.file,
      pos(password.value),
      `${scope} writes a registry password in the workflow; use \${{ secrets.NAME }}`,
      [scope],
      {},
    ),
  );
}

function stepRules(ctx: Context, steps: readonly Step[], env: (step: Step) => ReadonlyMap<string, Taint>, scope: string, composite: boolean): void {
  for (const step of steps) {
    injection(ctx, step, env(step), scope, composite);
    if (step.uses) unpinnedUses(ctx, step.uses, scope);
    const auth = cloudAuth(step);
    if (auth?.longLived) {
      ctx.out.push(
        ciFinding(
          'gha-long-lived-credentials',
          ctx.file,
          pos(auth.longLived.key),
          `${where(step)} in ${scope} logs in to ${auth.provider} with a stored key (${auth.longLived.key.text}); use OIDC federation instead`,
          [scope, step.path, auth.longLived.key.text],
          { provider: auth.provider, input: auth.longLived.key.text },
        ),
      );
    }
    longLived(ctx, step.env.values(), `${scope} ${where(step)}`);
    insecureCommands(ctx, step.env.values(), `${scope} ${where(step)}`);
  }
}

function githubEnv(ctx: Context, job: Job, steps: readonly Step[], env: (step: Step) => ReadonlyMap<string, Taint>, untrustedFrom: number): void {
  const privileged = ctx.triggers.some((t) => PRIVILEGED_UNTRUSTED.has(t));
  for (const step of steps) {
    if (!step.run) continue;
    const text = step.run.text;
    const scope = env(step);
    for (const line of text.split('\n')) {
      if (!ENV_WRITE.test(line)) continue;
      let reason: string | undefined;
      for (const e of expressionsIn(line)) {
        for (const r of contextRefs(e.inner)) {
          const t = refTaint(r, scope);
          if (t === 'attacker' || t === 'caller') reason ??= `${r} (${t}-controlled)`;
        }
      }
      for (const m of ENV_VAR.matchAll(line)) {
        const t = scope.get(m[1] ?? '');
        if (t === 'attacker') reason ??= `$${m[1]} (set from attacker-controlled data)`;
      }
      if (!reason && privileged && step.index > untrustedFrom && READS_DATA.test(line)) reason = 'data read from the untrusted checkout or artifact';
      if (!reason) continue;
      const at = locateIn(ctx.source, step.run, line.trim(), 0);
      ctx.out.push(
        ciFinding(
          'gha-github-env',
          ctx.file,
          at,
          `${where(step)} of job ${job.id} writes ${reason} to GITHUB_ENV/GITHUB_PATH: later steps then run with attacker-chosen variables (LD_PRELOAD, NODE_OPTIONS, PATH)`,
          [job.id, step.path, line.trim()],
          { reason, scope: `job ${job.id}` },
          privileged ? 'critical' : 'high',
        ),
      );
    }
  }
}

const PUBLISH_TRIGGER = (w: Workflow): boolean =>
  w.triggers.some((t) => t.event === 'release' || (t.event === 'push' && t.config?.kind === 'map' && t.config.entries.some((e) => e.key.text === 'tags')));

/** Findings of one GitHub Actions workflow. */
export function auditWorkflow(workflow: Workflow, triggersOverride?: readonly string[]): Finding[] {
  const triggers = triggersOverride ?? events(workflow);
  const ctx: Context = { file: workflow.file, source: workflow.source, triggers, out: [] };
  const privileged = triggers.some((t) => t === 'pull_request_target' || t === 'workflow_run' || t === 'issue_comment');
  if (workflow.permissions) permissionsBlock(ctx, workflow.permissions, 'the workflow', true, workflow.jobs.length);
  longLived(ctx, workflow.env.values(), 'the workflow env');
  insecureCommands(ctx, workflow.env.values(), 'the workflow env');
  const onlyCalled = triggers.length > 0 && triggers.every((t) => t === 'workflow_call');
  for (const job of workflow.jobs) {
    const scope = `job ${job.id}`;
    const facts = jobFacts(workflow, job, triggers);
    if (job.permissions) permissionsBlock(ctx, job.permissions, scope, false, 1);
    else if (!workflow.permissions && !onlyCalled) {
      ctx.out.push(
        ciFinding(
          'gha-default-permissions',
          ctx.file,
          pos(job.key),
          `job ${job.id} sets no permissions and neither does the workflow, so its GITHUB_TOKEN gets the repository default (read-write in older repositories and many organisations); declare permissions: {} and add what it needs`,
          [job.id],
          {},
        ),
      );
    }
    if (job.uses) unpinnedUses(ctx, job.uses, scope);
    if (job.secrets?.inherit) {
      ctx.out.push(
        ciFinding(
          'gha-secrets-inherit',
          ctx.file,
          pos(job.secrets.node),
          `job ${job.id} passes every secret of this repository to ${job.uses?.text ?? 'the called workflow'}; pass only the ones it uses`,
          [job.id],
          { workflow: job.uses?.text ?? null },
        ),
      );
    }
    if (facts.selfHosted && triggers.some((t) => PULL_REQUEST_EVENTS.has(t))) {
      const at = job.runsOnNode ?? job.key;
      const labels = job.runsOn.map((l) => l.text);
      ctx.out.push(
        ciFinding(
          'gha-self-hosted-runner',
          ctx.file,
          { line: at.span.line, column: at.span.column },
          `job ${job.id} runs on a self-hosted runner (${labels.join(', ') || 'runner group'}) and pull requests can start it (${triggers.filter((t) => PULL_REQUEST_EVENTS.has(t)).join(', ')}); a non-ephemeral runner keeps what the attacker leaves for the next job`,
          [job.id],
          { labels, triggers: [...triggers] },
        ),
      );
    }
    if (job.container?.image) unpinnedImage(ctx, job.container.image, job.container.image.text, scope);
    hardcodedPassword(ctx, job.container?.password, `${scope} container`);
    for (const s of job.services) {
      if (s.image) unpinnedImage(ctx, s.image, s.image.text, `${scope} service ${s.name}`);
      hardcodedPassword(ctx, s.password, `${scope} service ${s.name}`);
    }
    longLived(ctx, job.env.values(), `${scope} env`);
    insecureCommands(ctx, job.env.values(), `${scope} env`);
    const envOf = (step: Step) => envTaint(workflow.env, job.env, step.env);
    stepRules(ctx, job.steps, envOf, scope, false);

    // Untrusted code under a privileged trigger.
    const input = facts.untrustedInput;
    if (input && privileged) {
      const at = input.step.uses ?? input.step.run;
      const exec = facts.execAfterUntrusted;
      if (at && input.kind === 'checkout') {
        ctx.out.push(
          ciFinding(
            'gha-untrusted-checkout',
            ctx.file,
            pos(at),
            exec
              ? `job ${job.id} runs on ${triggers.filter((t) => PRIVILEGED_UNTRUSTED.has(t)).join(', ')} with this repository's secrets and token, checks out the pull request (${input.reason}) and runs it in ${where(exec)}`
              : `job ${job.id} checks out pull-request code (${input.reason}) in a privileged ${triggers.filter((t) => PRIVILEGED_UNTRUSTED.has(t)).join(', ')} run; nothing seems to run it yet, but any build step would`,
            [job.id, input.step.path],
            { reason: input.reason, ...(exec ? { runsAt: exec.path } : {}) },
            exec ? 'critical' : 'medium',
          ),
        );
      } else if (at && input.kind === 'artifact' && exec) {
        ctx.out.push(
          ciFinding(
            'gha-artifact-poisoning',
            ctx.file,
            pos(at),
            `job ${job.id} runs on workflow_run with secrets, downloads artifacts of the triggering (possibly fork) run (${input.reason}) and then runs ${where(exec)}; the artifact is attacker-controlled`,
            [job.id, input.step.path],
            { reason: input.reason, runsAt: exec.path },
          ),
        );
      }
    }
    githubEnv(ctx, job, job.steps, envOf, input?.step.index ?? Number.POSITIVE_INFINITY);

    // Caches across trust levels.
    if (privileged && input && facts.execAfterUntrusted) {
      for (const step of facts.cacheSteps) {
        if (cacheUse(step) === 'restore' || !step.uses) continue;
        ctx.out.push(
          ciFinding(
            'gha-cache-poisoning',
            ctx.file,
            pos(step.uses),
            `job ${job.id} runs pull-request code on ${triggers.filter((t) => PRIVILEGED_UNTRUSTED.has(t)).join(', ')}, which uses the default branch's cache scope; ${where(step)} saves a cache that release and deploy jobs restore`,
            [job.id, step.path, 'untrusted-writer'],
            {},
            'high',
          ),
        );
      }
    } else if ((PUBLISH_TRIGGER(workflow) || job.environment !== undefined || job.steps.some((s) => publishes(s) !== undefined)) && !privileged) {
      for (const step of facts.cacheSteps) {
        if (!step.uses || cacheUse(step) === 'save') continue;
        ctx.out.push(
          ciFinding(
            'gha-cache-poisoning',
            ctx.file,
            pos(step.uses),
            `job ${job.id} publishes or deploys and restores a cache in ${where(step)}; any job of the default branch (pull_request_target, workflow_run, a compromised dependency in a test job) can write that cache. Build releases without caches`,
            [job.id, step.path, 'privileged-reader'],
            {},
            'medium',
          ),
        );
      }
    }

    // Credentials persisted by checkout, then uploaded.
    for (const [i, step] of job.steps.entries()) {
      if (actionName(step) !== 'actions/checkout' || !step.uses) continue;
      const persist = step.with.get('persist-credentials')?.value;
      if (persist?.kind === 'scalar' && persist.text.trim().toLowerCase() === 'false') continue;
      const dir = step.with.get('path')?.value;
      const checkoutDir = dir?.kind === 'scalar' ? trimSlashes(dir.text.trim()) : '';
      const upload = job.steps.slice(i + 1).find((s) => actionName(s) === 'actions/upload-artifact' && uploadsWorkspace(s, checkoutDir));
      if (!upload) continue;
      ctx.out.push(
        ciFinding(
          'gha-artipacked',
          ctx.file,
          pos(step.uses),
          `checkout in job ${job.id} keeps the GITHUB_TOKEN in .git/config (persist-credentials defaults to true) and ${where(upload)} uploads the workspace with it; set persist-credentials: false`,
          [job.id, step.path],
          { upload: upload.path },
        ),
      );
    }
  }
  return ctx.out;
}

function trimSlashes(s: string): string {
  let end = s.length;
  while (end > 1 && s[end - 1] === '/') end--;
  return s.slice(0, end);
}

function uploadsWorkspace(step: Step, checkoutDir: string): boolean {
  const paths = step.with.get('path')?.value;
  const lines = paths?.kind === 'scalar' ? paths.text.split('\n').map((l) => trimSlashes(l.trim())) : [];
  return lines.some(
    (l) =>
      l === '.' ||
      l === '' ||
      l === '*' ||
      l === '**' ||
      l === './*' ||
      l === './**' ||
      l.startsWith('.git') ||
      (l.startsWith('${{ github.workspace }}') &&
        (l === '${{ github.workspace }}' || l === '${{ github.workspace }}/**' || l === '${{ github.workspace }}/*')) ||
      (checkoutDir !== '' && (l === checkoutDir || l === `./${checkoutDir}`)),
  );
}

/** Findings of one action.yml (composite steps, docker image). */
export function auditAction(action: Action): Finding[] {
  const ctx: Context = { file: action.file, source: action.source, triggers: [], out: [] };
  const scope = `action ${action.name ?? action.file}`;
  if (action.image?.text.startsWith('docker://') && !DIGEST.test(action.image.text)) unpinnedImage(ctx, action.image, action.image.text.slice(9), scope);
  stepRules(ctx, action.steps, (step) => envTaint(step.env), scope, true);
  return ctx.out;
}
