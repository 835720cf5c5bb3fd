import path from 'node:path';
import type { PipelineEvent, RunSummary } from '../../pipeline/events.js';
import { runPipeline } from '../../pipeline/run.js';
import { openState } from '../../pipeline/state.js';
import { stopEnvironments } from '../../pipeline/stop.js';
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
  out.line(`  audit head   ${s.audit ? `#${s.audit.seq} ${s.audit.hash}` : '-'}`);
  out.line(`  state        ${s.stateDir}`);
  out.line();
  const rel = path.relative(process.cwd(), s.stateDir) || '.';
  out.line('inspect it:');
  out.line(`  npx cairn status --state ${rel}`);
  out.line(`  npx cairn audit verify --state ${rel}`);
  if (s.provenance && s.artifact) {
    out.line(
      `  npx cairn verify --artifact ${rel}/blobs/sha256/${s.artifact.digest.slice(7, 9)}/${s.artifact.digest.slice(9)} --attestation ${rel}/blobs/sha256/${s.provenance.slice(7, 9)}/${s.provenance.slice(9)} --key ${rel}/keys/builder.pub`,
    );
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
    let summary = await runPipeline({
      projectDir: project,
      state,
      actor,
      ...(rev ? { rev } : {}),
      keepScratch: flag(context, 'keep-scratch'),
      onEvent: (event) => {
        out.event(event.type, event as unknown as Record<string, unknown>);
        printEvent(out, event, verbose);
      },
    });
    let stopped: string[] = [];
    if (demo && !flag(context, 'keep') && summary.deployments.length > 0) {
      stopped = await stopEnvironments(
        state,
        summary.deployments.map((d) => d.environment),
        actorFrom(context.io, 'end of demo'),
      );
      out.event('stopped', { environments: stopped });
      summary = { ...summary, audit: await state.store.auditHead() };
    }
    out.event('run-end', { summary });
    printSummary(out, summary, stopped);
    if (summary.error) {
      if (!out.json) context.io.stderr.write(`${forTerminal(`error ${summary.error.code}: ${summary.error.message}`)}\n`);
      return EXIT_CODES[summary.error.category];
    }
    return summary.outcome === 'ok' ? 0 : 3;
  } finally {
    await state.close();
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the whole pipeline for a project: source, build, attest, scan, gate, deploy, runtime',
  usage: 'cairn run [DIR] [--rev REV] [--demo [--keep]] [--purpose TEXT] [--verbose] [--json] [--state DIR]',
  description:
    'Snapshots the committed tree of DIR (default .) at REV (default HEAD), builds it with the recipe in its cairn.yaml, signs SLSA provenance, writes a CycloneDX SBOM, gates, deploys to the local target and checks what runs. With --demo the services are stopped at the end unless --keep.',
  options: {
    rev: { type: 'string', value: 'REV', description: 'git revision to build (default HEAD)' },
    demo: { type: 'boolean', description: 'stop the services started by this run at the end' },
    keep: { type: 'boolean', description: 'with --demo: leave the services running' },
    purpose: PURPOSE_OPTION,
    verbose: { type: 'boolean', short: 'v', description: "show the recipe's output as it runs (stderr)" },
    'keep-scratch': { type: 'boolean', description: 'keep the temporary snapshot and build folders' },
  },
  positionals: { min: 0, max: 1 },
  run,
};
