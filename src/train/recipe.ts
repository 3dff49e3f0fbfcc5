/**
 * The fine-tuning recipe behind `beit3 finetune`: the official flags with the per-task defaults of
 * unilm's get_started guides, then model + --init checkpoint, data streams, the compiled step,
 * the evaluator and fit(); the output folder ends up holding config.json + model.safetensors
 * (+ the tokenizer) that every pipeline, `beit3 export` and `beit3 quantize` load as they are.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tensor } from '../graph/tensor.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import { saveSafetensors } from '../io/safetensors.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import { Beit3ForVQA } from '../models/beit3/heads/vqa.js';
import { filterCheckpoint } from '../models/beit3/pretrained.js';
import { configFor, createTaskModel, getEntry } from '../models/beit3/registry.js';
import { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import { writeFileAtomic } from '../util/atomic.node.js';
import { messageOf } from '../util/errors.js';
import { applyBeitInit } from './pretrain/init.js';
import { deriveSeed, permutation, Rng } from '../util/random.js';
import type { ProgressCallback } from '../util/progress.js';
import { checkTensorsFit } from './checkpoint.js';
import { KIND_TASK, resolveTaskData, stepsPerEpoch, type TaskData, taskLoader, type TrainKind } from './data.js';
import { TrainStepEngine } from './engine.js';
import { TaskEvaluator } from './eval.js';
import { finetuneSchedule } from './finetune.js';
import { fit, type FitResult } from './loop.js';
import { TrainConfigError, TrainDataError } from './loop-errors.js';
import type { EvalResult } from './loop.js';

/** The official run_beit3_finetuning.py flags (snake_case as on its command line). */
export interface FinetuneSettings {
  task: string;
  model: string;
  data: string;
  output: string;
  /** --init / --finetune: pretrained or fine-tuned checkpoint (.pth or .safetensors). */
  init?: string;
  sentencepiece_model?: string;
  input_size?: number;
  vocab_size?: number;
  num_max_bpe_tokens: number;
  lr: number;
  min_lr: number;
  warmup_epochs: number;
  warmup_steps: number;
  layer_decay: number;
  task_head_lr_weight: number;
  weight_decay: number;
  opt_betas: [number, number];
  opt_eps: number;
  clip_grad: number | null;
  update_freq: number;
  drop_path: number;
  label_smoothing: number;
  randaug: boolean;
  epochs: number;
  batch_size: number;
  eval_batch_size?: number;
  num_beams: number;
  length_penalty: number;
  captioning_mask_prob: number;
  drop_worst_ratio: number;
  drop_worst_after: number;
  model_ema: boolean;
  model_ema_decay: number;
  seed: number;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** Image transform worker threads (official --num_workers). */
  num_workers: number;
  /** Drop items whose files are missing (and count them) instead of stopping. */
  skip_missing: boolean;
  /** Split evaluated every epoch (default val). */
  eval_split?: string;
  /** Stop after this many optimizer steps in all (with a checkpoint; --resume continues). */
  max_steps?: number;
  /** Train on a seeded random subset of this many items (Hugging Face's max_train_samples). */
  max_train_samples?: number;
  /** Evaluate on the first this many items of the eval split (Hugging Face's max_eval_samples). */
  max_eval_samples?: number;
  /**
   * Without --init: 'official' keeps the modules' own initialisers (as the official classes
   * construct them: position tables N(0, 1)); 'beit' is the BEiT pretraining init (what
   * `beit3 pretrain` starts from), the fair baseline for "from scratch".
   */
  scratch_init?: 'official' | 'beit';
  /**
   * VQA's BCE head: 'zero' (official) starts every answer's bias at 0, i.e. p = 0.5 for each of
   * the answers; 'prior' starts it at the log-odds of the answer's mean train score (the focal-loss
   * prior init), so the first steps need not drive every logit down (from little pretraining that
   * drive collapsed the model to an input-independent output).
   */
  head_bias_init?: 'zero' | 'prior';
  resume: boolean;
  eval_only: boolean;
}

/** run_beit3_finetuning.py argparse defaults. */
export const OFFICIAL_DEFAULTS = {
  num_max_bpe_tokens: 64,
  lr: 5e-4,
  min_lr: 1e-6,
  warmup_epochs: 5,
  warmup_steps: -1,
  layer_decay: 0.9,
  task_head_lr_weight: 0,
  weight_decay: 0.05,
  opt_betas: [0.9, 0.999] as [number, number],
  opt_eps: 1e-8,
  clip_grad: null as number | null,
  update_freq: 1,
  drop_path: 0.1,
  label_smoothing: 0.1,
  randaug: false,
  epochs: 20,
  batch_size: 64,
  num_beams: 3,
  length_penalty: 0.6,
  captioning_mask_prob: 0.6,
  drop_worst_ratio: 0.2,
  drop_worst_after: 12000,
  model_ema: false,
  model_ema_decay: 0.9999,
  seed: 0,
  num_workers: 2,
  skip_missing: false,
  resume: false,
  eval_only: false,
};

/**
 * The base-model recipes of unilm beit3/get_started/*.md (flickr30k and nocaps differ in lr/epochs).
 * The image size is not here: it comes from the registry name (beit3_base_patch16_480 → 480), as
 * the guides pass --input_size equal to the model name's size.
 */
export const TASK_DEFAULTS: Record<string, Partial<FinetuneSettings>> = {
  imagenet: { batch_size: 128, layer_decay: 0.65, lr: 7e-4, update_freq: 1, epochs: 50, warmup_epochs: 5, drop_path: 0.15, weight_decay: 0.05 },
  vqav2: { batch_size: 16, layer_decay: 1.0, lr: 3e-5, update_freq: 1, randaug: true, epochs: 10, warmup_epochs: 1, drop_path: 0.1, weight_decay: 0.01, task_head_lr_weight: 20, opt_betas: [0.9, 0.98] },
  nlvr2: { batch_size: 32, layer_decay: 0.65, lr: 7e-4, epochs: 20, warmup_epochs: 5, drop_path: 0.2, weight_decay: 0.2 },
  coco_retrieval: { batch_size: 192, layer_decay: 0.65, lr: 2e-4, epochs: 15, warmup_epochs: 3, drop_path: 0.2, weight_decay: 0.05 },
  flickr30k: { batch_size: 192, layer_decay: 0.65, lr: 1e-4, epochs: 20, warmup_epochs: 5, drop_path: 0.2, weight_decay: 0.05 },
  coco_captioning: { batch_size: 32, layer_decay: 1.0, lr: 4e-5, randaug: true, epochs: 10, warmup_epochs: 1, drop_path: 0.1, weight_decay: 0.05, num_max_bpe_tokens: 32, captioning_mask_prob: 0.7, drop_worst_after: 12000 },
  nocaps: { batch_size: 32, layer_decay: 1.0, lr: 1e-5, randaug: true, epochs: 10, warmup_epochs: 1, drop_path: 0.1, weight_decay: 0.05, num_max_bpe_tokens: 32, captioning_mask_prob: 0.7, drop_worst_after: 12000 },
};

/** The defaults a task starts from: argparse defaults, then its get_started recipe (corpus tasks: the recipe of their kind). */
export function taskDefaults(task: string, kind: TrainKind): Omit<FinetuneSettings, 'task' | 'model' | 'data' | 'output'> {
  const recipe = TASK_DEFAULTS[task] ?? TASK_DEFAULTS[KIND_TASK[kind]];
  return { ...OFFICIAL_DEFAULTS, ...recipe };
}

/** The registry name the official script builds: `<model>_<kind>` unless the name already has a task. */
export function taskModelName(model: string, kind: TrainKind): string {
  try {
    const e = getEntry(model);
    if (e.task === kind) return model;
    if (e.task !== 'backbone') throw new TrainConfigError(`--model ${model} is a ${e.task} model; task needs a ${kind} model (give the backbone name, e.g. ${model.replace(`_${e.task}`, '')})`);
  } catch (e) {
    if (e instanceof TrainConfigError) throw e;
  }
  return getEntry(`${model}_${kind}`).name;
}

/** The trajectory-shaping settings saved in checkpoints (resume refuses a run that changed them). */
function runFingerprint(s: FinetuneSettings, modelName: string, data: TaskData): Record<string, unknown> {
  const keep: (keyof FinetuneSettings)[] = ['task', 'lr', 'min_lr', 'warmup_epochs', 'warmup_steps', 'layer_decay', 'task_head_lr_weight', 'weight_decay', 'opt_betas', 'opt_eps', 'clip_grad', 'drop_path', 'label_smoothing', 'randaug', 'input_size', 'num_max_bpe_tokens', 'captioning_mask_prob', 'drop_worst_ratio', 'drop_worst_after', 'model_ema', 'model_ema_decay', 'max_train_samples', 'scratch_init', 'head_bias_init'];
  const out: Record<string, unknown> = Object.fromEntries(keep.map((k) => [k, s[k] ?? null]));
  out.model = modelName;
  out.data = resolve(s.data);
  out.train_items = data.train.length;
  out.eval_split = s.eval_split ?? 'val';
  return out;
}

export interface PreparedRun {
  settings: FinetuneSettings;
  kind: TrainKind;
  modelName: string;
  model: Beit3TaskModel;
  data: TaskData;
  tokenizer?: Beit3Tokenizer;
  /** What loading --init changed or ignored. */
  notes: string[];
}

/** Loads --init into the model: backbone keys must fit; a fresh head may be missing; other heads' keys are ignored. */
export async function loadInit(model: Beit3TaskModel, path: string): Promise<string[]> {
  let raw: Map<string, Tensor>;
  try {
    raw = await loadCheckpoint(path, { modelKey: 'model|module' });
  } catch (e) {
    throw new TrainConfigError(`--init ${path}: ${messageOf(e)}`, { cause: e });
  }
  const shapes = model.shapes();
  // The released pretrained checkpoints carry encoder.layer_norm.A/B, which classification and VQA
  // models (normalize_output=False) lack: the official non-strict load ignores them.
  const { state: stateDict, notes: changes } = filterCheckpoint(raw, shapes, { ignoreFinalNorm: true });
  const { missing, unexpected } = checkTensorsFit(path, shapes, stateDict, {
    allowMissing: (k) => !k.startsWith('beit3.'),
    allowUnexpected: (k) => !k.startsWith('beit3.'),
  });
  model.loadStateDict(new Map([...stateDict].filter(([k]) => shapes.has(k))), { strict: false });
  const notes = [...changes];
  if (missing.length) notes.push(`initialised fresh (not in the checkpoint): ${missing.join(', ')}`);
  if (unexpected.length) notes.push(`ignored (other heads): ${unexpected.join(', ')}`);
  return notes;
}

/** Settings → model (with --init), tokenizer, task data. */
export async function prepareRun(s: FinetuneSettings): Promise<PreparedRun> {
  const tokenizer = s.sentencepiece_model ? await Beit3Tokenizer.load(s.sentencepiece_model) : undefined;
  const data = await resolveTaskData(s.task, s.data, { tokenizer, skipMissing: s.skip_missing, evalSplit: s.eval_split });
  if (s.max_train_samples !== undefined && s.max_train_samples < data.train.length) {
    const keep = permutation(data.train.length, new Rng(deriveSeed(s.seed, 'max_train_samples'))).slice(0, s.max_train_samples);
    data.train = keep.sort((a, b) => a - b).map((i) => data.train[i]);
  }
  if (s.max_eval_samples !== undefined) data.eval = data.eval.slice(0, s.max_eval_samples);
  const kind = data.kind;
  const modelName = taskModelName(s.model, kind);
  const entry = getEntry(modelName);
  const vocabSize = s.vocab_size ?? tokenizer?.vocabSize;
  const cfg = configFor(modelName, {
    ...(s.input_size ? { imgSize: s.input_size } : {}),
    ...(vocabSize ? { vocabSize } : {}),
    dropPathRate: s.drop_path,
  });
  if (tokenizer && tokenizer.vocabSize > cfg.vocabSize)
    throw new TrainConfigError(`the tokenizer has ${tokenizer.vocabSize} ids, the model's vocab_size is ${cfg.vocabSize} (pass --vocab_size ${tokenizer.vocabSize})`);
  const model = createTaskModel(kind, cfg, data.numClasses ?? entry.numClasses);
  if (!s.init && s.scratch_init === 'beit') applyBeitInit(model);
  const notes = s.init ? await loadInit(model, s.init) : [`no --init: random ${s.scratch_init === 'beit' ? 'BEiT pretraining' : 'official'} initialisation (seed 0)`];
  if (s.head_bias_init === 'prior') notes.push(initHeadBiasFromPrior(model, data));
  return { settings: s, kind, modelName, model, data, tokenizer, notes };
}

/** head_bias_init 'prior': each answer's BCE bias = log-odds of its mean soft score over the train items. */
function initHeadBiasFromPrior(model: Beit3TaskModel, data: TaskData): string {
  if (data.kind !== 'vqav2' || !(model instanceof Beit3ForVQA))
    throw new TrainConfigError(`--head_bias_init prior applies to VQA's BCE head only (this task is ${data.kind})`);
  const C = model.numClasses;
  const sum = new Float64Array(C);
  for (const it of data.train) it.labels?.forEach((l, j) => (sum[l] += it.scores![j]));
  const eps = 1e-4;
  const bias = Float32Array.from(sum, (x) => {
    const p = Math.min(1 - eps, Math.max(eps, x / Math.max(1, data.train.length)));
    return Math.log(p / (1 - p));
  });
  model.loadStateDict(new Map([['head.3.bias', new Tensor('float32', [C], bias)]]), { strict: false });
  return `head.3.bias = log-odds of each answer's train prior (${C} answers, ${data.train.length} items)`;
}

/** Writes config.json + model.safetensors (+ tokenizer.model) so `beit3 <task> -c OUT/config.json` loads them. */
export async function publishModel(p: PreparedRun, params: ReadonlyMap<string, Tensor>, info: { step: number; epoch: number; metrics?: Record<string, number> }): Promise<void> {
  const out = p.settings.output;
  mkdirSync(out, { recursive: true });
  const weights = new Map<string, Tensor>();
  for (const [k] of p.model.namedParameters()) {
    const t = params.get(k);
    if (t) weights.set(k, t);
  }
  await saveSafetensors(join(out, 'model.safetensors'), weights, { format: 'pt', 'beit3.model': p.modelName });
  let tokenizer: string | undefined;
  if (p.settings.sentencepiece_model) {
    tokenizer = 'tokenizer.model';
    const dst = join(out, tokenizer);
    if (resolve(p.settings.sentencepiece_model) !== resolve(dst)) copyFileSync(p.settings.sentencepiece_model, dst);
  }
  const cfg = p.model.cfg;
  const config: Record<string, unknown> = {
    task: p.kind,
    model: p.modelName,
    img_size: cfg.imgSize,
    vocab_size: cfg.vocabSize,
    weights: 'model.safetensors',
    num_max_bpe_tokens: p.settings.num_max_bpe_tokens,
    ...(p.data.numClasses !== undefined && p.kind !== 'retrieval' && p.kind !== 'captioning' ? { num_classes: p.data.numClasses } : {}),
    ...(p.data.labels ? { labels: p.data.labels } : {}),
    ...(tokenizer ? { tokenizer } : {}),
    ...(p.kind === 'captioning' ? { num_beams: p.settings.num_beams, length_penalty: p.settings.length_penalty } : {}),
    finetune: { from: p.settings.init ?? null, task: p.settings.task, data: resolve(p.settings.data), step: info.step, epoch: info.epoch, metrics: info.metrics ?? null },
  };
  await writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 1) + '\n', { mkdir: true });
}

export interface RunOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Human-readable notes (init changes, skipped items). */
  log?: (line: string) => void;
}

function evaluatorFor(p: PreparedRun): TaskEvaluator | undefined {
  const s = p.settings;
  try {
    return new TaskEvaluator({
      model: p.model,
      data: p.data,
      tokenizer: p.tokenizer,
      imgSize: p.model.cfg.imgSize,
      batchSize: s.eval_batch_size ?? s.batch_size,
      textLen: s.num_max_bpe_tokens,
      numClasses: p.data.numClasses,
      threads: s.num_workers,
      numBeams: s.num_beams,
      lengthPenalty: s.length_penalty,
      ortThreads: s.threads,
    });
  } catch (e) {
    if (e instanceof TrainDataError) return undefined;
    throw e;
  }
}

/** --eval-only: the metrics of the --init weights (or of the output folder's model.safetensors). */
export async function evaluateOnly(s: FinetuneSettings, o: RunOptions = {}): Promise<EvalResult> {
  const p = await prepareRun({ ...s, init: s.init ?? (existsSync(join(s.output, 'model.safetensors')) ? join(s.output, 'model.safetensors') : undefined) });
  for (const n of p.notes) o.log?.(n);
  const ev = evaluatorFor(p);
  if (!ev) throw new TrainConfigError(`${s.task}: this data has nothing to evaluate against (see docs/train.md)`);
  try {
    return await ev.evaluate(p.model.stateDict(), { step: 0, epoch: 0, onProgress: o.onProgress });
  } finally {
    await ev.release();
  }
}

export interface FinetuneResult extends FitResult {
  prepared: PreparedRun;
  stepsPerEpoch: number;
}

/** The whole fine-tuning run (or its resumption). */
export async function runFinetune(s: FinetuneSettings, o: RunOptions = {}): Promise<FinetuneResult> {
  const p = await prepareRun(s);
  for (const n of p.notes) o.log?.(n);
  for (const k of p.data.skipped) o.log?.(`skipped ${k.count} ${k.split} items with missing files (e.g. ${k.examples.join(', ')})`);
  const spe = stepsPerEpoch(p.data.train.length, s.batch_size, s.update_freq);
  const engine = await TrainStepEngine.create({
    model: p.model,
    task: KIND_TASK[p.kind],
    hp: {
      lr: s.lr,
      minLr: s.min_lr,
      epochs: s.epochs,
      warmupEpochs: s.warmup_epochs,
      warmupSteps: s.warmup_steps,
      layerDecay: s.layer_decay,
      taskHeadLrWeight: s.task_head_lr_weight,
      weightDecay: s.weight_decay,
      optBetas: s.opt_betas,
      optEps: s.opt_eps,
      clipGrad: s.clip_grad,
      updateFreq: s.update_freq,
      labelSmoothing: s.label_smoothing,
      dropWorstRatio: s.drop_worst_ratio,
      dropWorstAfter: s.drop_worst_after,
      modelEma: s.model_ema,
      modelEmaDecay: s.model_ema_decay,
    },
    batchSize: s.batch_size,
    textLen: s.num_max_bpe_tokens,
    seed: s.seed,
    threads: s.threads,
  });
  const loader = taskLoader(p.data, 'train', {
    imgSize: p.model.cfg.imgSize,
    batchSize: s.batch_size,
    seed: s.seed,
    textLen: s.num_max_bpe_tokens,
    randaug: s.randaug,
    threads: s.num_workers,
    numClasses: p.data.numClasses,
    captioningMaskProb: s.captioning_mask_prob,
    maskTokenId: p.tokenizer?.maskId,
    vocabSize: p.tokenizer?.vocabSize,
  });
  const evaluator = evaluatorFor(p);
  if (!evaluator) o.log?.(`${s.task}: no evaluation (this data has no references to score against); the last weights are published`);
  try {
    const r = await fit({
      engine,
      data: loader,
      schedule: finetuneSchedule({ lr: s.lr, minLr: s.min_lr, epochs: s.epochs, warmupEpochs: s.warmup_epochs, warmupSteps: s.warmup_steps }, spe),
      epochs: s.epochs,
      stepsPerEpoch: spe,
      updateFreq: s.update_freq,
      batchSize: s.batch_size,
      seed: s.seed,
      outputDir: s.output,
      run: runFingerprint(s, p.modelName, p.data),
      resume: s.resume,
      evaluator,
      maxSteps: s.max_steps,
      signal: o.signal,
      onProgress: o.onProgress,
      publish: (params, info) => publishModel(p, params, info),
    });
    return { ...r, prepared: p, stepsPerEpoch: spe };
  } finally {
    await loader.close();
    await evaluator?.release();
    await engine.release();
  }
}

