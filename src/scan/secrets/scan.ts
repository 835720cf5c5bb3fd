import { spawn } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { RE2JS } from 're2js';
import { sha256Digest } from '../../crypto/digest.js';
import type { Digest } from '../../model/digest.js';
import { SEVERITIES, type Finding, type ScanReport, type Severity } from '../../model/finding.js';
import { applyBaseline, type Baseline } from './baseline.js';
import { SecretDetector } from './engine.js';
import { SecretScanError } from './errors.js';

export interface SecretScanLimits {
  /** Larger files are skipped (and counted). */
  readonly maxFileBytes: number;
  readonly maxFiles: number;
  readonly maxTotalBytes: number;
  /** Cap on the `git log -p` output read for `--since`. */
  readonly maxHistoryBytes: number;
}

export const DEFAULT_SECRET_LIMITS: SecretScanLimits = {
  maxFileBytes: 2 * 1024 * 1024,
  maxFiles: 200_000,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxHistoryBytes: 512 * 1024 * 1024,
};

export interface SecretScanOptions {
  /** `tree` (default): files of the working tree (git-tracked and untracked-not-ignored, else every file); `ci`: CI files only. */
  readonly target?: 'tree' | 'ci';
  /** Also scan lines added by the commits in `since..HEAD`. */
  readonly since?: string;
  readonly baseline?: Baseline;
  /** The clock baseline expiry is judged by. */
  readonly now: Date;
  readonly limits?: Partial<SecretScanLimits>;
  readonly toolVersion?: string;
  readonly detector?: SecretDetector;
  /** Environment for git (PATH); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface SecretScanResult {
  readonly report: ScanReport;
  readonly filesScanned: number;
  readonly bytesScanned: number;
  readonly skipped: readonly { readonly file: string; readonly reason: 'too-large' | 'binary' | 'unreadable' }[];
  readonly commitsScanned: number;
}

const CI_FILE = RE2JS.compile(
  '^(?:\\.github/workflows/[^/]+\\.ya?ml|\\.github/actions/.+\\.ya?ml|action\\.ya?ml|\\.gitlab-ci\\.ya?ml|\\.gitlab/.+\\.ya?ml|\\.circleci/.+|Jenkinsfile|\\.travis\\.ya?ml|azure-pipelines\\.ya?ml|bitbucket-pipelines\\.ya?ml|\\.buildkite/.+|\\.drone\\.ya?ml|cloudbuild\\.ya?ml|\\.woodpecker/.+|\\.woodpecker\\.ya?ml)$',
);
const SKIP_DIRS = new Set(['.git', 'node_modules', '.hg', '.svn']);

/** Whether a path (relative, POSIX) is a CI configuration file. */
export function isCiFile(file: string): boolean {
  return CI_FILE.test(file);
}

function git(
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  maxBytes: number,
): Promise<{ code: number; stdout: Buffer; stderr: string; overflow: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-c', 'core.quotepath=off', '-c', 'diff.noprefix=false', ...args], {
      cwd,
      env: { PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/nonexistent', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        overflow = true;
        child.kill('SIGKILL');
      } else chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.on('error', (cause) => reject(new SecretScanError('SCAN_SECRET_GIT_FAILED', `git could not be run: ${cause.message}`, { cause })));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(chunks), stderr, overflow }));
  });
}

async function isGitWorkTree(dir: string, env: Readonly<Record<string, string | undefined>>): Promise<boolean> {
  try {
    const r = await git(['rev-parse', '--is-inside-work-tree'], dir, env, 4096);
    return r.code === 0 && r.stdout.toString('utf8').trim() === 'true';
  } catch {
    return false;
  }
}

async function listFiles(dir: string, limits: SecretScanLimits, env: Readonly<Record<string, string | undefined>>): Promise<string[]> {
  if (await isGitWorkTree(dir, env)) {
    const r = await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '.'], dir, env, 256 * 1024 * 1024);
    if (r.code !== 0) throw new SecretScanError('SCAN_SECRET_GIT_FAILED', `git ls-files failed: ${r.stderr.trim()}`);
    const files = [
      ...new Set(
        r.stdout
          .toString('utf8')
          .split('\0')
          .filter((f) => f !== ''),
      ),
    ].sort();
    if (files.length > limits.maxFiles)
      throw new SecretScanError('SCAN_SECRET_TOO_MANY_FILES', `${files.length} files is over the ${limits.maxFiles}-file cap`);
    return files;
  }
  const out: string[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) stack.push(child);
      } else if (e.isFile()) {
        out.push(child);
        if (out.length > limits.maxFiles) throw new SecretScanError('SCAN_SECRET_TOO_MANY_FILES', `more than ${limits.maxFiles} files`);
      }
    }
  }
  return out.sort();
}

function isBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 8000);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
  return false;
}

function summary(findings: readonly Finding[]): Record<Severity, number> {
  const s = Object.fromEntries(SEVERITIES.map((k) => [k, 0])) as Record<Severity, number>;
  for (const f of findings) s[f.severity]++;
  return s;
}

/** Orders findings by file, line, column and rule, so reports are byte-stable. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      (a.location.file < b.location.file ? -1 : a.location.file > b.location.file ? 1 : 0) ||
      a.location.line - b.location.line ||
      (a.location.column ?? 0) - (b.location.column ?? 0) ||
      (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0) ||
      (a.fingerprint < b.fingerprint ? -1 : 1),
  );
}

/**
 * Scans a folder for secrets: the working tree (or only its CI files) and, with `since`, the
 * lines added by `since..HEAD`. Findings carry a hash and a masked excerpt, never the secret;
 * `baseline` entries accept known ones until they expire.
 */
export async function scanSecrets(dir: string, options: SecretScanOptions): Promise<SecretScanResult> {
  const limits = { ...DEFAULT_SECRET_LIMITS, ...options.limits };
  const env = options.env ?? process.env;
  const detector = options.detector ?? new SecretDetector();
  try {
    if (!(await lstat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw new SecretScanError('SCAN_SECRET_NOT_A_DIRECTORY', `${dir} is not a directory`, { cause });
  }
  const all = await listFiles(dir, limits, env);
  const files = options.target === 'ci' ? all.filter(isCiFile) : all;
  const findings: Finding[] = [];
  const skipped: { file: string; reason: 'too-large' | 'binary' | 'unreadable' }[] = [];
  const treeEntries: string[] = [];
  let bytesScanned = 0;
  for (const file of files) {
    const full = path.join(dir, file);
    let bytes: Buffer;
    try {
      const info = await lstat(full);
      if (!info.isFile()) continue;
      if (info.size > limits.maxFileBytes) {
        skipped.push({ file, reason: 'too-large' });
        continue;
      }
      bytes = await readFile(full);
    } catch {
      skipped.push({ file, reason: 'unreadable' });
      continue;
    }
    bytesScanned += bytes.length;
    if (bytesScanned > limits.maxTotalBytes) throw new SecretScanError('SCAN_SECRET_TOO_LARGE', `more than ${limits.maxTotalBytes} bytes to scan`);
    treeEntries.push(`${file}\u0000${sha256Digest(bytes)}`);
    if (isBinary(bytes)) {
      skipped.push({ file, reason: 'binary' });
      continue;
    }
    findings.push(...detector.scan(bytes.toString('utf8'), file));
  }
  const inputs: Record<string, Digest> = { rules: detector.digest, tree: sha256Digest(treeEntries.join('\n')) };
  let commitsScanned = 0;
  if (options.since !== undefined) {
    const history = await scanHistory(dir, options.since, detector, limits, env, options.target === 'ci');
    commitsScanned = history.commits;
    inputs.history = history.digest;
    const seen = new Set(findings.map((f) => f.fingerprint));
    for (const f of history.findings) if (!seen.has(f.fingerprint)) findings.push(f);
  }
  const outcome = applyBaseline(sortFindings(findings), options.baseline, options.now);
  if (options.baseline) inputs.baseline = sha256Digest(JSON.stringify(options.baseline));
  return {
    report: {
      tool: { name: 'cairn', version: options.toolVersion ?? '0.0.0', scanner: 'secrets' },
      inputs,
      findings: outcome.findings,
      suppressed: outcome.suppressed,
      summary: summary(outcome.findings),
    },
    filesScanned: files.length - skipped.length,
    bytesScanned,
    skipped,
    commitsScanned,
  };
}

const REVISION = RE2JS.compile('^[A-Za-z0-9][A-Za-z0-9._/@{}~^:-]{0,255}$');

/**
 * Secrets in the lines added by each commit of `since..HEAD` (newest first in git's order;
 * a secret added in several commits is reported once, at the oldest).
 */
export async function scanHistory(
  dir: string,
  since: string,
  detector: SecretDetector,
  limits: SecretScanLimits,
  env: Readonly<Record<string, string | undefined>>,
  ciOnly = false,
): Promise<{ findings: Finding[]; commits: number; digest: Digest }> {
  if (!REVISION.test(since)) throw new SecretScanError('SCAN_SECRET_BAD_REVISION', `--since ${JSON.stringify(since)} is not a revision`);
  const verify = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${since}^{commit}`], dir, env, 4096);
  if (verify.code !== 0) throw new SecretScanError('SCAN_SECRET_BAD_REVISION', `--since ${since} does not name a commit here`);
  const base = verify.stdout.toString('utf8').trim();
  const head = await git(['rev-parse', '--verify', 'HEAD^{commit}'], dir, env, 4096);
  if (head.code !== 0) throw new SecretScanError('SCAN_SECRET_BAD_REVISION', 'HEAD does not name a commit');
  const log = await git(
    [
      'log',
      '-p',
      '-U0',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      '--no-renames',
      '--diff-filter=AM',
      '--relative',
      '--format=%x00commit %H',
      `${base}..HEAD`,
      '--',
      '.',
    ],
    dir,
    env,
    limits.maxHistoryBytes,
  );
  if (log.overflow) throw new SecretScanError('SCAN_SECRET_HISTORY_TOO_LARGE', `the history since ${since} is over ${limits.maxHistoryBytes} bytes of diff`);
  if (log.code !== 0) throw new SecretScanError('SCAN_SECRET_GIT_FAILED', `git log failed: ${log.stderr.trim()}`);
  const byFingerprint = new Map<string, Finding>();
  let commit = '';
  let file: string | null = null;
  let commits = 0;
  let hunk: { start: number; lines: string[] } | null = null;
  const flush = () => {
    if (hunk && file !== null && hunk.lines.length > 0 && (!ciOnly || isCiFile(file))) {
      for (const f of detector.scan(hunk.lines.join('\n'), file, { line: hunk.start, commit })) byFingerprint.set(f.fingerprint, f);
    }
    hunk = null;
  };
  for (const line of log.stdout.toString('utf8').split('\n')) {
    if (line.startsWith('\u0000commit ')) {
      flush();
      commit = line.slice('\u0000commit '.length).trim();
      commits++;
      file = null;
    } else if (line.startsWith('diff --git ')) {
      flush();
      file = null;
    } else if (line.startsWith('+++ ')) {
      flush();
      const name = line.slice(4);
      file = name === '/dev/null' ? null : name.startsWith('b/') ? name.slice(2) : name;
    } else if (line.startsWith('@@ ')) {
      flush();
      const plus = line.indexOf('+');
      const start = Number.parseInt(line.slice(plus + 1), 10);
      hunk = { start: Number.isFinite(start) ? start : 1, lines: [] };
    } else if (hunk && line.startsWith('+')) {
      (hunk as { lines: string[] }).lines.push(line.slice(1));
    }
  }
  flush();
  return {
    findings: [...byFingerprint.values()],
    commits,
    digest: sha256Digest(`${base}..${head.stdout.toString('utf8').trim()}`),
  };
}
