import type { Output, Io } from './io.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly description: string;
  readonly value?: string;
  readonly multiple?: boolean;
}

export interface CommandContext {
  readonly io: Io;
  readonly out: Output;
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
  /** The resolved state directory (`--state`, else `$CAIRN_STATE`, else `.cairn/` in the project). */
  readonly stateDir: string;
}

/** A registered command: a name, its flags, and a plain async function returning an exit code. */
export interface Command {
  /** Words after `cairn`, e.g. `audit verify`. */
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals: { readonly min: number; readonly max: number };
  run(context: CommandContext): Promise<number>;
}

export function stringOption(context: CommandContext, name: string): string | undefined {
  const value = context.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function flag(context: CommandContext, name: string): boolean {
  return context.values[name] === true;
}
