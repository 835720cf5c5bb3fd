import { NAME_PATTERN } from '../../model/config.js';
import { UsageError } from '../../model/errors.js';
import { openState } from '../../pipeline/state.js';
import { type Command, type CommandContext, stringOption } from '../command.js';
import { actorFrom, PURPOSE_OPTION } from './shared.js';

async function run(context: CommandContext): Promise<number> {
  const environment = stringOption(context, 'env');
  if (environment === undefined)
    throw new UsageError('CLI_MISSING_OPTION', 'cairn rollback needs --env ENV: the environment to put back on its previous release');
  if (!NAME_PATTERN.test(environment)) throw new UsageError('CLI_BAD_OPTION', `--env must be an environment name, got "${environment}"`);
  const reason = stringOption(context, 'reason') ?? 'manual rollback';
  const state = await openState(context.stateDir);
  try {
    const actor = actorFrom(context.io, stringOption(context, 'purpose') ?? reason);
    // Loaded on use: the targets and the controller are needed by no other light command.
    const { rollbackInState } = await import('../../pipeline/rollback.js');
    const outcome = await rollbackInState(state, environment, actor, reason, (message) => {
      // On stderr for people; a progress event in the NDJSON stream with --json.
      context.out.progress(message);
      context.out.event('progress', { message });
    });
    if (outcome.outcome === 'frozen') {
      context.out.line(`${environment} FROZEN: ${outcome.reason}; nothing changed at the target`);
      context.out.event('rollback', { ...outcome });
      return 1;
    }
    context.out.line(`${environment} rolled back: ${outcome.from.releaseDigest} → ${outcome.to?.releaseDigest}`);
    context.out.line(`  running  ${outcome.to?.artifactDigest} at ${outcome.deployment?.endpoint}`);
    context.out.line(`  pinned   ${outcome.from.artifactDigest} cannot come back without an explicit override`);
    context.out.line(`  op       ${outcome.opId}`);
    context.out.event('rollback', { ...outcome });
    return 0;
  } finally {
    await state.close();
  }
}

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'put an environment back on its previous release, replayed byte for byte, and pin it',
  usage: 'cairn rollback --env ENV [--reason TEXT] [--purpose TEXT] [--json] [--state DIR]',
  description:
    "Finds the release the environment ran before the current one in its release history, replays that release bundle from the blob store (same bytes, same digest, same gate decision), starts it beside the current release, moves all traffic to it in one fenced operation under the environment's lease, stops the current release and pins the environment so the rolled-back artifact cannot be deployed again without an explicit override. A release marked rollbackUnsafe is frozen instead (exit 1). Every step is in the audit log.",
  options: {
    env: { type: 'string', value: 'ENV', description: 'the environment to roll back' },
    reason: { type: 'string', value: 'TEXT', description: 'why (recorded in the pin and the audit log)' },
    purpose: PURPOSE_OPTION,
  },
  positionals: { min: 0, max: 0 },
  run,
};
