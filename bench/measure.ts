/** Measurement helpers shared by the benchmarks. */

/**
 * Operations per CPU-second of `fn`, run for about `ms` milliseconds of CPU: on a shared
 * machine this is steadier than wall-clock time.
 */
export function rate(fn: () => unknown, ms: number, batch = 16): number {
  let n = 0;
  const start = process.cpuUsage();
  const budget = ms * 1000;
  let used = 0;
  while (used < budget) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    const u = process.cpuUsage(start);
    used = u.user + u.system;
  }
  return n / (used / 1e6);
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
