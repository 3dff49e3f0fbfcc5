/**
 * THE training loop, shared by fine-tuning, the VQ-KD tokenizer and pretraining. It owns what is
 * the same for all of them, following unilm `engine_for_finetuning.train_one_epoch`:
 *
 *   for each epoch: for each micro-batch i of the epoch's first steps·update_freq batches:
 *     step = i // update_freq; the schedule value of `step` is set at its FIRST micro-batch;
 *     the engine runs forward + backward (loss / update_freq accumulated), and on the LAST
 *     micro-batch of the step clips and applies AdamW; a non-finite loss stops the run.
 *   after each epoch: evaluation, best/last checkpoints, plots.
 *
 * Everything task-specific is a plug-in: the `StepEngine` (compiled graphs, objectives, the
 * optimizer), the batch stream (data.ts or any DataLoader), the `Evaluator` (eval.ts) and
 * `publish` (writing the weights + config.json a pipeline loads). The loop keeps the schedule
 * position, the data position and the seeds, so a checkpoint holds the whole state and a resumed
 * run continues with exactly the losses an uninterrupted run would have had.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../graph/tensor.js';
import { type ProgressCallback, stageReporter } from '../util/progress.js';
import { deriveSeed } from '../util/random.js';
import {
  type Checkpoint,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointMeta,
  checkSameRun,
  checkTensorsFit,
  type DataPosition,
  loadCheckpointFile,
  saveCheckpoint,
} from './checkpoint.js';
import { NonFiniteLossError, TrainConfigError } from './loop-errors.js';
import { type EvalRecord, type StepRecord, TrainLog } from './log.js';
import { writePlots } from './plot.js';

/** What the loop tells the engine about one micro-batch. */
export interface MicroContext {
  /** Optimizer step k (index of the schedule). */
  step: number;
  /** Micro-batch index inside the step, 0 … update_freq − 1. */
  micro: number;
  /** True on the step's last micro-batch: clip + AdamW happen now. */
  update: boolean;
  /** Schedule value of the step (set at its first micro-batch; groups scale it by lr_scale). */
  lr: number;
  epoch: number;
  /** Seed for this micro-batch's in-graph randomness (drop path, dropout), from (run seed, step, micro). */
  seed: number;
}

export interface MicroResult {
  /** The micro-batch's loss BEFORE the division by update_freq (what the official engine logs). */
  loss: number;
  /** Other scalars worth logging (loss terms, accuracy). */
  terms?: Record<string, number>;
  /** Pre-clip global gradient norm; required on update micro-batches. */
  gradNorm?: number;
  /** Why the result is non-finite, when the engine knows (shown in NonFiniteLossError). */
  note?: string;
}

/** The whole optimizer-side state as plain data: tensor groups (params, moments...) + JSON extras. */
export interface EngineState {
  groups: Record<string, Map<string, Tensor>>;
  extra?: Record<string, unknown>;
}

/** The numerical side the loop drives (compiled step, accumulation, clipping, AdamW). */
export interface StepEngine<B> {
  micro(batch: B, ctx: MicroContext): Promise<MicroResult>;
  /** The state to checkpoint (may be live buffers: the loop writes them before the next step). */
  exportState(): EngineState;
  /** Restores a state exported before (same model, same settings). */
  importState(state: EngineState): void;
  /** Current parameters by state-dict key (for evaluation and publishing). */
  params(): Map<string, Tensor>;
}

/** A stream of micro-batches with resume positions (a data/DataLoader fits). */
export interface BatchStream<B> {
  iterate(options: {
    state?: Partial<DataPosition>;
    epochs?: number;
  }): AsyncIterable<{ batch: B; state: DataPosition; epoch: number }>;
}

export interface EvalResult {
  metrics: Record<string, number>;
  /** The metric that picks the best checkpoint. */
  primary: string;
  /** Default true (accuracy, recall, CIDEr); false for losses. */
  higherIsBetter?: boolean;
}

export interface Evaluator {
  evaluate(
    params: Map<string, Tensor>,
    ctx: { step: number; epoch: number; onProgress?: ProgressCallback },
  ): Promise<EvalResult>;
}

export interface PublishInfo {
  kind: 'best' | 'last';
  step: number;
  epoch: number;
  metrics?: Record<string, number>;
}

export interface FitOptions<B> {
  engine: StepEngine<B>;
  data: BatchStream<B>;
  /** Schedule values per optimizer step (length ≥ epochs · stepsPerEpoch), or a function of the step. */
  schedule: readonly number[] | ((step: number) => number);
  epochs: number;
  /** Optimizer steps per epoch (official: len(dataset) // (batch_size · update_freq)). */
  stepsPerEpoch: number;
  updateFreq: number;
  /** Samples per micro-batch (for throughput); default: read from the batch when it has `length`. */
  batchSize: number;
  seed: number;
  /** Checkpoints, log and plots go here; without it nothing is written. */
  outputDir?: string;
  /** The run's settings; saved in every checkpoint and compared on resume. */
  run?: Record<string, unknown>;
  /** Continue from `<outputDir>/checkpoint-last.safetensors`. */
  resume?: boolean;
  evaluator?: Evaluator;
  /** Evaluate every this many epochs (default 1) and after the last one. */
  evalEveryEpochs?: number;
  /** Also write checkpoint-last every this many optimizer steps (default: only at epoch ends). */
  checkpointEverySteps?: number;
  /** Stop (with a checkpoint) once this many optimizer steps are done in all. */
  maxSteps?: number;
  /** Stops after the current step, with a checkpoint (SIGINT in the CLI). */
  signal?: AbortSignal;
  /** Writes the weights a pipeline loads (best after an improving eval; last when there is no evaluator). */
  publish?: (params: Map<string, Tensor>, info: PublishInfo) => Promise<void>;
  onProgress?: ProgressCallback;
  /** Called after every optimizer step with its log record. */
  onStep?: (r: StepRecord) => void;
  /** Plots beside the checkpoints at each epoch end and at the finish (default true with an outputDir). */
  plots?: boolean;
}

export interface FitResult {
  /** Optimizer steps done in all (including those before a resume). */
  steps: number;
  epoch: number;
  /** Why fit returned. */
  stopped: 'finished' | 'max_steps' | 'interrupted';
  /** Every micro-batch loss of this call, in order. */
  losses: number[];
  log: TrainLog;
  best?: CheckpointMeta['best'];
  lastCheckpoint?: string;
  plots: string[];
}

export const LAST_CHECKPOINT = 'checkpoint-last.safetensors';
export const BEST_CHECKPOINT = 'checkpoint-best.safetensors';
export const LOG_FILE = 'log.jsonl';

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw new TrainConfigError(`fit: ${name} must be an integer ≥ ${min}, got ${v}`);
}

/** Runs (or resumes) training; see the module comment for the order of things. */
export async function fit<B>(opts: FitOptions<B>): Promise<FitResult> {
  const { engine, epochs, stepsPerEpoch, updateFreq, seed } = opts;
  checkInt('epochs', epochs, 0);
  checkInt('stepsPerEpoch', stepsPerEpoch, 1);
  checkInt('updateFreq', updateFreq, 1);
  checkInt('batchSize', opts.batchSize, 1);
  checkInt('seed', seed, 0);
  const totalSteps = epochs * stepsPerEpoch;
  const lrAt = (k: number): number => {
    const v = typeof opts.schedule === 'function' ? opts.schedule(k) : opts.schedule[k];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new TrainConfigError(
        `fit: the schedule has no finite value for step ${k} (it needs ${totalSteps} values)`,
      );
    return v;
  };
  if (Array.isArray(opts.schedule) && opts.schedule.length < totalSteps)
    throw new TrainConfigError(
      `fit: the schedule has ${opts.schedule.length} values, the run needs ${totalSteps} (epochs ${epochs} × steps per epoch ${stepsPerEpoch})`,
    );
  const out = opts.outputDir;
  const lastPath = out ? join(out, LAST_CHECKPOINT) : undefined;
  const bestPath = out ? join(out, BEST_CHECKPOINT) : undefined;
  const run = {
    ...(opts.run ?? {}),
    seed,
    epochs,
    steps_per_epoch: stepsPerEpoch,
    update_freq: updateFreq,
    batch_size: opts.batchSize,
  };

  // ---- start or resume
  let step = 0;
  let data: DataPosition = { epoch: 0, position: 0, seed };
  let best: CheckpointMeta['best'];
  if (opts.resume) {
    if (!lastPath)
      throw new TrainConfigError('fit: resume needs an outputDir holding checkpoint-last.safetensors');
    const ck = await loadCheckpointFile(lastPath);
    checkSameRun(lastPath, ck.meta.run, run);
    const shapes = new Map([...engine.params()].map(([k, t]) => [k, t.shape] as const));
    checkTensorsFit(lastPath, shapes, ck.groups.params ?? new Map());
    engine.importState({ groups: ck.groups, extra: ck.meta.extra });
    step = ck.meta.step;
    data = ck.meta.data;
    best = ck.meta.best;
  } else if (lastPath && existsSync(lastPath))
    throw new TrainConfigError(
      `${lastPath} exists: pass --resume to continue that run, or choose another --output folder`,
    );
  const log = out
    ? await TrainLog.open(join(out, LOG_FILE), opts.resume ? step : undefined)
    : TrainLog.memory();

  const losses: number[] = [];
  let lastCheckpoint = opts.resume ? lastPath : undefined;
  let plots: string[] = [];
  const stopAt = Math.min(totalSteps, opts.maxSteps ?? Infinity);
  const progress = stageReporter(opts.onProgress, 'train', { total: totalSteps, unit: 'steps' });
  const t0 = performance.now();
  const recent: number[] = [];

  const meta = (epoch: number, pos: DataPosition, extra?: Record<string, unknown>): CheckpointMeta => ({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step,
    epoch,
    data: pos,
    seed,
    run,
    best,
    extra,
    writtenAt: new Date().toISOString(),
  });
  const save = async (path: string, epoch: number, pos: DataPosition): Promise<void> => {
    const s = engine.exportState();
    const ck: Checkpoint = { meta: meta(epoch, pos, s.extra), groups: s.groups };
    await saveCheckpoint(path, ck);
  };
  const checkpointLast = async (epoch: number, pos: DataPosition): Promise<void> => {
    if (!lastPath) return;
    await save(lastPath, epoch, pos);
    lastCheckpoint = lastPath;
  };
  const replot = async (): Promise<void> => {
    if (out && (opts.plots ?? true)) plots = await writePlots(out, log.records);
  };

  const evaluate = async (epoch: number, nextPos: DataPosition): Promise<void> => {
    if (!opts.evaluator) return;
    const r = await opts.evaluator.evaluate(engine.params(), { step, epoch, onProgress: opts.onProgress });
    const value = r.metrics[r.primary];
    if (typeof value !== 'number')
      throw new TrainConfigError(
        `evaluator: primary metric "${r.primary}" is not among its metrics (${Object.keys(r.metrics).join(', ')})`,
      );
    const higher = r.higherIsBetter ?? true;
    const improved = Number.isFinite(value) && (!best || (higher ? value > best.value : value < best.value));
    if (improved) best = { metric: r.primary, value, step, epoch };
    const rec: EvalRecord = {
      type: 'eval',
      step,
      epoch,
      metrics: r.metrics,
      primary: r.primary,
      best: improved,
      time_s: (performance.now() - t0) / 1000,
    };
    log.append(rec);
    if (improved) {
      if (bestPath) await save(bestPath, epoch, nextPos);
      await opts.publish?.(engine.params(), { kind: 'best', step, epoch, metrics: r.metrics });
    }
  };

  let stopped: FitResult['stopped'] = 'finished';
  progress.start(opts.resume ? `resuming at step ${step}` : undefined);
  let epoch = data.epoch;
  outer: for (; epoch < epochs && step < stopAt; epoch++) {
    const epochEnd = (epoch + 1) * stepsPerEpoch;
    const startPos = epoch === data.epoch ? data : { epoch, position: 0, seed };
    let micro = (step - epoch * stepsPerEpoch) * updateFreq;
    if (micro < 0)
      throw new TrainConfigError(
        `checkpoint position (epoch ${epoch}, step ${step}) is inconsistent with ${stepsPerEpoch} steps per epoch`,
      );
    let stepLosses: number[] = [];
    let stepTerms: Record<string, number> = {};
    let stepStart = performance.now();
    let dataWait = 0;
    let samples = 0;
    let lastState: DataPosition = startPos;
    const it = opts.data.iterate({ state: startPos, epochs: 1 })[Symbol.asyncIterator]();
    try {
      while (step < epochEnd && step < stopAt) {
        const w0 = performance.now();
        const next = await it.next();
        dataWait += performance.now() - w0;
        if (next.done)
          throw new TrainConfigError(
            `epoch ${epoch} ran out of batches after ${micro} micro-batches; it needs ${stepsPerEpoch * updateFreq} (steps per epoch ${stepsPerEpoch} × update_freq ${updateFreq})`,
          );
        const inStep = micro % updateFreq;
        const update = inStep === updateFreq - 1;
        const ctx: MicroContext = {
          step,
          micro: inStep,
          update,
          lr: lrAt(step),
          epoch,
          seed: deriveSeed(seed, 'micro', step, inStep),
        };
        const r = await engine.micro(next.value.batch, ctx);
        const terms = { loss: r.loss, ...(r.terms ?? {}) };
        if (!Number.isFinite(r.loss) || (update && r.gradNorm !== undefined && !Number.isFinite(r.gradNorm)))
          throw new NonFiniteLossError(
            step,
            inStep,
            { ...terms, ...(update ? { grad_norm: r.gradNorm ?? NaN } : {}) },
            lastCheckpoint,
          );
        losses.push(r.loss);
        stepLosses.push(r.loss);
        for (const [k, v] of Object.entries(terms)) stepTerms[k] = (stepTerms[k] ?? 0) + v;
        samples += opts.batchSize;
        lastState = next.value.state;
        micro++;
        if (!update) continue;
        if (r.gradNorm === undefined)
          throw new TrainConfigError('StepEngine.micro must return gradNorm on the update micro-batch');
        const now = performance.now();
        const secs = (now - stepStart) / 1000;
        const meanLoss = stepLosses.reduce((a, b) => a + b, 0) / stepLosses.length;
        const rec: StepRecord = {
          type: 'step',
          step,
          epoch,
          loss: meanLoss,
          terms: Object.fromEntries(Object.entries(stepTerms).map(([k, v]) => [k, v / stepLosses.length])),
          losses: stepLosses,
          lr: ctx.lr,
          grad_norm: r.gradNorm,
          samples,
          samples_per_s: samples / Math.max(secs, 1e-9),
          data_s: dataWait / 1000,
          time_s: (now - t0) / 1000,
        };
        log.append(rec);
        opts.onStep?.(rec);
        step++;
        recent.push(meanLoss);
        if (recent.length > 20) recent.shift();
        progress.update(step, {
          metrics: {
            loss: recent.reduce((a, b) => a + b, 0) / recent.length,
            lr: ctx.lr,
            'samples/s': rec.samples_per_s,
            epoch,
          },
        });
        stepLosses = [];
        stepTerms = {};
        samples = 0;
        dataWait = 0;
        stepStart = performance.now();
        const atEpochEnd = step === epochEnd;
        if (
          !atEpochEnd &&
          (step === stopAt ||
            opts.signal?.aborted ||
            (opts.checkpointEverySteps && step % opts.checkpointEverySteps === 0))
        ) {
          await checkpointLast(epoch, lastState);
          if (step === stopAt) stopped = 'max_steps';
          if (opts.signal?.aborted) {
            stopped = 'interrupted';
            break outer;
          }
        }
      }
    } finally {
      await it.return?.(undefined);
    }
    if (step < epochEnd) break; // stopped mid-epoch (max steps)
    const nextPos: DataPosition = { epoch: epoch + 1, position: 0, seed };
    const every = opts.evalEveryEpochs ?? 1;
    if ((epoch + 1) % every === 0 || epoch + 1 === epochs) await evaluate(epoch, nextPos);
    await checkpointLast(epoch + 1, nextPos);
    await replot();
    if (step === stopAt && step < totalSteps) stopped = 'max_steps';
    if (opts.signal?.aborted) {
      stopped = 'interrupted';
      epoch++;
      break;
    }
  }
  if (stopped === 'finished' && !opts.evaluator && step > 0)
    await opts.publish?.(engine.params(), { kind: 'last', step, epoch });
  else if (stopped === 'finished' && opts.evaluator && !best)
    await opts.publish?.(engine.params(), { kind: 'last', step, epoch });
  await replot();
  progress.done({ done: step, message: stopped === 'finished' ? undefined : stopped });
  return { steps: step, epoch, stopped, losses, log, best, lastCheckpoint, plots };
}
