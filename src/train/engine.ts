/**
 * The loop's StepEngine over the training core: `compileFinetune` (objectives.ts task objective,
 * the official parameter groups, the compiled TrainStep with accumulation, clipping and AdamW)
 * and its plain-data TrainState for checkpoints. Batches carry the official collate keys.
 */
import type { Tensor } from '../graph/tensor.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import { compileFinetune, type FinetuneHyperparameters } from './finetune.js';
import type { EngineState, MicroContext, MicroResult, StepEngine } from './loop.js';
import { TrainConfigError } from './loop-errors.js';
import type { FinetuneTask, Objective } from './objectives.js';
import { engineStateToTrainState, trainStateToEngineState } from './state.js';
import { NonFiniteError, type TrainStep } from './step.js';

export interface TaskEngineOptions {
  model: Beit3TaskModel;
  task: FinetuneTask;
  hp: FinetuneHyperparameters;
  batchSize: number;
  textLen: number;
  /** Seed of the drop-path draws. */
  seed: number;
  /** Starting values of every model parameter (default: the model's current ones). */
  init?: ReadonlyMap<string, Tensor>;
  threads?: number;
}

type Batch = Readonly<Record<string, Tensor>>;

/**
 * The StepEngine over any compiled TrainStep (fine-tuning, pretraining, VQ-KD): `feeds` turns a
 * stream batch into the step's inputs (default: the batch as it is).
 */
export class CompiledStepEngine implements StepEngine<Batch> {
  constructor(
    readonly step: TrainStep,
    private readonly feeds: (batch: Batch, ctx: MicroContext) => Record<string, Tensor> = (b) => ({ ...b }),
  ) {}

  async micro(batch: Batch, ctx: MicroContext): Promise<MicroResult> {
    let r;
    try {
      r = await this.step.microStep(this.feeds(batch, ctx), ctx.lr);
    } catch (e) {
      // the step keeps its state as before the bad micro-batch; the loop stops with the last checkpoint
      if (e instanceof NonFiniteError) return { loss: Number.NaN, gradNorm: Number.NaN, note: e.message };
      throw e;
    }
    if (r.update !== ctx.update || r.step !== ctx.step)
      throw new TrainConfigError(`train step out of sync with the loop: step ${r.step} vs ${ctx.step}, update ${r.update} vs ${ctx.update}`);
    const terms: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.outputs)) if (v.data.length === 1) terms[k] = Number(v.data[0]);
    if (r.clipCoef !== undefined) terms.clip_coef = r.clipCoef;
    return { loss: r.loss, terms, gradNorm: r.gradNorm };
  }

  exportState(): EngineState {
    return trainStateToEngineState(this.step.getState({ live: true }));
  }

  importState(s: EngineState): void {
    this.step.setState(engineStateToTrainState(s));
  }

  params(): Map<string, Tensor> {
    return this.step.params();
  }

  release(): Promise<void> {
    return this.step.release();
  }
}

/** The engine of a fine-tuning run: compileFinetune's step fed through the task objective. */
export class TrainStepEngine extends CompiledStepEngine {
  private constructor(
    step: TrainStep,
    readonly objective: Objective,
  ) {
    super(step, (batch, ctx) => objective.feeds(batch, { globalStep: ctx.step }));
  }

  static async create(o: TaskEngineOptions): Promise<TrainStepEngine> {
    const { step, objective } = await compileFinetune(o.model, o.task, o.hp, {
      batchSize: o.batchSize,
      textLen: o.textLen,
      seed: o.seed,
      compile: o.threads ? { threads: o.threads } : undefined,
    });
    step.init(o.init ?? o.model.stateDict());
    return new TrainStepEngine(step, objective);
  }
}
