import { openState } from '../../pipeline/state.js';
import { stopEnvironments } from '../../pipeline/stop.js';
import { stringOption, type Command, type CommandContext } from '../command.js';
import { actorFrom, PURPOSE_OPTION } from './shared.js';

async function run(context: CommandContext): Promise<number> {
  const state = await openState(context.stateDir);
  try {
    const only = stringOption(context, 'env');
    const environments = only ? [only] : (await state.store.listDesired()).map((d) => d.environment);
    const stopped = await stopEnvironments(state, environments, actorFrom(context.io, stringOption(context, 'purpose') ?? 'stop'));
    context.out.event('stopped', { environments: stopped });
    context.out.line(stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running');
    return 0;
  } finally {
    await state.close();
  }
}

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop the running services of one or every environment',
  usage: 'cairn stop [--env ENV] [--purpose TEXT] [--json] [--state DIR]',
  options: { env: { type: 'string', value: 'ENV', description: 'only this environment' }, purpose: PURPOSE_OPTION },
  positionals: { min: 0, max: 0 },
  run,
};
