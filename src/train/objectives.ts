/**
 * The training objective of each official fine-tuning task (`--task` of
 * run_beit3_finetuning.py), as the handlers of engine_for_finetuning.py compute it in
 * `train_batch`: the model's forward in train mode (drop path per sample, draws fed by the
 * step) and the official loss, over graph inputs named by the official collate keys
 * (train-ref README §3), so a loader's batch feeds the step as it is.
 *
 * | task            | batch keys (official)                                            | loss (+ extra)            |
 * |-----------------|------------------------------------------------------------------|---------------------------|
 * | imagenet        | image, label                                                     | LabelSmoothingCE / CE / SoftTargetCE |
 * | vqav2           | image, language_tokens, padding_mask, labels                     | BCEWithLogits · classes   |
 * | nlvr2           | image, language_tokens, padding_mask, image2, label              | CE (+ acc)                |
 * | coco_retrieval  | image, language_tokens, padding_mask, image_id                   | ClipLoss                  |
 * | coco_captioning | image, image_id, language_tokens, masked_tokens, language_masked_pos, padding_mask (+ global_step) | BertCaptioningLoss (+ acc) |
 */
import * as F from '../graph/functional.js';
import { Graph, type Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { Tensor } from '../graph/tensor.js';
import { type Beit3TaskModel, type InputSpec, type TaskName } from '../models/beit3/heads/base.js';
import { captioningLoss, clipLoss, vqaBceLoss } from '../models/beit3/losses.js';
import { ParamScope } from '../nn/module.js';
import { Beit3Error } from '../util/errors.js';

export class ObjectiveError extends Beit3Error {
  override name = 'ObjectiveError';
}

/** The `--task` names of run_beit3_finetuning.py. */
export type FinetuneTask = 'imagenet' | 'vqav2' | 'nlvr2' | 'coco_retrieval' | 'coco_captioning';
export const FINETUNE_TASKS: readonly FinetuneTask[] = [
  'imagenet',
  'vqav2',
  'nlvr2',
  'coco_retrieval',
  'coco_captioning',
];

/** The model (registry task) each fine-tuning task trains. */
export const TASK_MODEL: Readonly<Record<FinetuneTask, TaskName>> = {
  imagenet: 'imageclassification',
  vqav2: 'vqav2',
  nlvr2: 'nlvr2',
  coco_retrieval: 'retrieval',
  coco_captioning: 'captioning',
};

export interface ObjectiveOptions {
  /** Micro-batch size (a number compiles static shapes; a string makes a symbolic dim). */
  batchSize: number | string;
  /** Text length of language_tokens / padding_mask (official num_max_bpe_tokens; default 64). */
  textLen?: number;
  /** imagenet / coco_captioning --label_smoothing (official default 0.1). */
  labelSmoothing?: number;
  /** imagenet with mixup/cutmix: `label` is a (B, classes) soft target (SoftTargetCrossEntropy). */
  softTargets?: boolean;
  /** coco_captioning --drop_worst_ratio (default 0.2) and --drop_worst_after (default 12000). */
  dropWorstRatio?: number;
  dropWorstAfter?: number;
  /** Train-mode forward (default true): drop path active with the model config's rate. */
  training?: boolean;
}

export interface Objective {
  task: FinetuneTask;
  graph: Graph;
  /** Micro-batch loss (before /update_freq). */
  loss: Value;
  /** Parameters the forward uses, in named_parameters() order (they get gradients). */
  params: Value[];
  /** Extra scalars the official handler returns (nlvr2 / coco_captioning: acc). */
  outputs: Record<string, Value>;
  /** U[0,1) inputs of the stochastic layers (fed by the train step). */
  noise: Value[];
  /** The official batch keys with dtype and shape (global_step excluded). */
  batchKeys: Record<string, InputSpec>;
  /** The step feeds of one collated micro-batch; `globalStep` = optimizer step index (captioning). */
  feeds(batch: Readonly<Record<string, Tensor>>, ctx?: { globalStep?: number }): Record<string, Tensor>;
}

/** The official collate keys of a task, with shapes for this model and batch. */
export function batchKeys(
  task: FinetuneTask,
  model: Beit3TaskModel,
  opts: ObjectiveOptions,
): Record<string, InputSpec> {
  const { cfg } = model;
  const B = opts.batchSize;
  const T = opts.textLen ?? 64;
  const image: InputSpec = { dtype: 'float32', shape: [B, cfg.inChans, cfg.imgSize, cfg.imgSize] };
  const text: InputSpec = { dtype: 'int64', shape: [B, T] };
  const classes = (model as { numClasses?: number }).numClasses;
  switch (task) {
    case 'imagenet':
      return {
        image,
        label: opts.softTargets ? { dtype: 'float32', shape: [B, classes!] } : { dtype: 'int64', shape: [B] },
      };
    case 'vqav2':
      return {
        image,
        language_tokens: text,
        padding_mask: text,
        labels: { dtype: 'float32', shape: [B, classes!] },
      };
    case 'nlvr2':
      return {
        image,
        language_tokens: text,
        padding_mask: text,
        image2: image,
        label: { dtype: 'int64', shape: [B] },
      };
    case 'coco_retrieval':
      return { image, language_tokens: text, padding_mask: text, image_id: { dtype: 'int64', shape: [B] } };
    case 'coco_captioning':
      return {
        image,
        image_id: { dtype: 'int64', shape: [B] },
        language_tokens: text,
        masked_tokens: text,
        language_masked_pos: text,
        padding_mask: text,
      };
  }
}

/** Builds the training graph of `task` for `model` (a model of TASK_MODEL[task]). */
export function buildObjective(model: Beit3TaskModel, task: FinetuneTask, opts: ObjectiveOptions): Objective {
  if (!(task in TASK_MODEL))
    throw new ObjectiveError(`unknown fine-tuning task "${task}" (known: ${FINETUNE_TASKS.join(', ')})`);
  if (model.task !== TASK_MODEL[task])
    throw new ObjectiveError(`task ${task} trains a ${TASK_MODEL[task]} model, got a ${model.task} model`);
  const g = new Graph(`finetune_${task}`);
  const s = new ParamScope(g, model, { training: opts.training ?? true, randomInputs: true });
  const keys = batchKeys(task, model, opts);
  const inputs = new Map<string, Value>();
  const x = (name: string): Value => {
    let v = inputs.get(name);
    if (!v) {
      const spec = keys[name];
      inputs.set(name, (v = g.input(name, spec.dtype, spec.shape)));
    }
    return v;
  };
  const outputs: Record<string, Value> = {};
  let loss: Value;
  let globalStep: Value | undefined;
  switch (task) {
    case 'imagenet': {
      const { logits } = model.forward(s, { image: x('image') });
      const eps = opts.labelSmoothing ?? 0.1;
      // official: mixup → SoftTargetCrossEntropy; smoothing > 0 → LabelSmoothingCrossEntropy; else CE
      loss = opts.softTargets
        ? F.softTargetCrossEntropy(logits, x('label'))
        : F.crossEntropy(logits, x('label'), { labelSmoothing: eps > 0 ? eps : 0 });
      break;
    }
    case 'vqav2': {
      const { logits } = model.forward(s, {
        image: x('image'),
        question: x('language_tokens'),
        padding_mask: x('padding_mask'),
      });
      loss = vqaBceLoss(logits, x('labels'));
      break;
    }
    case 'nlvr2': {
      const { logits } = model.forward(s, {
        image_a: x('image'),
        image_b: x('image2'),
        text_description: x('language_tokens'),
        padding_mask: x('padding_mask'),
      });
      loss = F.crossEntropy(logits, x('label'));
      outputs.acc = ops.reduceMean(ops.cast(ops.equal(ops.argMax(logits, -1), x('label')), 'float32'), [0]);
      break;
    }
    case 'coco_retrieval': {
      const r = model.forward(s, {
        image: x('image'),
        text_description: x('language_tokens'),
        padding_mask: x('padding_mask'),
      });
      if (!r.vision_cls || !r.language_cls)
        throw new ObjectiveError('retrieval model did not return both embeddings');
      const logitScale = s.used().get('logit_scale');
      loss = r.loss ?? clipLoss(r.vision_cls, r.language_cls, logitScale!);
      break;
    }
    case 'coco_captioning': {
      const pos = x('language_masked_pos');
      const { logits } = model.forward(s, {
        image: x('image'),
        text_ids: x('masked_tokens'),
        padding_mask: x('padding_mask'),
        language_masked_pos: pos,
      });
      const target = ops.gather(ops.reshape(x('language_tokens'), [-1]), F.nonzeroFlat(pos), 0);
      const lossOpts = { smoothing: opts.labelSmoothing ?? 0.1, dropWorstRatio: opts.dropWorstRatio ?? 0.2 };
      const plain = captioningLoss(logits, target, { ...lossOpts, dropWorst: false });
      // drop-worst switches on while global_step > drop_worst_after: a run-time input, one program
      globalStep = g.input('global_step', 'int64', []);
      if (lossOpts.dropWorstRatio > 0) {
        const worst = captioningLoss(logits, target, { ...lossOpts, dropWorst: true });
        loss = ops.where(ops.greater(globalStep, opts.dropWorstAfter ?? 12000), worst.loss, plain.loss);
      } else loss = plain.loss;
      outputs.acc = plain.accuracy;
      break;
    }
  }
  const order = new Map([...model.namedParameters()].map(([n], i) => [n, i]));
  const params = [...s.used()].sort((a, b) => order.get(a[0])! - order.get(b[0])!).map(([, v]) => v);
  const needed = [...inputs.keys()];
  const stepInput = globalStep;
  return {
    task,
    graph: g,
    loss,
    params,
    outputs,
    noise: s.randomInputs(),
    batchKeys: keys,
    feeds(batch, ctx = {}) {
      const out: Record<string, Tensor> = {};
      const missing = needed.filter((k) => !batch[k]);
      if (missing.length)
        throw new ObjectiveError(
          `${task} batch lacks ${missing.join(', ')} (has ${Object.keys(batch).join(', ') || 'nothing'})`,
        );
      for (const k of needed) out[k] = batch[k];
      if (stepInput) {
        if (ctx.globalStep === undefined || !Number.isInteger(ctx.globalStep))
          throw new ObjectiveError(`${task}: feeds() needs the optimizer step index (ctx.globalStep)`);
        out.global_step = Tensor.scalar(ctx.globalStep, 'int64');
      }
      return out;
    },
  };
}
