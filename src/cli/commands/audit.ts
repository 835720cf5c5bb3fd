import { verifyChain } from '../../audit/chain.js';
import { openState } from '../../pipeline/state.js';
import { UsageError } from '../../model/errors.js';
import { stringOption, type Command, type CommandContext } from '../command.js';

async function verifyAudit(context: CommandContext): Promise<number> {
  const state = await openState(context.stateDir);
  try {
    const result = await verifyChain(state.store);
    context.out.event('audit-verify', { ok: result.ok, events: result.events, head: result.head, problems: result.problems });
    if (result.ok) {
      context.out.line(`audit log verified: ${result.events} events, head #${result.head?.seq ?? 0} ${result.head?.hash ?? '-'}`);
      return 0;
    }
    context.out.line(`audit log FAILED verification (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${result.events} events):`);
    for (const p of result.problems) context.out.line(`  ${p.path}: ${p.message} [${p.code}]`);
    return 1;
  } finally {
    await state.close();
  }
}

async function listAudit(context: CommandContext): Promise<number> {
  const limitText = stringOption(context, 'limit') ?? '50';
  const limit = Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('CLI_BAD_OPTION', `--limit must be an integer from 1 to 10000, got "${limitText}"`);
  const state = await openState(context.stateDir);
  try {
    const head = await state.store.auditHead();
    const from = Math.max(1, (head?.seq ?? 0) - limit + 1);
    for (const e of await state.store.listAudit(from, limit)) {
      context.out.event('audit-event', { ...e });
      context.out.line(
        `#${String(e.seq).padEnd(5)} ${e.time}  ${e.action.padEnd(18)} ${e.actor.identity} (${e.actor.purpose})  ${e.subjects.map((s) => s.slice(0, 19)).join(' ')}`,
      );
    }
    return 0;
  } finally {
    await state.close();
  }
}

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'recompute the audit log and report any tampered, missing or reordered event',
  usage: 'cairn audit verify [--json] [--state DIR]',
  options: {},
  positionals: { min: 0, max: 0 },
  run: verifyAudit,
};

export const auditLogCommand: Command = {
  name: 'audit log',
  summary: 'list the latest audit events',
  usage: 'cairn audit log [--limit N] [--json] [--state DIR]',
  options: { limit: { type: 'string', value: 'N', description: 'how many of the latest events (default 50)' } },
  positionals: { min: 0, max: 0 },
  run: listAudit,
};
