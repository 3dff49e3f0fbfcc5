/**
 * One call from (model, task, official hyperparameters) to a compiled train step: the task
 * objective (objectives.ts), the official parameter groups (param-groups.ts +
 * models/beit3/param-groups.ts), and the TrainStep (step.ts) with AdamW betas/eps, clipping and
 * update_freq. The schedule is separate (`finetuneSchedule`), indexed by optimizer step.
 */
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import { beit3GroupRule, namedParameterShapes } from '../models/beit3/param-groups.js';
import type { CompileOptions } from '../runtime/session.js';
import { buildObjective, type FinetuneTask, type Objective } from './objectives.js';
import { getParameterGroups, type ParamGroup } from './param-groups.js';
import { cosineScheduler } from './schedule.js';
import { TrainStep } from './step.js';

/** run_beit3_finetuning.py flags that shape the step and schedule (camelCase of the official names). */
export interface FinetuneHyperparameters {
  lr: number;
  minLr: number;
  epochs: number;
  warmupEpochs: number;
  /** -1 / undefined: use warmupEpochs. */
  warmupSteps?: number;
  layerDecay: number;
  taskHeadLrWeight?: number;
  weightDecay: number;
  optBetas?: readonly [number, number];
  optEps?: number;
  /** null / undefined: no clipping (norm still computed). */
  clipGrad?: number | null;
  updateFreq?: number;
  labelSmoothing?: number;
  dropWorstRatio?: number;
  dropWorstAfter?: number;
  /** --model_ema / --model_ema_decay. */
  modelEma?: boolean;
  modelEmaDecay?: number;
}

export interface FinetuneStepOptions {
  batchSize: number;
  textLen?: number;
  /** imagenet with mixup/cutmix (soft targets). */
  softTargets?: boolean;
  /** Seed of the drop-path draws. */
  seed?: number;
  /** Return the pre-clip accumulated gradients of every optimizer step (parity, tests). */
  exposeGrads?: boolean;
  compile?: CompileOptions;
}

export interface Finetune {
  objective: Objective;
  groups: ParamGroup[];
  step: TrainStep;
}

/** The official groups of a BEiT-3 task model (named_parameters order, all trainable). */
export function finetuneGroups(
  model: Beit3TaskModel,
  hp: Pick<FinetuneHyperparameters, 'weightDecay' | 'layerDecay' | 'taskHeadLrWeight'>,
): ParamGroup[] {
  const rule = beit3GroupRule(model.cfg.layers, {
    layerDecay: hp.layerDecay,
    taskHeadLrWeight: hp.taskHeadLrWeight,
  });
  return getParameterGroups(namedParameterShapes(model), hp.weightDecay, rule);
}

/** utils.cosine_scheduler(lr, min_lr, epochs, steps_per_epoch, warmup_epochs, warmup_steps). */
export function finetuneSchedule(
  hp: Pick<FinetuneHyperparameters, 'lr' | 'minLr' | 'epochs' | 'warmupEpochs' | 'warmupSteps'>,
  stepsPerEpoch: number,
): number[] {
  return cosineScheduler(hp.lr, hp.minLr, hp.epochs, stepsPerEpoch, {
    warmupEpochs: hp.warmupEpochs,
    warmupSteps: hp.warmupSteps ?? -1,
  });
}

/** Builds the objective and groups of `task` and compiles its train step; call `step.init(model.stateDict())` next. */
export async function compileFinetune(
  model: Beit3TaskModel,
  task: FinetuneTask,
  hp: FinetuneHyperparameters,
  opts: FinetuneStepOptions,
): Promise<Finetune> {
  const objective = buildObjective(model, task, {
    batchSize: opts.batchSize,
    textLen: opts.textLen,
    labelSmoothing: hp.labelSmoothing,
    softTargets: opts.softTargets,
    dropWorstRatio: hp.dropWorstRatio,
    dropWorstAfter: hp.dropWorstAfter,
  });
  const groups = finetuneGroups(model, hp);
  const [beta1, beta2] = hp.optBetas ?? [0.9, 0.999];
  const step = await TrainStep.compile({
    graph: objective.graph,
    loss: objective.loss,
    params: objective.params,
    groups,
    adamw: { beta1, beta2, eps: hp.optEps ?? 1e-8 },
    clipGradNorm: hp.clipGrad ?? null,
    updateFreq: hp.updateFreq ?? 1,
    noise: objective.noise,
    seed: opts.seed,
    outputs: objective.outputs,
    ema: hp.modelEma ? { decay: hp.modelEmaDecay ?? 0.9999 } : undefined,
    exposeGrads: opts.exposeGrads,
    compile: opts.compile,
  });
  return { objective, groups, step };
}
