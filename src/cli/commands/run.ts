import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { verifyReceipt } from '../../audit/receipt.js';
import { CairnError } from '../../model/errors.js';
import type { PipelineEvent, RunSummary } from '../../pipeline/events.js';
import type { RunOptions } from '../../pipeline/run.js';
import { openState, type State } from '../../pipeline/state.js';
import { flag, stringOption, type Command, type CommandContext } from '../command.js';
import type { Output } from '../io.js';
import { forTerminal } from '../terminal.js';
import { actorFrom, PURPOSE_OPTION } from './shared.js';

const EXIT_CODES = { denied: 1, input: 2, internal: 3 } as const;

const MARK = { ok: 'ok', denied: 'DENIED', failed: 'FAILED', skipped: 'skipped' } as const;

function printEvent(out: Output, event: PipelineEvent, verbose: boolean): void {
  switch (event.type) {
    case 'run-start':
      out.line(`cairn run ${event.runId}`);
      out.line(`  project ${event.project}`);
      out.line(`  state   ${event.stateDir}`);
      out.line();
      return;
    case 'stage-start':
      out.progress(`… ${event.stage}`);
      return;
    case 'progress':
      if (verbose) out.progress(`  ${event.stage} | ${event.message}`);
      return;
    case 'warning':
      out.progress(`warning (${event.stage}): ${event.message}`);
      return;
    case 'stage':
      out.line(`${MARK[event.outcome].padEnd(7)} ${event.stage.padEnd(8)} ${`${event.ms} ms`.padStart(8)}  ${event.summary}`);
      return;
    case 'run-end':
      return;
  }
}

function printSummary(out: Output, s: RunSummary, stopped: readonly string[]): void {
  out.line();
  out.line(`run ${s.runId}: ${s.outcome.toUpperCase()}${s.error ? ` — ${s.error.code}` : ''}`);
  out.line('evidence:');
  out.line(`  source       ${s.commit ?? '-'}`);
  out.line(`  artifact     ${s.artifact ? `${s.artifact.name} ${s.artifact.digest}` : '-'}`);
  out.line(`  provenance   ${s.provenance ?? '-'}`);
  out.line(`  sbom         ${s.sbom ?? '-'}`);
  for (const d of s.decisions) out.line(`  decision     ${d.environment}: ${d.id} ${d.allow ? 'allow' : 'deny'}`);
  for (const d of s.deployments) {
    out.line(`  deployment   ${d.environment}: ${d.endpoint}${stopped.includes(d.environment) ? ' (stopped at the end of the demo)' : ' (running)'}`);
  }
  out.line(
    `  audit log    ${s.audit ? `checkpoint of size ${s.audit.size}, root ${s.audit.rootHash}${s.audit.published ? '' : ' (awaits witness cosignatures)'}` : '-'}`,
  );
  const finish = s.receipts.find((r) => r.action === 'run.finish');
  if (finish) out.line(`  receipts     ${s.receipts.length} (run.finish is entry #${finish.index}: cairn audit proof ${finish.index})`);
  out.line(`  state        ${s.stateDir}`);
  out.line();
  const rel = path.relative(process.cwd(), s.stateDir) || '.';
  out.line('inspect it:');
  out.line(`  npx cairn status --state ${rel}`);
  out.line(`  npx cairn audit verify --state ${rel}`);
  if (s.provenance && s.artifact) {
    out.line(
      `  npx cairn verify --artifact ${rel}/blobs/sha256/${s.artifact.digest.slice(7, 9)}/${s.artifact.digest.slice(9)} --attestation ${rel}/blobs/sha256/${s.provenance.slice(7, 9)}/${s.provenance.slice(9)} --trust ${rel}/trust.json`,
    );
  }
}

interface AuditCheck {
  readonly origin: string;
  readonly log: { readonly ok: boolean; readonly size: number; readonly checkpoints: number; readonly problems: readonly string[] };
  readonly receipt:
    | { readonly ok: true; readonly action: string; readonly index: number; readonly checkpointSize: number; readonly verifierKey: string }
    | { readonly ok: false; readonly action: string; readonly index: number | null; readonly reason: string }
    | null;
  readonly keyFile: string;
}

/**
 * The end of the demo: checkpoints the log, recomputes and checks all of it (as cairn audit
 * verify does), then verifies the run.finish receipt offline with only the receipt text and
 * the verifier key read from keys/log.vkey (as cairn audit verify-receipt does).
 */
async function verifyAuditAtEnd(state: State, summary: RunSummary, out: Output): Promise<AuditCheck> {
  const log = await state.audit();
  await log.checkpoint();
  const verification = await log.verify();
  const keyFile = path.join(state.dir, 'keys', 'log.vkey');
  const finish = summary.receipts.find((r) => r.action === 'run.finish') ?? null;
  let receipt: AuditCheck['receipt'] = null;
  if (finish?.receipt) {
    try {
      const verified = verifyReceipt(finish.receipt, { logKey: (await readFile(keyFile, 'utf8')).trim() });
      receipt = { ok: true, action: verified.event.action, index: verified.index, checkpointSize: verified.checkpoint.size, verifierKey: log.verifierKey };
    } catch (error) {
      receipt = {
        ok: false,
        action: 'run.finish',
        index: finish.index,
        reason: error instanceof CairnError ? `${error.code}: ${error.message}` : String(error),
      };
    }
  } else if (finish) {
    receipt = { ok: false, action: 'run.finish', index: finish.index, reason: "the run's checkpoint awaits witness cosignatures" };
  }
  const check: AuditCheck = {
    origin: log.origin,
    log: {
      ok: verification.ok,
      size: verification.size,
      checkpoints: verification.checkpoints,
      problems: verification.problems.map((p) => `${p.path}: ${p.message} [${p.code}]`),
    },
    receipt,
    keyFile,
  };
  out.event('audit-verified', { ...check, rootHash: verification.rootHash });
  return check;
}

function printAuditCheck(out: Output, check: AuditCheck | null): void {
  if (!check) return;
  const rel = path.relative(process.cwd(), path.dirname(path.dirname(check.keyFile))) || '.';
  out.line();
  out.line('audit, checked at the end of the demo:');
  out.line(
    `  log          ${check.origin}: ${check.log.size} entries, ${check.log.checkpoints} checkpoints — ${check.log.ok ? 'verified (tree recomputed from every leaf, every checkpoint checked)' : 'FAILED'}`,
  );
  for (const p of check.log.problems) out.line(`    ${p}`);
  const r = check.receipt;
  if (r?.ok) {
    out.line(
      `  receipt      ${r.action} (entry #${r.index}) verified offline with ${path.relative(process.cwd(), check.keyFile)}: in the signed tree of size ${r.checkpointSize}`,
    );
    out.line(`  log key      ${r.verifierKey}`);
    out.line('check it yourself:');
    out.line(`  npx cairn audit proof ${r.index} --state ${rel} --leaf leaf.json --out run.tlog-proof`);
    out.line(`  npx cairn audit verify-receipt run.tlog-proof --log-key ${path.relative(process.cwd(), check.keyFile)}`);
  } else if (r) {
    out.line(`  receipt      ${r.action}${r.index === null ? '' : ` (entry #${r.index})`}: NOT verified — ${r.reason}`);
  }
}

async function run(context: CommandContext): Promise<number> {
  const { out } = context;
  const project = path.resolve(context.io.cwd, context.positionals[0] ?? '.');
  const demo = flag(context, 'demo');
  const state = await openState(context.stateDir);
  try {
    const purpose = stringOption(context, 'purpose') ?? (demo ? 'demo run' : 'pipeline run');
    const actor = actorFrom(context.io, purpose);
    const verbose = flag(context, 'verbose');
    const rev = stringOption(context, 'rev');
    const osvOption = stringOption(context, 'osv') ?? context.io.env.CAIRN_OSV;
    const osv = osvOption ? path.resolve(context.io.cwd, osvOption) : undefined;
    // Loaded on use: the pipeline pulls in every stage, which no other command needs.
    const { runPipeline } = await import('../../pipeline/run.js');
    const pipeline = (projectDir: string, revision: string | undefined, extra: Partial<RunOptions> = {}) =>
      runPipeline({
        projectDir,
        state,
        actor,
        ...(revision ? { rev: revision } : {}),
        ...(osv ? { osv } : {}),
        keepScratch: flag(context, 'keep-scratch'),
        ...(flag(context, 'allow-pinned') ? { overridePin: true } : {}),
        onEvent: (event) => {
          out.event(event.type, event as unknown as Record<string, unknown>);
          printEvent(out, event, verbose);
        },
        ...extra,
      });
    let summary: RunSummary;
    let scratchRepo: string | null = null;
    if (demo) {
      // Two releases, so the second is rolled out by canary beside the first under loopback traffic.
      const { demoRepository, driveTraffic } = await import('./demo.js');
      const repo = await demoRepository(project, rev ?? 'HEAD');
      scratchRepo = repo.dir;
      out.line(
        `demo: release 1 is ${path.relative(process.cwd(), project) || '.'} at ${rev ?? 'HEAD'}; ${repo.commits[1] ? 'release 2 changes its greeting' : 'no greeting.yaml, so no second release'}`,
      );
      out.line(`      both are committed in ${repo.dir}; a loopback client sends requests during each rollout`);
      out.line();
      const duringRollout = (url: string) => driveTraffic(url, 2);
      summary = await pipeline(repo.dir, repo.commits[0], { duringRollout });
      const second = repo.commits[1];
      if (summary.outcome === 'ok' && second !== undefined) {
        out.line();
        summary = await pipeline(repo.dir, second, { duringRollout });
      }
    } else {
      summary = await pipeline(project, rev);
    }
    let stopped: string[] = [];
    if (demo && !flag(context, 'keep') && summary.deployments.length > 0) {
      const { stopEnvironments } = await import('../../pipeline/stop.js');
      stopped = await stopEnvironments(
        state,
        summary.deployments.map((d) => d.environment),
        actorFrom(context.io, 'end of demo'),
      );
      out.event('stopped', { environments: stopped });
    }
    // The demo ends by checking its own evidence: the whole log, then one receipt offline.
    const auditCheck = demo ? await verifyAuditAtEnd(state, summary, out) : null;
    out.event('run-end', { summary });
    printSummary(out, summary, stopped);
    printAuditCheck(out, auditCheck);
    if (scratchRepo) await rm(scratchRepo, { recursive: true, force: true });
    if (summary.error) {
      if (!out.json) context.io.stderr.write(`${forTerminal(`error ${summary.error.code}: ${summary.error.message}`)}\n`);
      return EXIT_CODES[summary.error.category];
    }
    if (auditCheck && (!auditCheck.log.ok || auditCheck.receipt?.ok === false)) return 1;
    return summary.outcome === 'ok' ? 0 : 3;
  } finally {
    await state.close();
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the whole pipeline for a project: source, build, attest, rebuild, scan, gate, deploy, runtime',
  usage: 'cairn run [DIR] [--rev REV] [--demo [--keep]] [--allow-pinned] [--purpose TEXT] [--verbose] [--json] [--state DIR]',
  description:
    'Snapshots the committed tree of DIR (default .) at REV (default HEAD), builds it with the recipe in its cairn.yaml, signs SLSA provenance, writes a CycloneDX SBOM, gates, rolls the release out by the strategy in cairn.yaml (canary steps, the gate asked again at each, SPRT analysis, automatic rollback) and checks what runs. With --demo it rolls out two releases of the project (the second with a changed greeting, by canary beside the first, under loopback traffic) and stops the services at the end unless --keep.',
  options: {
    rev: { type: 'string', value: 'REV', description: 'git revision to build (default HEAD)' },
    osv: { type: 'string', value: 'PATH', description: 'OSV advisory database: a folder or zip (default $CAIRN_OSV); without one the gate denies' },
    demo: { type: 'boolean', description: 'stop the services started by this run at the end' },
    keep: { type: 'boolean', description: 'with --demo: leave the services running' },
    purpose: PURPOSE_OPTION,
    verbose: { type: 'boolean', short: 'v', description: "show the recipe's output as it runs (stderr)" },
    'keep-scratch': { type: 'boolean', description: 'keep the temporary snapshot and build folders' },
    'allow-pinned': {
      type: 'boolean',
      description: 'deploy even where an environment is pinned against this artifact after a rollback (the explicit override)',
    },
  },
  positionals: { min: 0, max: 1 },
  run,
};
