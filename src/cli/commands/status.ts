import { openState } from '../../pipeline/state.js';
import { compareEnvironment, observeService, type EnvironmentReport } from '../../runtime/observe.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';

async function status(context: CommandContext): Promise<number> {
  const { out } = context;
  const state = await openState(context.stateDir);
  try {
    const only = stringOption(context, 'env');
    const desired = (await state.store.listDesired()).filter((d) => !only || d.environment === only);
    const reports: EnvironmentReport[] = [];
    for (const d of desired) {
      const deployment = await state.store.getDeployment(d.environment);
      const observed = deployment ? await observeService(deployment.endpoint) : { reachable: false, artifactDigest: null, error: 'not deployed' };
      reports.push(compareEnvironment(d, deployment, observed));
    }
    for (const r of reports) out.event('environment', { ...r });
    if (reports.length === 0) out.line(only ? `no desired state recorded for "${only}" in ${state.dir}` : `nothing deployed from ${state.dir} yet`);
    for (const r of reports) {
      out.line(`${r.environment}: ${r.status.toUpperCase()}`);
      out.line(
        `  desired   ${r.desired.artifactDigest} (release ${r.desired.releaseDigest.slice(0, 19)}…, decision ${r.desired.decisionId}, revision ${r.desired.revision})`,
      );
      out.line(
        `  running   ${r.observed.artifactDigest ?? '-'}${r.deployment ? ` at ${r.deployment.endpoint} (pid ${r.deployment.pid ?? '?'}, since ${r.deployment.startedAt})` : ''}`,
      );
      out.line(`  ${r.detail}`);
    }
    const bad = reports.filter((r) => r.status !== 'in-sync');
    return flag(context, 'check') && (bad.length > 0 || reports.length === 0) ? 1 : 0;
  } finally {
    await state.close();
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show what runs in each environment and whether it is the desired artifact',
  usage: 'cairn status [--env ENV] [--check] [--json] [--state DIR]',
  description: 'Reads the desired state from the store and asks each running service (GET /version) which artifact digest it runs from.',
  options: {
    env: { type: 'string', value: 'ENV', description: 'only this environment' },
    check: { type: 'boolean', description: 'exit 1 unless every environment is in sync' },
  },
  positionals: { min: 0, max: 0 },
  run: status,
};
