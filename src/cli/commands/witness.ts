import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileWitness } from '../../audit/witness.js';
import { formatVerifierKey, parseCheckpoint, parseNote } from '../../crypto/note.js';
import { UsageError } from '../../model/errors.js';
import { openState } from '../../pipeline/state.js';
import { stringOption, type Command, type CommandContext } from '../command.js';
import { readInput, verifierKeyOption } from './audit.js';

function witnessDir(context: CommandContext): string {
  const dir = stringOption(context, 'dir');
  if (!dir) throw new UsageError('CLI_MISSING_OPTION', "cairn witness needs --dir DIR (the witness's own folder)");
  return path.resolve(context.io.cwd, dir);
}

function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

async function initWitness(context: CommandContext): Promise<number> {
  const dir = witnessDir(context);
  const name = stringOption(context, 'name');
  const logKeys = await Promise.all(listOption(context, 'log-key').map((k) => verifierKeyOption(k, context, 'log-key')));
  let witness: FileWitness;
  let created = false;
  try {
    witness = await FileWitness.open(dir);
    if (name && name !== witness.name) throw new UsageError('CLI_BAD_OPTION', `the witness in ${dir} is named ${witness.name}, not ${name}`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (!name) throw new UsageError('CLI_MISSING_OPTION', 'cairn witness init needs --name NAME for a new witness (e.g. witness.example.org/w1)');
    ({ witness, created } = await FileWitness.init(dir, name, []));
  }
  const { witness: updated } = await FileWitness.init(dir, witness.name, logKeys.map(formatVerifierKey));
  context.out.event('witness', { dir, name: updated.name, verifierKey: updated.verifierKey, created, logs: updated.logs.map((l) => l.name) });
  context.out.line(`witness ${updated.name} in ${dir}${created ? ' (new key)' : ''}`);
  context.out.line(`  cosigner key  ${updated.verifierKey}`);
  for (const log of updated.logs) context.out.line(`  witnesses     ${log.name}`);
  context.out.line("add to the log's audit.policy:");
  context.out.line(`  witness ${updated.name.replace(/[^\x21-\x7e]/g, '_')} ${updated.verifierKey}`);
  return 0;
}

async function cosignCommand(context: CommandContext): Promise<number> {
  const dir = witnessDir(context);
  const logState = stringOption(context, 'log-state');
  const outFile = stringOption(context, 'out');
  const requestFile = context.positionals[0];
  if ((requestFile === undefined) === (logState === undefined)) {
    throw new UsageError('CLI_BAD_ARGUMENTS', 'give either a REQUEST file (from cairn audit witness-request) or --log-state DIR');
  }
  const witness = await FileWitness.open(dir);
  let request: string;
  if (requestFile !== undefined) {
    request = (await readInput(path.resolve(context.io.cwd, requestFile), 'REQUEST')).toString('utf8');
  } else {
    // Reads the log's newest checkpoint and the proof from this witness's latest size straight from the log's state.
    const state = await openState(path.resolve(context.io.cwd, logState as string));
    try {
      const log = await state.audit();
      const latest = await witness.latest(log.origin);
      const old = latest === null ? 0 : parseCheckpoint(parseNote(latest).text).size;
      request = await log.witnessRequest(old);
    } finally {
      await state.close();
    }
  }
  const { checkpoint, cosignature } = await witness.cosign(request, new Date());
  if (outFile) await writeFile(path.resolve(context.io.cwd, outFile), cosignature);
  context.out.event('cosigned', { witness: witness.name, origin: checkpoint.origin, size: checkpoint.size, cosignature: cosignature.trimEnd() });
  if (outFile) context.out.line(`cosigned ${checkpoint.origin} at size ${checkpoint.size}; cosignature written to ${outFile}`);
  else if (!context.out.json) {
    context.out.progress(`cosigned ${checkpoint.origin} at size ${checkpoint.size}`);
    context.io.stdout.write(cosignature);
  }
  return 0;
}

const DIR_OPTION = { type: 'string', value: 'DIR', description: "the witness's own folder (key and last cosigned checkpoints)" } as const;

export const witnessInitCommand: Command = {
  name: 'witness init',
  summary: 'create a witness (its own key and state folder) or add logs it witnesses',
  usage: 'cairn witness init --dir DIR [--name NAME] [--log-key VKEY]... [--json]',
  description:
    "Creates DIR (0700) with an Ed25519 witness key named NAME (witness.key, 0600) and prints its cosigner verifier key for the log's audit.policy. Each --log-key adds a log (its verifier key, from cairn audit key) the witness will cosign.",
  options: {
    dir: DIR_OPTION,
    name: { type: 'string', value: 'NAME', description: 'the witness key name, e.g. witness.example.org/w1 (for a new witness)' },
    'log-key': { type: 'string', value: 'VKEY', multiple: true, description: 'a log verifier key (or a file holding it) to witness; repeatable' },
  },
  positionals: { min: 0, max: 0 },
  run: initWitness,
};

export const witnessCosignCommand: Command = {
  name: 'witness cosign',
  summary: 'check a checkpoint is consistent with the last one this witness saw, and cosign it',
  usage: 'cairn witness cosign --dir DIR (REQUEST | --log-state STATEDIR) [--out FILE] [--json]',
  description:
    "REQUEST is a tlog-witness add-checkpoint body (cairn audit witness-request). With --log-state the witness builds the request itself from the log's state directory. It checks the log's signature and the consistency proof from the checkpoint it cosigned last, records the new one durably, then prints its tlog-cosignature/v1 line for cairn audit add-cosignature.",
  options: {
    dir: DIR_OPTION,
    'log-state': { type: 'string', value: 'STATEDIR', description: "read the request from the log's state directory" },
    out: { type: 'string', value: 'FILE', description: 'write the cosignature line to FILE instead of stdout' },
  },
  positionals: { min: 0, max: 1 },
  run: cosignCommand,
};
