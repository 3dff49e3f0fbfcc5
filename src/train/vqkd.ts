/**
 * VQ-KD tokenizer training as unilm `beit2/engine_for_vqkd.train_one_epoch` +
 * `run_vqkd_training.py` do it (train-ref README §5), as a StepEngine for THE loop (loop.ts):
 * - the training forward of models/vqkd/training.ts compiled into one TrainStep, with the
 *   codebook (`quantize.embedding.weight`) and the usage statistic (`quantize.cluster_size`) as
 *   non-parameter state updated inside the step (EMA; the loss uses the pre-update codebook);
 * - `quantize.cluster_size` reset to zeros at the first micro-batch of every epoch
 *   (`reset_cluster_size`);
 * - with `quantize.embedding.initted` = 0, cosine k-means (10 iterations, one ORT program) on the
 *   first batch's quantizer inputs before that batch's step, initial rows drawn from the seed;
 * - AdamW (0.9, 0.99) over the no_decay / decay groups of beit2's create_optimizer, the grad norm
 *   computed but not clipped (clip_grad None), the official warmup + cosine schedule;
 * - codebook usage (codes used, unused, perplexity) per epoch from the step's code counts.
 */
import { Tensor } from '../graph/tensor.js';
import { VQKD_NO_WEIGHT_DECAY, vqkdGroupRule, vqkdTrainableShapes } from '../models/vqkd/pretrained.js';
import type { VQKD } from '../models/vqkd/model.js';
import type { FeatureTeacher } from '../models/vqkd/teachers/teacher.js';
import {
  buildVqkdKmeansGraph,
  buildVqkdTrainGraph,
  CLUSTER_SIZE_KEY,
  CODEBOOK_KEY,
  EMBED_CLUSTER_SIZE_KEY,
  INITTED_KEY,
  kmeansInitIndices,
} from '../models/vqkd/training.js';
import { Program } from '../runtime/session.js';
import { deriveSeed, Rng } from '../util/random.js';
import type { EngineState, EvalResult, Evaluator, MicroContext, MicroResult, StepEngine } from './loop.js';
import { TrainConfigError } from './loop-errors.js';
import { getParameterGroups, type ParamGroup } from './param-groups.js';
import { cosineScheduler } from './schedule.js';
import { engineStateToTrainState, trainStateToEngineState } from './state.js';
import { TrainStep } from './step.js';

export { VQKD_NO_WEIGHT_DECAY };

/** run_vqkd_training.py flags (camelCase), defaults of TOKENIZER.md's recipe where it gives them. */
export interface VqkdHyperparameters {
  /** The lr actually used (run_vqkd_training scales --lr by batch·world/128 first: do that before). */
  lr: number;
  minLr?: number;
  epochs: number;
  warmupEpochs?: number;
  warmupSteps?: number;
  weightDecay?: number;
  optBetas?: readonly [number, number];
  optEps?: number;
  clipGrad?: number | null;
}

/** The official linear lr rule of run_vqkd_training.py: lr · batch_size · world_size / 128. */
export const scaledVqkdLr = (lr: number, batchSize: number, worldSize = 1): number =>
  (lr * batchSize * worldSize) / 128;

export interface VqkdEngineOptions {
  model: VQKD;
  teacher: FeatureTeacher;
  batchSize: number;
  /** Optimizer steps per epoch (cluster_size is reset at each epoch start). */
  stepsPerEpoch: number;
  hp: Pick<VqkdHyperparameters, 'weightDecay' | 'optBetas' | 'optEps' | 'clipGrad'>;
  /** Seeds the k-means initial rows. */
  seed: number;
  /** Starting state dict (default: the model's current values). */
  init?: ReadonlyMap<string, Tensor>;
  threads?: number;
}

export interface VqkdBatch {
  /** (B, 3, H, W) in [0, 1] (or 0..255: the tokenizer's data-dependent scaling decides). */
  image: Tensor;
}

export interface CodebookUsage {
  /** Codes chosen at least once in the epoch so far. */
  used: number;
  /** Codes never chosen (the official `Unused_code` counts zeros of cluster_size instead). */
  unused: number;
  /** exp(entropy) of the epoch's code histogram. */
  perplexity: number;
  /** Zeros of quantize.cluster_size (the official Unused_code). */
  unusedClusterSize: number;
}

/** The beit2 optimizer groups of a VQ-KD model (frozen quantizer tensors left out). */
export function vqkdGroups(model: VQKD, weightDecay: number): ParamGroup[] {
  return getParameterGroups(vqkdTrainableShapes(model), weightDecay, vqkdGroupRule());
}

/** The official schedule of a VQ-KD run (utils.cosine_scheduler, indexed by optimizer step). */
export function vqkdSchedule(hp: VqkdHyperparameters, stepsPerEpoch: number): number[] {
  return cosineScheduler(hp.lr, hp.minLr ?? 1e-5, hp.epochs, stepsPerEpoch, {
    warmupEpochs: hp.warmupEpochs ?? 0,
    warmupSteps: hp.warmupSteps ?? -1,
  });
}

export class VqkdEngine implements StepEngine<VqkdBatch> {
  private epochCounts: Float64Array;
  private lastCodes: Tensor | undefined;

  private constructor(
    readonly step: TrainStep,
    readonly model: VQKD,
    private readonly o: VqkdEngineOptions,
  ) {
    this.epochCounts = new Float64Array(model.cfg.nCode);
  }

  static async create(o: VqkdEngineOptions): Promise<VqkdEngine> {
    const { model, teacher } = o;
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new TrainConfigError(`VQ-KD: batch size must be an integer ≥ 1, got ${o.batchSize}`);
    const t = buildVqkdTrainGraph(model, teacher, o.batchSize);
    const betas = o.hp.optBetas ?? [0.9, 0.99];
    const step = await TrainStep.compile({
      graph: t.graph,
      loss: t.loss,
      params: t.params,
      state: t.state,
      groups: vqkdGroups(model, o.hp.weightDecay ?? 1e-4),
      adamw: { beta1: betas[0], beta2: betas[1], eps: o.hp.optEps ?? 1e-8 },
      clipGradNorm: o.hp.clipGrad ?? null,
      outputs: {
        quant_loss: t.outputs.quant_loss,
        rec_loss: t.outputs.rec_loss,
        codes: t.outputs.codes,
        bins: t.outputs.bins,
      },
      compile: { bind: t.teacherBindings, ...(o.threads ? { threads: o.threads } : {}) },
    });
    step.init(o.init ?? model.stateDict());
    return new VqkdEngine(step, model, o);
  }

  /** Parameters and frozen buffers (the loop's view; the in-step state is in `stateDict()`). */
  params(): Map<string, Tensor> {
    return this.step.params();
  }

  /** The whole tokenizer state dict (parameters, codebook, usage statistic, buffers), live buffers. */
  stateDict(): Map<string, Tensor> {
    const st = this.step.getState({ live: true });
    return new Map([...st.params, ...st.extra]);
  }

  /** Codes of the last micro-batch (B, N). */
  get codes(): Tensor | undefined {
    return this.lastCodes;
  }

  async micro(batch: VqkdBatch, ctx: MicroContext): Promise<MicroResult> {
    if (ctx.micro === 0 && ctx.step % this.o.stepsPerEpoch === 0) this.resetClusterSize();
    const initted = this.step.getState({ live: true }).params.get(INITTED_KEY);
    if (initted && Number(initted.data[0]) === 0) await this.kmeansInit(batch, ctx.epoch);
    const r = await this.step.microStep({ image: batch.image }, ctx.lr);
    const bins = r.outputs.bins.data as Float32Array;
    for (let k = 0; k < bins.length; k++) this.epochCounts[k] += bins[k];
    this.lastCodes = r.outputs.codes;
    const terms = {
      quant_loss: Number(r.outputs.quant_loss.data[0]),
      rec_loss: Number(r.outputs.rec_loss.data[0]),
    };
    return { loss: r.loss, terms, gradNorm: r.gradNorm };
  }

  /** Outputs of the last micro-step beyond the loss (codes, per-code counts). */
  private resetClusterSize(): void {
    const cs = this.step.getState({ live: true }).extra.get(CLUSTER_SIZE_KEY);
    if (!cs) throw new TrainConfigError(`VQ-KD: the step has no ${CLUSTER_SIZE_KEY} state`);
    (cs.data as Float32Array).fill(0);
    this.epochCounts = new Float64Array(this.model.cfg.nCode);
  }

  /** init_embed_: k-means on this batch's quantizer inputs, then codebook, counts and initted set. */
  async kmeansInit(batch: VqkdBatch, epoch = 0): Promise<void> {
    const { model } = this;
    const k = buildVqkdKmeansGraph(model, batch.image.shape[0]);
    const st = this.step.getState();
    const all = new Map([...st.params, ...st.extra]);
    const bind = new Map([...k.scope.used().keys()].map((n) => [n, all.get(n)!]));
    const nVec = batch.image.shape[0] * (model.cfg.encoder.imgSize / model.cfg.encoder.patchSize) ** 2;
    const rng = new Rng(deriveSeed(this.o.seed, 'vqkd-kmeans', epoch));
    const init = Tensor.i64([model.cfg.nCode], kmeansInitIndices(nVec, model.cfg.nCode, rng));
    const prog = await Program.compile(k.graph, { bind, ...(this.o.threads ? { threads: this.o.threads } : {}) });
    let out: Record<string, Tensor>;
    try {
      out = await prog.run({ image: batch.image, init });
    } finally {
      await prog.release();
    }
    st.extra.set(CODEBOOK_KEY, out.means);
    st.params.set(EMBED_CLUSTER_SIZE_KEY, out.bins);
    st.params.set(INITTED_KEY, Tensor.f32([1], [1]));
    this.step.setState(st);
  }

  /** Codebook usage of the epoch so far. */
  usage(): CodebookUsage {
    const counts = this.epochCounts;
    let total = 0;
    let used = 0;
    for (const c of counts) {
      total += c;
      if (c > 0) used++;
    }
    let h = 0;
    for (const c of counts) if (c > 0) h -= (c / total) * Math.log(c / total);
    const cs = this.step.getState({ live: true }).extra.get(CLUSTER_SIZE_KEY)!;
    let zeros = 0;
    for (const v of cs.data as Float32Array) if (v === 0) zeros++;
    return { used, unused: counts.length - used, perplexity: total > 0 ? Math.exp(h) : 0, unusedClusterSize: zeros };
  }

  exportState(): EngineState {
    const s = trainStateToEngineState(this.step.getState({ live: true }));
    return { ...s, extra: { ...s.extra, epochCounts: Array.from(this.epochCounts) } };
  }

  importState(s: EngineState): void {
    this.step.setState(engineStateToTrainState(s));
    const c = s.extra?.epochCounts;
    if (Array.isArray(c) && c.length === this.model.cfg.nCode) this.epochCounts = Float64Array.from(c as number[]);
  }

  release(): Promise<void> {
    return this.step.release();
  }
}

/**
 * The loop's per-epoch evaluation hook for VQ-KD: codebook usage of the epoch (no held-out
 * data needed), logged as eval metrics; the primary metric is the perplexity (higher is better).
 */
export function codebookUsageEvaluator(engine: VqkdEngine): Evaluator {
  return {
    async evaluate(_params, ctx): Promise<EvalResult> {
      const u = engine.usage();
      const metrics = {
        codes_used: u.used,
        unused_codes: u.unused,
        perplexity: u.perplexity,
        unused_cluster_size: u.unusedClusterSize,
      };
      // Also on the progress stream (the loop writes the metrics into log.jsonl as an eval record).
      ctx.onProgress?.({ status: 'done', stage: 'codebook-usage', message: `epoch ${ctx.epoch}`, metrics });
      return {
        metrics,
        primary: 'perplexity',
        higherIsBetter: true,
      };
    },
  };
}
