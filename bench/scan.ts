/**
 * `cairn scan` (lockfile rules, typosquats, OSV matching, and the CycloneDX SBOM built and
 * validated) on a synthetic 2,000-package npm lockfile against 5,000 OSV advisories
 * synthesised from the real records in ../shared/data/osv-npm, against lockfile-lint and
 * @cyclonedx/cyclonedx-npm on the same lockfile, measured in the same run:
 *
 * - in-process, equal work: cairn's lockfile rules against lockfile-lint's validators
 *   (`runValidators`, what its CLI calls), warm medians of interleaved rounds;
 * - in-process, cairn's whole pass (`scanProject`), cold (first call: the CycloneDX 1.6
 *   schema compiles) and warm;
 * - processes (wall time, node start-up included): `cairn scan --sbom`, `cairn sbom`,
 *   the lockfile-lint CLI and the cyclonedx-npm CLI (which runs `npm ls --package-lock-only`).
 *
 *   node dist/bench/scan.js [--rounds N] [--packages N] [--advisories N]   (KEEP=1 keeps the generated files)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePackageLock } from '../src/model/lockfile.js';
import { checkLockfile } from '../src/scan/lockfile-rules.js';
import { POPULAR_NAMES } from '../src/scan/popular-names.js';
import { scanProject } from '../src/scan/project.js';
import { checkTyposquats } from '../src/scan/typosquat.js';
import { median } from './measure.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const ROUNDS = arg('rounds', 5);
const PACKAGES = arg('packages', 2000);
const ADVISORIES = arg('advisories', 5000);
const OSV_DIR = path.resolve(ROOT, '../shared/data/osv-npm');
const NOW = new Date('2026-11-01T00:00:00Z');

/** mulberry32: a small seeded generator, so every run scans the same lockfile. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sri(text: string): string {
  return `sha512-${createHash('sha512').update(text).digest('base64')}`;
}

function tarball(name: string, version: string): string {
  const base = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `https://registry.npmjs.org/${name}/-/${base}-${version}.tgz`;
}

/** A package-lock.json v3 with `count` installed packages (about a tenth nested) and its package.json. */
function syntheticProject(dir: string, advisoryNames: readonly string[], count: number): string[] {
  const rand = prng(20261101);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const version = () =>
    `${Math.floor(rand() * 12)}.${Math.floor(rand() * 30)}.${Math.floor(rand() * 20)}${rand() < 0.03 ? `-rc.${Math.floor(rand() * 5)}` : ''}`;
  const nestedCount = Math.floor(count / 10);
  const topNames: string[] = [];
  const seen = new Set<string>();
  for (const n of [...advisoryNames, ...POPULAR_NAMES]) {
    if (topNames.length >= count - nestedCount) break;
    if (!seen.has(n)) topNames.push(n);
    seen.add(n);
  }
  for (let i = 0; topNames.length < count - nestedCount; i++) {
    const n = i % 3 === 0 ? `@bench/module-${i}` : `bench-module-${i}`;
    if (!seen.has(n)) topNames.push(n);
    seen.add(n);
  }
  const packages: Record<string, Record<string, unknown>> = {};
  const rootDeps: Record<string, string> = {};
  const direct = topNames.slice(0, 60);
  for (const n of direct) rootDeps[n] = '*';
  packages[''] = { name: 'bench-app', version: '1.0.0', dependencies: rootDeps };
  for (const name of topNames) {
    const v = version();
    const deps: Record<string, string> = {};
    const k = Math.floor(rand() * 5);
    for (let j = 0; j < k; j++) deps[pick(topNames)] = '*';
    delete deps[name];
    packages[`node_modules/${name}`] = {
      version: v,
      resolved: tarball(name, v),
      integrity: sri(`${name}@${v}`),
      license: 'MIT',
      ...(k > 0 ? { dependencies: deps } : {}),
    };
  }
  for (let i = 0; i < nestedCount; i++) {
    const parent = pick(topNames);
    const child = pick(topNames);
    if (child === parent || packages[`node_modules/${parent}/node_modules/${child}`]) {
      i--;
      continue;
    }
    const v = version();
    packages[`node_modules/${parent}/node_modules/${child}`] = { version: v, resolved: tarball(child, v), integrity: sri(`${child}@${v}`), license: 'MIT' };
  }
  writeFileSync(
    path.join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: 'bench-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'bench-app', version: '1.0.0', dependencies: rootDeps }, null, 2)}\n`);
  return topNames;
}

/** `count` OSV records: the real ones, renamed onto lockfile packages (ranges and versions kept), ids made unique. */
function syntheticAdvisories(dir: string, real: readonly Record<string, unknown>[], names: readonly string[], count: number): void {
  const rand = prng(5000);
  for (let i = 0; i < count; i++) {
    const base = real[i % real.length] as { id: string; affected: { package: { ecosystem: string; name: string } }[] };
    const target = names[Math.floor(rand() * names.length)] as string;
    const copy = JSON.parse(JSON.stringify(base)) as typeof base & { aliases?: string[] };
    copy.id = `BENCH-${i}-${base.id}`;
    copy.aliases = [];
    for (const a of copy.affected) if (a.package.ecosystem === 'npm' && i >= real.length) a.package.name = target;
    writeFileSync(path.join(dir, `${copy.id}.json`), JSON.stringify(copy));
  }
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Wall time of a process, and its CPU time (user + system) when GNU time is there to report it. */
function timeProcess(
  command: string,
  args: readonly string[],
  cwd: string,
  scratchDir: string,
): { ms: number; cpuMs: number; code: number | null; stderr: string } {
  const cpuFile = path.join(scratchDir, 'cpu.txt');
  const [bin, argv] = GNU_TIME ? [GNU_TIME, ['-o', cpuFile, '-f', '%U %S', command, ...args]] : [command, [...args]];
  const t0 = performance.now();
  const r = spawnSync(bin, argv, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', npm_config_offline: 'true' }, maxBuffer: 256 * 1024 * 1024 });
  const ms = performance.now() - t0;
  const cpu = GNU_TIME && existsSync(cpuFile) ? readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) : undefined;
  return { ms, cpuMs: cpu ? ((cpu[0] ?? 0) + (cpu[1] ?? 0)) * 1000 : Number.NaN, code: r.status, stderr: (r.stderr ?? '').slice(0, 400) };
}

async function main(): Promise<void> {
  if (!existsSync(OSV_DIR)) {
    console.log(`skipped: the real OSV records are not at ${OSV_DIR}`);
    return;
  }
  const real = readdirSync(OSV_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(OSV_DIR, f), 'utf8')) as Record<string, unknown>);
  const advisoryNames = [
    ...new Set(
      real.flatMap((r) =>
        (r.affected as { package: { ecosystem: string; name: string } }[]).filter((a) => a.package.ecosystem === 'npm').map((a) => a.package.name),
      ),
    ),
  ].sort();
  const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-scan-'));
  try {
    const project = path.join(work, 'project');
    const osv = path.join(work, 'osv');
    mkdirSync(project);
    mkdirSync(osv);
    const names = syntheticProject(project, advisoryNames, PACKAGES);
    syntheticAdvisories(osv, real, names, ADVISORIES);
    const lockBytes = readFileSync(path.join(project, 'package-lock.json')).length;
    console.log(
      `lockfile: ${PACKAGES} packages, ${(lockBytes / 1024).toFixed(0)} KiB; advisories: ${ADVISORIES} OSV records (from ${real.length} real ones); node ${process.version}; ${os.cpus().length} CPUs`,
    );

    const lockPath = path.join(project, 'package-lock.json');
    // Equal work in-process: lockfile-lint's four validators (each re-reads and re-parses the
    // lockfile, as its CLI does) against cairn reading the lockfile once and running its rules.
    const lockfileLint = createRequire(import.meta.url)(path.join(ROOT, 'node_modules/lockfile-lint/src/main.js')) as {
      runValidators(o: { type: string; path: string; validators: { name: string; values: unknown }[] }): { validatorFailures: number };
    };
    const lintValidators = [
      { name: 'validateHosts', values: ['npm'] },
      { name: 'validateHttps', values: true },
      { name: 'validateIntegrity', values: true },
      { name: 'ValidatePackageNames', values: true },
    ];
    const lintInProcess = () => lockfileLint.runValidators({ type: 'npm', path: lockPath, validators: lintValidators });
    const cairnRules = () => {
      const graph = parsePackageLock(readFileSync(lockPath));
      return [...checkLockfile(graph), ...checkTyposquats(graph)];
    };
    const lintFailures = lintInProcess().validatorFailures;
    const cairnRuleFindings = cairnRules().length;
    const equal: Record<string, number[]> = { cairn: [], lint: [] };
    for (let i = 0; i < ROUNDS * 4; i++) {
      let t = performance.now();
      cairnRules();
      equal.cairn?.push(performance.now() - t);
      t = performance.now();
      lintInProcess();
      equal.lint?.push(performance.now() - t);
    }

    const options = { toolVersion: 'bench', now: NOW, osv, baseline: null, sourceDateEpoch: 1_700_000_000 } as const;
    let t0 = performance.now();
    let c0 = process.cpuUsage();
    const first = await scanProject(project, options);
    const coldMs = performance.now() - t0;
    const coldCpu = process.cpuUsage(c0);
    const warm: number[] = [];
    const warmCpu: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      t0 = performance.now();
      c0 = process.cpuUsage();
      await scanProject(project, options);
      warm.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      warmCpu.push((c.user + c.system) / 1000);
    }
    const byRule = new Map<string, number>();
    for (const f of first.report.findings) byRule.set(f.ruleId, (byRule.get(f.ruleId) ?? 0) + 1);
    console.log(
      `cairn found ${first.report.findings.length} findings (${[...byRule].map(([r, n]) => `${r} ${n}`).join(', ')}); SBOM ${first.sbom?.components} components, ${first.sbom?.bytes.length} bytes`,
    );
    console.log(`lockfile rules alone: cairn ${cairnRuleFindings} findings, lockfile-lint ${lintFailures} failures (the lockfile is clean for both)`);

    const cairn = path.join(ROOT, 'bin/cairn.js');
    const scanArgs = [
      cairn,
      'scan',
      project,
      '--osv',
      osv,
      '--no-baseline',
      '--format',
      'json',
      '--output',
      path.join(work, 'report.json'),
      '--sbom',
      path.join(work, 'sbom.json'),
      '--now',
      NOW.toISOString(),
    ];
    const sbomArgs = [cairn, 'sbom', project, '--output', path.join(work, 'sbom-only.json'), '--source-date-epoch', '1700000000'];
    const lintArgs = [
      path.join(ROOT, 'node_modules/lockfile-lint/bin/lockfile-lint.js'),
      '--path',
      lockPath,
      '--type',
      'npm',
      '--allowed-hosts',
      'npm',
      '--validate-https',
      '--validate-integrity',
      '--validate-package-names',
    ];
    const cdxBin = path.join(ROOT, 'node_modules/@cyclonedx/cyclonedx-npm/bin/cyclonedx-npm-cli.js');
    const cdxArgs = [
      cdxBin,
      '--package-lock-only',
      '--ignore-npm-errors',
      '--output-reproducible',
      '--spec-version',
      '1.6',
      '--output-file',
      path.join(work, 'cdx-npm.json'),
      path.join(project, 'package.json'),
    ];
    const commands = [
      ['cairn-version', [cairn, '--version']],
      ['cairn-scan', scanArgs],
      ['cairn-sbom', sbomArgs],
      ['lockfile-lint', lintArgs],
      ['cyclonedx-npm', cdxArgs],
    ] as const;
    const runs: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const last: Record<string, { code: number | null; stderr: string }> = {};
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, args] of commands) {
        const r = timeProcess(process.execPath, args, project, work);
        runs[name] = [...(runs[name] ?? []), r.ms];
        cpu[name] = [...(cpu[name] ?? []), r.cpuMs];
        last[name] = r;
      }
    }
    const version = (pkg: string) => (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    const npmVersion = execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim();
    const ms = (name: string) => median(runs[name] ?? []);
    const cpuOf = (name: string) => median(cpu[name] ?? []);
    const row = (label: string, value: number, note = '') => console.log(`  ${label.padEnd(52)} ${value.toFixed(0).padStart(6)} ms${note}`);
    console.log('');
    console.log(`in-process, equal work (lockfile integrity rules on the same lockfile), warm median of ${ROUNDS * 4}:`);
    row('cairn: parse + lockfile rules + typosquats', median(equal.cairn ?? []));
    row(
      `lockfile-lint ${version('lockfile-lint')}: 4 validators (runValidators)`,
      median(equal.lint ?? []),
      `  ${(median(equal.lint ?? []) / median(equal.cairn ?? [])).toFixed(2)}× cairn's time`,
    );
    console.log('in-process, cairn scanProject (lockfile rules + typosquats + 5,000 advisories + CycloneDX SBOM built and validated):');
    row('cold (first call, compiles the CycloneDX 1.6 schema)', coldMs, `, CPU ${((coldCpu.user + coldCpu.system) / 1000).toFixed(0)} ms`);
    row(`warm, median of ${ROUNDS}`, median(warm), `, CPU ${median(warmCpu).toFixed(0)} ms`);
    console.log(`processes, median of ${ROUNDS} (wall time, node start-up included; load average ${os.loadavg()[0]?.toFixed(1)}):`);
    const cpuNote = (name: string) => (Number.isNaN(cpuOf(name)) ? '' : `, CPU ${cpuOf(name).toFixed(0)} ms`);
    row('cairn --version (the start-up every cairn command pays)', ms('cairn-version'), cpuNote('cairn-version'));
    row(
      'cairn scan --osv --sbom (everything above)',
      ms('cairn-scan'),
      `${cpuNote('cairn-scan')}; exit ${last['cairn-scan']?.code} (findings at or above high)`,
    );
    row('cairn sbom', ms('cairn-sbom'), `${cpuNote('cairn-sbom')}; exit ${last['cairn-sbom']?.code}`);
    row(
      `lockfile-lint ${version('lockfile-lint')} CLI`,
      ms('lockfile-lint'),
      `${cpuNote('lockfile-lint')}; exit ${last['lockfile-lint']?.code}; ${(ms('lockfile-lint') / ms('cairn-scan')).toFixed(2)}× cairn scan's wall time`,
    );
    row(
      `cyclonedx-npm ${version('@cyclonedx/cyclonedx-npm')} CLI (npm ${npmVersion})`,
      ms('cyclonedx-npm'),
      `${cpuNote('cyclonedx-npm')}; exit ${last['cyclonedx-npm']?.code}; ${(ms('cyclonedx-npm') / ms('cairn-sbom')).toFixed(2)}× cairn sbom's, ${(ms('cyclonedx-npm') / ms('cairn-scan')).toFixed(2)}× cairn scan's wall time`,
    );
    for (const [name] of commands)
      if (last[name]?.code !== 0 && name !== 'cairn-scan' && name !== 'cairn-version') console.log(`    ${name}: ${last[name]?.stderr.split('\n')[0]}`);
  } finally {
    if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
    else console.log(work);
  }
}

await main();
