/**
 * The loop's StepEngine for pretraining: the MDM objective compiled into the shared TrainStep
 * (update_freq accumulation, clipping, AdamW, drop-path noise from the seed) and its plain-data
 * state. Batches arrive as the objective's feeds (assembled by the stream, tokenizer included).
 */
import type { Tensor } from '../../graph/tensor.js';
import type { EngineState, MicroContext, MicroResult, StepEngine } from '../loop.js';
import { TrainConfigError } from '../loop-errors.js';
import { engineStateToTrainState, trainStateToEngineState } from '../state.js';
import { NonFiniteError, type TrainStep } from '../step.js';

export class PretrainEngine implements StepEngine<Readonly<Record<string, Tensor>>> {
  constructor(readonly step: TrainStep) {}

  async micro(batch: Readonly<Record<string, Tensor>>, ctx: MicroContext): Promise<MicroResult> {
    let r;
    try {
      r = await this.step.microStep(batch, ctx.lr);
    } catch (e) {
      if (e instanceof NonFiniteError) return { loss: Number.NaN, gradNorm: Number.NaN, note: e.message };
      throw e;
    }
    if (r.update !== ctx.update || r.step !== ctx.step)
      throw new TrainConfigError(`pretrain step out of sync with the loop: step ${r.step} vs ${ctx.step}, update ${r.update} vs ${ctx.update}`);
    const terms: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.outputs)) terms[k] = Number(v.data[0]);
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
