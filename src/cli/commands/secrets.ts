import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../model/errors.js';
import { CAIRN_VERSION } from '../../pipeline/version.js';
import { toSarif } from '../../scan/sarif.js';
import { baselineFor } from '../../scan/secrets/baseline.js';
import { SecretDetector } from '../../scan/secrets/engine.js';
import { scanSecrets, type SecretScanResult } from '../../scan/secrets/scan.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import { forTerminal } from '../terminal.js';
import { countLine, exitFor, failOn, loadBaseline, printFindings, SCAN_OPTIONS } from './ci.js';

const MAX_BASELINE_DAYS = 366;

async function scan(context: CommandContext, dir: string, withBaseline: boolean): Promise<SecretScanResult> {
  const since = stringOption(context, 'since');
  const baseline = withBaseline ? (await loadBaseline(context, dir)).baseline : undefined;
  return scanSecrets(dir, {
    now: new Date(),
    toolVersion: CAIRN_VERSION,
    target: flag(context, 'ci') ? 'ci' : 'tree',
    ...(since !== undefined ? { since } : {}),
    ...(baseline ? { baseline } : {}),
    env: context.io.env,
  });
}

async function runScan(context: CommandContext): Promise<number> {
  const dir = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const sarif = flag(context, 'sarif');
  if (sarif && context.out.json) throw new UsageError('CLI_BAD_OPTION', '--sarif and --json are exclusive');
  const threshold = failOn(context);
  const result = await scan(context, dir, true);
  if (sarif) {
    const rules = new SecretDetector().rules.map((r) => ({ id: r.id, name: r.id, shortDescription: r.title }));
    context.io.stdout.write(`${JSON.stringify(toSarif(result.report, rules), null, 2)}\n`);
    return exitFor(result.report.findings, threshold);
  }
  context.out.event('report', { ...result.report });
  context.out.event('stats', {
    filesScanned: result.filesScanned,
    bytesScanned: result.bytesScanned,
    commitsScanned: result.commitsScanned,
    skipped: result.skipped,
  });
  const history = result.commitsScanned > 0 ? `, ${result.commitsScanned} commit${result.commitsScanned === 1 ? '' : 's'}` : '';
  context.out.line(`secret scan of ${forTerminal(dir, true)}: ${result.filesScanned} files${history}, ${countLine(result.report)}`);
  if (result.skipped.length > 0) context.out.line(`skipped ${result.skipped.length} file(s) (binary, too large or unreadable; --json lists them)`);
  printFindings(context.out, result.report);
  return exitFor(result.report.findings, threshold);
}

async function runBaseline(context: CommandContext): Promise<number> {
  const dir = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const reason = stringOption(context, 'reason');
  const expires = stringOption(context, 'expires');
  if (!reason || reason.trim() === '') throw new UsageError('CLI_MISSING_OPTION', '--reason is required: say why these findings are accepted');
  if (!expires) throw new UsageError('CLI_MISSING_OPTION', '--expires YYYY-MM-DD is required');
  const day = Date.parse(`${expires}T00:00:00Z`);
  const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(day) || day < today || day > today + MAX_BASELINE_DAYS * 86_400_000) {
    throw new UsageError('CLI_BAD_OPTION', `--expires must be a date from today to ${MAX_BASELINE_DAYS} days ahead`);
  }
  const { baseline: previous, file } = await loadBaseline(context, dir);
  const result = await scan(context, dir, false);
  const next = baselineFor(result.report.findings, reason, expires, previous);
  await writeFile(file, `${JSON.stringify(next, null, 2)}\n`);
  context.out.event('baseline', { file, entries: next.entries.length, added: result.report.findings.length });
  context.out.line(
    `wrote ${forTerminal(file, true)}: ${next.entries.length} entr${next.entries.length === 1 ? 'y' : 'ies'} (${result.report.findings.length} from this scan), until ${expires}`,
  );
  return 0;
}

const SOURCE_OPTIONS = {
  since: { type: 'string', value: 'REV', description: 'also scan the lines added by the commits REV..HEAD' },
  ci: { type: 'boolean', description: 'scan only CI files (.github, .gitlab-ci.yml, Jenkinsfile, …)' },
} as const;

export const secretsScanCommand: Command = {
  name: 'secrets scan',
  summary: 'find leaked secrets in the working tree, a git range or CI files',
  usage: 'cairn secrets scan [DIR] [--since REV] [--ci] [--json|--sarif] [--baseline FILE] [--fail-on SEVERITY]',
  description: 'Findings show a hash and a masked excerpt, never the secret. Patterns run on RE2 (linear time).',
  options: { ...SCAN_OPTIONS, ...SOURCE_OPTIONS },
  positionals: { min: 0, max: 1 },
  run: runScan,
};

export const secretsBaselineCommand: Command = {
  name: 'secrets baseline',
  summary: 'accept the current secret findings, with a reason and an expiry',
  usage: 'cairn secrets baseline [DIR] --reason TEXT --expires YYYY-MM-DD [--baseline FILE] [--since REV]',
  options: {
    ...SOURCE_OPTIONS,
    baseline: SCAN_OPTIONS.baseline,
    reason: { type: 'string', value: 'TEXT', description: 'why these findings are accepted (recorded per entry)' },
    expires: { type: 'string', value: 'DATE', description: 'last day the acceptance holds (at most a year ahead)' },
  },
  positionals: { min: 0, max: 1 },
  run: runBaseline,
};
