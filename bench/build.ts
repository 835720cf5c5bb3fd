/**
 * `cairn build` of examples/hello-service against the same work done plainly, measured in
 * one run, interleaved, median of N:
 *
 * - cairn build: snapshot of the commit, install from the npm cache (integrity-checked),
 *   the recipe in the strongest sandbox that works here, deterministic pack;
 * - plain recipe + tar|gzip: `npm run build` in a checkout whose node_modules is already
 *   there, then `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c dist | gzip -n`;
 * - plain end to end: `git archive` checkout + `npm ci --offline` + the same recipe and tar|gzip;
 * - rebuild + compare: `rebuildFromProvenance` (snapshot at the provenance's commit, build,
 *   digest comparison, signed VSA) from a provenance of the cairn build;
 * - build --vary: the reprotest-style diagnosis (3 builds when reproducible), once.
 *
 *   node dist/bench/build.js [runs, default 5]
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { provenanceStatement } from '../src/attest/provenance.js';
import { envelopeBytes, signStatement } from '../src/attest/sign.js';
import { buildCommit, varyCommit } from '../src/cli/commands/build.js';
import { sha256Digest } from '../src/crypto/digest.js';
import { rebuildFromProvenance } from '../src/pipeline/rebuild.js';
import { median } from './measure.js';

const runs = Number(process.argv[2] ?? 5);
if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('runs must be an integer in [1, 50]');

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = 'examples/hello-service';
const TAR_GZIP = 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c dist | gzip -n > ../artifact.tgz';

function sh(cwd: string, script: string): void {
  execFileSync('/bin/sh', ['-c', script], { cwd, stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
}

/** A checkout of the committed example (what a plain CI job starts from). */
function checkout(): { dir: string; project: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-plain-'));
  sh(dir, `git -C '${REPO_ROOT}' archive HEAD ${EXAMPLE} | tar -x`);
  return { dir, project: path.join(dir, EXAMPLE) };
}

const npmCi = 'npm ci --offline --ignore-scripts --no-audit --no-fund --loglevel=error';

async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const project = path.join(REPO_ROOT, EXAMPLE);
const prepared = checkout();
sh(prepared.project, npmCi);

// Warm-up (file cache, probes) and the inputs of the rebuild.
const warm = await buildCommit({ project });
sh(prepared.project, `npm run --silent build >/dev/null && ${TAR_GZIP}`);
const { privateKey } = generateKeyPairSync('ed25519');
const statement = provenanceStatement(warm.snapshot, warm.output.result, {
  builderId: 'https://cairn.dev/builders/bench',
  invocationId: 'bench',
  cairnVersion: 'bench',
});
const provenance = envelopeBytes(signStatement(statement, [privateKey]));

const samples = { cairn: [] as number[], plain: [] as number[], plainEndToEnd: [] as number[], rebuild: [] as number[] };
let rebuildResult = '';
for (let i = 0; i < runs; i++) {
  samples.cairn.push(await time(() => buildCommit({ project })));
  samples.plain.push(await time(() => sh(prepared.project, `rm -rf dist && npm run --silent build >/dev/null && ${TAR_GZIP}`)));
  samples.plainEndToEnd.push(
    await time(() => {
      const fresh = checkout();
      try {
        sh(fresh.project, `${npmCi} && npm run --silent build >/dev/null && ${TAR_GZIP}`);
      } finally {
        rmSync(fresh.dir, { recursive: true, force: true });
      }
    }),
  );
  samples.rebuild.push(
    await time(async () => {
      const outcome = await rebuildFromProvenance({
        provenance,
        repository: REPO_ROOT,
        claimedArtifact: warm.output.artifact,
        rebuilderKey: privateKey,
        rebuilderId: 'https://cairn.dev/rebuilders/bench',
        now: () => new Date(),
        cairnVersion: 'bench',
      });
      rebuildResult = outcome.result;
    }),
  );
}
const vary = await time(async () => {
  const { report } = await varyCommit({ project });
  if (report.verdict !== 'reproducible') throw new Error(`the example is not reproducible: ${report.summary}`);
});
const plainDigest = sha256Digest(readFileSync(path.join(prepared.project, '../artifact.tgz')));
rmSync(prepared.dir, { recursive: true, force: true });

const base = median(samples.plain);
const row = (label: string, ms: number, note = '') => `${label.padEnd(44)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / base).toFixed(2).padStart(6)}×${note}`;
console.log(`cairn build of ${EXAMPLE}: median of ${runs} runs, isolation ${warm.output.result.environment.isolation}, node ${process.version}`);
console.log(row('plain recipe + tar|gzip -n', base, '  (reference)'));
console.log(row('plain checkout + npm ci + recipe', median(samples.plainEndToEnd)));
console.log(row('cairn build (snapshot+install+sandbox+pack)', median(samples.cairn)));
console.log(row('rebuild + compare (signed VSA)', median(samples.rebuild), `  (${rebuildResult})`));
console.log(row('cairn build --vary (one run)', vary));
console.log(`cairn build vs plain end to end: ${(median(samples.cairn) / median(samples.plainEndToEnd)).toFixed(2)}×`);
console.log(`digests: cairn ${warm.output.result.artifact.digest}, plain tar|gzip ${plainDigest} (different packers; each is stable)`);
