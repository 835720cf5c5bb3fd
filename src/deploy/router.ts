import { spawn } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NAME_PATTERN } from '../model/config.js';
import type { Problem } from '../model/errors.js';
import { Fields, joinPath } from '../model/fields.js';
import { DeployError } from './errors.js';
import { type ProxyVersionStats, WeightedProxy } from './proxy.js';

/**
 * The `local` target's router: one long-lived process per environment that keeps the
 * environment's stable endpoint (a {@link WeightedProxy} on a loopback port) and takes
 * traffic changes over a small admin API on 127.0.0.1, guarded by a bearer token. Its state
 * (`<root>/<env>/router.json`) holds the upstreams, the weights in force, the fence and the
 * ids of the operations applied, and is written before any change is acknowledged, so
 * fencing and idempotency survive a crash of the router.
 */

export const ROUTER_STATE_FILE = 'router.json';
export const ROUTER_LOG_FILE = 'router.log';
/** How many applied operation ids the router remembers (the oldest are forgotten first). */
export const MAX_APPLIED_IDS = 1000;
/** Largest admin request body, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;
const MAX_UPSTREAMS = 64;

/** What the router persists; the file is the router's, written only by the router. */
export interface RouterState {
  readonly proxyPort: number;
  readonly adminPort: number;
  readonly token: string;
  readonly pid: number;
  /** Upstream base URL per version (a release digest). */
  readonly upstreams: Readonly<Record<string, string>>;
  /** Percent of traffic per version; versions left out get 0. */
  readonly weights: Readonly<Record<string, number>>;
  /** Ids of the operations applied, oldest first, at most {@link MAX_APPLIED_IDS}. */
  readonly applied: readonly string[];
  /** The highest `[epoch, seq]` applied. */
  readonly fence: readonly [number, number];
  readonly lastOpId: string | null;
}

/** One traffic change as the admin API takes it. */
export interface RouterApplyRequest {
  readonly opId: string;
  readonly epoch: number;
  readonly seq: number;
  readonly weights: Readonly<Record<string, number>>;
}

/** What `GET /state` answers. */
export interface RouterView {
  readonly weights: Readonly<Record<string, number>>;
  readonly upstreams: Readonly<Record<string, string>>;
  readonly lastOpId: string | null;
  readonly fence: readonly [number, number];
  readonly proxyUrl: string;
}

const VERSION = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$/;
const OP_ID = /^[\x21-\x7e]{1,256}$/;
const TOKEN = /^[0-9a-f]{64}$/;
const UPSTREAM_URL = /^http:\/\/127\.0\.0\.1:([1-9][0-9]{0,4})$/;

function upstreamUrl(f: Fields, value: unknown, at: string): string | undefined {
  const url = f.string(value, at, { maxLength: 64 });
  if (url === undefined) return undefined;
  const port = UPSTREAM_URL.exec(url)?.[1];
  if (port === undefined || Number(port) > 65_535) {
    f.report(at, 'INVALID_FORMAT', 'must be http://127.0.0.1:PORT');
    return undefined;
  }
  return url;
}

function weightMap(f: Fields, value: unknown, at: string): Record<string, number> | undefined {
  const o = f.object(value, at);
  if (!o) return undefined;
  const entries = Object.entries(o);
  if (entries.length > MAX_UPSTREAMS) {
    f.report(at, 'TOO_MANY', `more than ${MAX_UPSTREAMS} versions`);
    return undefined;
  }
  const out: Record<string, number> = {};
  let ok = true;
  for (const [version, w] of entries) {
    if (!VERSION.test(version)) {
      f.report(joinPath(at, version), 'INVALID_FORMAT', `version does not match ${VERSION.source}`);
      ok = false;
      continue;
    }
    const weight = f.integer(w, joinPath(at, version), 0, 100);
    if (weight === undefined) ok = false;
    else out[version] = weight;
  }
  return ok ? out : undefined;
}

function fenceOf(f: Fields, value: unknown, at: string): [number, number] | undefined {
  const list = f.array(value, at, 2);
  if (!list) return undefined;
  if (list.length !== 2) {
    f.report(at, 'INVALID_FORMAT', 'must be [epoch, seq]');
    return undefined;
  }
  const epoch = f.integer(list[0], joinPath(at, 0), 0);
  const seq = f.integer(list[1], joinPath(at, 1), 0);
  return epoch === undefined || seq === undefined ? undefined : [epoch, seq];
}

/** Reads a router state file's JSON; every bad field is listed in `problems`. */
export function routerStateFromJSON(raw: unknown): { state: RouterState } | { problems: Problem[] } {
  const f = new Fields();
  const o = f.object(raw, '', ['proxyPort', 'adminPort', 'token', 'pid', 'upstreams', 'weights', 'applied', 'fence', 'lastOpId']);
  if (!o) return { problems: f.problems };
  const proxyPort = f.integer(o.proxyPort, 'proxyPort', 0, 65_535);
  const adminPort = f.integer(o.adminPort, 'adminPort', 0, 65_535);
  const token = f.string(o.token, 'token', { pattern: TOKEN });
  const pid = f.integer(o.pid, 'pid', 0);
  const upstreams: Record<string, string> = {};
  const u = f.object(o.upstreams, 'upstreams');
  if (u) {
    for (const [version, url] of Object.entries(u)) {
      if (!VERSION.test(version)) f.report(joinPath('upstreams', version), 'INVALID_FORMAT', `version does not match ${VERSION.source}`);
      const checked = upstreamUrl(f, url, joinPath('upstreams', version));
      if (checked !== undefined) upstreams[version] = checked;
    }
  }
  const weights = weightMap(f, o.weights, 'weights');
  if (weights) {
    for (const version of Object.keys(weights)) if (!(version in upstreams)) f.report(joinPath('weights', version), 'UNKNOWN_KEY', 'no such upstream');
  }
  const applied: string[] = [];
  const list = f.array(o.applied, 'applied', MAX_APPLIED_IDS);
  list?.forEach((id, i) => {
    const checked = f.string(id, joinPath('applied', i), { pattern: OP_ID, maxLength: 256 });
    if (checked !== undefined) applied.push(checked);
  });
  const fence = fenceOf(f, o.fence, 'fence');
  const lastOpId = o.lastOpId === null ? null : f.string(o.lastOpId, 'lastOpId', { pattern: OP_ID, maxLength: 256 });
  if (f.problems.length > 0 || proxyPort === undefined || adminPort === undefined || token === undefined || pid === undefined) return { problems: f.problems };
  if (!weights || !fence || lastOpId === undefined) return { problems: f.problems };
  return { state: { proxyPort, adminPort, token, pid, upstreams, weights, applied, fence, lastOpId } };
}

/** Reads the body of `POST /apply`. */
export function applyRequestFromJSON(raw: unknown): { request: RouterApplyRequest } | { problems: Problem[] } {
  const f = new Fields();
  const o = f.object(raw, '', ['opId', 'epoch', 'seq', 'weights']);
  if (!o) return { problems: f.problems };
  const opId = f.string(o.opId, 'opId', { pattern: OP_ID, maxLength: 256 });
  const epoch = f.integer(o.epoch, 'epoch', 0);
  const seq = f.integer(o.seq, 'seq', 0);
  const weights = weightMap(f, o.weights, 'weights');
  if (weights) {
    const sum = Object.values(weights).reduce((a, b) => a + b, 0);
    if (sum !== 100) f.report('weights', 'OUT_OF_RANGE', `must sum to 100, got ${sum}`);
  }
  if (f.problems.length > 0 || opId === undefined || epoch === undefined || seq === undefined || !weights) return { problems: f.problems };
  return { request: { opId, epoch, seq, weights } };
}

/** Reads the body of `PUT /upstreams`. */
export function upstreamRequestFromJSON(raw: unknown): { version: string; url: string } | { problems: Problem[] } {
  const f = new Fields();
  const o = f.object(raw, '', ['version', 'url']);
  if (!o) return { problems: f.problems };
  const version = f.string(o.version, 'version', { pattern: VERSION, maxLength: 128 });
  const url = upstreamUrl(f, o.url, 'url');
  if (f.problems.length > 0 || version === undefined || url === undefined) return { problems: f.problems };
  return { version, url };
}

export type ApplyDecision =
  | { readonly result: 'applied'; readonly state: RouterState | null }
  | { readonly result: 'refused' }
  | { readonly result: 'invalid'; readonly problems: readonly Problem[] };

/**
 * Decides one traffic change against the state in force: an id already applied answers
 * `applied` and changes nothing (`state: null`); a fence below the highest applied is
 * refused; weights naming an unknown upstream are invalid; otherwise the new state.
 */
export function decideApply(state: RouterState, request: RouterApplyRequest): ApplyDecision {
  if (state.applied.includes(request.opId)) return { result: 'applied', state: null };
  const [epoch, seq] = state.fence;
  if (request.epoch < epoch || (request.epoch === epoch && request.seq < seq)) return { result: 'refused' };
  const unknown = Object.keys(request.weights).filter((v) => !(v in state.upstreams));
  if (unknown.length > 0) {
    return { result: 'invalid', problems: unknown.map((v) => ({ code: 'UNKNOWN_KEY', path: joinPath('weights', v), message: `no upstream ${v}` })) };
  }
  const weights = Object.fromEntries(Object.keys(state.upstreams).map((v) => [v, request.weights[v] ?? 0]));
  const applied = [...state.applied, request.opId].slice(-MAX_APPLIED_IDS);
  return { result: 'applied', state: { ...state, weights, applied, fence: [request.epoch, request.seq], lastOpId: request.opId } };
}

/** Writes `file` so that readers see the old or the new bytes, never a part (owner-only). */
export async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (cause) {
    await unlink(temp).catch(() => {});
    throw cause;
  }
}

export async function writeRouterState(file: string, state: RouterState): Promise<void> {
  await writeAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

/** The router's state file, or null when there is none; throws when it is not a valid state. */
export async function readRouterState(file: string): Promise<RouterState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `cannot read ${file}`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `${file} is not JSON`, { cause });
  }
  const parsed = routerStateFromJSON(raw);
  if ('problems' in parsed) {
    const first = parsed.problems[0];
    throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `${file} is invalid: ${first ? `${first.path || '(root)'}: ${first.message}` : 'invalid'}`, {
      problems: parsed.problems,
    });
  }
  return parsed.state;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly problems: readonly Problem[],
  ) {
    super(problems.map((p) => `${p.path || '(body)'}: ${p.message}`).join('; '));
  }
}

function bodyProblem(code: string, message: string, status = 400): HttpProblem {
  return new HttpProblem(status, [{ code, path: '', message }]);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) throw bodyProblem('TOO_LARGE', `body over ${MAX_BODY_BYTES} bytes`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw bodyProblem('TOO_LARGE', `body over ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw bodyProblem('INVALID_FORMAT', 'body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

function inUse(cause: unknown): boolean {
  return (cause as NodeJS.ErrnoException).code === 'EADDRINUSE' || (cause as NodeJS.ErrnoException).code === 'EACCES';
}

/** The router process's body: the proxy, the admin server and the state they share. */
export class Router {
  private state: RouterState;
  /** Serialises changes so each one persists from the state the previous one left. */
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;
  private readonly stopped: Promise<void>;
  private markStopped: () => void = () => {};

  private constructor(
    private readonly file: string,
    private readonly proxy: WeightedProxy,
    private readonly admin: Server,
    state: RouterState,
    private readonly log: (line: string) => void,
  ) {
    this.state = state;
    this.stopped = new Promise((resolve) => {
      this.markStopped = resolve;
    });
    this.watch = setInterval(() => void this.checkOwnership(), 2000);
    this.watch.unref();
  }

  private readonly watch: NodeJS.Timeout;

  /** Stops the router once its state file is gone (its environment folder was removed) or names another router. */
  private async checkOwnership(): Promise<void> {
    const saved = await readRouterState(this.file).catch(() => undefined);
    if (saved === undefined || this.closing) return;
    if (saved === null || saved.pid !== process.pid) {
      this.log(saved === null ? `${this.file} is gone; nothing to serve` : `${this.file} now belongs to router ${saved.pid}`);
      await this.close();
    }
  }

  /**
   * Starts the router of the environment folder `dir`: reloads `router.json` when present
   * (re-binding its ports when they are free), otherwise starts fresh with a new token.
   */
  static async start(dir: string, log: (line: string) => void = () => {}): Promise<Router> {
    const file = path.join(dir, ROUTER_STATE_FILE);
    const saved = await readRouterState(file);
    if (saved && saved.pid !== process.pid && (await isRouterProcess(saved.pid, dir))) {
      throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `router ${saved.pid} already serves ${dir}`);
    }
    const base: RouterState = saved ?? {
      proxyPort: 0,
      adminPort: 0,
      token: randomBytes(32).toString('hex'),
      pid: process.pid,
      upstreams: {},
      weights: {},
      applied: [],
      fence: [0, 0],
      lastOpId: null,
    };
    const upstreams = Object.entries(base.upstreams).map(([version, url]) => ({ version, url }));
    let proxy: WeightedProxy;
    try {
      proxy = await WeightedProxy.start({ upstreams, weights: base.weights, port: base.proxyPort });
    } catch (cause) {
      if (base.proxyPort === 0 || !inUse(cause)) throw cause;
      log(`proxy port ${base.proxyPort} is taken; the environment's endpoint moves`);
      proxy = await WeightedProxy.start({ upstreams, weights: base.weights, port: 0 });
    }
    let router: Router | null = null;
    const admin = createServer((req, res) => {
      if (router) void router.handle(req, res);
      else send(res, 503, { error: 'starting' });
    });
    admin.requestTimeout = 10_000;
    admin.headersTimeout = 5_000;
    admin.maxConnections = 64;
    let adminPort: number;
    try {
      adminPort = await listen(admin, base.adminPort);
    } catch (cause) {
      if (base.adminPort === 0 || !inUse(cause)) {
        await proxy.close();
        throw cause;
      }
      adminPort = await listen(admin, 0);
    }
    const proxyPort = Number(new URL(proxy.url).port);
    const state: RouterState = { ...base, proxyPort, adminPort, pid: process.pid };
    router = new Router(file, proxy, admin, state, log);
    try {
      await writeRouterState(file, state);
    } catch (cause) {
      await router.close();
      throw cause;
    }
    log(`router ${process.pid} serving ${proxy.url}, admin on 127.0.0.1:${adminPort}, fence [${state.fence.join(', ')}]`);
    return router;
  }

  get proxyUrl(): string {
    return this.proxy.url;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.state.adminPort}`;
  }

  /** Resolves once the router has stopped (after `POST /shutdown` or {@link close}). */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.watch);
      this.log(`router ${process.pid} stopping`);
      this.admin.closeAllConnections();
      await Promise.all([this.proxy.close(), new Promise<void>((resolve) => this.admin.close(() => resolve()))]);
      this.markStopped();
    })();
    return this.closing;
  }

  private view(): RouterView {
    const { weights, upstreams, lastOpId, fence } = this.state;
    return { weights, upstreams, lastOpId, fence, proxyUrl: this.proxy.url };
  }

  private serially<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(change, change);
    this.queue = run.catch(() => {});
    return run;
  }

  private async commit(next: RouterState): Promise<void> {
    await writeRouterState(this.file, next);
    this.state = next;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!tokenMatches(req.headers.authorization, this.state.token)) {
        req.resume();
        send(res, 401, { error: 'unauthorized' });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://router');
      const route = `${req.method ?? ''} ${url.pathname}`;
      if (route === 'GET /state') return send(res, 200, this.view());
      if (route === 'GET /stats') return send(res, 200, { versions: this.stats() });
      if (route === 'PUT /upstreams') return send(res, 200, await this.putUpstream(await readJsonBody(req)));
      if (route === 'POST /apply') return send(res, 200, await this.apply(await readJsonBody(req)));
      if (route === 'POST /shutdown') {
        req.resume();
        send(res, 200, { stopping: true });
        res.once('finish', () => void this.close());
        return;
      }
      if (req.method === 'DELETE' && url.pathname.startsWith('/upstreams/')) {
        req.resume();
        const version = decodeURIComponent(url.pathname.slice('/upstreams/'.length));
        return send(res, 200, await this.deleteUpstream(version, url.searchParams.get('url')));
      }
      req.resume();
      send(res, 404, { error: `no route ${route}` });
    } catch (error) {
      if (error instanceof HttpProblem) {
        send(res, error.status, { error: error.message, problems: error.problems });
        return;
      }
      this.log(`admin request failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }

  private stats(): Record<string, ProxyVersionStats> {
    const all = this.proxy.stats();
    const out: Record<string, ProxyVersionStats> = {};
    for (const version of Object.keys(this.state.upstreams)) {
      out[version] = { ...(all[version] ?? { requests: 0, errors: 0, p99Ms: null }), weight: this.state.weights[version] ?? 0 };
    }
    return out;
  }

  private putUpstream(raw: unknown): Promise<{ version: string; url: string }> {
    const parsed = upstreamRequestFromJSON(raw);
    if ('problems' in parsed) throw new HttpProblem(400, parsed.problems);
    const { version, url } = parsed;
    return this.serially(async () => {
      if (this.state.upstreams[version] === url) return { version, url };
      const isNew = !(version in this.state.upstreams);
      if (isNew && Object.keys(this.state.upstreams).length >= MAX_UPSTREAMS)
        throw new HttpProblem(409, [{ code: 'TOO_MANY', path: 'version', message: `the router holds ${MAX_UPSTREAMS} upstreams already` }]);
      const weights = isNew ? { ...this.state.weights, [version]: 0 } : this.state.weights;
      await this.commit({ ...this.state, upstreams: { ...this.state.upstreams, [version]: url }, weights });
      this.proxy.setUpstream({ version, url });
      // A version added again counts from zero: metrics are per release since it was added.
      if (isNew) this.proxy.resetStats(version);
      this.log(`upstream ${version} → ${url}`);
      return { version, url };
    });
  }

  private deleteUpstream(version: string, url: string | null): Promise<{ removed: string }> {
    if (!VERSION.test(version)) throw new HttpProblem(400, [{ code: 'INVALID_FORMAT', path: 'version', message: `does not match ${VERSION.source}` }]);
    return this.serially(async () => {
      const current = this.state.upstreams[version];
      if (current === undefined) throw new HttpProblem(404, [{ code: 'NOT_FOUND', path: 'version', message: `no upstream ${version}` }]);
      if (url !== null && url !== current)
        throw new HttpProblem(409, [{ code: 'MISMATCH', path: 'url', message: `upstream ${version} is ${current}, not ${url}` }]);
      if ((this.state.weights[version] ?? 0) !== 0) {
        throw new HttpProblem(409, [{ code: 'IN_USE', path: 'version', message: `upstream ${version} still has weight ${this.state.weights[version]}` }]);
      }
      const upstreams = { ...this.state.upstreams };
      delete upstreams[version];
      const weights = { ...this.state.weights };
      delete weights[version];
      await this.commit({ ...this.state, upstreams, weights });
      this.log(`upstream ${version} removed`);
      return { removed: version };
    });
  }

  private apply(raw: unknown): Promise<{ result: 'applied' | 'refused' }> {
    const parsed = applyRequestFromJSON(raw);
    if ('problems' in parsed) throw new HttpProblem(400, parsed.problems);
    const request = parsed.request;
    return this.serially(async () => {
      const decision = decideApply(this.state, request);
      if (decision.result === 'invalid') throw new HttpProblem(409, decision.problems);
      if (decision.result === 'refused') {
        this.log(`refused ${request.opId}: fence [${request.epoch}, ${request.seq}] below [${this.state.fence.join(', ')}]`);
        return { result: 'refused' };
      }
      if (decision.state) {
        // Persisted before the proxy changes and before the answer: an acknowledged change survives a crash.
        await this.commit(decision.state);
        this.proxy.setWeights(decision.state.weights);
        this.log(`applied ${request.opId} [${request.epoch}, ${request.seq}]: ${JSON.stringify(decision.state.weights)}`);
      }
      return { result: 'applied' };
    });
  }
}

// ---------------------------------------------------------------------------------------
// Client side: talking to a router, starting one on demand, stopping it.

/** A typed client of one router's admin API. */
export class RouterClient {
  constructor(
    readonly adminUrl: string,
    private readonly token: string,
    /** The environment's stable endpoint. */
    readonly proxyUrl: string,
    /** The router process. */
    readonly pid: number,
    private readonly timeoutMs = 5000,
    /** The router's log, whose tail goes into the error when the router does not answer. */
    private readonly logFile?: string,
  ) {}

  static fromState(state: RouterState, timeoutMs?: number): RouterClient {
    return new RouterClient(`http://127.0.0.1:${state.adminPort}`, state.token, `http://127.0.0.1:${state.proxyPort}`, state.pid, timeoutMs);
  }

  async state(): Promise<RouterView> {
    const body = await this.call('GET', '/state');
    const f = new Fields();
    const o = f.object(body, '', ['weights', 'upstreams', 'lastOpId', 'fence', 'proxyUrl']);
    const weights = o ? weightMap(f, o.weights, 'weights') : undefined;
    const upstreams = o ? f.object(o.upstreams, 'upstreams') : undefined;
    const fence = o ? fenceOf(f, o.fence, 'fence') : undefined;
    const lastOpId = o?.lastOpId === null ? null : f.string(o?.lastOpId, 'lastOpId');
    const proxyUrl = o ? f.string(o.proxyUrl, 'proxyUrl') : undefined;
    if (upstreams)
      for (const [v, u] of Object.entries(upstreams)) if (typeof u !== 'string') f.report(joinPath('upstreams', v), 'WRONG_TYPE', 'expected a string');
    if (f.problems.length > 0 || !weights || !upstreams || !fence || lastOpId === undefined || proxyUrl === undefined)
      throw this.malformed('/state', f.problems);
    return { weights, upstreams: upstreams as Record<string, string>, lastOpId, fence, proxyUrl };
  }

  async stats(): Promise<Record<string, ProxyVersionStats>> {
    const body = await this.call('GET', '/stats');
    const f = new Fields();
    const o = f.object(body, '', ['versions']);
    const versions = o ? f.object(o.versions, 'versions') : undefined;
    const out: Record<string, ProxyVersionStats> = {};
    for (const [version, raw] of Object.entries(versions ?? {})) {
      const at = joinPath('versions', version);
      const s = f.object(raw, at, ['weight', 'requests', 'errors', 'p99Ms']);
      if (!s) continue;
      const weight = f.integer(s.weight, `${at}.weight`, 0, 100);
      const requests = f.integer(s.requests, `${at}.requests`, 0);
      const errors = f.integer(s.errors, `${at}.errors`, 0);
      const p99Ms = s.p99Ms === null ? null : f.number(s.p99Ms, `${at}.p99Ms`, 0, Number.MAX_VALUE);
      if (weight !== undefined && requests !== undefined && errors !== undefined && p99Ms !== undefined) out[version] = { weight, requests, errors, p99Ms };
    }
    if (f.problems.length > 0 || !versions) throw this.malformed('/stats', f.problems);
    return out;
  }

  /** Adds `version` at weight 0, or points it at another URL keeping its weight. */
  async putUpstream(version: string, url: string): Promise<void> {
    await this.call('PUT', '/upstreams', { version, url });
  }

  /** Removes `version` (only when it is at `url`, if given); false when it is absent, elsewhere or still has weight. */
  async deleteUpstream(version: string, url?: string): Promise<boolean> {
    const query = url === undefined ? '' : `?url=${encodeURIComponent(url)}`;
    const route = `/upstreams/${encodeURIComponent(version)}${query}`;
    const answer = await this.exchange('DELETE', route);
    if (answer.status === 404 || answer.status === 409) return false;
    this.check('DELETE', route, answer);
    return true;
  }

  async apply(request: RouterApplyRequest): Promise<'applied' | 'refused'> {
    const body = await this.call('POST', '/apply', request);
    const result = (body as { result?: unknown } | null)?.result;
    if (result !== 'applied' && result !== 'refused')
      throw this.malformed('/apply', [{ code: 'INVALID_FORMAT', path: 'result', message: 'expected applied or refused' }]);
    return result;
  }

  async shutdown(): Promise<void> {
    await this.call('POST', '/shutdown');
  }

  private malformed(route: string, problems: readonly Problem[]): DeployError {
    return new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `the router at ${this.adminUrl} answered ${route} with a malformed body`, { problems });
  }

  private async call(method: string, route: string, body?: unknown): Promise<unknown> {
    return this.check(method, route, await this.exchange(method, route, body));
  }

  private async exchange(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const send = (): Promise<Response> =>
      fetch(`${this.adminUrl}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    let response: Response;
    try {
      response = await send().catch(async (error: unknown) => {
        // A connection that failed before any answer (a kept-alive socket closed under it) is
        // sent once more: every admin request is idempotent (an apply by its operation id).
        // A timeout is not retried: the router may be busy applying it.
        if ((error as Error).name === 'TimeoutError' || !alive(this.pid)) throw error;
        await sleep(100);
        return send();
      });
    } catch (cause) {
      const state = alive(this.pid) ? `router process ${this.pid} is alive` : `router process ${this.pid} is gone`;
      const why = cause instanceof Error ? `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ''}` : String(cause);
      const tail = this.logFile === undefined ? '' : `\n${await logTail(this.logFile)}`;
      throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `the router at ${this.adminUrl} did not answer ${method} ${route} (${why}; ${state})${tail}`, {
        cause,
      });
    }
    try {
      return { status: response.status, body: await response.json() };
    } catch (cause) {
      throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `the router at ${this.adminUrl} answered ${method} ${route} with ${response.status} and no JSON`, {
        cause,
      });
    }
  }

  /** The body of a 2xx answer; a refusal of the request (4xx but 401) is DEPLOY_ROUTER_REJECTED, anything else DEPLOY_ROUTER_UNAVAILABLE. */
  private check(method: string, route: string, answer: { status: number; body: unknown }): unknown {
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const { error, problems } = (answer.body ?? {}) as { error?: unknown; problems?: unknown };
    const message = typeof error === 'string' ? error : `status ${answer.status}`;
    if (answer.status >= 400 && answer.status < 500 && answer.status !== 401) {
      throw new DeployError('DEPLOY_ROUTER_REJECTED', `the router refused ${method} ${route}: ${message}`, {
        problems: Array.isArray(problems) ? (problems as Problem[]) : [],
      });
    }
    throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `the router at ${this.adminUrl} answered ${method} ${route} with ${answer.status}: ${message}`);
  }
}

/** The folder of an environment under `root` (holding its router's state and log). */
export function environmentDir(root: string, environment: string): string {
  if (!NAME_PATTERN.test(environment)) throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `not an environment name: ${JSON.stringify(environment)}`);
  return path.resolve(root, environment);
}

const ROUTER_MAIN = fileURLToPath(new URL('./router-main.js', import.meta.url));

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True if `pid` runs router-main for `dir` (read from /proc; false where it cannot be told). */
async function isRouterProcess(pid: number, dir: string): Promise<boolean> {
  if (!alive(pid)) return false;
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return argv.includes(ROUTER_MAIN) && argv.includes(dir);
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(25);
  }
  return !alive(pid);
}

/** A client of the environment's router if one is running and answers with its token; null otherwise. */
export async function connectRouter(root: string, environment: string): Promise<RouterClient | null> {
  const dir = environmentDir(root, environment);
  const state = await readRouterState(path.join(dir, ROUTER_STATE_FILE)).catch(() => null);
  if (!state || !alive(state.pid)) return null;
  const probe = RouterClient.fromState(state, 2000);
  try {
    const view = await probe.state();
    return new RouterClient(probe.adminUrl, state.token, view.proxyUrl, state.pid, undefined, path.join(dir, ROUTER_LOG_FILE));
  } catch {
    return null;
  }
}

/**
 * Runs `fn` holding an exclusive lock file; a lock left by a dead process, or older than
 * `staleMs` (its pid may have been reused), is broken.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  const staleMs = options.staleMs ?? 60_000;
  for (;;) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      const age = await stat(file).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if ((Number.isSafeInteger(holder) && holder > 0 && !alive(holder)) || age > staleMs) {
        await unlink(file).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new DeployError('DEPLOY_ROUTER_UNAVAILABLE', `${file} is held by process ${holder}`);
      await sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => {});
  }
}

async function logTail(file: string): Promise<string> {
  const log = await readFile(file, 'utf8').catch(() => '');
  return log.trimEnd().split('\n').slice(-10).join('\n');
}

export interface EnsureRouterOptions {
  /** Milliseconds to wait for a new router to answer (default 10 s). */
  readonly startTimeoutMs?: number;
}

/**
 * The environment's router: the running one when it is alive and answers with its token,
 * otherwise a new detached one (which reloads the state file, fence and applied ids included).
 */
export async function ensureRouter(root: string, environment: string, options: EnsureRouterOptions = {}): Promise<RouterClient> {
  const live = await connectRouter(root, environment);
  if (live) return live;
  const dir = environmentDir(root, environment);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(path.join(dir, 'router.lock'), async () => {
    const again = await connectRouter(root, environment);
    if (again) return again;
    const file = path.join(dir, ROUTER_STATE_FILE);
    const stale = await readRouterState(file).catch(() => null);
    // A router of ours that no longer answers would hold the ports; it is replaced.
    if (stale && (await isRouterProcess(stale.pid, dir))) {
      process.kill(stale.pid, 'SIGKILL');
      await waitGone(stale.pid, 5000);
    }
    const logFile = path.join(dir, ROUTER_LOG_FILE);
    const logFd = openSync(logFile, 'a', 0o600);
    const child = spawn(process.execPath, [ROUTER_MAIN, dir], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8' },
    });
    closeSync(logFd);
    let exited: number | null | undefined;
    child.once('exit', (code) => {
      exited = code;
    });
    child.once('error', () => {
      exited ??= null;
    });
    child.unref();
    const pid = child.pid ?? -1;
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline && exited === undefined) {
      const state = await readRouterState(file).catch(() => null);
      if (state?.pid === pid) {
        const client = RouterClient.fromState(state, 2000);
        const view = await client.state().catch(() => null);
        if (view) return new RouterClient(client.adminUrl, state.token, view.proxyUrl, pid, undefined, logFile);
      }
      await sleep(25);
    }
    if (exited === undefined && pid > 0) process.kill(pid, 'SIGKILL');
    const tail = await logTail(logFile);
    throw new DeployError(
      'DEPLOY_ROUTER_UNAVAILABLE',
      exited !== undefined
        ? `the router of ${environment} exited with ${exited} before it answered\n${tail}`
        : `the router of ${environment} did not answer in time\n${tail}`,
    );
  });
}

/** Stops the environment's router (its state file stays, so a new one resumes it); false when none ran. */
export async function stopRouter(root: string, environment: string): Promise<boolean> {
  const dir = environmentDir(root, environment);
  const state = await readRouterState(path.join(dir, ROUTER_STATE_FILE)).catch(() => null);
  if (!state) return false;
  const client = await connectRouter(root, environment);
  if (client) {
    await client.shutdown().catch(() => {});
    if (await waitGone(client.pid, 5000)) return true;
  }
  if (await isRouterProcess(state.pid, dir)) {
    process.kill(state.pid, 'SIGKILL');
    await waitGone(state.pid, 5000);
    return true;
  }
  return client !== null;
}
