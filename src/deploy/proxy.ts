import { type IncomingMessage, type Server, type ServerResponse, Agent, createServer, request as httpRequest } from 'node:http';

/**
 * A built-in weighted reverse proxy on 127.0.0.1: each request goes to one upstream version,
 * chosen by smooth weighted round robin (deterministic: over a window of `sum(weights)`
 * requests every version gets exactly its weight), and the proxy counts, per version,
 * requests, 5xx answers (including upstream failures it answers 502/504 for) and latency.
 */

export interface ProxyUpstream {
  readonly version: string;
  /** Base URL, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
}

export interface ProxyOptions {
  readonly upstreams: readonly ProxyUpstream[];
  /** Weight per version (non-negative integers); versions left out get 0. */
  readonly weights: Readonly<Record<string, number>>;
  readonly maxConnections?: number;
  /** Milliseconds an upstream may take before the proxy answers 504 (counted as an error). */
  readonly requestTimeoutMs?: number;
  readonly port?: number;
}

export interface ProxyVersionStats {
  readonly weight: number;
  readonly requests: number;
  readonly errors: number;
  /** Upper bound of the histogram bucket holding the 99th percentile; null before any request. */
  readonly p99Ms: number | null;
}

/** Histogram bucket upper bounds in milliseconds; the last catches everything slower. */
export const LATENCY_BUCKETS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, Number.POSITIVE_INFINITY];

class VersionCounter {
  requests = 0;
  errors = 0;
  readonly buckets = new Array<number>(LATENCY_BUCKETS_MS.length).fill(0);

  record(status: number, ms: number): void {
    this.requests += 1;
    if (status >= 500) this.errors += 1;
    const i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    this.buckets[i === -1 ? this.buckets.length - 1 : i] = (this.buckets[i === -1 ? this.buckets.length - 1 : i] ?? 0) + 1;
  }

  p99(): number | null {
    if (this.requests === 0) return null;
    const rank = Math.ceil(this.requests * 0.99);
    let seen = 0;
    for (const [i, n] of this.buckets.entries()) {
      seen += n;
      if (seen >= rank) return LATENCY_BUCKETS_MS[i] ?? null;
    }
    return null;
  }
}

/** Smooth weighted round robin: deterministic, interleaved, exact over each full cycle. */
export class WeightedChooser {
  private weights = new Map<string, number>();
  private current = new Map<string, number>();

  constructor(weights: Readonly<Record<string, number>>) {
    this.set(weights);
  }

  set(weights: Readonly<Record<string, number>>): void {
    const next = new Map<string, number>();
    for (const [version, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0) throw new RangeError(`weight of ${version} must be a non-negative integer, got ${w}`);
      if (w > 0) next.set(version, w);
    }
    this.weights = next;
    this.current = new Map([...next.keys()].map((v) => [v, 0]));
  }

  get(version: string): number {
    return this.weights.get(version) ?? 0;
  }

  /** The next version, or null when every weight is 0. */
  next(): string | null {
    let total = 0;
    let best: string | null = null;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (const [version, w] of this.weights) {
      total += w;
      const value = (this.current.get(version) ?? 0) + w;
      this.current.set(version, value);
      if (value > bestValue) {
        bestValue = value;
        best = version;
      }
    }
    if (best !== null) this.current.set(best, bestValue - total);
    return best;
  }
}

export class WeightedProxy {
  private readonly upstreams = new Map<string, URL>();
  private readonly counters = new Map<string, VersionCounter>();
  private readonly chooser: WeightedChooser;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly timeoutMs: number;

  private constructor(
    private readonly server: Server,
    options: ProxyOptions,
    readonly url: string,
  ) {
    for (const u of options.upstreams) this.setUpstream(u);
    this.chooser = new WeightedChooser(options.weights);
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  static async start(options: ProxyOptions): Promise<WeightedProxy> {
    const known = new Set(options.upstreams.map((u) => u.version));
    for (const v of Object.keys(options.weights)) if (!known.has(v)) throw new RangeError(`weight given for unknown version ${v}`);
    let proxy: WeightedProxy | null = null;
    const server = createServer((req, res) => {
      if (proxy) proxy.handle(req, res);
      else res.writeHead(503).end();
    });
    server.maxConnections = options.maxConnections ?? 256;
    server.requestTimeout = options.requestTimeoutMs ?? 10_000;
    server.headersTimeout = Math.min(server.requestTimeout, 10_000);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    proxy = new WeightedProxy(server, options, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** Adds or replaces a version's upstream. */
  setUpstream(upstream: ProxyUpstream): void {
    this.upstreams.set(upstream.version, new URL(upstream.url));
    if (!this.counters.has(upstream.version)) this.counters.set(upstream.version, new VersionCounter());
  }

  setWeights(weights: Readonly<Record<string, number>>): void {
    for (const v of Object.keys(weights)) if (!this.upstreams.has(v)) throw new RangeError(`weight given for unknown version ${v}`);
    this.chooser.set(weights);
  }

  weights(): Record<string, number> {
    return Object.fromEntries([...this.upstreams.keys()].map((v) => [v, this.chooser.get(v)]));
  }

  stats(): Record<string, ProxyVersionStats> {
    const out: Record<string, ProxyVersionStats> = {};
    for (const [version, c] of this.counters) out[version] = { weight: this.chooser.get(version), requests: c.requests, errors: c.errors, p99Ms: c.p99() };
    return out;
  }

  /** Zeroes one version's counters (e.g. at the start of a canary). */
  resetStats(version: string): void {
    if (this.counters.has(version)) this.counters.set(version, new VersionCounter());
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const version = this.chooser.next();
    const base = version === null ? undefined : this.upstreams.get(version);
    if (version === null || !base) {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no upstream has weight\n');
      return;
    }
    const started = performance.now();
    let done = false;
    const finish = (status: number): void => {
      if (done) return;
      done = true;
      this.counters.get(version)?.record(status, performance.now() - started);
    };
    const headers = { ...req.headers, host: base.host, 'x-cairn-version': version };
    const upstream = httpRequest(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
        timeout: this.timeoutMs,
      },
      (answer) => {
        const status = answer.statusCode ?? 502;
        res.writeHead(status, { ...answer.headers, 'x-cairn-version': version });
        answer.pipe(res);
        answer.once('end', () => finish(status));
        answer.once('error', () => finish(502));
      },
    );
    upstream.once('timeout', () => {
      upstream.destroy(new Error('upstream timeout'));
      finish(504);
      if (!res.headersSent) res.writeHead(504, { 'content-type': 'text/plain', 'x-cairn-version': version }).end('upstream timeout\n');
      else res.destroy();
    });
    upstream.once('error', () => {
      finish(502);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', 'x-cairn-version': version }).end('upstream unavailable\n');
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
