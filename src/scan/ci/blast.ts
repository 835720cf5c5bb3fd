import { RE2JS } from 're2js';
import type { Finding } from '../../model/finding.js';
import { access, FORK_UNTRUSTED, jobFacts, PRIVILEGED_UNTRUSTED, refsIn, runsWorkspaceCode, writeScopes, type JobFacts } from './analyze.js';
import { actionName, type Job, type Workflow } from './github.js';
import { gitlabSecrets, isProductionName, type GitlabPipeline } from './gitlab.js';

export type NodeKind = 'attacker' | 'trigger' | 'job' | 'secret' | 'token' | 'oidc' | 'environment' | 'target' | 'cache' | 'artifact' | 'runner';

export interface BlastNode {
  readonly id: string;
  readonly kind: NodeKind;
  readonly label: string;
  /** A production credential or deploy target: where the shortest path ends. */
  readonly production: boolean;
  readonly file?: string;
  readonly line?: number;
}

export interface BlastEdge {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

/** What a compromise of one job reaches. */
export interface JobReach {
  readonly job: string;
  readonly file: string;
  readonly line: number;
  readonly triggers: readonly string[];
  /** How an outsider gets in: runs code, only sends data, runs code without secrets (fork), or cannot. */
  readonly exposure: 'outsider-code' | 'outsider-data' | 'fork-code' | 'insider';
  readonly entry?: string;
  readonly token: string;
  readonly secrets: readonly string[];
  readonly environments: readonly string[];
  readonly oidc: readonly string[];
  readonly deploys: readonly string[];
  readonly writes: readonly string[];
  /** Production nodes reachable from this job, directly or through caches, artifacts, runners and outputs. */
  readonly reachesProduction: readonly string[];
}

export interface BlastPath {
  readonly nodes: readonly BlastNode[];
  readonly edges: readonly BlastEdge[];
}

export interface BlastRadius {
  readonly jobs: readonly JobReach[];
  readonly nodes: readonly BlastNode[];
  readonly edges: readonly BlastEdge[];
  /** The shortest path from an outsider to a production credential, or null when there is none. */
  readonly shortestPath: BlastPath | null;
}

export interface ProductionHints {
  /** Environment names that are production (default: names containing prod, production or live). */
  readonly environments?: readonly string[];
  /** Secret names that are production credentials, in addition to the built-in name patterns. */
  readonly secrets?: readonly string[];
}

const PROD_SECRET = RE2JS.compile(
  '(?i)prod|deploy|release|publish|npm_token|pypi|cargo_registry|docker(?:hub)?_(?:password|token)|kube|ssh_(?:private_)?key|aws_secret|azure_credentials|gcp_(?:sa_)?key|signing',
);

class Graph {
  readonly nodes = new Map<string, BlastNode>();
  readonly edges: BlastEdge[] = [];
  private readonly edgeKeys = new Set<string>();

  node(n: BlastNode): string {
    const prev = this.nodes.get(n.id);
    if (!prev || (n.production && !prev.production)) this.nodes.set(n.id, prev ? { ...prev, production: true } : n);
    return n.id;
  }

  edge(from: string, to: string, reason: string): void {
    const k = `${from}\u0000${to}`;
    if (from === to || this.edgeKeys.has(k)) return;
    this.edgeKeys.add(k);
    this.edges.push({ from, to, reason });
  }

  adjacency(): Map<string, BlastEdge[]> {
    const adj = new Map<string, BlastEdge[]>();
    for (const e of this.edges) adj.set(e.from, [...(adj.get(e.from) ?? []), e]);
    // Credentials before the places they unlock, then by id: the shortest path names the secret when it can.
    const order = (id: string) => ['secret:', 'oidc:', 'target:', 'environment:'].findIndex((p) => id.startsWith(p)) >>> 0;
    for (const list of adj.values()) list.sort((a, b) => order(a.to) - order(b.to) || (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
    return adj;
  }
}

/** Input of the blast radius: the parsed files with the triggers each workflow actually runs on. */
export interface BlastInput {
  readonly workflows: readonly { readonly workflow: Workflow; readonly triggers: readonly string[] }[];
  readonly gitlab: readonly GitlabPipeline[];
  readonly findings: readonly Finding[];
  readonly production?: ProductionHints;
}

function jobId(file: string, id: string, fork: boolean): string {
  return `job:${file}#${id}${fork ? '@fork' : ''}`;
}

/**
 * The job / secret / environment graph of a repository's CI and, per job, what a compromise
 * of it reaches; the shortest path from an outsider (someone who can open an issue, a pull
 * or merge request, or a comment) to a production credential or deploy target.
 */
export function blastRadius(input: BlastInput): BlastRadius {
  const g = new Graph();
  const prodEnv = (name: string) => (input.production?.environments ? input.production.environments.includes(name) : isProductionName(name));
  const prodSecret = (name: string, env?: string) =>
    (env !== undefined && prodEnv(env)) || (input.production?.secrets?.includes(name) ?? false) || (name !== '*' && PROD_SECRET.test(name));
  const attacker = g.node({ id: 'attacker', kind: 'attacker', label: 'outsider (opens an issue, pull request or comment)', production: false });
  const reaches: { id: string; reach: Omit<JobReach, 'reachesProduction'> }[] = [];
  const injected = new Set<string>();
  for (const f of input.findings) {
    const scope = f.evidence.scope;
    const taint = f.evidence.taint;
    if (typeof scope === 'string' && (f.ruleId === 'gha-script-injection' ? taint === 'attacker' : f.ruleId === 'gha-github-env'))
      injected.add(`${f.location.file}#${scope}`);
  }

  // GitHub Actions.
  const artifactProducers = new Map<string, string[]>();
  const facts = new Map<string, { workflow: Workflow; job: Job; facts: JobFacts; triggers: readonly string[] }>();
  for (const { workflow, triggers } of input.workflows) {
    for (const job of workflow.jobs) facts.set(`${workflow.file}#${job.id}`, { workflow, job, facts: jobFacts(workflow, job, triggers), triggers });
  }
  const cacheNode = () => g.node({ id: 'cache:github', kind: 'cache', label: 'Actions cache (default-branch scope)', production: false });
  for (const { workflow, job, facts: jf, triggers } of facts.values()) {
    const forkTriggers = triggers.filter((t) => FORK_UNTRUSTED.has(t));
    const baseTriggers = triggers.filter((t) => !FORK_UNTRUSTED.has(t));
    const label = `${workflow.file}: ${job.id}`;
    const checkoutThenRun =
      job.steps.some((s, i) => actionName(s) === 'actions/checkout' && job.steps.slice(i + 1).some(runsWorkspaceCode)) ||
      job.steps.some((s) => s.uses?.text.trim().startsWith('./'));
    const contexts: { fork: boolean; triggers: string[] }[] = [];
    if (baseTriggers.length > 0 || triggers.length === 0) contexts.push({ fork: false, triggers: baseTriggers });
    if (forkTriggers.length > 0 && !skipsForks(job)) contexts.push({ fork: true, triggers: forkTriggers });
    for (const ctx of contexts) {
      const id = g.node({
        id: jobId(workflow.file, job.id, ctx.fork),
        kind: 'job',
        label: ctx.fork ? `${label} (fork pull request)` : label,
        production: false,
        file: workflow.file,
        line: job.key.span.line,
      });
      let exposure: JobReach['exposure'] = 'insider';
      let entry: string | undefined;
      for (const t of ctx.triggers) {
        if (!PRIVILEGED_UNTRUSTED.has(t) && !FORK_UNTRUSTED.has(t)) continue;
        const trigger = g.node({ id: `trigger:${t}`, kind: 'trigger', label: `on: ${t}`, production: false });
        g.edge(
          attacker,
          trigger,
          FORK_UNTRUSTED.has(t)
            ? 'opens a pull request from a fork'
            : t.includes('comment') || t === 'issues'
              ? 'writes an issue or comment'
              : 'opens a pull request or triggers the event',
        );
        let how: string | undefined;
        if (ctx.fork) how = checkoutThenRun ? "runs the pull request's code (no secrets, read-only token)" : undefined;
        else if (jf.untrustedInput && jf.execAfterUntrusted) how = `${jf.untrustedInput.reason}, then runs it`;
        else if (injected.has(`${workflow.file}#job ${job.id}`)) how = 'script injection from the event payload';
        if (how) {
          g.edge(trigger, id, how);
          exposure = ctx.fork ? 'fork-code' : 'outsider-code';
          entry ??= `${t}: ${how}`;
        } else if (exposure === 'insider') exposure = 'outsider-data';
      }
      const secrets: string[] = [];
      const environments: string[] = [];
      const oidc: string[] = [];
      const deploys: string[] = [];
      const writes: string[] = [];
      const envName = job.environment?.name;
      if (!ctx.fork) {
        for (const s of jf.secrets) {
          const scope = envName !== undefined ? `environment ${envName}` : 'repository';
          const name = s === '*' ? 'all secrets' : s;
          const sid = g.node({
            id: `secret:${envName !== undefined ? `env:${envName}` : 'repo'}:${s}`,
            kind: 'secret',
            label: `${name} (${scope})`,
            production: prodSecret(s, envName),
          });
          g.edge(id, sid, s === '*' ? 'secrets: inherit or toJSON(secrets)' : `reads secrets.${s}`);
          secrets.push(`${name} (${scope})`);
        }
        const w = writeScopes(workflow, job);
        if (w.length > 0) {
          const tokenLabel =
            w[0] === 'default'
              ? 'GITHUB_TOKEN (repository default permissions)'
              : w[0] === '*'
                ? 'GITHUB_TOKEN (write-all)'
                : `GITHUB_TOKEN (${w.map((s) => `${s}: write`).join(', ')})`;
          const tid = g.node({ id: `token:${workflow.file}#${job.id}`, kind: 'token', label: tokenLabel, production: false });
          g.edge(id, tid, 'holds the job token');
        }
        if (access(workflow, job, 'id-token') === 'write') {
          const targets = jf.cloud.filter((c) => c.oidc).map((c) => `${c.provider} ${c.target}`);
          const prod = (envName !== undefined && prodEnv(envName)) || jf.publishes.length > 0;
          const label = targets.length > 0 ? `OIDC: ${targets.join(', ')}` : 'OIDC token (any cloud role trusting this repository)';
          const oid = g.node({ id: `oidc:${workflow.file}#${job.id}`, kind: 'oidc', label, production: prod });
          g.edge(id, oid, 'permissions: id-token: write');
          oidc.push(label);
        }
        if (envName !== undefined) {
          const eid = g.node({
            id: `environment:${envName}`,
            kind: 'environment',
            label: `environment ${envName}${job.environment?.url ? ` (${job.environment.url})` : ''}`,
            production: prodEnv(envName),
          });
          g.edge(id, eid, 'deploys to');
          environments.push(envName);
        }
        for (const p of jf.publishes) {
          const pid = g.node({ id: `target:${p}`, kind: 'target', label: p, production: true });
          g.edge(id, pid, 'publishes or deploys');
          deploys.push(p);
        }
        // Any job in the default branch's scope can write cache entries with the runner's token.
        const c = cacheNode();
        g.edge(id, c, 'can write any cache entry of the default branch');
        writes.push('Actions cache');
        if (jf.cache === 'both' || jf.cache === 'restore') g.edge(c, id, 'restores a cache');
      }
      for (const a of jf.uploads) {
        const aid = g.node({
          id: `artifact:${workflow.file}:${a}${ctx.fork ? '@fork' : ''}`,
          kind: 'artifact',
          label: `artifact ${a}${ctx.fork ? ' (from a fork run)' : ''}`,
          production: false,
        });
        g.edge(id, aid, 'uploads');
        writes.push(`artifact ${a}`);
        const key = workflow.name ?? workflow.file;
        artifactProducers.set(key, [...(artifactProducers.get(key) ?? []), aid]);
        artifactProducers.set(workflow.file, [...(artifactProducers.get(workflow.file) ?? []), aid]);
      }
      if (jf.selfHosted) {
        const labels = job.runsOn.map((l) => l.text).sort();
        const rid = g.node({ id: `runner:${labels.join(',')}`, kind: 'runner', label: `self-hosted runner [${labels.join(', ')}]`, production: false });
        g.edge(id, rid, 'runs on (and can persist on) the runner');
        if (!ctx.fork) g.edge(rid, id, 'runs later on the same runner');
        writes.push(`runner ${labels.join(',')}`);
      }
      reaches.push({
        id,
        reach: {
          job: `${workflow.file}#${job.id}${ctx.fork ? '@fork' : ''}`,
          file: workflow.file,
          line: job.key.span.line,
          triggers: ctx.triggers.length > 0 ? ctx.triggers : triggers,
          exposure,
          ...(entry ? { entry } : {}),
          token: ctx.fork ? 'read-only' : tokenText(workflow, job),
          secrets,
          environments,
          oidc,
          deploys,
          writes,
        },
      });
    }
  }
  // Artifacts consumed in the same run, and by workflow_run workflows.
  for (const { workflow, job, facts: jf, triggers } of facts.values()) {
    for (const d of jf.downloads) {
      for (const fork of [false, true]) {
        const consumer = jobId(workflow.file, job.id, fork);
        if (!g.nodes.has(consumer)) continue;
        for (const n of g.nodes.values()) {
          if (n.kind !== 'artifact' || !n.id.startsWith(`artifact:${workflow.file}:`) || n.id.endsWith('@fork') !== fork) continue;
          if (d.name === '*' || n.id === `artifact:${workflow.file}:${d.name}${fork ? '@fork' : ''}`) g.edge(n.id, consumer, 'downloads the artifact');
        }
      }
      if (d.foreign && triggers.includes('workflow_run')) {
        const wr = workflow.triggers.find((t) => t.event === 'workflow_run')?.config;
        const names = wr ? [...refsInText(wr)] : [];
        for (const name of names)
          for (const aid of artifactProducers.get(name) ?? [])
            g.edge(aid, jobId(workflow.file, job.id, false), 'workflow_run downloads artifacts of the triggering run');
      }
    }
    // Outputs of needed jobs used in scripts.
    for (const need of job.needs) {
      const used = job.steps.some((s) => s.run && refsIn(s.run).some((r) => r.startsWith(`needs.${need.toLowerCase()}.outputs`)));
      if (!used) continue;
      for (const fork of [false, true]) {
        const from = jobId(workflow.file, need, fork);
        const to = jobId(workflow.file, job.id, fork);
        if (g.nodes.has(from) && g.nodes.has(to)) g.edge(from, to, `its outputs reach a script of ${job.id}`);
      }
    }
  }

  // GitLab CI.
  for (const p of input.gitlab) {
    for (const job of p.jobs) {
      const id = g.node({
        id: `job:${p.file}#${job.name}`,
        kind: 'job',
        label: `${p.file}: ${job.name}`,
        production: false,
        file: p.file,
        line: job.key.span.line,
      });
      let exposure: JobReach['exposure'] = 'insider';
      let entry: string | undefined;
      if (job.mergeRequest) {
        const trigger = g.node({ id: 'trigger:merge_request_event', kind: 'trigger', label: 'merge request pipeline', production: false });
        g.edge(attacker, trigger, 'opens a merge request');
        g.edge(trigger, id, "runs the merge request's code");
        exposure = 'outsider-code';
        entry = "merge request pipeline: runs the merge request's code";
      }
      const envName = job.environment?.text;
      const secrets: string[] = [];
      for (const s of gitlabSecrets(job)) {
        const sid = g.node({ id: `secret:gitlab:${s}`, kind: 'secret', label: `${s} (CI/CD variable)`, production: prodSecret(s, envName) });
        g.edge(id, sid, `reads $${s}`);
        secrets.push(s);
      }
      const environments: string[] = [];
      if (envName !== undefined) {
        const eid = g.node({ id: `environment:${envName}`, kind: 'environment', label: `environment ${envName}`, production: prodEnv(envName) });
        g.edge(id, eid, 'deploys to');
        environments.push(envName);
      }
      const oidc: string[] = [];
      if (job.idTokens) {
        const oid = g.node({
          id: `oidc:${p.file}#${job.name}`,
          kind: 'oidc',
          label: `id_tokens of ${job.name}`,
          production: envName !== undefined && prodEnv(envName),
        });
        g.edge(id, oid, 'mints id_tokens');
        oidc.push(`id_tokens of ${job.name}`);
      }
      const writes: string[] = [];
      if (job.cacheUnprotected) {
        for (const k of job.cacheKeys) {
          const cid = g.node({ id: `cache:gitlab:${k}`, kind: 'cache', label: `cache ${k} (shared with protected branches)`, production: false });
          g.edge(id, cid, 'writes the cache');
          g.edge(cid, id, 'restores the cache');
          writes.push(`cache ${k}`);
        }
      }
      reaches.push({
        id,
        reach: {
          job: `${p.file}#${job.name}`,
          file: p.file,
          line: job.key.span.line,
          triggers: job.mergeRequest ? ['merge_request_event'] : ['push'],
          exposure,
          ...(entry ? { entry } : {}),
          token: 'CI_JOB_TOKEN',
          secrets,
          environments,
          oidc,
          deploys: [],
          writes,
        },
      });
    }
    for (const job of p.jobs) {
      for (const need of job.needs) {
        const producer = p.jobs.find((j) => j.name === need);
        if (producer?.artifacts) g.edge(`job:${p.file}#${need}`, `job:${p.file}#${job.name}`, 'its artifacts are consumed');
      }
    }
  }

  // Hardcoded secrets in CI files: reading the repository is enough.
  for (const f of input.findings) {
    if (!f.ruleId.startsWith('secret-')) continue;
    const sid = g.node({
      id: `secret:file:${f.fingerprint}`,
      kind: 'secret',
      label: `${f.ruleId} in ${f.location.file}:${f.location.line}`,
      production: f.severity === 'critical',
      file: f.location.file,
      line: f.location.line,
    });
    g.edge(attacker, sid, 'reads it from the repository');
  }

  const adj = g.adjacency();
  const reachFrom = (start: string): { seen: Map<string, BlastEdge | null> } => {
    const seen = new Map<string, BlastEdge | null>([[start, null]]);
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const at = queue[i] as string;
      for (const e of adj.get(at) ?? []) {
        if (seen.has(e.to)) continue;
        seen.set(e.to, e);
        queue.push(e.to);
      }
    }
    return { seen };
  };
  const jobs: JobReach[] = reaches
    .map(({ id, reach }) => {
      const { seen } = reachFrom(id);
      const prod = [...seen.keys()].map((k) => g.nodes.get(k)).filter((n): n is BlastNode => n?.production === true);
      return { ...reach, reachesProduction: prod.map((n) => n.label).sort() };
    })
    .sort((a, b) => (a.job < b.job ? -1 : a.job > b.job ? 1 : 0));

  // Breadth-first from the outsider; the queue is in sorted order, so ties resolve the same way every run.
  const { seen } = reachFrom(attacker);
  let shortestPath: BlastPath | null = null;
  for (const id of seen.keys()) {
    const node = g.nodes.get(id);
    if (!node?.production) continue;
    const edges: BlastEdge[] = [];
    for (let e = seen.get(id); e; e = seen.get(e.from)) edges.unshift(e);
    shortestPath = { nodes: [g.nodes.get(attacker) as BlastNode, ...edges.map((e) => g.nodes.get(e.to) as BlastNode)], edges };
    break;
  }
  const nodes = [...g.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const edges = [...g.edges].sort((a, b) => (a.from + a.to < b.from + b.to ? -1 : 1));
  return { jobs, nodes, edges, shortestPath };
}

const NOT_FOR_FORKS = RE2JS.compile(
  'github\\.event_name\\s*==\\s*[\'"](?:push|release|schedule|workflow_dispatch)[\'"]|github\\.ref\\s*==\\s*[\'"]refs/(?:heads|tags)/|head\\.repo\\.full_name\\s*==\\s*github\\.repository|startsWith\\(\\s*github\\.ref\\s*,\\s*[\'"]refs/tags/',
);

/** Whether a job's `if:` keeps it out of pull-request runs (push-only, a branch or tag ref, same-repository heads). */
function skipsForks(job: Job): boolean {
  return job.if !== undefined && !job.if.text.includes('||') && NOT_FOR_FORKS.test(job.if.text);
}

function tokenText(workflow: Workflow, job: Job): string {
  const w = writeScopes(workflow, job);
  if (w[0] === 'default') return 'default (unknown, possibly write)';
  if (w[0] === '*') return 'write-all';
  return w.length === 0 ? 'read-only' : w.map((s) => `${s}: write`).join(', ');
}

function* refsInText(node: import('./yaml.js').YNode): Generator<string> {
  const workflows = node.kind === 'map' ? node.entries.find((e) => e.key.text === 'workflows')?.value : undefined;
  if (!workflows) return;
  if (workflows.kind === 'scalar') yield workflows.text;
  if (workflows.kind === 'seq') for (const i of workflows.items) if (i.kind === 'scalar') yield i.text;
}
