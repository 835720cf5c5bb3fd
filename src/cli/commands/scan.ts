import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeniedError, InputError, UsageError } from '../../model/errors.js';
import { type Finding, SEVERITIES, type Severity } from '../../model/finding.js';
import { parseRfc3339 } from '../../model/trust.js';
import { CAIRN_VERSION } from '../../pipeline/version.js';
import { isSeverity } from '../../scan/findings.js';
import { DEFAULT_SCAN_POLICY, type SbomFormat, type ScanPolicy } from '../../scan/policy.js';
import type { ScanProjectResult } from '../../scan/project.js';
import { SCAN_RULES } from '../../scan/rules.js';
import { toSarif } from '../../scan/sarif.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

export type ScanOutputFormat = 'json' | 'sarif';

export interface ScanCommandOptions {
  readonly dir: string;
  readonly now: Date;
  readonly osv?: string;
  readonly base?: string;
  readonly registrySnapshot?: string;
  readonly npmCache?: string;
  /** A baseline file; undefined: `.cairn-baseline.yaml` when present; null: none. */
  readonly baseline?: string | null;
  readonly lockfile?: string;
  readonly policy?: Partial<ScanPolicy>;
  readonly sbomFormat?: SbomFormat;
  readonly sourceDateEpoch?: number | null;
}

/** `cairn scan` as a plain function: the scan result, whatever it found (the caller decides on exit codes). */
export async function scan(options: ScanCommandOptions): Promise<ScanProjectResult> {
  // Loaded on use: the scanner's libraries (CycloneDX, yaml) stay out of every other command's start-up.
  const { scanProject } = await import('../../scan/project.js');
  return scanProject(options.dir, {
    toolVersion: CAIRN_VERSION,
    now: options.now,
    ...(options.osv !== undefined ? { osv: options.osv } : {}),
    ...(options.base !== undefined ? { base: options.base } : {}),
    ...(options.registrySnapshot !== undefined ? { registrySnapshot: options.registrySnapshot } : {}),
    ...(options.npmCache !== undefined ? { npmCache: options.npmCache } : {}),
    ...(options.baseline !== undefined ? { baseline: options.baseline } : {}),
    ...(options.lockfile !== undefined ? { lockfile: options.lockfile } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.sbomFormat !== undefined ? { sbomFormat: options.sbomFormat } : {}),
    ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
  });
}

/** The document `--format` asks for, as bytes. */
export function scanDocument(result: ScanProjectResult, format: ScanOutputFormat): Buffer {
  if (format === 'json') return result.reportBytes;
  return Buffer.from(`${JSON.stringify(toSarif(result.report, SCAN_RULES), null, 2)}\n`, 'utf8');
}

function list(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

function where(f: Finding): string {
  return `${f.location.file}:${f.location.line}`;
}

async function run(context: CommandContext): Promise<number> {
  const resolve = (p: string) => path.resolve(context.io.cwd, p);
  const dir = resolve(context.positionals[0] ?? '.');
  const format = stringOption(context, 'format');
  if (format !== undefined && format !== 'json' && format !== 'sarif') throw new UsageError('CLI_BAD_OPTION', `--format ${format}: expected json or sarif`);
  const failOn = stringOption(context, 'fail-on') ?? DEFAULT_SCAN_POLICY.failOn;
  if (!isSeverity(failOn)) throw new UsageError('CLI_BAD_OPTION', `--fail-on ${failOn}: expected one of ${SEVERITIES.join(', ')}`);
  const nowText = stringOption(context, 'now');
  const now = nowText === undefined ? new Date() : parseRfc3339(nowText);
  if (now === null) throw new UsageError('CLI_BAD_OPTION', `--now ${nowText}: expected an RFC 3339 date-time such as 2025-01-31T12:00:00Z`);
  const ageText = stringOption(context, 'min-release-age');
  const minReleaseAgeDays = ageText === undefined ? undefined : /^\d{1,4}(\.\d{1,3})?$/.test(ageText) ? Number(ageText) : Number.NaN;
  if (minReleaseAgeDays !== undefined && !Number.isFinite(minReleaseAgeDays))
    throw new UsageError('CLI_BAD_OPTION', `--min-release-age ${ageText}: expected a number of days`);
  const scopes = list(context, 'private-scope');
  for (const s of scopes)
    if (!s.startsWith('@') || s.includes('/')) throw new UsageError('CLI_BAD_OPTION', `--private-scope ${s}: expected a scope such as @acme`);
  const hosts = list(context, 'allowed-host').map((h) => h.toLowerCase());
  const baselineFlag = stringOption(context, 'baseline');
  if (baselineFlag !== undefined && flag(context, 'no-baseline')) throw new UsageError('CLI_BAD_OPTION', 'give --baseline or --no-baseline, not both');
  const opt = (name: string) => {
    const v = stringOption(context, name);
    return v === undefined ? undefined : resolve(v);
  };
  const osv = opt('osv');
  const registrySnapshot = opt('registry-snapshot');
  const npmCache = opt('npm-cache');
  const base = stringOption(context, 'base');
  const lockfile = stringOption(context, 'lockfile');
  const sbomFile = opt('sbom');
  const sbomFormat = stringOption(context, 'sbom-format') ?? 'cyclonedx';
  if (sbomFormat !== 'cyclonedx' && sbomFormat !== 'spdx') throw new UsageError('CLI_BAD_OPTION', `--sbom-format ${sbomFormat}: expected cyclonedx or spdx`);
  const epochText = stringOption(context, 'source-date-epoch') ?? context.io.env.SOURCE_DATE_EPOCH;
  if (epochText !== undefined && epochText !== '' && !/^\d{1,12}$/.test(epochText))
    throw new UsageError('CLI_BAD_OPTION', `SOURCE_DATE_EPOCH ${epochText}: expected whole seconds`);
  if (npmCache !== undefined && registrySnapshot === undefined)
    throw new UsageError('CLI_MISSING_OPTION', '--npm-cache compares tarballs with packuments: it needs --registry-snapshot');

  const result = await scan({
    dir,
    now,
    ...(osv !== undefined ? { osv } : {}),
    ...(base !== undefined ? { base } : {}),
    ...(registrySnapshot !== undefined ? { registrySnapshot } : {}),
    ...(npmCache !== undefined ? { npmCache } : {}),
    ...(flag(context, 'no-baseline') ? { baseline: null } : baselineFlag !== undefined ? { baseline: resolve(baselineFlag) } : {}),
    ...(lockfile !== undefined ? { lockfile } : {}),
    sbomFormat,
    sourceDateEpoch: epochText === undefined || epochText === '' ? null : Number(epochText),
    policy: {
      failOn: failOn as Severity,
      ...(hosts.length > 0 ? { allowedHosts: hosts } : {}),
      ...(scopes.length > 0 ? { privateScopes: scopes } : {}),
      ...(list(context, 'private-name').length > 0 ? { privateNames: list(context, 'private-name') } : {}),
      ...(minReleaseAgeDays !== undefined ? { minReleaseAgeDays } : {}),
    },
  });
  if (result.lockfile === null)
    throw new InputError('SCAN_LOCKFILE_NOT_FOUND', `${dir} has no lockfile (package-lock.json, npm-shrinkwrap.json, pnpm-lock.yaml or yarn.lock)`);

  const { out, io } = context;
  const output = opt('output');
  if (sbomFile !== undefined && result.sbom) await writeFile(sbomFile, result.sbom.bytes);
  if (format !== undefined) {
    const bytes = scanDocument(result, format);
    if (output !== undefined) await writeFile(output, bytes);
    else if (!out.json) io.stdout.write(bytes.toString('utf8'));
  }
  for (const f of result.report.findings) out.event('finding', { ...f });
  out.event('scan', {
    lockfile: result.lockfile,
    packages: result.graph?.packages.length ?? 0,
    summary: result.report.summary,
    suppressed: result.report.suppressed.length,
    inputs: result.report.inputs,
    failOn: result.failOn,
    failing: result.failing.length,
    sbom: result.sbom ? { format: result.sbom.format, digest: result.sbom.digest, components: result.sbom.components } : null,
    ...(output !== undefined ? { output } : {}),
  });
  // Text for people: on stdout unless the document went there.
  const say = format !== undefined && output === undefined ? (t: string) => out.progress(t) : (t: string) => out.line(t);
  for (const f of result.report.findings) say(`${f.severity.padEnd(8)} ${f.ruleId.padEnd(32)} ${where(f)}  ${f.message}`);
  const s = result.report.summary;
  say(
    `${result.lockfile}: ${result.graph?.packages.length ?? 0} packages, ${result.report.findings.length} finding(s) (${SEVERITIES.map((k) => `${s[k]} ${k}`).join(', ')}), ${result.report.suppressed.length} suppressed${result.advisories ? `, ${result.advisories.records} advisories (${result.advisories.digest.slice(0, 19)}…)` : ''}`,
  );
  if (result.failing.length > 0) {
    const first = result.failing[0] as Finding;
    throw new DeniedError(
      'SCAN_THRESHOLD_EXCEEDED',
      `${result.failing.length} finding(s) at or above ${result.failOn}; first: ${first.ruleId} ${where(first)} ${first.message}`,
    );
  }
  return 0;
}

export const scanCommand: Command = {
  name: 'scan',
  summary: 'scan a project offline: lockfile integrity, advisories, typosquats, tampering since a base revision',
  usage:
    'cairn scan [DIR] [--osv PATH] [--base REV] [--registry-snapshot DIR [--npm-cache DIR]] [--format json|sarif] [--output FILE] [--fail-on SEVERITY] [--baseline FILE | --no-baseline] [--allowed-host HOST…] [--private-scope @S…] [--private-name NAME…] [--min-release-age DAYS] [--now RFC3339] [--lockfile NAME] [--sbom FILE [--sbom-format cyclonedx|spdx] [--source-date-epoch S]]',
  description:
    'Reads package-lock.json / npm-shrinkwrap.json (v1–v3), pnpm-lock.yaml (6, 9) or yarn.lock (classic, berry) and reports findings with stable rule ids (docs/scan.md). Exit 1 (SCAN_THRESHOLD_EXCEEDED) when a finding at or above --fail-on (default high) is not suppressed by the baseline.',
  options: {
    osv: { type: 'string', value: 'PATH', description: 'OSV advisories: a folder of OSV JSON, a zip, or an osv-scanner offline folder' },
    base: { type: 'string', value: 'REV', description: 'compare with the lockfile at this git revision (tampering, new scripts, new sources)' },
    'registry-snapshot': { type: 'string', value: 'DIR', description: 'a folder of registry packuments (<name>.json): integrity, existence, release age' },
    'npm-cache': { type: 'string', value: 'DIR', description: "an npm cache (~/.npm): compare cached tarballs' package.json with the packuments" },
    format: { type: 'string', value: 'json|sarif', description: 'print the stable JSON report or SARIF 2.1.0 (to stdout, or --output)' },
    output: { type: 'string', value: 'FILE', description: 'write the --format document to FILE' },
    'fail-on': { type: 'string', value: 'SEVERITY', description: `exit 1 when a finding at or above it remains (default ${DEFAULT_SCAN_POLICY.failOn})` },
    baseline: { type: 'string', value: 'FILE', description: 'accepted findings, each with a reason and an expiry (default .cairn-baseline.yaml)' },
    'no-baseline': { type: 'boolean', description: 'ignore any baseline file' },
    'allowed-host': {
      type: 'string',
      value: 'HOST',
      multiple: true,
      description: 'registry host allowed in resolved URLs (repeatable; default registry.npmjs.org, registry.yarnpkg.com)',
    },
    'private-scope': { type: 'string', value: '@SCOPE', multiple: true, description: 'a scope that must never come from a public registry (repeatable)' },
    'private-name': { type: 'string', value: 'NAME', multiple: true, description: 'an unscoped private package name (repeatable)' },
    'min-release-age': {
      type: 'string',
      value: 'DAYS',
      description: `with --registry-snapshot: report new versions younger than this (default ${DEFAULT_SCAN_POLICY.minReleaseAgeDays}; 0 off)`,
    },
    now: { type: 'string', value: 'RFC3339', description: 'judge release age and baseline expiry at this time (default: the clock)' },
    lockfile: { type: 'string', value: 'NAME', description: 'the lockfile to read, relative to DIR (default: the first present)' },
    sbom: { type: 'string', value: 'FILE', description: 'also write the (validated) SBOM to FILE' },
    'sbom-format': { type: 'string', value: 'cyclonedx|spdx', description: 'format of --sbom (default cyclonedx)' },
    'source-date-epoch': { type: 'string', value: 'SECONDS', description: 'SBOM timestamp (default $SOURCE_DATE_EPOCH; none when unset)' },
  },
  positionals: { min: 0, max: 1 },
  run,
};
