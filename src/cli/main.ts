import { parseArgs } from 'node:util';
import { CairnError, UsageError } from '../model/errors.js';
import type { Command, OptionSpec } from './command.js';
import { COMMANDS } from './commands/index.js';
import { Output, type Io } from './io.js';
import { resolveStateDir } from './state-dir.js';
import { forTerminal } from './terminal.js';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'print NDJSON events instead of text' },
  state: { type: 'string', value: 'DIR', description: 'state directory (default $CAIRN_STATE, else .cairn/ in the project)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

/** The one place errors become exit codes: 1 denied or unverified, 2 bad usage or input, 3 internal. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CairnError) return error.category === 'denied' ? 1 : error.category === 'input' ? 2 : 3;
  return 3;
}

function findCommand(argv: readonly string[]): { command: Command | undefined; rest: string[] } {
  let best: Command | undefined;
  let used = 0;
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.length > used && words.every((w, i) => argv[i] === w)) {
      best = command;
      used = words.length;
    }
  }
  return { command: best, rest: argv.slice(used) };
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(options).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return `  ${left.padEnd(28)} ${spec.description}`;
  });
}

export function helpText(command?: Command): string {
  if (!command) {
    const width = Math.max(...COMMANDS.map((c) => c.name.length));
    return [
      'cairn — a delivery pipeline that refuses to ship what it cannot prove',
      '',
      'usage: cairn <command> [options]',
      '',
      'commands:',
      ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
      '',
      'options for every command:',
      ...optionLines(GLOBAL_OPTIONS),
      '',
      'exit codes: 0 ok, 1 denied or verification failed, 2 bad usage or input, 3 internal error',
      "run `cairn <command> --help` for a command's options",
    ].join('\n');
  }
  return [
    `usage: ${command.usage}`,
    '',
    command.summary,
    ...(command.description ? ['', command.description] : []),
    '',
    'options:',
    ...optionLines({ ...command.options, ...GLOBAL_OPTIONS }),
  ].join('\n');
}

function reportError(error: unknown, out: Output, io: Io): void {
  const cairn = error instanceof CairnError ? error : null;
  const code = cairn?.code ?? 'INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  const problems = cairn?.problems ?? [];
  if (out.json) {
    out.event('error', { code, message, exitCode: exitCodeFor(error), problems });
    return;
  }
  io.stderr.write(`${forTerminal(`error ${code}: ${message}`)}\n`);
  const listed = message.includes('\n') ? [] : problems;
  for (const p of listed) io.stderr.write(`  ${forTerminal(p.path || '(root)', true)}: ${forTerminal(p.message, true)} [${p.code}]\n`);
  if (!cairn) io.stderr.write(`${forTerminal((error instanceof Error && error.stack) || '')}\n`);
}

/** Runs `cairn` with the given arguments and returns the exit code. Never exits the process. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const wantsJson = argv.includes('--json');
  const early = new Output(io, wantsJson);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || (argv[0] === 'help' && argv.length === 1)) {
    io.stdout.write(`${helpText()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === 'help') {
    const { command } = findCommand(argv.slice(1));
    if (!command) {
      reportError(new UsageError('CLI_UNKNOWN_COMMAND', `unknown command "${argv.slice(1).join(' ')}"`), early, io);
      return 2;
    }
    io.stdout.write(`${helpText(command)}\n`);
    return 0;
  }
  if (argv[0] === '--version') {
    const { CAIRN_VERSION } = await import('../pipeline/version.js');
    io.stdout.write(`${CAIRN_VERSION}\n`);
    return 0;
  }
  const { command, rest } = findCommand(argv);
  if (!command) {
    reportError(new UsageError('CLI_UNKNOWN_COMMAND', `unknown command "${forTerminal(argv[0] ?? '', true)}" (see cairn --help)`), early, io);
    return 2;
  }
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (cause) {
    reportError(
      new UsageError('CLI_BAD_OPTION', `${cause instanceof Error ? cause.message : String(cause)} (see cairn ${command.name} --help)`, { cause }),
      early,
      io,
    );
    return 2;
  }
  if (parsed.values.help === true) {
    io.stdout.write(`${helpText(command)}\n`);
    return 0;
  }
  const out = new Output(io, parsed.values.json === true);
  const { min, max } = command.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    reportError(
      new UsageError('CLI_BAD_ARGUMENTS', `cairn ${command.name} takes ${expected} argument(s), got ${parsed.positionals.length}; usage: ${command.usage}`),
      out,
      io,
    );
    return 2;
  }
  const stateFlag = parsed.values.state;
  try {
    return await command.run({
      io,
      out,
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      positionals: parsed.positionals,
      stateDir: resolveStateDir(typeof stateFlag === 'string' ? stateFlag : undefined, io.env, io.cwd),
    });
  } catch (error) {
    reportError(error, out, io);
    return exitCodeFor(error);
  }
}
