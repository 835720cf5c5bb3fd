/**
 * CI audit and secret scan throughput, each against a reference measured in the same run:
 *   1. `auditCiFiles` on a corpus of generated workflows (files/s, MB/s), against parsing the
 *      same files with the `yaml` package alone (the floor any YAML-based audit pays);
 *   2. the secret scan (57 RE2 rules, keyword-windowed) in MB/s, in memory and from disk,
 *      against `git grep -E` with comparable patterns over the same tree (C, POSIX ERE).
 * Run: `node dist/bench/ci.js [--workflows N] [--mb N] [--rounds N]`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { auditCiFiles, type CiFile } from '../src/scan/ci/audit.js';
import { SecretDetector } from '../src/scan/secrets/engine.js';
import { ALNUM, fakeChars, HEX, join } from '../src/scan/secrets/samples.js';
import { scanSecrets } from '../src/scan/secrets/scan.js';
import { median } from './measure.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const WORKFLOWS = arg('workflows', 400);
const CORPUS_MB = arg('mb', 32);
const ROUNDS = arg('rounds', 5);
const NOW = new Date('2026-06-01T00:00:00Z');
const SHA = 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683';

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** A workflow of 3–8 jobs with 5–14 steps each; every fifth has a vulnerable pattern. */
function workflow(i: number): string {
  const triggers = ['push', 'pull_request', 'pull_request_target', '[push, pull_request]', 'workflow_dispatch', 'issue_comment'];
  const lines = [`name: wf-${i}`, `on: ${triggers[i % triggers.length]}`, i % 3 === 0 ? 'permissions: {}' : 'permissions:\n  contents: read', 'jobs:'];
  const jobs = 3 + (i % 6);
  for (let j = 0; j < jobs; j++) {
    lines.push(`  job-${j}:`, '    runs-on: ubuntu-latest', ...(j === jobs - 1 && i % 4 === 0 ? ['    environment: production'] : []), '    steps:');
    lines.push(`      - uses: ${i % 7 === 0 ? 'actions/checkout@v4' : SHA}`, '        with:', '          persist-credentials: false');
    const steps = 5 + ((i + j) % 10);
    for (let k = 0; k < steps; k++) {
      if (k % 4 === 0)
        lines.push(
          `      - name: step ${k}`,
          '        env:',
          `          TOKEN: \${{ secrets.TOKEN_${k} }}`,
          `        run: ./scripts/task-${k}.sh --flag "$TOKEN"`,
        );
      else if (k % 4 === 1)
        lines.push('      - uses: actions/setup-node@39370e3970a6d050c480ffad4ff0ed4d3fdee5af', '        with:', '          node-version: 22');
      else if (k % 4 === 2 && i % 5 === 0) lines.push(`      - run: echo "\${{ github.event.issue.title }} ${k}"`);
      else lines.push('      - run: |', `          npm ci`, `          npm test -- --shard=${k}/${steps}`, '          echo "done" >> "$GITHUB_STEP_SUMMARY"');
    }
  }
  return `${lines.join('\n')}\n`;
}

function benchAudit(): void {
  const files: CiFile[] = Array.from({ length: WORKFLOWS }, (_, i) => ({ path: `.github/workflows/wf-${i}.yml`, text: workflow(i) }));
  const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.text), 0);
  // Per-file audits (as a repository of 1 file each) and one audit of them all (the blast radius is global).
  const per = (f: CiFile) => auditCiFiles([f], { now: NOW, secrets: true });
  for (const f of files.slice(0, 20)) per(f);
  const audit: number[] = [];
  const whole: number[] = [];
  const parse: number[] = [];
  let findings = 0;
  for (let r = 0; r < ROUNDS; r++) {
    parse.push(
      time(() => {
        for (const f of files) parseDocument(f.text);
      }),
    );
    audit.push(
      time(() => {
        for (const f of files) per(f);
      }),
    );
    whole.push(
      time(() => {
        findings = auditCiFiles(files, { now: NOW }).report.findings.length;
      }),
    );
  }
  const a = median(audit);
  const w = median(whole);
  const p = median(parse);
  console.log(`ci audit: ${files.length} generated workflows, ${(bytes / 1e6).toFixed(2)} MB, ${findings} findings, median of ${ROUNDS} rounds`);
  console.log(`  audit, one file at a time   ${(files.length / a).toFixed(0).padStart(7)} files/s  ${(bytes / 1e6 / a).toFixed(2).padStart(6)} MB/s`);
  console.log(
    `  audit, whole repository     ${(files.length / w).toFixed(0).padStart(7)} files/s  ${(bytes / 1e6 / w).toFixed(2).padStart(6)} MB/s  (with blast radius)`,
  );
  console.log(
    `  yaml.parseDocument only     ${(files.length / p).toFixed(0).padStart(7)} files/s  ${(bytes / 1e6 / p).toFixed(2).padStart(6)} MB/s  (reference)`,
  );
  console.log(`  ratio audit / parse-only: ${(p / a).toFixed(2)}x the throughput (1.00 = auditing costs nothing beyond parsing)`);
}

const WORDS = [
  'const',
  'return',
  'function',
  'import',
  'export',
  'value',
  'config',
  'server',
  'request',
  'response',
  'await',
  'process',
  'options',
  'string',
  'number',
];

/** Source-like text with a planted secret every ~64 KiB. */
function corpusFile(seed: number, size: number): string {
  const out: string[] = [];
  let n = 0;
  let line = 0;
  while (n < size) {
    line++;
    let l: string;
    if (line % 900 === 0) l = `const client = connect({ token: "${join('gh', 'p_', fakeChars(ALNUM, 36, seed * 1000 + line))}" });`;
    else if (line % 1300 === 0) l = `AWS_ACCESS_KEY_ID=${join('AK', 'IA', fakeChars('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16, seed + line))}`;
    else if (line % 50 === 0) l = `  // sha ${fakeChars(HEX, 40, seed + line)} url https://example.com/${WORDS[line % WORDS.length]}`;
    else
      l = `  ${WORDS[(seed + line) % WORDS.length]} ${WORDS[(line * 7) % WORDS.length]}_${line} = ${WORDS[(line * 3) % WORDS.length]}(${line}, "${WORDS[line % 5]}");`;
    out.push(l);
    n += l.length + 1;
  }
  return `${out.join('\n')}\n`;
}

/** POSIX ERE versions of the prefix-anchored rules (no \b, no groups by name, no lazy repeats). */
const GREP_PATTERNS = [
  '(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}',
  'gh[pousr]_[A-Za-z0-9]{36}',
  'github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}',
  'glpat-[0-9A-Za-z_-]{20}',
  'npm_[A-Za-z0-9]{36}',
  'xox[abprs]-[0-9A-Za-z-]{10,}',
  '[rs]k_live_[0-9a-zA-Z]{20,}',
  'AIza[0-9A-Za-z_-]{35}',
  'SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}',
  '-----BEGIN[ A-Z0-9_-]*PRIVATE KEY',
  'eyJ[A-Za-z0-9_-]{10,}\\.eyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}',
  '(postgres|postgresql|mysql|mongodb|redis)://[^ :/@]+:[^ @/]{3,}@',
  'hv[sbr]\\.[A-Za-z0-9_-]{24,}',
  'dckr_pat_[A-Za-z0-9_-]{27}',
  'hf_[A-Za-z]{34}',
  '(secret|token|password|api_?key)[A-Za-z0-9_.-]{0,20}["\']? *[:=] *["\']?[A-Za-z0-9+/=_.-]{16,}',
];

async function benchSecrets(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-secrets-'));
  try {
    const files = Math.max(1, Math.round(CORPUS_MB * 4));
    const texts: { path: string; text: string }[] = [];
    for (let i = 0; i < files; i++) {
      const rel = `src/m${i % 16}/file-${i}.ts`;
      const text = corpusFile(i + 1, 256 * 1024);
      mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
      texts.push({ path: rel, text });
    }
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', '-c', 'init.defaultBranch=main', ...a], { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'corpus');
    const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t.text), 0);
    const detector = new SecretDetector();
    detector.scan(texts[0]?.text ?? '', 'warm.ts');
    const memory: number[] = [];
    const disk: number[] = [];
    const grep: number[] = [];
    const grepPrefix: number[] = [];
    let found = 0;
    let grepLines = 0;
    for (let r = 0; r < ROUNDS; r++) {
      memory.push(
        time(() => {
          found = 0;
          for (const t of texts) found += detector.scan(t.text, t.path).length;
        }),
      );
      const t0 = process.hrtime.bigint();
      await scanSecrets(dir, { now: NOW, detector });
      disk.push(Number(process.hrtime.bigint() - t0) / 1e9);
      grep.push(
        time(() => {
          const g = spawnSync('git', ['grep', '-E', '-I', '-i', '-c', ...GREP_PATTERNS.flatMap((p) => ['-e', p])], {
            cwd: dir,
            encoding: 'utf8',
            maxBuffer: 64 * 1024 * 1024,
          });
          grepLines = g.stdout
            .split('\n')
            .filter((l) => l !== '')
            .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(':') + 1)), 0);
        }),
      );
    }
    for (let r = 0; r < ROUNDS; r++) {
      grepPrefix.push(
        time(() =>
          spawnSync('git', ['grep', '-E', '-I', '-c', ...GREP_PATTERNS.slice(0, -1).flatMap((p) => ['-e', p])], { cwd: dir, maxBuffer: 64 * 1024 * 1024 }),
        ),
      );
    }
    const gp = median(grepPrefix);
    const m = median(memory);
    const d = median(disk);
    const g = median(grep);
    console.log('');
    console.log(
      `secret scan: ${files} files, ${(bytes / 1e6).toFixed(1)} MB of source-like text, ${found} secrets found (git grep matched ${grepLines} lines), median of ${ROUNDS} rounds`,
    );
    console.log(`  cairn, ${detector.rules.length} RE2 rules, in memory   ${(bytes / 1e6 / m).toFixed(1).padStart(6)} MB/s`);
    console.log(`  cairn scanSecrets (git ls-files + read)  ${(bytes / 1e6 / d).toFixed(1).padStart(6)} MB/s`);
    console.log(`  git grep -E -i, ${GREP_PATTERNS.length} ERE patterns (reference) ${(bytes / 1e6 / g).toFixed(1).padStart(6)} MB/s`);
    console.log(`  git grep -E, the ${GREP_PATTERNS.length - 1} prefix patterns only        ${(bytes / 1e6 / gp).toFixed(1).padStart(6)} MB/s`);
    console.log(`  ratio cairn (from disk) / git grep (all patterns): ${(g / d).toFixed(2)}x; / git grep (prefix patterns): ${(gp / d).toFixed(2)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

benchAudit();
await benchSecrets();
