/**
 * Canary analysis: cairn's SPRT on raw counts against a fixed-window threshold rule with
 * Argo Rollouts-like defaults (100-request windows, fail a window at the bad rate, 10 windows,
 * failureLimit 0), over simulated canaries. Prints requests to detect a bad canary (median, p95),
 * the false-rollback rate of healthy canaries, and the SPRT median against Wald's optimum (the
 * expected sample number under H1). Seeded, so runs are reproducible.
 *
 *   node dist/bench/canary.js [--runs N]
 */
import { sprtShape, trafficBudget, windowRuleAbortsAt } from '../src/deploy/sprt.js';

const i = process.argv.indexOf('--runs');
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 1000;
const CAP = 100_000;

/** mulberry32: a small seeded generator, so the figures are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

/** Requests until the SPRT stops, and whether it rejected. */
function runSprt(p: number, shape: ReturnType<typeof sprtShape>, next: () => number): { n: number; rejected: boolean } {
  let llr = 0;
  for (let n = 1; n <= CAP; n++) {
    llr += next() < p ? shape.onError : shape.onSuccess;
    if (llr >= shape.upper) return { n, rejected: true };
    if (llr <= shape.lower) return { n, rejected: false };
  }
  return { n: CAP, rejected: false };
}

function runWindows(p: number, threshold: number, next: () => number): number | null {
  const rule = { windowRequests: 100, threshold, count: 10, failureLimit: 0 };
  const windows = Array.from({ length: rule.count }, () => {
    let e = 0;
    for (let k = 0; k < rule.windowRequests; k++) if (next() < p) e++;
    return e;
  });
  return windowRuleAbortsAt(windows, rule);
}

for (const [p0, p1] of [
  [0.001, 0.01],
  [0.01, 0.05],
] as const) {
  const params = { baselineErrorRate: p0, effect: p1 / p0, alpha: 0.05, beta: 0.2 };
  const shape = sprtShape(params);
  const budget = trafficBudget(params, 60);
  const next = rng(0xc0ffee);
  const bad = Array.from({ length: RUNS }, () => runSprt(p1, shape, next));
  const good = Array.from({ length: RUNS }, () => runSprt(p0, shape, next));
  const badDetected = bad.filter((r) => r.rejected).map((r) => r.n);
  const winBad = Array.from({ length: RUNS }, () => runWindows(p1, p1, next));
  const winGood = Array.from({ length: RUNS }, () => runWindows(p0, p1, next));
  const winDetected = winBad.filter((n): n is number => n !== null);
  const median = quantile(badDetected, 0.5);
  console.log(`\n${(p0 * 100).toFixed(1)}% → ${(p1 * 100).toFixed(0)}%, α = 0.05, β = 0.2, ${RUNS} runs each`);
  console.log(`  budget stated before the rollout: ${budget.expectedRequestsIfHealthy} requests if healthy, ${budget.expectedRequestsIfBad} if bad`);
  console.log(
    `  SPRT:          detect median ${median}, p95 ${quantile(badDetected, 0.95)}, power ${((badDetected.length / RUNS) * 100).toFixed(1)}%, false rollbacks ${((good.filter((r) => r.rejected).length / RUNS) * 100).toFixed(1)}%`,
  );
  console.log(
    `  window rule:   detect median ${quantile(winDetected, 0.5)}, p95 ${quantile(winDetected, 0.95)}, power ${((winDetected.length / RUNS) * 100).toFixed(1)}%, false rollbacks ${((winGood.filter((n) => n !== null).length / RUNS) * 100).toFixed(1)}%`,
  );
  console.log(`  SPRT median / Wald optimum (ASN under H1, ${budget.expectedRequestsIfBad}): ${(median / budget.expectedRequestsIfBad).toFixed(2)}×`);
}
