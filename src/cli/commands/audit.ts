import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkAgainstMemory, checkpointMemoryDir, fileCheckpointMemory, type MemoryCheck } from '../../audit/client.js';
import { AuditError } from '../../audit/errors.js';
import type { AuditLog, CheckpointView } from '../../audit/log.js';
import { describeQuorum, parseWitnessPolicy, type WitnessPolicy } from '../../audit/policy.js';
import { verifyReceipt } from '../../audit/receipt.js';
import { decodeLeaf } from '../../audit/tree.js';
import { encodeBase64 } from '../../crypto/base64.js';
import { type NoteVerifier, parseVerifierKey } from '../../crypto/note.js';
import { CairnError, UsageError } from '../../model/errors.js';
import { openState } from '../../pipeline/state.js';
import { stringOption, type Command, type CommandContext } from '../command.js';

const MAX_INPUT = 1024 * 1024;

/** Reads a file named on the command line (at most 1 MiB). */
export async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (info.size > MAX_INPUT) throw new UsageError('CLI_FILE_UNREADABLE', `${what} ${file}: over ${MAX_INPUT} bytes`);
    return await readFile(file);
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new UsageError('CLI_FILE_UNREADABLE', `${what} ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
}

/** A verifier key given as its text or as a file holding it. */
export async function verifierKeyOption(value: string, context: CommandContext, option: string): Promise<NoteVerifier> {
  try {
    return parseVerifierKey(value.trim());
  } catch (error) {
    if (!(error instanceof CairnError)) throw error;
    const file = path.resolve(context.io.cwd, value);
    const text = await readInput(file, `--${option}`).catch(() => {
      throw error;
    });
    return parseVerifierKey(text.toString('utf8').trim());
  }
}

async function withLog<T>(context: CommandContext, work: (log: AuditLog) => Promise<T>): Promise<T> {
  const state = await openState(context.stateDir);
  try {
    return await work(await state.audit());
  } finally {
    await state.close();
  }
}

function integerArgument(text: string | undefined, what: string): number {
  const value = text !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new UsageError('CLI_BAD_ARGUMENTS', `${what} must be a non-negative integer, got ${JSON.stringify(text ?? '')}`);
  return value;
}

/**
 * Client memory: compares a checkpoint the log presents as its latest with the one this
 * client saw last (`$CAIRN_CHECKPOINTS`, else under $XDG_STATE_HOME or $HOME) and
 * remembers it; throws AUDIT_ROLLBACK / AUDIT_FORK with both checkpoints shown.
 */
async function rememberCheckpoint(context: CommandContext, log: AuditLog, note: string): Promise<MemoryCheck['status'] | 'off'> {
  const dir = checkpointMemoryDir(context.io.env);
  if (dir === null) {
    context.out.progress('note: no $CAIRN_CHECKPOINTS, $XDG_STATE_HOME or $HOME: this client remembers no checkpoint to compare with');
    return 'off';
  }
  const check = await checkAgainstMemory(fileCheckpointMemory(dir), log.verifier, note, (m, n) => log.consistencyProof(m, n));
  return check.status;
}

function cosignerText(view: CheckpointView): string {
  return view.cosigners.length === 0 ? '' : `, cosigned by ${view.cosigners.join(', ')}`;
}

// ---------------------------------------------------------------------------------------

async function verifyAudit(context: CommandContext): Promise<number> {
  return withLog(context, async (log) => {
    const result = await log.verify();
    const latest = result.ok ? await log.latestCheckpoint() : null;
    const memory = latest ? await rememberCheckpoint(context, log, latest.note) : 'off';
    context.out.event('audit-verify', { ...result, memory });
    if (result.ok) {
      context.out.line(
        `audit log ${result.origin} verified: ${result.size} entries, root ${result.rootHash}, ${result.checkpoints} checkpoint${result.checkpoints === 1 ? '' : 's'} (latest of size ${result.latestCheckpoint ?? '-'})`,
      );
      if (memory === 'advanced' || memory === 'first' || memory === 'same')
        context.out.line(`  consistent with the last checkpoint this client saw (${memory})`);
      return 0;
    }
    context.out.line(
      `audit log ${result.origin} FAILED verification: ${result.problemCount} problem${result.problemCount === 1 ? '' : 's'} (${result.size} entries read):`,
    );
    for (const p of result.problems) context.out.line(`  ${p.path}: ${p.message} [${p.code}]`);
    if (result.problemCount > result.problems.length) context.out.line(`  … and ${result.problemCount - result.problems.length} more`);
    return 1;
  });
}

async function listAudit(context: CommandContext): Promise<number> {
  const limitText = stringOption(context, 'limit') ?? '50';
  const limit = Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('CLI_BAD_OPTION', `--limit must be an integer from 1 to 10000, got "${limitText}"`);
  const state = await openState(context.stateDir);
  try {
    const head = await state.store.auditTreeHead();
    const from = Math.max(0, head.size - limit);
    for (const row of await state.store.listAuditLeaves(from, limit)) {
      const { event, problems } = decodeLeaf(row.leaf);
      if (event === null) {
        context.out.event('audit-event', { index: row.index, malformed: problems });
        context.out.line(`#${String(row.index).padEnd(5)} (not an audit event: run cairn audit verify)`);
        continue;
      }
      context.out.event('audit-event', { index: row.index, leafHash: encodeBase64(row.leafHash), ...event });
      context.out.line(
        `#${String(row.index).padEnd(5)} ${event.time}  ${event.action.padEnd(18)} ${event.actor.identity} (${event.actor.purpose})  ${event.subjects.map((s) => s.slice(0, 19)).join(' ')}`,
      );
    }
    return 0;
  } finally {
    await state.close();
  }
}

async function proofCommand(context: CommandContext): Promise<number> {
  const index = integerArgument(context.positionals[0], 'INDEX');
  const leafFile = stringOption(context, 'leaf');
  const outFile = stringOption(context, 'out');
  return withLog(context, async (log) => {
    const published = await log.latestCheckpoint();
    // On demand: a checkpoint covering the entry is made when none is published yet.
    if (!published || published.size <= index) await log.checkpoint();
    const receipt = await log.receipt(index);
    const latest = await log.latestCheckpoint();
    const memory = latest ? await rememberCheckpoint(context, log, latest.note) : 'off';
    if (leafFile) await writeFile(path.resolve(context.io.cwd, leafFile), receipt.leaf);
    if (outFile) await writeFile(path.resolve(context.io.cwd, outFile), receipt.text);
    context.out.event('audit-proof', {
      index,
      checkpointSize: receipt.checkpointSize,
      receipt: receipt.text,
      leaf: encodeBase64(receipt.leaf),
      memory,
      ...(leafFile ? { leafFile: path.resolve(context.io.cwd, leafFile) } : {}),
      ...(outFile ? { receiptFile: path.resolve(context.io.cwd, outFile) } : {}),
    });
    if (outFile) context.out.line(`receipt for entry ${index} (checkpoint of size ${receipt.checkpointSize}) written to ${outFile}`);
    else if (!context.out.json) context.io.stdout.write(receipt.text);
    if (leafFile) context.out.progress(`leaf ${index} (${receipt.leaf.length} bytes) written to ${leafFile}`);
    return 0;
  });
}

async function checkpointCommand(context: CommandContext): Promise<number> {
  return withLog(context, async (log) => {
    const newest = await log.checkpoint();
    const latest = newest.published ? newest : await log.latestCheckpoint();
    const pending = newest.published ? null : newest;
    if (pending) {
      context.out.progress(
        `checkpoint of size ${pending.size} awaits witness cosignatures (has ${pending.cosigners.length === 0 ? 'none' : pending.cosigners.join(', ')}; the policy requires ${describeQuorum(log.policy)}): see cairn audit witness-request`,
      );
    }
    if (!latest)
      throw new AuditError('AUDIT_NOT_CHECKPOINTED', `no checkpoint is published yet: it needs witness cosignatures (${describeQuorum(log.policy)})`);
    const memory = await rememberCheckpoint(context, log, latest.note);
    context.out.event('audit-checkpoint', {
      origin: log.origin,
      size: latest.size,
      rootHash: encodeBase64(latest.rootHash),
      note: latest.note,
      cosigners: latest.cosigners,
      memory,
      pending: pending ? { size: pending.size, note: pending.note, cosigners: pending.cosigners } : null,
    });
    if (!context.out.json) context.io.stdout.write(latest.note);
    return 0;
  });
}

async function keyCommand(context: CommandContext): Promise<number> {
  return withLog(context, async (log) => {
    context.out.event('audit-key', { origin: log.origin, verifierKey: log.verifierKey, keyFile: path.join(context.stateDir, 'keys', 'log.vkey') });
    context.out.line(log.verifierKey);
    return 0;
  });
}

async function verifyReceiptCommand(context: CommandContext): Promise<number> {
  const receiptFile = path.resolve(context.io.cwd, context.positionals[0] ?? '');
  const keyText = stringOption(context, 'log-key');
  if (!keyText) throw new UsageError('CLI_MISSING_OPTION', 'cairn audit verify-receipt needs --log-key VKEY (see cairn audit key)');
  const logKey = await verifierKeyOption(keyText, context, 'log-key');
  const leafFile = stringOption(context, 'leaf');
  const policyFile = stringOption(context, 'policy');
  const receipt = await readInput(receiptFile, 'RECEIPT');
  const leaf = leafFile ? await readInput(path.resolve(context.io.cwd, leafFile), '--leaf') : undefined;
  let policy: WitnessPolicy | undefined;
  if (policyFile) {
    const file = path.resolve(context.io.cwd, policyFile);
    policy = parseWitnessPolicy((await readInput(file, '--policy')).toString('utf8'), file);
  }
  const verified = verifyReceipt(receipt, { logKey, ...(leaf ? { leaf } : {}), ...(policy ? { policy } : {}) });
  const { event, checkpoint } = verified;
  context.out.event('receipt-verified', {
    index: verified.index,
    event,
    checkpoint: { origin: checkpoint.origin, size: checkpoint.size, rootHash: encodeBase64(checkpoint.rootHash) },
    cosigners: verified.cosigners,
  });
  context.out.line(
    `receipt verified offline: entry #${verified.index} is in ${checkpoint.origin}'s tree of size ${checkpoint.size} (signed by ${logKey.name})`,
  );
  context.out.line(`  ${event.time}  ${event.action} by ${event.actor.identity} (${event.actor.purpose})`);
  if (verified.cosigners.length > 0) context.out.line(`  cosigned by ${verified.cosigners.join(', ')}`);
  return 0;
}

async function witnessRequestCommand(context: CommandContext): Promise<number> {
  const old = integerArgument(stringOption(context, 'old') ?? '0', '--old');
  const outFile = stringOption(context, 'out');
  return withLog(context, async (log) => {
    const request = await log.witnessRequest(old);
    if (outFile) await writeFile(path.resolve(context.io.cwd, outFile), request);
    context.out.event('witness-request', { old, request, ...(outFile ? { file: path.resolve(context.io.cwd, outFile) } : {}) });
    if (outFile) context.out.line(`add-checkpoint request from size ${old} written to ${outFile}`);
    else if (!context.out.json) context.io.stdout.write(request);
    return 0;
  });
}

async function addCosignatureCommand(context: CommandContext): Promise<number> {
  const texts = await Promise.all(context.positionals.map((file) => readInput(path.resolve(context.io.cwd, file), 'FILE')));
  return withLog(context, async (log) => {
    const updated = await log.addCosignatures(texts.map((t) => t.toString('utf8')).join('\n'));
    for (const view of updated) {
      context.out.event('checkpoint-cosigned', { size: view.size, cosigners: view.cosigners, published: view.published, note: view.note });
      context.out.line(
        `checkpoint of size ${view.size}${cosignerText(view)}: ${view.published ? 'published' : `awaits more cosignatures (the policy requires ${describeQuorum(log.policy)})`}`,
      );
    }
    return 0;
  });
}

// ---------------------------------------------------------------------------------------

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: "recompute the audit log's Merkle tree and check every stored checkpoint (exit 1 on any tampering)",
  usage: 'cairn audit verify [--json] [--state DIR]',
  description:
    "Reads every leaf, checks its hash, its place and the subtree roots stored with it, recomputes the tree head, checks each stored checkpoint's signature, its root against the recomputed tree and its consistency with the checkpoint before it. Then compares the latest checkpoint with the one this client saw last ($CAIRN_CHECKPOINTS).",
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

export const auditProofCommand: Command = {
  name: 'audit proof',
  summary: 'print the receipt (c2sp.org/tlog-proof@v1) of one audit entry',
  usage: 'cairn audit proof INDEX [--leaf FILE] [--out FILE] [--json] [--state DIR]',
  description:
    "The receipt holds the entry's index, its inclusion proof and the latest published checkpoint (with cosignatures); its extra line carries the leaf. --leaf writes the leaf's exact bytes, so anyone can check the receipt with an independent implementation. A checkpoint is made first if none published covers the entry.",
  options: {
    leaf: { type: 'string', value: 'FILE', description: "write the leaf's exact bytes (the JCS event) to FILE" },
    out: { type: 'string', value: 'FILE', description: 'write the receipt to FILE instead of stdout' },
  },
  positionals: { min: 1, max: 1 },
  run: proofCommand,
};

export const auditCheckpointCommand: Command = {
  name: 'audit checkpoint',
  summary: 'sign a checkpoint if the log grew, and print the latest published signed checkpoint',
  usage: 'cairn audit checkpoint [--json] [--state DIR]',
  description:
    'A C2SP tlog-checkpoint signed as a signed note by the log key, with witness cosignatures. With a witness policy (audit.policy in the state directory) a new checkpoint is published only once it has the cosignatures the quorum requires.',
  options: {},
  positionals: { min: 0, max: 0 },
  run: checkpointCommand,
};

export const auditKeyCommand: Command = {
  name: 'audit key',
  summary: "print the log's verifier key (name+keyid+key), what verifiers and witnesses pin",
  usage: 'cairn audit key [--json] [--state DIR]',
  options: {},
  positionals: { min: 0, max: 0 },
  run: keyCommand,
};

export const auditVerifyReceiptCommand: Command = {
  name: 'audit verify-receipt',
  summary: 'verify a receipt offline against the log key (and a witness policy)',
  usage: 'cairn audit verify-receipt RECEIPT --log-key VKEY [--leaf FILE] [--policy FILE] [--json]',
  description:
    "Needs no state and no network: checks the log's signature on the receipt's checkpoint, the inclusion proof of the leaf (from --leaf, else the receipt's extra line), that the leaf is the audit event of that index, and with --policy the witness quorum.",
  options: {
    'log-key': { type: 'string', value: 'VKEY', description: 'the log verifier key, or a file holding it (cairn audit key)' },
    leaf: { type: 'string', value: 'FILE', description: "the leaf's bytes (default: the receipt's extra line)" },
    policy: { type: 'string', value: 'FILE', description: 'a witness policy (C2SP tlog-policy subset) whose quorum must have cosigned' },
  },
  positionals: { min: 1, max: 1 },
  run: verifyReceiptCommand,
};

export const auditWitnessRequestCommand: Command = {
  name: 'audit witness-request',
  summary: 'print a tlog-witness add-checkpoint request for the newest checkpoint',
  usage: 'cairn audit witness-request [--old N] [--out FILE] [--json] [--state DIR]',
  description:
    'The body a witness cosigns: the old size the witness last cosigned, the consistency proof from it, and the newest checkpoint. Give it to cairn witness cosign, then add the cosignature with cairn audit add-cosignature.',
  options: {
    old: { type: 'string', value: 'N', description: "the size of the witness's latest checkpoint of this log (default 0)" },
    out: { type: 'string', value: 'FILE', description: 'write the request to FILE instead of stdout' },
  },
  positionals: { min: 0, max: 0 },
  run: witnessRequestCommand,
};

export const auditAddCosignatureCommand: Command = {
  name: 'audit add-cosignature',
  summary: "attach witness cosignatures to the log's checkpoints; publishes one once its quorum is met",
  usage: 'cairn audit add-cosignature FILE... [--json] [--state DIR]',
  options: {},
  positionals: { min: 1, max: 32 },
  run: addCosignatureCommand,
};
