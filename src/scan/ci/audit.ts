import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { RE2JS } from 're2js';
import { sha256Digest } from '../../crypto/digest.js';
import type { Digest } from '../../model/digest.js';
import { CairnError } from '../../model/errors.js';
import { SEVERITIES, type Finding, type ScanReport, type Severity } from '../../model/finding.js';
import type { RuleDescription } from '../sarif.js';
import { applyBaseline, type Baseline } from '../secrets/baseline.js';
import { SecretDetector } from '../secrets/engine.js';
import { sortFindings } from '../secrets/scan.js';
import { blastRadius, type BlastRadius, type ProductionHints } from './blast.js';
import { CiAuditError } from './errors.js';
import { CI_RULES } from './findings.js';
import { actionFromYaml, parseUses, workflowFromYaml, type Workflow } from './github.js';
import { auditGitlab, gitlabFromYaml, type GitlabPipeline } from './gitlab.js';
import { auditAction, auditWorkflow } from './rules-github.js';
import { DEFAULT_YAML_LIMITS, parseCiYaml, type YamlLimits } from './yaml.js';

export interface CiAuditLimits extends YamlLimits {
  /** CI files read in one audit (workflows, actions, GitLab files and their local includes). */
  readonly maxFiles: number;
}

export const DEFAULT_CI_LIMITS: CiAuditLimits = { ...DEFAULT_YAML_LIMITS, maxFiles: 500 };

export interface AuditCiOptions {
  /** Accepted findings (reason, expiry); judged against `now`. */
  readonly baseline?: Baseline;
  /** The clock for baseline expiry. */
  readonly now: Date;
  readonly production?: ProductionHints;
  /** Also run the secret rules over the CI files (default true). */
  readonly secrets?: boolean;
  readonly limits?: Partial<CiAuditLimits>;
  readonly toolVersion?: string;
}

export interface CiAudit {
  readonly report: ScanReport;
  readonly blastRadius: BlastRadius;
  /** The CI files read, relative to the folder. */
  readonly files: readonly string[];
  /** Rule descriptions for SARIF (CI rules and the secret rules that fired). */
  readonly rules: readonly RuleDescription[];
}

/** One CI file: path relative to the audited folder (POSIX) and its text. */
export interface CiFile {
  readonly path: string;
  readonly text: string;
}

const LOCAL_USES = RE2JS.compile('uses:[ \\t]*["\']?(\\./[^\\s"\'#@]+)');

type Kind = 'workflow' | 'action' | 'gitlab';

function kindOf(file: string): Kind | undefined {
  if (/^\.github\/workflows\/[^/]+\.ya?ml$/.test(file)) return 'workflow';
  if (/(?:^|\/)action\.ya?ml$/.test(file)) return 'action';
  if (/^\.gitlab-ci\.ya?ml$/.test(file) || file.startsWith('.gitlab/') || file.endsWith('.gitlab-ci.yml')) return 'gitlab';
  return undefined;
}

async function isFile(full: string): Promise<boolean> {
  try {
    return (await lstat(full)).isFile();
  } catch {
    return false;
  }
}

async function readCapped(dir: string, rel: string, limits: CiAuditLimits): Promise<CiFile> {
  const full = path.join(dir, rel);
  try {
    const info = await lstat(full);
    if (info.size > limits.maxBytes) {
      throw new CiAuditError('SCAN_CI_FILE_TOO_LARGE', `${rel}: ${info.size} bytes is over the ${limits.maxBytes}-byte cap`, {
        problems: [{ code: 'SCAN_CI_FILE_TOO_LARGE', path: rel, message: `larger than ${limits.maxBytes} bytes` }],
      });
    }
    return { path: rel, text: await readFile(full, 'utf8') };
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new CiAuditError('SCAN_CI_IO', `${rel}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

/** Normalises a path inside the folder; undefined when it climbs out or is absolute. */
function inside(rel: string): string | undefined {
  const n = path.posix.normalize(rel.replace(/^\/+/, ''));
  return n.startsWith('..') || path.posix.isAbsolute(n) || n === '.' ? undefined : n;
}

/**
 * Finds the CI files of a folder: `.github/workflows/*.y?ml`, every `action.y?ml` under
 * `.github/` and at the top, local actions the workflows use, `.gitlab-ci.yml` and its local
 * includes. Symbolic links are not followed.
 */
export async function readCiFiles(dir: string, limits: CiAuditLimits = DEFAULT_CI_LIMITS): Promise<CiFile[]> {
  try {
    if (!(await lstat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw new CiAuditError('SCAN_CI_NOT_A_DIRECTORY', `${dir} is not a directory`, { cause });
  }
  const found = new Map<string, CiFile>();
  const add = async (rel: string) => {
    if (found.has(rel) || !(await isFile(path.join(dir, rel)))) return;
    if (found.size >= limits.maxFiles) throw new CiAuditError('SCAN_CI_TOO_MANY_FILES', `more than ${limits.maxFiles} CI files`);
    found.set(rel, await readCapped(dir, rel, limits));
  };
  const list = async (rel: string): Promise<string[]> => {
    try {
      return (await readdir(path.join(dir, rel), { withFileTypes: true })).filter((e) => e.isFile()).map((e) => `${rel}/${e.name}`);
    } catch {
      return [];
    }
  };
  for (const f of (await list('.github/workflows')).sort()) if (kindOf(f) === 'workflow') await add(f);
  const walk = async (rel: string, depth: number) => {
    if (depth > 8) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory() && e.name !== 'workflows') await walk(child, depth + 1);
      else if (e.isFile() && (e.name === 'action.yml' || e.name === 'action.yaml')) await add(child);
    }
  };
  await walk('.github', 0);
  for (const f of ['action.yml', 'action.yaml', '.gitlab-ci.yml', '.gitlab-ci.yaml']) await add(f);
  // Local actions used by workflows, and local GitLab includes, followed breadth-first.
  const queue = [...found.keys()];
  for (let i = 0; i < queue.length; i++) {
    const rel = queue[i] as string;
    const file = found.get(rel);
    if (!file) continue;
    const next: string[] = [];
    if (kindOf(rel) === 'workflow' || kindOf(rel) === 'action') {
      for (const m of LOCAL_USES.matchAll(file.text)) {
        const base = inside(m[1] ?? '');
        if (base) next.push(`${base}/action.yml`, `${base}/action.yaml`);
      }
    } else if (kindOf(rel) === 'gitlab' || rel.endsWith('.yml') || rel.endsWith('.yaml')) {
      try {
        const pipeline = gitlabFromYaml(parseCiYaml(file.text, rel, limits));
        for (const l of pipeline.localIncludes) {
          const p = inside(l);
          if (p && !p.includes('*')) next.push(p);
        }
      } catch {
        // Reported when the file is audited.
      }
    }
    for (const n of next) {
      if (found.has(n)) continue;
      await add(n);
      if (found.has(n)) queue.push(n);
    }
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Compiled once per process: the rule set is fixed. */
let detector: SecretDetector | undefined;

function summaryOf(findings: readonly Finding[]): Record<Severity, number> {
  const s = Object.fromEntries(SEVERITIES.map((k) => [k, 0])) as Record<Severity, number>;
  for (const f of findings) s[f.severity]++;
  return s;
}

/**
 * Audits CI files already read: parses each (capped; any unreadable file fails the whole
 * audit with its code, since an unaudited workflow may still run), runs the rules, the
 * secret rules and the blast radius. Pure apart from the clock in `options.now`.
 */
export function auditCiFiles(files: readonly CiFile[], options: AuditCiOptions): CiAudit {
  const limits = { ...DEFAULT_CI_LIMITS, ...options.limits };
  if (files.length > limits.maxFiles) throw new CiAuditError('SCAN_CI_TOO_MANY_FILES', `${files.length} CI files is over the ${limits.maxFiles}-file cap`);
  const workflows: Workflow[] = [];
  const gitlab: GitlabPipeline[] = [];
  const findings: Finding[] = [];
  const failures: CiAuditError[] = [];
  const inputs: Record<string, Digest> = {};
  const gitlabIncluded = new Set<string>();
  for (const f of files) {
    inputs[f.path] = sha256Digest(f.text);
    const kind = kindOf(f.path) ?? 'gitlab';
    try {
      const yaml = parseCiYaml(f.text, f.path, limits);
      if (kind === 'workflow') workflows.push(workflowFromYaml(yaml));
      else if (kind === 'action') findings.push(...auditAction(actionFromYaml(yaml)));
      else {
        const p = gitlabFromYaml(yaml);
        gitlab.push(p);
        for (const l of p.localIncludes) gitlabIncluded.add(l);
      }
    } catch (error) {
      if (error instanceof CiAuditError) failures.push(error);
      else throw error;
    }
  }
  if (failures.length > 0) {
    const first = failures[0] as CiAuditError;
    throw new CiAuditError(
      first.code as 'SCAN_CI_YAML_SYNTAX',
      failures.length === 1 ? first.message : `${first.message} (and ${failures.length - 1} more file(s))`,
      {
        cause: first,
        problems: failures.flatMap((e) => e.problems),
      },
    );
  }
  // A reusable workflow runs on its callers' triggers.
  const effective = new Map<Workflow, string[]>(workflows.map((w) => [w, w.triggers.map((t) => t.event)]));
  for (let round = 0; round < 4; round++) {
    for (const caller of workflows) {
      for (const job of caller.jobs) {
        if (!job.uses) continue;
        const u = parseUses(job.uses.text);
        if (u.kind !== 'local') continue;
        const target = path.posix.normalize(u.path.replace(/^\.\//, ''));
        const callee = workflows.find((w) => w.file === target);
        if (!callee) continue;
        const merged = new Set([...(effective.get(callee) ?? []), ...(effective.get(caller) ?? [])]);
        effective.set(callee, [...merged].sort());
      }
    }
  }
  for (const w of workflows) findings.push(...auditWorkflow(w, effective.get(w)));
  for (const p of gitlab) findings.push(...auditGitlab(p));
  const ruleDescriptions: RuleDescription[] = [...CI_RULES];
  if (options.secrets !== false) {
    detector ??= new SecretDetector();
    const fired = new Set<string>();
    for (const f of files) {
      for (const s of detector.scan(f.text, f.path)) {
        findings.push(s);
        fired.add(s.ruleId);
      }
    }
    for (const r of detector.rules) if (fired.has(r.id)) ruleDescriptions.push({ id: r.id, name: r.id, shortDescription: r.title });
    inputs.secretRules = detector.digest;
  }
  const sorted = sortFindings(dedupe(findings));
  const outcome = applyBaseline(sorted, options.baseline, options.now);
  if (options.baseline) inputs.baseline = sha256Digest(JSON.stringify(options.baseline));
  const radius = blastRadius({
    workflows: workflows.map((w) => ({ workflow: w, triggers: effective.get(w) ?? [] })),
    gitlab,
    findings: outcome.findings,
    ...(options.production ? { production: options.production } : {}),
  });
  return {
    report: {
      tool: { name: 'cairn', version: options.toolVersion ?? '0.0.0', scanner: 'ci-audit' },
      inputs,
      findings: outcome.findings,
      suppressed: outcome.suppressed,
      summary: summaryOf(outcome.findings),
    },
    blastRadius: radius,
    files: files.map((f) => f.path),
    rules: ruleDescriptions,
  };
}

function dedupe(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.fingerprint}\u0000${f.location.line}:${f.location.column ?? 0}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * `cairn ci audit`: the CI files of `dir` (GitHub Actions workflows and actions, GitLab CI)
 * → findings in the shared ScanReport shape, plus the blast radius of each job and the
 * shortest path from an outsider to a production credential.
 */
export async function auditCi(dir: string, options: AuditCiOptions): Promise<CiAudit> {
  const limits = { ...DEFAULT_CI_LIMITS, ...options.limits };
  return auditCiFiles(await readCiFiles(dir, limits), options);
}
