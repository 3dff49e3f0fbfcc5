/**
 * The compiled step's plain-data TrainState (step.ts) ↔ checkpoint tensor groups + JSON
 * counters, so a checkpoint holds everything the step needs to continue bit for bit:
 * parameters, AdamW moments, step and micro-step counters (the latter positions the noise
 * stream of drop path), a pending accumulation with its latched lr, forward state, EMA.
 */
import type { Tensor } from '../graph/tensor.js';
import type { TrainState } from './step.js';
import type { EngineState } from './loop.js';
import { CheckpointFormatError } from './loop-errors.js';

const GROUPS = ['params', 'adamw.m', 'adamw.v', 'extra', 'grads', 'ema'] as const;

export function trainStateToEngineState(st: TrainState): EngineState {
  return {
    groups: { params: st.params, 'adamw.m': st.m, 'adamw.v': st.v, extra: st.extra, grads: st.grads, ema: st.ema },
    extra: { step: st.step, microStep: st.microStep, accumulated: st.accumulated, lr: st.lr },
  };
}

export function engineStateToTrainState(s: EngineState, source = 'checkpoint'): TrainState {
  const x = s.extra ?? {};
  const int = (k: string): number => {
    const v = x[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new CheckpointFormatError(source, `train state "${k}" must be an integer ≥ 0, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const g of Object.keys(s.groups)) if (!(GROUPS as readonly string[]).includes(g)) throw new CheckpointFormatError(source, `unknown tensor group "${g}"`);
  const get = (g: (typeof GROUPS)[number]) => s.groups[g] ?? new Map<string, Tensor>();
  if (!s.groups.params?.size) throw new CheckpointFormatError(source, 'no parameters in the checkpoint');
  const lr = x.lr;
  return {
    step: int('step'),
    microStep: int('microStep'),
    accumulated: int('accumulated'),
    lr: typeof lr === 'number' ? lr : null,
    params: get('params'),
    m: get('adamw.m'),
    v: get('adamw.v'),
    extra: get('extra'),
    grads: get('grads'),
    ema: get('ema'),
  };
}
