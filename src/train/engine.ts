/**
 * The loop's StepEngine over the compiled TrainStep (step.ts): a task model's training graph
 * (forward + official loss, drop path as fed noise inputs), its optimizer groups, gradient
 * accumulation, clipping and AdamW, and the plain-data state for checkpoints.
 */
import { Graph, type Value } from '../graph/ir.js';
import type { Tensor } from '../graph/tensor.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import { ParamScope } from '../nn/module.js';
import type { EngineState, MicroContext, MicroResult, StepEngine } from './loop.js';
import type { ParamGroup } from './param-groups.js';
import { engineStateToTrainState, trainStateToEngineState } from './state.js';
import { NonFiniteError, TrainStep } from './step.js';
import { TrainConfigError } from './loop-errors.js';

export interface TrainGraphOptions {
  batchSize: number;
  textLen: number;
  /** VQA answer classes (the dense `labels` target). */
  numClasses?: number;
}

/** Declares the training inputs (model inputs + targets) of a task model and builds its loss. */
export function buildTrainGraph(model: Beit3TaskModel, o: TrainGraphOptions): { graph: Graph; loss: Value; params: Value[]; noise: Value[]; outputs: Record<string, Value> } {
  const g = new Graph(`train_${model.task}`);
  const s = new ParamScope(g, model, { training: true, randomInputs: true });
  const B = o.batchSize;
  const L = o.textLen;
  const S = model.cfg.imgSize;
  const img = (n: string) => g.input(n, 'float32', [B, model.cfg.inChans, S, S]);
  const ids = (n: string) => g.input(n, 'int64', [B, L]);
  const x: Record<string, Value> = {};
  switch (model.task) {
    case 'imageclassification':
      Object.assign(x, { image: img('image'), label: g.input('label', 'int64', [B]) });
      break;
    case 'vqav2':
      if (!o.numClasses) throw new TrainConfigError('VQA training needs the number of answer classes');
      Object.assign(x, { image: img('image'), question: ids('question'), padding_mask: ids('padding_mask'), labels: g.input('labels', 'float32', [B, o.numClasses]) });
      break;
    case 'nlvr2':
      Object.assign(x, { image_a: img('image_a'), image_b: img('image_b'), text_description: ids('text_description'), padding_mask: ids('padding_mask'), label: g.input('label', 'int64', [B]) });
      break;
    case 'retrieval':
      Object.assign(x, { image: img('image'), text_description: ids('text_description'), padding_mask: ids('padding_mask') });
      break;
    case 'captioning':
      Object.assign(x, { image: img('image'), language_tokens: ids('language_tokens'), masked_tokens: ids('masked_tokens'), language_masked_pos: ids('language_masked_pos'), padding_mask: ids('padding_mask') });
      break;
    default:
      throw new TrainConfigError(`no training graph for task ${model.task}`);
  }
  const r = model.loss(s, x);
  const outputs: Record<string, Value> = {};
  // scalar extras worth logging (acc, plain CE, drop-worst loss); logits are not fetched
  for (const [k, v] of Object.entries(r)) if (k !== 'loss' && v.rank === 0) outputs[k] = v;
  return { graph: g, loss: r.loss, params: [...s.used().values()], noise: s.randomInputs(), outputs };
}

export interface TaskEngineOptions extends TrainGraphOptions {
  model: Beit3TaskModel;
  /** Optimizer groups over the model's named parameters (param-groups.ts). */
  groups: readonly ParamGroup[];
  betas: [number, number];
  eps: number;
  clipGrad?: number | null;
  updateFreq: number;
  seed: number;
  /** Starting values of every model parameter. */
  init: ReadonlyMap<string, Tensor>;
  threads?: number;
  ema?: { decay: number };
}

/** StepEngine over a compiled TrainStep. */
export class TrainStepEngine<B extends Readonly<Record<string, Tensor>>> implements StepEngine<B> {
  private constructor(readonly step: TrainStep) {}

  static async create<B extends Readonly<Record<string, Tensor>>>(o: TaskEngineOptions): Promise<TrainStepEngine<B>> {
    const t = buildTrainGraph(o.model, o);
    const step = await TrainStep.compile({
      graph: t.graph,
      loss: t.loss,
      params: t.params,
      noise: t.noise,
      seed: o.seed,
      groups: o.groups,
      adamw: { beta1: o.betas[0], beta2: o.betas[1], eps: o.eps },
      clipGradNorm: o.clipGrad ?? null,
      updateFreq: o.updateFreq,
      outputs: t.outputs,
      ema: o.ema,
      compile: o.threads ? { threads: o.threads } : undefined,
    });
    step.init(o.init);
    return new TrainStepEngine<B>(step);
  }

  async micro(batch: B, ctx: MicroContext): Promise<MicroResult> {
    let r;
    try {
      r = await this.step.microStep(batch, ctx.lr);
    } catch (e) {
      if (e instanceof NonFiniteError) return { loss: Number.NaN, gradNorm: Number.NaN, note: e.message };
      throw e;
    }
    if (r.update !== ctx.update || r.step !== ctx.step)
      throw new TrainConfigError(`train step out of sync with the loop: step ${r.step}/${ctx.step}, update ${r.update}/${ctx.update}`);
    const terms: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.outputs)) if (v.data.length === 1) terms[k] = Number(v.data[0]);
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
