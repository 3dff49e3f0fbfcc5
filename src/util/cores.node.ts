/**
 * How many cores this process may use: the CPU affinity (`os.availableParallelism()`) capped by a
 * cgroup CPU quota where one is set (containers often get a quota smaller than the visible CPUs).
 * ONNX Runtime's own default is one intra-op thread on the 2-core machines here, which halves
 * throughput, so every session and pool asks this module instead.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** CPU quota in cores from cgroup v2 `cpu.max` ("max 100000" or "150000 100000") or v1 cfs files. */
export function cgroupQuotaCores(
  read: (path: string) => string | undefined = readSmall,
): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    return quotaToCores(quota, period);
  }
  const quota = read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? read('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us');
  const period =
    read('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? read('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us');
  if (quota === undefined || period === undefined) return undefined;
  return quotaToCores(quota.trim(), period.trim());
}

function quotaToCores(quota: string | undefined, period: string | undefined): number | undefined {
  if (!quota || !period || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined; // -1 = no limit (v1)
  return Math.max(1, Math.floor(q / p));
}

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').slice(0, 256);
  } catch {
    return undefined;
  }
}

let cached: number | undefined;

/** Cores the process may use (≥ 1): affinity, capped by a cgroup quota. Computed once. */
export function availableCores(): number {
  if (cached === undefined) {
    const affinity = availableParallelism();
    const quota = cgroupQuotaCores();
    cached = Math.max(1, quota !== undefined ? Math.min(affinity, quota) : affinity);
  }
  return cached;
}

/**
 * Splits `total` cores among `workers` pools without oversubscribing: each gets ⌊total/workers⌋
 * (at least 1), so the threads of all pools together stay within the cores whenever
 * workers ≤ total.
 */
export function threadsPerWorker(workers: number, total = availableCores()): number {
  if (!Number.isInteger(workers) || workers < 1) return total;
  return Math.max(1, Math.floor(total / workers));
}
