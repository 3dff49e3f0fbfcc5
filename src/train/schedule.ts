/**
 * The official per-optimizer-step schedule (unilm beit3/beit2 `utils.cosine_scheduler`),
 * reproduced value for value in float64, quirks included:
 * - the warmup is `numpy.linspace(start, base, warmup_iters)`, so it starts AT `start` (0 by
 *   default: the first optimizer step has lr 0) and its last value is the peak;
 * - `warmup_steps > 0` overrides `warmup_epochs · niter`, but the warmup is only added when
 *   `warmup_epochs > 0` (warmup_steps alone makes the official length assertion fail);
 * - the cosine part starts at the peak again (the peak appears twice) and decays towards
 *   `final` without reaching it: value i = final + ½(base − final)(1 + cos(π i / n)).
 * Index it by the optimizer step (global_step), not by the micro-batch.
 */
import { Beit3Error } from '../util/errors.js';

export class ScheduleError extends Beit3Error {
  override name = 'ScheduleError';
}

export interface CosineScheduleOptions {
  /** Warmup length in epochs (official default 0). */
  warmupEpochs?: number;
  /** Warmup length in steps; when > 0 it replaces warmupEpochs · niterPerEpoch (official default -1). */
  warmupSteps?: number;
  /** First warmup value (official default 0). */
  startWarmupValue?: number;
  /** 'cos' (default) or 'linear' (numpy.linspace(base, final, n)). */
  schedType?: 'cos' | 'linear';
}

/** numpy.linspace(start, stop, num) with endpoint=True, computed the way numpy does. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (!Number.isInteger(num) || num < 0)
    throw new ScheduleError(`linspace: num must be an integer ≥ 0, got ${num}`);
  const div = num - 1;
  const delta = stop - start;
  const out = new Array<number>(num);
  if (div > 0) {
    const step = delta / div;
    for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * delta + start : i * step + start;
    out[num - 1] = stop;
  } else for (let i = 0; i < num; i++) out[i] = i * delta + start; // num ≤ 1: [start]
  return out;
}

/** utils.cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs, start_warmup_value, warmup_steps). */
export function cosineScheduler(
  baseValue: number,
  finalValue: number,
  epochs: number,
  niterPerEpoch: number,
  opts: CosineScheduleOptions = {},
): number[] {
  for (const [k, v] of [
    ['epochs', epochs],
    ['niterPerEpoch', niterPerEpoch],
  ] as const)
    if (!Number.isInteger(v) || v < 0)
      throw new ScheduleError(`cosineScheduler: ${k} must be an integer ≥ 0, got ${v}`);
  for (const [k, v] of [
    ['baseValue', baseValue],
    ['finalValue', finalValue],
  ] as const)
    if (!Number.isFinite(v))
      throw new ScheduleError(`cosineScheduler: ${k} must be a finite number, got ${v}`);
  const warmupEpochs = opts.warmupEpochs ?? 0;
  const warmupSteps = opts.warmupSteps ?? -1;
  let warmupIters = warmupEpochs * niterPerEpoch;
  if (warmupSteps > 0) warmupIters = warmupSteps;
  if (!Number.isInteger(warmupIters) || warmupIters < 0)
    throw new ScheduleError(`cosineScheduler: warmup length ${warmupIters} steps is not an integer ≥ 0`);
  const total = epochs * niterPerEpoch;
  const warmup = warmupEpochs > 0 ? linspace(opts.startWarmupValue ?? 0, baseValue, warmupIters) : [];
  const n = total - warmupIters;
  if (n < 0)
    throw new ScheduleError(
      `cosineScheduler: warmup (${warmupIters} steps) is longer than the run (${epochs} epochs × ${niterPerEpoch} = ${total} steps)`,
    );
  let main: number[];
  if ((opts.schedType ?? 'cos') === 'cos') {
    main = new Array<number>(n);
    for (let i = 0; i < n; i++)
      main[i] = finalValue + 0.5 * (baseValue - finalValue) * (1 + Math.cos((Math.PI * i) / n));
  } else if (opts.schedType === 'linear') main = linspace(baseValue, finalValue, n);
  else throw new ScheduleError(`cosineScheduler: unknown schedType ${JSON.stringify(opts.schedType)}`);
  const schedule = [...warmup, ...main];
  if (schedule.length !== total)
    throw new ScheduleError(
      `cosineScheduler: ${schedule.length} values for ${total} steps — warmup_steps ${warmupSteps} needs warmup_epochs > 0 (the official assertion)`,
    );
  return schedule;
}
