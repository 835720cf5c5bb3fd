import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { sha256Digest } from '../crypto/digest.js';
import { type CommandTargetConfig, NAME_PATTERN } from '../model/config.js';
import { type Digest, digestHex, isDigest } from '../model/digest.js';
import type { CairnErrorOptions, Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import { parseJson } from '../model/json.js';
import type { Deployment } from '../model/release.js';
import { DeployError } from './errors.js';
import type { VersionMetrics } from './sprt.js';
import {
  type ApplyOrder,
  commandCapabilities,
  type DeployTarget,
  type StartRequest,
  type TargetCapabilities,
  type TrafficReading,
  type TrafficTarget,
} from './target.js';

/** Bytes of stdout a script may print; more is an output error (and the script is killed). */
export const MAX_SCRIPT_STDOUT = 64 * 1024;
/** Bytes of stderr kept for the error message of a failed script. */
const STDERR_TAIL_BYTES = 4096;
/** Milliseconds a finished script's pipes may stay open (held by a process it left behind) before cairn stops reading them. */
const DRAIN_MS = 1000;
/** The exit code by which `shift` refuses an order whose fence is below the highest it applied. */
export const SHIFT_REFUSED_EXIT = 3;

const RECORD_FILE = 'cairn-command-target.json';
const RECORD_MAX_BYTES = 8 * 1024 * 1024;
/** Applied operation ids remembered per environment; older ones fall below the fence anyway. */
const APPLIED_KEPT = 4096;
/** Stopped deployments remembered; running ones are always kept. */
const STOPPED_KEPT = 1024;

const OP_ID = /^[\x21-\x7e]{1,256}$/;
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;
const MAX_METRIC_RELEASES = 64;
const MAX_CUSTOM_METRICS = 32;
const MAX_P99_MS = 86_400_000;

export type CommandScript = 'start' | 'shift' | 'read' | 'metrics' | 'stop';

export interface CommandTargetOptions {
  /** The scripts, from `deploy.commands`. */
  readonly commands: CommandTargetConfig;
  /** Working folder: scripts run here (it is also their `HOME`), and the target keeps its record and the artifacts here. */
  readonly dir: string;
  readonly clock?: () => Date;
}

/** What the `metrics` script reports for one release; `custom` holds the extra named values (empty when none). */
export interface CommandVersionMetrics extends VersionMetrics {
  readonly custom: Readonly<Record<string, number>>;
}

interface StartRecord {
  readonly opId: string;
  readonly artifactDigest: Digest;
  readonly deployment: Deployment;
}

interface EnvironmentRecord {
  readonly fence: readonly [number, number];
  /** Operation ids `shift` answered 0 for, oldest first. */
  readonly applied: readonly string[];
}

/** What the target remembers across processes in its folder: the releases it started and the operations it applied. */
interface TargetRecord {
  /** Keyed by deployment handle. */
  readonly starts: Readonly<Record<string, StartRecord>>;
  readonly environments: Readonly<Record<string, EnvironmentRecord>>;
}

const EMPTY_RECORD: TargetRecord = { starts: {}, environments: {} };

interface ScriptOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderrTail: string;
}

/**
 * The `command` target: a place releases run that cairn reaches only through the user's
 * scripts in `deploy.commands`. Each script runs with `/bin/sh -c` in the target's folder,
 * under a timeout that kills its whole process group, with a cleared environment plus the
 * `CAIRN_*` variables of the operation; its stdout is capped and parsed strictly.
 *
 * Every script gets `CAIRN_OPERATION_ID` and `CAIRN_ENVIRONMENT`. `start` and `stop` get the
 * release (`CAIRN_RELEASE_DIGEST`, `CAIRN_ARTIFACT_DIGEST`), `start` also `CAIRN_ARTIFACT`
 * (a file of the exact artifact bytes). `shift`, `read` and `metrics` get the pair
 * (`CAIRN_NEXT`, `CAIRN_PREVIOUS`, empty on a first deployment; `CAIRN_RELEASE_DIGEST` is
 * `next`), and `shift` the order (`CAIRN_WEIGHT`, `CAIRN_EPOCH`, `CAIRN_SEQ`).
 *
 * Scripts get the operation id (`CAIRN_OPERATION_ID`) so they can deduplicate across cairn
 * processes, but the target does not rely on that where it can help: it keeps a record in
 * its folder and never runs `shift` again for an id it saw applied, nor for a fence below
 * the highest it saw applied in that environment.
 */
export class CommandTarget implements DeployTarget {
  readonly name = 'command';
  readonly capabilities: TargetCapabilities;
  private readonly commands: CommandTargetConfig;
  private readonly dir: string;
  private readonly clock: () => Date;
  /** Serialises the read-modify-write of the record within this process. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: CommandTargetOptions) {
    this.commands = options.commands;
    this.dir = path.resolve(options.dir);
    this.clock = options.clock ?? (() => new Date());
    this.capabilities = commandCapabilities(options.commands);
  }

  async start(request: StartRequest): Promise<Deployment> {
    const { release, releaseDigest, opId } = request;
    checkOpId(opId);
    checkEnvironment(release.environment);
    if (!isDigest(releaseDigest)) throw new RangeError(`not a release digest: ${releaseDigest}`);
    return this.exclusive(async () => {
      const record = await this.load();
      const earlier = Object.values(record.starts).find((s) => s.opId === opId);
      if (earlier) {
        if (earlier.deployment.releaseDigest !== releaseDigest || earlier.deployment.environment !== release.environment) {
          throw new RangeError(`operation ${opId} already started ${earlier.deployment.releaseDigest} in ${earlier.deployment.environment}`);
        }
        return earlier.deployment;
      }
      if (sha256Digest(request.artifact) !== release.artifactDigest) {
        throw new DeployError('DEPLOY_ARTIFACT_INVALID', `the artifact's bytes do not hash to ${release.artifactDigest}`);
      }
      const artifactPath = await this.storeArtifact(release.artifactDigest, request.artifact);
      const outcome = await this.run('start', opId, {
        CAIRN_ENVIRONMENT: release.environment,
        CAIRN_RELEASE_DIGEST: releaseDigest,
        CAIRN_ARTIFACT_DIGEST: release.artifactDigest,
        CAIRN_ARTIFACT: artifactPath,
      });
      if (outcome.code !== 0) throw failed('start', outcome);
      const endpoint = startOutputFromText(outcome.stdout);
      const handle = randomBytes(12).toString('hex');
      const deployment: Deployment = {
        environment: release.environment,
        releaseDigest,
        target: this.name,
        endpoint: endpoint ?? '',
        pid: null,
        handle,
        startedAt: this.clock().toISOString(),
        status: 'running',
      };
      await this.save({ ...record, starts: { ...record.starts, [handle]: { opId, artifactDigest: release.artifactDigest, deployment } } });
      return deployment;
    });
  }

  async traffic(environment: string, previous: Deployment | null, next: Deployment): Promise<TrafficTarget> {
    checkEnvironment(environment);
    for (const d of [previous, next]) {
      if (d && d.environment !== environment) throw new RangeError(`${d.releaseDigest} was started in ${d.environment}, not ${environment}`);
    }
    const record = await this.load();
    const artifactDigest = (next.handle !== null ? record.starts[next.handle]?.artifactDigest : undefined) ?? '';
    const pair = {
      CAIRN_ENVIRONMENT: environment,
      CAIRN_RELEASE_DIGEST: next.releaseDigest,
      CAIRN_ARTIFACT_DIGEST: artifactDigest,
      CAIRN_NEXT: next.releaseDigest,
      CAIRN_PREVIOUS: previous?.releaseDigest ?? '',
    };
    return {
      apply: (order) => this.shift(environment, pair, order),
      read: async (): Promise<TrafficReading> => {
        const outcome = await this.run('read', `read/${randomUUID()}`, pair);
        if (outcome.code !== 0) throw failed('read', outcome);
        return readOutputFromText(outcome.stdout);
      },
      metrics: async (): Promise<Readonly<Record<string, CommandVersionMetrics>>> => {
        if (this.commands.metrics === undefined) return {};
        const outcome = await this.run('metrics', `metrics/${randomUUID()}`, pair);
        if (outcome.code !== 0) throw failed('metrics', outcome);
        return metricsOutputFromText(outcome.stdout);
      },
    };
  }

  async running(environment: string, releaseDigest: Digest): Promise<Deployment | null> {
    const record = await this.load();
    let newest: Deployment | null = null;
    for (const { deployment: d } of Object.values(record.starts)) {
      if (d.environment !== environment || d.releaseDigest !== releaseDigest || d.status !== 'running') continue;
      if (newest === null || d.startedAt > newest.startedAt) newest = d;
    }
    return newest;
  }

  async stop(deployment: Deployment): Promise<boolean> {
    if (deployment.target !== this.name || deployment.handle === null) return false;
    const handle = deployment.handle;
    return this.exclusive(async () => {
      const record = await this.load();
      const ours = record.starts[handle];
      if (ours?.deployment.status !== 'running') return false;
      if (ours.deployment.releaseDigest !== deployment.releaseDigest || ours.deployment.environment !== deployment.environment) return false;
      const outcome = await this.run('stop', `stop/${handle}`, {
        CAIRN_ENVIRONMENT: deployment.environment,
        CAIRN_RELEASE_DIGEST: deployment.releaseDigest,
        CAIRN_ARTIFACT_DIGEST: ours.artifactDigest,
      });
      if (outcome.code !== 0) throw failed('stop', outcome);
      const stopped: StartRecord = { ...ours, deployment: { ...ours.deployment, status: 'stopped' } };
      await this.save({ ...record, starts: pruneStarts({ ...record.starts, [handle]: stopped }) });
      return true;
    });
  }

  /** The command target's scripts do not name a router: null. */
  async endpoint(_environment: string): Promise<string | null> {
    return null;
  }

  private async shift(environment: string, pair: Readonly<Record<string, string>>, order: ApplyOrder): Promise<'applied' | 'refused'> {
    checkOrder(order);
    return this.exclusive(async () => {
      const record = await this.load();
      const env = record.environments[environment] ?? { fence: [0, 0] as const, applied: [] };
      if (env.applied.includes(order.opId)) return 'applied';
      const [epoch, seq] = env.fence;
      if (order.epoch < epoch || (order.epoch === epoch && order.seq < seq)) return 'refused';
      const outcome = await this.run('shift', order.opId, {
        ...pair,
        CAIRN_WEIGHT: String(order.weight),
        CAIRN_EPOCH: String(order.epoch),
        CAIRN_SEQ: String(order.seq),
      });
      if (outcome.code === SHIFT_REFUSED_EXIT) return 'refused';
      if (outcome.code !== 0) throw failed('shift', outcome);
      const applied: EnvironmentRecord = { fence: [order.epoch, order.seq], applied: [...env.applied, order.opId].slice(-APPLIED_KEPT) };
      await this.save({ ...record, environments: { ...record.environments, [environment]: applied } });
      return 'applied';
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async storeArtifact(digest: Digest, bytes: Uint8Array): Promise<string> {
    const folder = path.join(this.dir, 'artifacts');
    const file = path.join(folder, digestHex(digest));
    try {
      await mkdir(folder, { recursive: true });
      const existing = await readFile(file).catch(() => null);
      if (existing && sha256Digest(existing) === digest) return file;
      const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
      await writeFile(temporary, bytes, { mode: 0o444 });
      await rename(temporary, file);
      return file;
    } catch (cause) {
      throw new DeployError('DEPLOY_COMMAND_STATE', `cannot write the artifact into ${folder}: ${message(cause)}`, { cause });
    }
  }

  private async load(): Promise<TargetRecord> {
    const file = path.join(this.dir, RECORD_FILE);
    let text: Buffer;
    try {
      text = await readFile(file);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_RECORD;
      throw new DeployError('DEPLOY_COMMAND_STATE', `cannot read ${file}: ${message(cause)}`, { cause });
    }
    try {
      return targetRecordFromJSON(parseJson(text, file, { maxBytes: RECORD_MAX_BYTES, maxDepth: 8 }));
    } catch (cause) {
      throw new DeployError('DEPLOY_COMMAND_STATE', `${file} is not a record the command target wrote: ${message(cause)}`, { cause });
    }
  }

  private async save(record: TargetRecord): Promise<void> {
    const file = path.join(this.dir, RECORD_FILE);
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(temporary, `${JSON.stringify(record, null, 1)}\n`);
      // Replaced whole, so a crash leaves the old record or the new one, never half of either.
      await rename(temporary, file);
    } catch (cause) {
      throw new DeployError('DEPLOY_COMMAND_STATE', `cannot write ${file}: ${message(cause)}`, { cause });
    }
  }

  private async run(script: CommandScript, opId: string, extra: Readonly<Record<string, string>>): Promise<ScriptOutcome> {
    const text = this.commands[script];
    if (text === undefined) throw new RangeError(`deploy.commands.${script} is not configured`);
    await mkdir(this.dir, { recursive: true });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dir,
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      CAIRN_OPERATION_ID: opId,
      ...extra,
    };
    return runScript(script, text, this.dir, env, this.commands.timeoutSeconds * 1000);
  }
}

/** Runs one script in its own process group; resolves with its exit, rejects on timeout, spawn failure or stdout over the cap. */
function runScript(script: CommandScript, text: string, cwd: string, env: Readonly<Record<string, string>>, timeoutMs: number): Promise<ScriptOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', text], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let overflow = false;
    let timedOut = false;
    let stderr = Buffer.alloc(0);
    let settled = false;
    const killGroup = (): void => {
      // Once the script has exited (and was reaped) its number may be another process's group.
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      if (overflow) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_SCRIPT_STDOUT) {
        overflow = true;
        stdout.length = 0;
        killGroup();
      } else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
    });
    child.once('error', (cause) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(new DeployError('DEPLOY_COMMAND_SPAWN', `cannot run deploy.commands.${script} with /bin/sh: ${cause.message}`, { cause }));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      void drained([child.stdout, child.stderr]).then(() => {
        if (settled) return;
        settled = true;
        const stderrTail = tailLines(stderr.toString('utf8'));
        if (timedOut) {
          reject(
            new DeployError(
              'DEPLOY_COMMAND_TIMEOUT',
              `deploy.commands.${script} ran longer than ${timeoutMs / 1000}s; its process group was killed${suffix(stderrTail)}`,
            ),
          );
        } else if (overflow) {
          reject(
            outputError(script, `printed more than ${MAX_SCRIPT_STDOUT} bytes on stdout; it was killed`, [
              { code: 'TOO_LARGE', path: '', message: `more than ${MAX_SCRIPT_STDOUT} bytes` },
            ]),
          );
        } else resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderrTail });
      });
    });
  });
}

/** Resolves once every stream closed, or after {@link DRAIN_MS}, whichever is first; then stops reading them. */
async function drained(streams: readonly Readable[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = streams.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve()))));
  await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
  clearTimeout(timer);
  for (const s of streams) s.destroy();
}

function tailLines(text: string): string {
  return text.trimEnd().split('\n').slice(-10).join('\n');
}

function suffix(stderrTail: string): string {
  return stderrTail === '' ? '' : `\n${stderrTail}`;
}

function failed(script: CommandScript, outcome: ScriptOutcome): DeployError {
  const how = outcome.code !== null ? `exited with ${outcome.code}` : `was killed by ${outcome.signal ?? 'a signal'}`;
  const documented = script === 'shift' ? ` (0 applies, ${SHIFT_REFUSED_EXIT} refuses)` : ' (0 is success)';
  return new DeployError('DEPLOY_COMMAND_FAILED', `deploy.commands.${script} ${how}${documented}${suffix(outcome.stderrTail)}`);
}

function outputError(script: CommandScript, what: string, problems: readonly Problem[], options: CairnErrorOptions = {}): DeployError {
  const located = problems.map((p) => ({ ...p, path: p.path === '' ? script : joinPath(script, p.path) }));
  const first = located[0];
  const detail = first ? `: ${first.path}: ${first.message}${located.length > 1 ? ` (and ${located.length - 1} more)` : ''}` : '';
  return new DeployError('DEPLOY_COMMAND_OUTPUT', `deploy.commands.${script} ${what}${detail}`, { ...options, problems: located });
}

/** Parses a script's stdout as one JSON value (within the stdout cap, shallow). */
function scriptJson(script: CommandScript, text: string): unknown {
  if (text.trim() === '') throw outputError(script, 'printed nothing', [{ code: 'MISSING', path: '', message: 'expected a JSON object on stdout' }]);
  try {
    return parseJson(text, `deploy.commands.${script} output`, { maxBytes: MAX_SCRIPT_STDOUT, maxDepth: 4 });
  } catch (cause) {
    throw outputError(script, 'did not print JSON', [{ code: 'JSON_MALFORMED', path: '', message: message(cause) }], { cause });
  }
}

function finishOutput<T>(script: CommandScript, f: Fields, value: T | undefined): T {
  if (f.problems.length > 0 || value === undefined) throw outputError(script, 'printed an answer out of contract', f.problems);
  return value;
}

/** `start`'s answer: `{"endpoint": "http(s)://…"}`, or nothing at all (null). */
export function startOutputFromText(text: string): string | null {
  if (text.trim() === '') return null;
  const raw = scriptJson('start', text);
  const f = new Fields();
  const o = f.object(raw, '', ['endpoint']);
  const endpoint = o ? f.string(o.endpoint, 'endpoint', { maxLength: 2048 }) : undefined;
  if (endpoint !== undefined && !isHttpUrl(endpoint)) f.report('endpoint', 'INVALID_FORMAT', 'expected an http:// or https:// URL');
  return finishOutput('start', f, endpoint);
}

/** `read`'s answer: `{"weight": 0..100, "lastOperationId": string | null}`. */
export function readOutputFromText(text: string): TrafficReading {
  const raw = scriptJson('read', text);
  const f = new Fields();
  const o = f.object(raw, '', ['weight', 'lastOperationId']);
  if (!o) return finishOutput<TrafficReading>('read', f, undefined);
  const weight = f.integer(o.weight, 'weight', 0, 100);
  let lastOpId: string | null | undefined = null;
  if (!('lastOperationId' in o)) f.report('lastOperationId', 'MISSING', 'required (null when nothing was applied)');
  else if (o.lastOperationId !== null) lastOpId = f.string(o.lastOperationId, 'lastOperationId', { pattern: OP_ID, maxLength: 256 });
  return finishOutput('read', f, weight !== undefined && lastOpId !== undefined ? { weight, lastOpId } : undefined);
}

/** `metrics`' answer: `{"<release digest>": {"requests": int, "errors": int, "p99Ms": number | null, "custom"?: {name: number}}}`. */
export function metricsOutputFromText(text: string): Record<string, CommandVersionMetrics> {
  const raw = scriptJson('metrics', text);
  const f = new Fields();
  const o = f.object(raw, '');
  if (!o) return finishOutput<Record<string, CommandVersionMetrics>>('metrics', f, undefined);
  const keys = Object.keys(o);
  if (keys.length > MAX_METRIC_RELEASES) {
    f.report('', 'TOO_MANY', `more than ${MAX_METRIC_RELEASES} releases`);
    return finishOutput<Record<string, CommandVersionMetrics>>('metrics', f, undefined);
  }
  const out: Record<string, CommandVersionMetrics> = {};
  for (const key of keys) {
    const at = joinPath('', key);
    if (!isDigest(key)) {
      f.report(at, 'INVALID_FORMAT', 'keys must be release digests (sha256:<64 hex>)');
      continue;
    }
    const m = f.object(o[key], at, ['requests', 'errors', 'p99Ms', 'custom']);
    if (!m) continue;
    const requests = f.integer(m.requests, `${at}.requests`, 0);
    const errors = f.integer(m.errors, `${at}.errors`, 0);
    if (requests !== undefined && errors !== undefined && errors > requests)
      f.report(`${at}.errors`, 'OUT_OF_RANGE', `more errors (${errors}) than requests (${requests})`);
    let p99Ms: number | null | undefined = null;
    if (!('p99Ms' in m)) f.report(`${at}.p99Ms`, 'MISSING', 'required (null before any request)');
    else if (m.p99Ms !== null) p99Ms = f.number(m.p99Ms, `${at}.p99Ms`, 0, MAX_P99_MS);
    const custom: Record<string, number> = {};
    let customOk = true;
    if (m.custom !== undefined) {
      const c = f.object(m.custom, `${at}.custom`);
      const names = c ? Object.keys(c) : [];
      if (!c) customOk = false;
      else if (names.length > MAX_CUSTOM_METRICS) {
        f.report(`${at}.custom`, 'TOO_MANY', `more than ${MAX_CUSTOM_METRICS} custom metrics`);
        customOk = false;
      } else {
        for (const name of names) {
          if (!METRIC_NAME.test(name)) {
            f.report(`${at}.custom.${name.slice(0, 64)}`, 'INVALID_FORMAT', `metric names match ${METRIC_NAME.source}`);
            customOk = false;
            continue;
          }
          const value = f.number(c[name], `${at}.custom.${name}`, -Number.MAX_VALUE, Number.MAX_VALUE);
          if (value === undefined) customOk = false;
          else custom[name] = value;
        }
      }
    }
    if (requests !== undefined && errors !== undefined && errors <= requests && p99Ms !== undefined && customOk) {
      out[key] = { requests, errors, p99Ms, custom };
    }
  }
  return finishOutput('metrics', f, out);
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function checkOpId(opId: string): void {
  if (typeof opId !== 'string' || !OP_ID.test(opId))
    throw new RangeError(`an operation id is 1..256 printable ASCII characters without spaces, got ${JSON.stringify(opId)}`);
}

function checkEnvironment(environment: string): void {
  if (!NAME_PATTERN.test(environment)) throw new RangeError(`not an environment name: ${JSON.stringify(environment)}`);
}

function checkOrder(order: ApplyOrder): void {
  checkOpId(order.opId);
  if (!Number.isSafeInteger(order.weight) || order.weight < 0 || order.weight > 100)
    throw new RangeError(`weight must be an integer in 0..100, got ${order.weight}`);
  if (!Number.isSafeInteger(order.epoch) || order.epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${order.epoch}`);
  if (!Number.isSafeInteger(order.seq) || order.seq < 0) throw new RangeError(`seq must be a non-negative integer, got ${order.seq}`);
}

function message(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** Keeps every running deployment and the newest {@link STOPPED_KEPT} stopped ones. */
function pruneStarts(starts: Readonly<Record<string, StartRecord>>): Record<string, StartRecord> {
  const stopped = Object.entries(starts)
    .filter(([, s]) => s.deployment.status !== 'running')
    .sort(([, a], [, b]) => a.deployment.startedAt.localeCompare(b.deployment.startedAt));
  const dropped = new Set(stopped.slice(0, Math.max(0, stopped.length - STOPPED_KEPT)).map(([handle]) => handle));
  return Object.fromEntries(Object.entries(starts).filter(([handle]) => !dropped.has(handle)));
}

/** The record file, checked field by field: it lives in a folder other processes can write. */
function targetRecordFromJSON(raw: unknown): TargetRecord {
  const f = new Fields();
  const root = f.object(raw, '', ['starts', 'environments']);
  const starts: Record<string, StartRecord> = {};
  const environments: Record<string, EnvironmentRecord> = {};
  const startsRaw = root ? f.object(root.starts, 'starts') : undefined;
  for (const [handle, value] of Object.entries(startsRaw ?? {})) {
    const at = joinPath('starts', handle);
    const s = f.object(value, at, ['opId', 'artifactDigest', 'deployment']);
    const d = s
      ? f.object(s.deployment, `${at}.deployment`, ['environment', 'releaseDigest', 'target', 'endpoint', 'pid', 'handle', 'startedAt', 'status'])
      : undefined;
    if (!s || !d) continue;
    const opId = f.string(s.opId, `${at}.opId`, { pattern: OP_ID, maxLength: 256 });
    const artifactDigest = s.artifactDigest;
    if (!isDigest(artifactDigest)) f.report(`${at}.artifactDigest`, 'INVALID_FORMAT', 'expected a digest');
    const environment = f.string(d.environment, `${at}.deployment.environment`, { pattern: NAME_PATTERN });
    const releaseDigest = d.releaseDigest;
    if (!isDigest(releaseDigest)) f.report(`${at}.deployment.releaseDigest`, 'INVALID_FORMAT', 'expected a digest');
    const endpoint = f.string(d.endpoint, `${at}.deployment.endpoint`, { maxLength: 2048, empty: true });
    const startedAt = f.string(d.startedAt, `${at}.deployment.startedAt`, { maxLength: 64 });
    const status = d.status;
    if (status !== 'running' && status !== 'stopped' && status !== 'failed')
      f.report(`${at}.deployment.status`, 'INVALID_FORMAT', 'expected running, stopped or failed');
    if (d.target !== 'command') f.report(`${at}.deployment.target`, 'INVALID_FORMAT', 'expected "command"');
    if (d.handle !== handle) f.report(`${at}.deployment.handle`, 'MISMATCH', 'differs from its key');
    if (d.pid !== null) f.report(`${at}.deployment.pid`, 'INVALID_FORMAT', 'expected null');
    if (
      opId !== undefined &&
      isDigest(artifactDigest) &&
      environment !== undefined &&
      isDigest(releaseDigest) &&
      endpoint !== undefined &&
      startedAt !== undefined &&
      (status === 'running' || status === 'stopped' || status === 'failed')
    ) {
      starts[handle] = {
        opId,
        artifactDigest,
        deployment: { environment, releaseDigest, target: 'command', endpoint, pid: null, handle, startedAt, status },
      };
    }
  }
  const environmentsRaw = root ? f.object(root.environments, 'environments') : undefined;
  for (const [name, value] of Object.entries(environmentsRaw ?? {})) {
    const at = joinPath('environments', name);
    if (!NAME_PATTERN.test(name)) f.report(at, 'INVALID_FORMAT', 'not an environment name');
    const e = f.object(value, at, ['fence', 'applied']);
    if (!e) continue;
    const fence = f.array(e.fence, `${at}.fence`, 2);
    const epoch = fence ? f.integer(fence[0], `${at}.fence[0]`, 0) : undefined;
    const seq = fence ? f.integer(fence[1], `${at}.fence[1]`, 0) : undefined;
    const list = f.array(e.applied, `${at}.applied`, APPLIED_KEPT);
    const applied: string[] = [];
    list?.forEach((id, i) => {
      const ok = f.string(id, joinPath(`${at}.applied`, i), { pattern: OP_ID, maxLength: 256 });
      if (ok !== undefined) applied.push(ok);
    });
    if (epoch !== undefined && seq !== undefined) environments[name] = { fence: [epoch, seq], applied };
  }
  return f.finish<TargetRecord>(root ? { starts, environments } : undefined, 'DEPLOY_COMMAND_STATE', RECORD_FILE);
}
