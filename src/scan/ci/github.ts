import { CiAuditError } from './errors.js';
import { entry, get, scalar, scalarList, text, type YamlFile, type YEntry, type YMap, type YNode, type YScalar } from './yaml.js';

export type Access = 'read' | 'write' | 'none';

/** A `permissions:` block: a shorthand (`write-all`, `read-all`, `{}`) or scopes. */
export interface Permissions {
  readonly node: YNode;
  readonly key: YScalar;
  readonly shorthand?: 'write-all' | 'read-all' | 'none';
  readonly scopes: ReadonlyMap<string, { readonly access: Access; readonly key: YScalar }>;
}

export interface Step {
  readonly index: number;
  /** `jobs.build.steps[2]` */
  readonly path: string;
  readonly node: YNode;
  readonly id?: string;
  readonly name?: string;
  readonly uses?: YScalar;
  readonly run?: YScalar;
  readonly with: ReadonlyMap<string, YEntry>;
  readonly env: ReadonlyMap<string, YEntry>;
  readonly if?: YScalar;
}

export interface Job {
  readonly id: string;
  readonly key: YScalar;
  readonly node: YNode;
  readonly name?: string;
  readonly runsOn: readonly YScalar[];
  readonly runsOnNode?: YNode;
  readonly permissions?: Permissions;
  readonly environment?: { readonly name: string; readonly node: YScalar; readonly url?: string };
  readonly needs: readonly string[];
  readonly if?: YScalar;
  readonly steps: readonly Step[];
  /** A reusable-workflow call (`jobs.x.uses`). */
  readonly uses?: YScalar;
  readonly with: ReadonlyMap<string, YEntry>;
  /** `secrets: inherit`, or the secrets passed to a reusable workflow. */
  readonly secrets?: { readonly inherit: true; readonly node: YScalar } | { readonly inherit: false; readonly passed: ReadonlyMap<string, YEntry> };
  readonly env: ReadonlyMap<string, YEntry>;
  readonly container?: { readonly image?: YScalar; readonly password?: YEntry };
  readonly services: readonly { readonly name: string; readonly image?: YScalar; readonly password?: YEntry }[];
  readonly outputs: ReadonlyMap<string, YEntry>;
}

export interface Trigger {
  readonly event: string;
  readonly key: YScalar;
  readonly config?: YNode;
}

export interface Workflow {
  readonly kind: 'workflow';
  readonly file: string;
  readonly source: YamlFile;
  readonly name?: string;
  readonly triggers: readonly Trigger[];
  readonly onKey?: YScalar;
  readonly permissions?: Permissions;
  readonly env: ReadonlyMap<string, YEntry>;
  readonly jobs: readonly Job[];
  readonly jobsKey?: YScalar;
}

/** `action.yml`: composite actions run steps like a job; docker actions name an image. */
export interface Action {
  readonly kind: 'action';
  readonly file: string;
  readonly source: YamlFile;
  readonly name?: string;
  readonly using?: string;
  readonly image?: YScalar;
  readonly steps: readonly Step[];
  readonly env: ReadonlyMap<string, YEntry>;
}

function invalid(file: string, message: string, node?: YNode): never {
  const where = node ? ` (line ${node.span.line})` : '';
  throw new CiAuditError('SCAN_CI_WORKFLOW_INVALID', `${file}: ${message}${where}`, {
    problems: [{ code: 'SCAN_CI_WORKFLOW_INVALID', path: file, message: `${message}${where}` }],
  });
}

function mapOf(node: YNode | undefined): ReadonlyMap<string, YEntry> {
  const out = new Map<string, YEntry>();
  if (node?.kind === 'map') for (const e of node.entries) out.set(e.key.text, e);
  return out;
}

function permissionsOf(e: YEntry | undefined): Permissions | undefined {
  if (!e) return undefined;
  const scopes = new Map<string, { access: Access; key: YScalar }>();
  const v = e.value;
  if (v.kind === 'scalar') {
    const t = v.text.trim();
    const shorthand = t === 'write-all' ? 'write-all' : t === 'read-all' ? 'read-all' : t === '' ? 'none' : undefined;
    return { node: v, key: e.key, ...(shorthand ? { shorthand } : {}), scopes };
  }
  if (v.kind === 'map') {
    for (const s of v.entries) {
      const a = s.value.kind === 'scalar' ? s.value.text.trim() : '';
      if (a === 'read' || a === 'write' || a === 'none') scopes.set(s.key.text, { access: a, key: s.key });
    }
    return { node: v, key: e.key, ...(v.entries.length === 0 ? { shorthand: 'none' as const } : {}), scopes };
  }
  return { node: v, key: e.key, scopes };
}

function stepsOf(node: YNode | undefined, path: string): Step[] {
  if (node?.kind !== 'seq') return [];
  return node.items.map((item, index) => {
    const uses = scalar(get(item, 'uses'));
    const run = get(item, 'run');
    const id = text(get(item, 'id'));
    const name = text(get(item, 'name'));
    const cond = scalar(get(item, 'if'));
    return {
      index,
      path: `${path}[${index}]`,
      node: item,
      ...(id !== undefined ? { id } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(uses ? { uses } : {}),
      ...(run?.kind === 'scalar' && run.value !== null ? { run } : {}),
      with: mapOf(get(item, 'with')),
      env: mapOf(get(item, 'env')),
      ...(cond ? { if: cond } : {}),
    };
  });
}

function imageOf(node: YNode | undefined): { image?: YScalar; password?: YEntry } | undefined {
  if (node === undefined) return undefined;
  if (node.kind === 'scalar') return node.value === null ? undefined : { image: node };
  const image = scalar(get(node, 'image'));
  const password = entry(get(node, 'credentials'), 'password');
  return { ...(image ? { image } : {}), ...(password ? { password } : {}) };
}

function jobOf(e: YEntry): Job {
  const node = e.value;
  const id = e.key.text;
  const env = get(node, 'environment');
  const envName = env?.kind === 'scalar' ? scalar(env) : scalar(get(env, 'name'));
  const envUrl = text(get(env, 'url'));
  const needs = scalarList(get(node, 'needs')).map((s) => s.text);
  const secretsNode = get(node, 'secrets');
  const secrets: Job['secrets'] =
    secretsNode === undefined
      ? undefined
      : secretsNode.kind === 'scalar' && secretsNode.text === 'inherit'
        ? { inherit: true, node: secretsNode }
        : { inherit: false, passed: mapOf(secretsNode) };
  const services = get(node, 'services');
  const container = imageOf(get(node, 'container'));
  const runsOnNode = get(node, 'runs-on');
  const uses = scalar(get(node, 'uses'));
  const cond = scalar(get(node, 'if'));
  const name = text(get(node, 'name'));
  const permissions = permissionsOf(entry(node, 'permissions'));
  return {
    id,
    key: e.key,
    node,
    ...(name !== undefined ? { name } : {}),
    runsOn: runsOnNode?.kind === 'map' ? scalarList(get(runsOnNode, 'labels')) : scalarList(runsOnNode),
    ...(runsOnNode ? { runsOnNode } : {}),
    ...(permissions ? { permissions } : {}),
    ...(envName ? { environment: { name: envName.text, node: envName, ...(envUrl !== undefined ? { url: envUrl } : {}) } } : {}),
    needs,
    ...(cond ? { if: cond } : {}),
    steps: stepsOf(get(node, 'steps'), `jobs.${id}.steps`),
    ...(uses ? { uses } : {}),
    with: mapOf(get(node, 'with')),
    ...(secrets ? { secrets } : {}),
    env: mapOf(get(node, 'env')),
    ...(container ? { container } : {}),
    services:
      services?.kind === 'map'
        ? services.entries.map((s) => {
            const i = imageOf(s.value);
            return { name: s.key.text, ...(i?.image ? { image: i.image } : {}), ...(i?.password ? { password: i.password } : {}) };
          })
        : [],
    outputs: mapOf(get(node, 'outputs')),
  };
}

function triggersOf(on: YEntry | undefined): Trigger[] {
  if (!on) return [];
  const v = on.value;
  if (v.kind === 'scalar') return v.value === null ? [] : [{ event: v.text, key: v }];
  if (v.kind === 'seq') return v.items.filter((i): i is YScalar => i.kind === 'scalar' && i.value !== null).map((i) => ({ event: i.text, key: i }));
  return v.entries.map((t) => ({ event: t.key.text, key: t.key, config: t.value }));
}

/** A GitHub Actions workflow from its parsed YAML; only the shape the audit needs is checked. */
export function workflowFromYaml(source: YamlFile): Workflow {
  const root = source.root;
  if (root.kind !== 'map') invalid(source.file, 'a workflow must be a mapping', root);
  const jobsEntry = entry(root, 'jobs');
  if (jobsEntry && jobsEntry.value.kind !== 'map' && !(jobsEntry.value.kind === 'scalar' && jobsEntry.value.value === null)) {
    invalid(source.file, '`jobs` must be a mapping', jobsEntry.value);
  }
  const onEntry = entry(root, 'on') ?? entry(root, 'true');
  const permissions = permissionsOf(entry(root, 'permissions'));
  const name = text(get(root, 'name'));
  return {
    kind: 'workflow',
    file: source.file,
    source,
    ...(name !== undefined ? { name } : {}),
    triggers: triggersOf(onEntry),
    ...(onEntry ? { onKey: onEntry.key } : {}),
    ...(permissions ? { permissions } : {}),
    env: mapOf(get(root, 'env')),
    jobs: jobsEntry?.value.kind === 'map' ? (jobsEntry.value as YMap).entries.map(jobOf) : [],
    ...(jobsEntry ? { jobsKey: jobsEntry.key } : {}),
  };
}

/** An `action.yml` (composite, docker or JavaScript). */
export function actionFromYaml(source: YamlFile): Action {
  const root = source.root;
  if (root.kind !== 'map') invalid(source.file, 'an action must be a mapping', root);
  const runs = get(root, 'runs');
  const using = text(get(runs, 'using'));
  const image = scalar(get(runs, 'image'));
  const name = text(get(root, 'name'));
  return {
    kind: 'action',
    file: source.file,
    source,
    ...(name !== undefined ? { name } : {}),
    ...(using !== undefined ? { using } : {}),
    ...(image ? { image } : {}),
    steps: stepsOf(get(runs, 'steps'), 'runs.steps'),
    env: new Map(),
  };
}

/** `owner/repo[/path]@ref`, `./local`, or `docker://image`. */
export type UsesRef =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'docker'; readonly image: string }
  | { readonly kind: 'remote'; readonly owner: string; readonly repo: string; readonly path: string; readonly ref?: string };

export function parseUses(value: string): UsesRef {
  const v = value.trim();
  if (v.startsWith('./') || v.startsWith('.\\')) return { kind: 'local', path: v };
  if (v.startsWith('docker://')) return { kind: 'docker', image: v.slice('docker://'.length) };
  const at = v.lastIndexOf('@');
  const name = at === -1 ? v : v.slice(0, at);
  const ref = at === -1 ? undefined : v.slice(at + 1);
  const [owner = '', repo = '', ...rest] = name.split('/');
  return { kind: 'remote', owner: owner.toLowerCase(), repo: repo.toLowerCase(), path: rest.join('/'), ...(ref !== undefined ? { ref } : {}) };
}

/** The action a step uses, as `owner/repo[/path]` lowercased, or undefined for run steps. */
export function actionName(step: Step): string | undefined {
  if (!step.uses) return undefined;
  const u = parseUses(step.uses.text);
  if (u.kind !== 'remote') return undefined;
  return [u.owner, u.repo, u.path].filter((s) => s !== '').join('/');
}
