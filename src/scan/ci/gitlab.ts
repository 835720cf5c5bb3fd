import { RE2JS } from 're2js';
import type { Finding } from '../../model/finding.js';
import { ciFinding } from './findings.js';
import { get, locateIn, scalar, scalars, text, type YamlFile, type YEntry, type YNode, type YScalar } from './yaml.js';

/** Top-level keys of `.gitlab-ci.yml` that are not jobs. */
const RESERVED = new Set([
  'image',
  'services',
  'stages',
  'types',
  'variables',
  'include',
  'default',
  'workflow',
  'before_script',
  'after_script',
  'cache',
  'spec',
  'pages:deploy',
]);
/** Predefined variables whose value an outsider writes (merge-request title, commit message, branch name). */
export const GITLAB_ATTACKER_VARIABLES = [
  'CI_MERGE_REQUEST_TITLE',
  'CI_MERGE_REQUEST_DESCRIPTION',
  'CI_MERGE_REQUEST_SOURCE_BRANCH_NAME',
  'CI_COMMIT_MESSAGE',
  'CI_COMMIT_TITLE',
  'CI_COMMIT_DESCRIPTION',
  'CI_COMMIT_BRANCH',
  'CI_COMMIT_REF_NAME',
  'CI_COMMIT_REF_SLUG',
  'CI_COMMIT_AUTHOR',
  'CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME',
];
const EVAL = RE2JS.compile('(?:^|[\\s;&|(`])(?:eval|(?:ba|z|da)?sh\\s+-c|python3?\\s+-c|node\\s+-e|perl\\s+-e|ruby\\s+-e|source\\s+<\\()');
const ATTACKER_VAR = RE2JS.compile(`\\$\\{?(${GITLAB_ATTACKER_VARIABLES.join('|')})\\b`);
const INPUT_INTERPOLATION = RE2JS.compile('\\$\\[\\[\\s*inputs\\.[A-Za-z0-9_-]+[^\\]]*\\]\\]');
const SECRET_NAME = RE2JS.compile('(?i)(?:TOKEN|PASSWORD|PASSWD|SECRET|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_KEY|AUTH|_KEY$)');
const VAR_REF = RE2JS.compile('\\$\\{?([A-Za-z_][A-Za-z0-9_]*)\\}?');
const MR_CONDITION = RE2JS.compile('merge_request_event|\\$CI_MERGE_REQUEST_(?:IID|ID|SOURCE|TARGET|EVENT_TYPE)|external_pull_request_event');
const SHA40 = RE2JS.compile('^[0-9a-f]{40}$');
const DIGEST = RE2JS.compile('@sha256:[0-9a-f]{64}$');
const LONG_LIVED = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GOOGLE_CREDENTIALS',
  'AZURE_CLIENT_SECRET',
  'ARM_CLIENT_SECRET',
]);
const PRODUCTION = RE2JS.compile('(?i)prod|production|live');

export interface GitlabJob {
  readonly name: string;
  readonly key: YScalar;
  /** The job after `extends:` and `<<` merges. */
  readonly node: YNode;
  readonly scriptLines: readonly YScalar[];
  readonly images: readonly YScalar[];
  readonly environment?: YScalar;
  readonly mergeRequest: boolean;
  readonly idTokens: boolean;
  readonly vaultSecrets: readonly string[];
  readonly variables: ReadonlyMap<string, YEntry>;
  readonly needs: readonly string[];
  readonly cacheKeys: readonly string[];
  readonly cacheUnprotected: boolean;
  readonly artifacts: boolean;
  readonly tags: readonly string[];
}

export interface GitlabPipeline {
  readonly kind: 'gitlab';
  readonly file: string;
  readonly source: YamlFile;
  readonly includes: readonly { readonly node: YNode; readonly kind: string; readonly value: YScalar; readonly integrity?: boolean; readonly ref?: YScalar }[];
  readonly variables: ReadonlyMap<string, YEntry>;
  readonly jobs: readonly GitlabJob[];
  readonly workflowMergeRequest: boolean;
  /** Local include paths, for the caller to load (bounded). */
  readonly localIncludes: readonly string[];
}

function mapOf(node: YNode | undefined): Map<string, YEntry> {
  const out = new Map<string, YEntry>();
  if (node?.kind === 'map') for (const e of node.entries) out.set(e.key.text, e);
  return out;
}

/** `extends:` resolved: template keys first, the job's own keys override (one level of map merge, as GitLab's deep merge for hashes). */
function resolveExtends(name: string, templates: ReadonlyMap<string, YNode>, depth = 0, seen: ReadonlySet<string> = new Set()): YNode | undefined {
  const node = templates.get(name);
  if (node?.kind !== 'map' || depth > 11 || seen.has(name)) return node;
  const parents = get(node, 'extends');
  const parentNames =
    parents?.kind === 'seq' ? parents.items.map((i) => (i.kind === 'scalar' ? i.text : '')) : parents?.kind === 'scalar' ? [parents.text] : [];
  if (parentNames.length === 0) return node;
  const merged = new Map<string, YEntry>();
  for (const p of parentNames) {
    const resolved = resolveExtends(p, templates, depth + 1, new Set([...seen, name]));
    if (resolved?.kind === 'map') for (const e of resolved.entries) merged.set(e.key.text, deepMerge(merged.get(e.key.text), e));
  }
  for (const e of node.entries) if (e.key.text !== 'extends') merged.set(e.key.text, deepMerge(merged.get(e.key.text), e));
  return { kind: 'map', entries: [...merged.values()], span: node.span };
}

function deepMerge(base: YEntry | undefined, over: YEntry): YEntry {
  if (base?.value.kind !== 'map' || over.value.kind !== 'map') return over;
  const m = new Map(base.value.entries.map((e) => [e.key.text, e]));
  for (const e of over.value.entries) m.set(e.key.text, deepMerge(m.get(e.key.text), e));
  return { key: over.key, value: { kind: 'map', entries: [...m.values()], span: over.value.span } };
}

function lines(node: YNode | undefined, out: YScalar[] = [], depth = 0): YScalar[] {
  if (!node || depth > 4) return out;
  if (node.kind === 'scalar' && node.value !== null) out.push(node);
  else if (node.kind === 'seq') for (const i of node.items) lines(i, out, depth + 1);
  return out;
}

function imagesOf(node: YNode | undefined): YScalar[] {
  const out: YScalar[] = [];
  const image = get(node, 'image');
  const img = image?.kind === 'map' ? scalar(get(image, 'name')) : scalar(image);
  if (img) out.push(img);
  const services = get(node, 'services');
  if (services?.kind === 'seq') {
    for (const s of services.items) {
      const n = s.kind === 'map' ? scalar(get(s, 'name')) : scalar(s);
      if (n) out.push(n);
    }
  }
  return out;
}

function rulesMergeRequest(node: YNode | undefined): boolean | undefined {
  const rules = get(node, 'rules');
  if (rules?.kind === 'seq') {
    return rules.items.some((r) => {
      const cond = text(get(r, 'if'));
      const when = text(get(r, 'when'));
      return cond !== undefined && MR_CONDITION.test(cond) && when !== 'never';
    });
  }
  const only = get(node, 'only');
  const refs = only?.kind === 'map' ? get(only, 'refs') : only;
  if (refs) return [...scalars(refs)].some((s) => s.text === 'merge_requests' || s.text === 'external_pull_requests');
  return undefined;
}

/** A `.gitlab-ci.yml` (or an included file) as jobs with the facts the audit needs. */
export function gitlabFromYaml(source: YamlFile): GitlabPipeline {
  const root = source.root;
  const templates = new Map<string, YNode>();
  if (root.kind === 'map') for (const e of root.entries) if (!RESERVED.has(e.key.text)) templates.set(e.key.text, e.value);
  const workflowMergeRequest = rulesMergeRequest(get(root, 'workflow')) === true;
  const defaults = get(root, 'default');
  const jobs: GitlabJob[] = [];
  if (root.kind === 'map') {
    for (const e of root.entries) {
      if (RESERVED.has(e.key.text) || e.key.text.startsWith('.') || e.value.kind !== 'map') continue;
      const node = resolveExtends(e.key.text, templates) ?? e.value;
      const own = rulesMergeRequest(node);
      const env = get(node, 'environment');
      const envName = env?.kind === 'map' ? scalar(get(env, 'name')) : scalar(env);
      const cache = get(node, 'cache') ?? get(defaults, 'cache') ?? get(root, 'cache');
      const caches = cache?.kind === 'seq' ? cache.items : cache ? [cache] : [];
      const images = imagesOf(node);
      jobs.push({
        name: e.key.text,
        key: e.key,
        node,
        scriptLines: [
          ...lines(get(node, 'before_script') ?? get(defaults, 'before_script') ?? get(root, 'before_script')),
          ...lines(get(node, 'script')),
          ...lines(get(node, 'after_script')),
        ],
        images: images.length > 0 ? images : imagesOf(defaults).length > 0 ? imagesOf(defaults) : imagesOf(root),
        ...(envName ? { environment: envName } : {}),
        mergeRequest: own ?? workflowMergeRequest,
        idTokens: get(node, 'id_tokens') !== undefined || get(defaults, 'id_tokens') !== undefined,
        vaultSecrets: [...mapOf(get(node, 'secrets')).keys()],
        variables: new Map([...mapOf(get(root, 'variables')), ...mapOf(get(node, 'variables'))]),
        needs: [...scalars(get(node, 'needs') ?? { kind: 'seq', items: [], span: e.key.span })]
          .filter((s) => s.text !== '' && s.text !== 'true' && s.text !== 'false')
          .map((s) => s.text),
        cacheKeys: caches.map((c) => {
          const k = get(c, 'key');
          return k?.kind === 'scalar' ? k.text : k ? 'files' : 'default';
        }),
        cacheUnprotected: caches.some((c) => text(get(c, 'unprotect')) === 'true'),
        artifacts: get(node, 'artifacts') !== undefined,
        tags: [...scalars(get(node, 'tags') ?? { kind: 'seq', items: [], span: e.key.span })].map((s) => s.text),
      });
    }
  }
  const includes: GitlabPipeline['includes'][number][] = [];
  const localIncludes: string[] = [];
  const inc = get(root, 'include');
  const items = inc?.kind === 'seq' ? inc.items : inc ? [inc] : [];
  for (const item of items) {
    if (item.kind === 'scalar' && item.value !== null) {
      const lower = item.text.trim().toLowerCase();
      const kind = lower.startsWith('https://') || lower.startsWith('http://') ? 'remote' : 'local';
      includes.push({ node: item, kind, value: item });
      if (kind === 'local') localIncludes.push(item.text);
      continue;
    }
    for (const kind of ['local', 'remote', 'project', 'template', 'component']) {
      const v = scalar(get(item, kind));
      if (!v) continue;
      const ref = scalar(get(item, 'ref'));
      includes.push({ node: item, kind, value: v, integrity: get(item, 'integrity') !== undefined, ...(ref ? { ref } : {}) });
      if (kind === 'local') localIncludes.push(v.text);
    }
  }
  return { kind: 'gitlab', file: source.file, source, includes, variables: mapOf(get(root, 'variables')), jobs, workflowMergeRequest, localIncludes };
}

function pos(s: YScalar) {
  return { line: s.span.line, column: s.span.column, endLine: s.span.endLine, endColumn: s.span.endColumn };
}

/** Secret-looking variables a job reads, by name. */
export function gitlabSecrets(job: GitlabJob): string[] {
  const names = new Set<string>(job.vaultSecrets);
  for (const l of job.scriptLines) {
    for (const m of VAR_REF.matchAll(l.text)) {
      const name = m[1] ?? '';
      if (name.startsWith('CI_') || name === 'GITLAB_USER_LOGIN') continue;
      if (SECRET_NAME.test(name)) names.add(name);
    }
  }
  return [...names].sort();
}

export function isProductionName(name: string): boolean {
  return PRODUCTION.test(name);
}

/** Findings of one GitLab CI file. */
export function auditGitlab(pipeline: GitlabPipeline): Finding[] {
  const out: Finding[] = [];
  const file = pipeline.file;
  for (const inc of pipeline.includes) {
    const v = inc.value.text;
    if (inc.kind === 'remote' && !inc.integrity) {
      out.push(
        ciFinding(
          'gitlab-unpinned-include',
          file,
          pos(inc.value),
          `include: remote ${v} has no integrity: hash; whoever controls that URL controls this pipeline`,
          ['remote', v],
          { include: v },
          'high',
        ),
      );
    } else if (inc.kind === 'project') {
      const ref = inc.ref?.text;
      if (ref === undefined || !SHA40.test(ref)) {
        out.push(
          ciFinding(
            'gitlab-unpinned-include',
            file,
            pos(inc.ref ?? inc.value),
            ref === undefined
              ? `include: project ${v} has no ref: it follows that project's default branch`
              : `include: project ${v} at ref ${ref}, which can move; pin a commit SHA`,
            ['project', v, ref ?? ''],
            { include: v, ...(ref !== undefined ? { ref } : {}) },
            ref === undefined ? 'high' : 'medium',
          ),
        );
      }
    } else if (inc.kind === 'component') {
      const at = v.lastIndexOf('@');
      const version = at === -1 ? '' : v.slice(at + 1);
      if (!SHA40.test(version)) {
        const floating = version === '' || version === '~latest';
        out.push(
          ciFinding(
            'gitlab-unpinned-include',
            file,
            pos(inc.value),
            `component ${v} is ${floating ? 'not pinned' : `pinned to ${version}, a tag that can move`}; pin a commit SHA`,
            ['component', v],
            { include: v },
            floating ? 'high' : 'medium',
          ),
        );
      }
    }
  }
  const seenImages = new Set<string>();
  for (const job of pipeline.jobs) {
    for (const img of job.images) {
      const image = img.text;
      if (image.includes('$') || DIGEST.test(image)) continue;
      const k = `${img.span.offset}`;
      if (seenImages.has(k)) continue;
      seenImages.add(k);
      const colon = image.lastIndexOf(':');
      const tag = colon > image.lastIndexOf('/') ? image.slice(colon + 1) : undefined;
      const floating = tag === undefined || tag === 'latest';
      out.push(
        ciFinding(
          'gitlab-unpinned-image',
          file,
          pos(img),
          `image ${image} is ${floating ? 'unversioned' : `tagged ${tag}`}; pin @sha256:<digest>`,
          ['image', image],
          { image },
          floating ? 'high' : 'medium',
        ),
      );
    }
    for (const line of job.scriptLines) {
      if (EVAL.test(line.text)) {
        const m = ATTACKER_VAR.exec(line.text);
        if (m) {
          out.push(
            ciFinding(
              'gitlab-script-injection',
              file,
              locateIn(pipeline.source, line, m[0], 0),
              `job ${job.name} evaluates $${m[1]} as code; its value comes from whoever opens the merge request or pushes the commit`,
              [job.name, line.text],
              { variable: m[1] },
              'high',
            ),
          );
          continue;
        }
      }
      const input = INPUT_INTERPOLATION.exec(line.text);
      if (input) {
        out.push(
          ciFinding(
            'gitlab-script-injection',
            file,
            locateIn(pipeline.source, line, input[0], 0),
            `job ${job.name} interpolates ${input[0]} into its script at include time: whoever sets the input writes shell code; pass it as a variable and quote it`,
            [job.name, input[0]],
            { input: input[0] },
            input[0].includes('expand_vars') ? 'high' : 'medium',
          ),
        );
      }
    }
    if (job.mergeRequest) {
      const secrets = gitlabSecrets(job);
      const reasons = [
        ...(secrets.length > 0 ? [`reads ${secrets.join(', ')}`] : []),
        ...(job.idTokens ? ['mints OIDC id_tokens'] : []),
        ...(job.environment ? [`deploys to ${job.environment.text}`] : []),
      ];
      if (reasons.length > 0) {
        out.push(
          ciFinding(
            'gitlab-mr-secrets',
            file,
            pos(job.key),
            `job ${job.name} runs in merge-request pipelines, where the merge request's code runs, and ${reasons.join(', ')}; keep credentials in protected-branch pipelines (protected variables, rules on $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH)`,
            [job.name],
            { secrets, idTokens: job.idTokens, environment: job.environment?.text ?? null },
          ),
        );
      }
    }
    const longLived = [...job.variables.keys()].filter((k) => LONG_LIVED.has(k));
    const scriptUses = job.scriptLines.flatMap((l) => [...VAR_REF.matchAll(l.text)].map((m) => m[1] ?? '')).filter((n) => LONG_LIVED.has(n));
    const used = [...new Set([...longLived, ...scriptUses])];
    if (used.length > 0 && !job.idTokens) {
      out.push(
        ciFinding(
          'gitlab-long-lived-credentials',
          file,
          pos(job.key),
          `job ${job.name} uses long-lived cloud keys (${used.join(', ')}); use id_tokens with a role scoped to this project and branch`,
          [job.name, ...used],
          { variables: used },
        ),
      );
    }
  }
  const debugScopes: { scope: string; e: YEntry }[] = [...pipeline.variables.values()].map((e) => ({ scope: '(global)', e }));
  for (const job of pipeline.jobs) for (const e of mapOf(get(job.node, 'variables')).values()) debugScopes.push({ scope: job.name, e });
  const seen = new Set<number>();
  for (const { scope, e } of debugScopes) {
    if (e.key.text !== 'CI_DEBUG_TRACE' && e.key.text !== 'CI_DEBUG_SERVICES') continue;
    const v = e.value.kind === 'map' ? text(get(e.value, 'value')) : text(e.value);
    if (v?.toLowerCase() !== 'true' || seen.has(e.key.span.offset)) continue;
    seen.add(e.key.span.offset);
    out.push(
      ciFinding(
        'gitlab-debug-trace',
        file,
        pos(e.key),
        `${e.key.text} prints every variable, masked secrets included, into the job log`,
        [scope, e.key.text],
        {},
      ),
    );
  }
  return out;
}
