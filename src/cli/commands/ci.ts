import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, UsageError } from '../../model/errors.js';
import { SEVERITIES, severityRank, type Finding, type ScanReport, type Severity } from '../../model/finding.js';
import { auditCi, type CiAudit } from '../../scan/ci/audit.js';
import type { BlastRadius } from '../../scan/ci/blast.js';
import { toDot, toSvg } from '../../scan/ci/graph.js';
import { toSarif } from '../../scan/sarif.js';
import { BASELINE_FILE, parseBaseline, type Baseline } from '../../scan/secrets/baseline.js';
import { CAIRN_VERSION } from '../../pipeline/version.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import type { Output } from '../io.js';
import { forTerminal } from '../terminal.js';

const MAX_BASELINE_BYTES = 8 * 1024 * 1024;

/** `--fail-on SEVERITY` (default low): the exit code is 1 when an open finding is at least this bad. */
export function failOn(context: CommandContext): Severity {
  const v = stringOption(context, 'fail-on') ?? 'low';
  if (!(SEVERITIES as readonly string[]).includes(v)) throw new UsageError('CLI_BAD_OPTION', `--fail-on must be one of ${SEVERITIES.join(', ')}`);
  return v as Severity;
}

/** The baseline named by `--baseline`, else `DIR/.cairn-secrets-baseline.json` when present. */
export async function loadBaseline(context: CommandContext, dir: string): Promise<{ baseline?: Baseline; file: string }> {
  const named = stringOption(context, 'baseline');
  const file = named ? path.resolve(context.io.cwd, named) : path.join(dir, BASELINE_FILE);
  if (!named) {
    try {
      await access(file);
    } catch {
      return { file };
    }
  }
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_BASELINE_BYTES) throw new UsageError('CLI_FILE_UNREADABLE', `--baseline ${file}: over ${MAX_BASELINE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new UsageError('CLI_FILE_UNREADABLE', `--baseline ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
  return { baseline: parseBaseline(text), file };
}

export function printFindings(out: Output, report: ScanReport): void {
  for (const f of report.findings) {
    const where = `${f.location.file}:${f.location.line}${f.location.column !== undefined ? `:${f.location.column}` : ''}`;
    out.line(`${f.severity.padEnd(8)} ${f.ruleId.padEnd(28)} ${forTerminal(where, true)}`);
    out.line(`         ${forTerminal(f.message, true)}`);
    const excerpt = f.evidence.excerpt;
    if (typeof excerpt === 'string') out.line(`         ${forTerminal(excerpt, true)}`);
  }
  for (const s of report.suppressed)
    out.line(
      `accepted ${s.finding.ruleId} ${forTerminal(s.finding.location.file, true)}:${s.finding.location.line} until ${s.expires}: ${forTerminal(s.reason, true)}`,
    );
}

export function countLine(report: ScanReport): string {
  const parts = SEVERITIES.filter((s) => report.summary[s] > 0).map((s) => `${report.summary[s]} ${s}`);
  return `${report.findings.length} finding${report.findings.length === 1 ? '' : 's'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}, ${report.suppressed.length} accepted by the baseline`;
}

export function exitFor(findings: readonly Finding[], threshold: Severity): number {
  return findings.some((f) => severityRank(f.severity) >= severityRank(threshold)) ? 1 : 0;
}

function list(items: readonly string[], max = 3): string {
  if (items.length === 0) return '-';
  return items.length > max ? `${items.slice(0, max).join(', ')} +${items.length - max}` : items.join(', ');
}

/** The blast-radius table and the shortest path, for people. */
export function printBlastRadius(out: Output, radius: BlastRadius): void {
  out.line('');
  out.line('blast radius: what a compromise of each job reaches');
  const rows = radius.jobs.map((j) => [
    j.job,
    j.exposure,
    j.token,
    list(j.secrets),
    list([...j.environments, ...j.oidc.map(() => 'oidc'), ...j.deploys]),
    j.reachesProduction.length > 0 ? `yes: ${list(j.reachesProduction, 2)}` : 'no',
  ]);
  const header = ['job', 'outsider', 'token', 'secrets', 'deploys', 'reaches production'];
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...rows.map((r) => (r[i] as string).length))));
  const cell = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  out.line(`  ${header.map((h, i) => cell(h, widths[i] as number)).join('  ')}`);
  for (const r of rows) out.line(`  ${forTerminal(r.map((c, i) => cell(c, widths[i] as number)).join('  '), true)}`);
  out.line('');
  const p = radius.shortestPath;
  if (!p) {
    out.line('no path from an outsider to a production credential was found');
    return;
  }
  out.line('smallest CI compromise that becomes a production compromise:');
  out.line(`  ${forTerminal(p.nodes[0]?.label ?? '', true)}`);
  for (const [i, e] of p.edges.entries()) out.line(`  → ${forTerminal(p.nodes[i + 1]?.label ?? e.to, true)}    [${forTerminal(e.reason, true)}]`);
}

export interface CiAuditCommandResult {
  readonly audit: CiAudit;
  readonly graph?: { readonly dot: string; readonly svg: string };
}

async function run(context: CommandContext): Promise<number> {
  const dir = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const sarif = flag(context, 'sarif');
  if (sarif && context.out.json) throw new UsageError('CLI_BAD_OPTION', '--sarif and --json are exclusive');
  const threshold = failOn(context);
  const { baseline } = await loadBaseline(context, dir);
  const environments = context.values['production-env'];
  const audit = await auditCi(dir, {
    now: new Date(),
    toolVersion: CAIRN_VERSION,
    ...(baseline ? { baseline } : {}),
    ...(Array.isArray(environments) && environments.length > 0 ? { production: { environments } } : {}),
  });
  const graphPrefix = stringOption(context, 'graph');
  let graphFiles: string[] = [];
  if (graphPrefix !== undefined) {
    const base = path.resolve(context.io.cwd, graphPrefix.replace(/\.(dot|svg)$/, ''));
    graphFiles = [`${base}.dot`, `${base}.svg`];
    try {
      await writeFile(`${base}.dot`, toDot(audit.blastRadius));
      await writeFile(`${base}.svg`, toSvg(audit.blastRadius));
    } catch (cause) {
      throw new UsageError('CLI_FILE_UNREADABLE', `--graph ${graphPrefix}: cannot write (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
    }
  }
  if (sarif) {
    context.io.stdout.write(`${JSON.stringify(toSarif(audit.report, audit.rules), null, 2)}\n`);
    return exitFor(audit.report.findings, threshold);
  }
  context.out.event('report', { ...audit.report });
  context.out.event('blast-radius', { ...audit.blastRadius });
  if (graphFiles.length > 0) context.out.event('graph', { files: graphFiles });
  context.out.line(`ci audit of ${forTerminal(dir, true)}: ${audit.files.length} file${audit.files.length === 1 ? '' : 's'}, ${countLine(audit.report)}`);
  if (audit.report.findings.length > 0) context.out.line('');
  printFindings(context.out, audit.report);
  printBlastRadius(context.out, audit.blastRadius);
  for (const f of graphFiles) context.out.line(`wrote ${forTerminal(f, true)}`);
  return exitFor(audit.report.findings, threshold);
}

const COMMON = {
  sarif: { type: 'boolean', description: 'print SARIF 2.1.0 instead of text' },
  baseline: { type: 'string', value: 'FILE', description: `accepted findings (default DIR/${BASELINE_FILE} when present)` },
  'fail-on': { type: 'string', value: 'SEVERITY', description: 'exit 1 when a finding is at least this severe (default low)' },
} as const;

export const ciAuditCommand: Command = {
  name: 'ci audit',
  summary: 'audit GitHub Actions and GitLab CI files and show the blast radius of each job',
  usage: 'cairn ci audit [DIR] [--json|--sarif] [--graph PREFIX] [--baseline FILE] [--fail-on SEVERITY]',
  description:
    'Reads .github/workflows, actions and .gitlab-ci.yml (with local includes) under DIR, reports unsafe\n' +
    'configurations and secrets in them, and answers: what is the smallest CI compromise that becomes a\n' +
    'production compromise? --graph writes PREFIX.dot and PREFIX.svg (no Graphviz needed).',
  options: {
    ...COMMON,
    graph: { type: 'string', value: 'PREFIX', description: 'write the job/secret/environment graph as PREFIX.dot and PREFIX.svg' },
    'production-env': { type: 'string', value: 'NAME', multiple: true, description: 'environments that are production (default: names with prod or live)' },
  },
  positionals: { min: 0, max: 1 },
  run,
};

export { COMMON as SCAN_OPTIONS };
