import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, UsageError } from '../../model/errors.js';
import { CAIRN_VERSION } from '../../pipeline/version.js';
import type { SbomFormat } from '../../scan/policy.js';
import type { ProjectSbom } from '../../scan/project.js';
import { stringOption, type Command, type CommandContext } from '../command.js';

export interface SbomCommandOptions {
  readonly dir: string;
  readonly format: SbomFormat;
  /** Seconds since the epoch for the document's timestamp; null: none (CycloneDX) or the epoch (SPDX). */
  readonly sourceDateEpoch: number | null;
  readonly lockfile?: string;
}

/** `cairn sbom` as a plain function: the validated SBOM of a project's lockfile. */
export async function sbom(options: SbomCommandOptions): Promise<ProjectSbom & { readonly lockfile: string }> {
  const { projectSbom } = await import('../../scan/project.js');
  const result = await projectSbom(options.dir, {
    toolVersion: CAIRN_VERSION,
    format: options.format,
    sourceDateEpoch: options.sourceDateEpoch,
    ...(options.lockfile !== undefined ? { lockfile: options.lockfile } : {}),
  });
  if (result === null)
    throw new InputError('SCAN_LOCKFILE_NOT_FOUND', `${options.dir} has no lockfile (package-lock.json, npm-shrinkwrap.json, pnpm-lock.yaml or yarn.lock)`);
  return result;
}

function epochOf(text: string | undefined, source: string): number | null {
  if (text === undefined || text === '') return null;
  if (!/^\d{1,12}$/.test(text)) throw new UsageError('CLI_BAD_OPTION', `${source} ${text}: expected whole seconds since the epoch`);
  return Number(text);
}

async function run(context: CommandContext): Promise<number> {
  const dir = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const format = stringOption(context, 'format') ?? 'cyclonedx';
  if (format !== 'cyclonedx' && format !== 'spdx') throw new UsageError('CLI_BAD_OPTION', `--format ${format}: expected cyclonedx or spdx`);
  const flagEpoch = stringOption(context, 'source-date-epoch');
  const sourceDateEpoch = flagEpoch !== undefined ? epochOf(flagEpoch, '--source-date-epoch') : epochOf(context.io.env.SOURCE_DATE_EPOCH, '$SOURCE_DATE_EPOCH');
  const lockfile = stringOption(context, 'lockfile');
  const result = await sbom({ dir, format, sourceDateEpoch, ...(lockfile !== undefined ? { lockfile } : {}) });
  const output = stringOption(context, 'output');
  if (output !== undefined) await writeFile(path.resolve(context.io.cwd, output), result.bytes);
  context.out.event('sbom', {
    format: result.format,
    mediaType: result.mediaType,
    lockfile: result.lockfile,
    digest: result.digest,
    components: result.components,
    ...(output !== undefined ? { output } : { document: JSON.parse(result.bytes.toString('utf8')) as unknown }),
  });
  if (context.out.json) return 0;
  if (output === undefined) context.io.stdout.write(result.bytes.toString('utf8'));
  else context.out.line(`${result.format} SBOM of ${result.lockfile}: ${result.components} components, ${result.digest} → ${output}`);
  return 0;
}

export const sbomCommand: Command = {
  name: 'sbom',
  summary: 'write the SBOM of a project lockfile: CycloneDX 1.6 (validated) or SPDX 2.3, byte-stable',
  usage: 'cairn sbom [DIR] [--format cyclonedx|spdx] [--output FILE] [--source-date-epoch SECONDS] [--lockfile NAME]',
  description:
    'The same lockfile gives the same bytes: sorted in code-point order, the serial number (or SPDX namespace) derived from the content, the timestamp from --source-date-epoch or $SOURCE_DATE_EPOCH (left out of CycloneDX when neither is set).',
  options: {
    format: { type: 'string', value: 'cyclonedx|spdx', description: 'SBOM format (default cyclonedx)' },
    output: { type: 'string', value: 'FILE', description: 'write the SBOM to FILE instead of stdout' },
    'source-date-epoch': { type: 'string', value: 'SECONDS', description: 'timestamp of the document (default $SOURCE_DATE_EPOCH)' },
    lockfile: { type: 'string', value: 'NAME', description: 'the lockfile to read, relative to DIR (default: the first present)' },
  },
  positionals: { min: 0, max: 1 },
  run,
};
