/**
 * The paper's pretraining recipe (BEiT-3 §2.3 / appendix): AdamW β = (0.9, 0.98), ε = 1e-6,
 * weight decay 0.05 (none on 1-D parameters, biases, position tables, cls/mask tokens), linear
 * warmup then cosine decay, gradient clipping 3.0, drop path 0.1, peak lr 2e-3 with 10k warmup
 * steps at 2048 + 2048 + 2048 samples per step. Small runs scale steps and warmup down by flag.
 */
import type { Module } from '../../nn/module.js';
import { getParameterGroups, type ParamGroup } from '../param-groups.js';
import { cosineScheduler } from '../schedule.js';
import { PretrainError } from './errors.js';

export interface PretrainHyperparameters {
  /** Peak learning rate (paper 2e-3). */
  lr: number;
  /** Final value of the cosine (default 1e-5, as BEiT v2). */
  minLr: number;
  /** Linear warmup steps from 0 to the peak (paper 10k). */
  warmupSteps: number;
  /** Optimizer steps in all (paper 1M). */
  steps: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Global gradient-norm clip (paper 3.0; 0 or null = off). */
  clipGrad: number | null;
  /** Stochastic depth rate, linear over the layers as torchscale (paper 0.1). */
  dropPath: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  updateFreq: number;
}

export const PAPER_HYPERPARAMETERS: PretrainHyperparameters = {
  lr: 2e-3,
  minLr: 1e-5,
  warmupSteps: 10_000,
  steps: 1_000_000,
  weightDecay: 0.05,
  betas: [0.9, 0.98],
  eps: 1e-6,
  clipGrad: 3.0,
  dropPath: 0.1,
  updateFreq: 1,
};

/** Per-stream batch sizes of the paper. */
export const PAPER_BATCH = { images: 2048, texts: 2048, pairs: 2048 } as const;

/** Parameters never decayed besides 1-D ones and biases: position tables, cls and mask tokens. */
export function pretrainNoDecay(model: Module): string[] {
  return [...model.namedParameters()]
    .map(([k]) => k)
    .filter((k) => /(^|\.)encoder\.embed_positions\.[AB]\.weight$|(^|\.)vision_embed\.(cls|mask)_token$/.test(k));
}

/** The optimizer groups of the recipe (one decayed, one not; lr scale 1). */
export function pretrainGroups(model: Module, weightDecay: number): ParamGroup[] {
  return getParameterGroups(
    [...model.namedParameters()].map(([k, p]) => [k, p.shape] as const),
    weightDecay,
    { skipList: pretrainNoDecay(model) },
  );
}

/** lr per optimizer step: linspace(0, lr, warmup) then cosine to minLr (utils.cosine_scheduler). */
export function pretrainSchedule(hp: Pick<PretrainHyperparameters, 'lr' | 'minLr' | 'warmupSteps' | 'steps'>, total = hp.steps): number[] {
  if (!Number.isInteger(hp.steps) || hp.steps < 1) throw new PretrainError(`steps must be an integer ≥ 1, got ${hp.steps}`);
  if (!Number.isInteger(hp.warmupSteps) || hp.warmupSteps < 0 || hp.warmupSteps > hp.steps)
    throw new PretrainError(`warmup steps must be an integer in [0, ${hp.steps}], got ${hp.warmupSteps}`);
  const s = cosineScheduler(hp.lr, hp.minLr, 1, hp.steps, hp.warmupSteps > 0 ? { warmupEpochs: 1, warmupSteps: hp.warmupSteps } : {});
  // The loop needs a value for every step of its last (partial) virtual epoch.
  while (s.length < total) s.push(hp.minLr);
  return s;
}
