import { availableCores } from '../src/runtime/index.js';

/** One benchmark figure. `roofline_fraction` = value's GFLOP/s divided by the roofline measured in the same run. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  roofline_fraction?: number;
  /** ORT intra-op threads the figure ran with (defaults to the run's default thread count). */
  threads?: number;
  note?: string;
}

export interface BenchContext {
  json: boolean;
  /** Roofline GFLOP/s measured at the start of this run (pre-packed MatMul chain in ORT). */
  rooflineGflops: number;
  /** Thread count at which the roofline peaked. */
  rooflineThreads: number;
  /** Restrict to suites/figures whose name contains this string. */
  filter?: string;
  report(f: Figure): void;
}

export type Suite = { name: string; run(ctx: BenchContext): Promise<void> };

/** Threads a figure ran with when it does not say: every available core (the runtime default). */
export const DEFAULT_THREADS = availableCores();

export function printFigure(f: Figure, json: boolean): void {
  f = { ...f, threads: f.threads ?? DEFAULT_THREADS };
  if (json) {
    process.stdout.write(JSON.stringify(f) + '\n');
    return;
  }
  const frac = f.roofline_fraction !== undefined ? `  (${(100 * f.roofline_fraction).toFixed(1)}% of roofline)` : '';
  process.stdout.write(
    `${f.name.padEnd(40)} ${f.value.toPrecision(4).padStart(10)} ${f.unit}${frac}  [${f.threads}t]${f.note ? `  ${f.note}` : ''}\n`,
  );
}

/** Fastest wall time in ms of `fn` over `iters` runs after one warm-up (on a shared machine the minimum is the least disturbed). */
export async function bestOf(fn: () => Promise<unknown>, iters: number): Promise<number> {
  await fn();
  let best = Infinity;
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Median wall time in ms of `fn` over `iters` runs after `warmup` runs. */
export async function timeIt(fn: () => Promise<unknown>, iters = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
