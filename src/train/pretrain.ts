/**
 * BEiT-3 masked data modeling pretraining (the paper's recipe; the official repository does not
 * release it), on the one training loop:
 *
 *   const p = await compilePretrain({ model: 'beit3_base_patch16_224_pretraining', batch: { images: 8, texts: 8, pairs: 8 },
 *     textLen: 64, tokenizer: visual, vocab: textTokenizer, hp: { steps: 1000, warmupSteps: 100 } });
 *   // p.engine (StepEngine), p.batcher (per-sample prep + feeds), p.schedule, p.model
 *   await runPretraining({ ...same, streams: corpusStreams(OUT), textTokenizer, outputDir }) // fit() + released checkpoint
 *
 * Pieces: pretrain/masking.ts (block + text masking), pretrain/augment.ts (views),
 * pretrain/batch.ts (three-stream batch builder, visual targets online or cached),
 * pretrain/objective.ts (the MDM graph), pretrain/init.ts (BEiT init), pretrain/recipe.ts
 * (optimizer, groups, schedule), pretrain/streams.ts (loaders + resumable BatchStream),
 * pretrain/targets.ts (VQ-KD and a fixed stand-in).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../graph/tensor.js';
import { savePth } from '../io/pth-write.js';
import { saveSafetensors } from '../io/safetensors.js';
import { type Beit3Config, configFor, getEntry, numPatches, toEncoderConfig } from '../models/beit3/index.js';
import { Beit3ForPretraining } from '../models/beit3/heads/pretraining.js';
import type { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import type { ProgressCallback } from '../util/progress.js';
import { type FitResult, fit } from './loop.js';
import { CompiledStepEngine } from './engine.js';
import { TrainStep } from './step.js';
import { type BatchOptions, PretrainBatcher, type VisualTokenizerLike } from './pretrain/batch.js';
import { PretrainError } from './pretrain/errors.js';
import { applyBeitInit } from './pretrain/init.js';
import type { TextVocab } from './pretrain/masking.js';
import { buildObjective, type Objective, type StreamName } from './pretrain/objective.js';
import { PAPER_HYPERPARAMETERS, type PretrainHyperparameters, pretrainGroups, pretrainSchedule } from './pretrain/recipe.js';
import { pretrainLoaders, PretrainStream, type StreamSpec } from './pretrain/streams.js';

export * from './pretrain/errors.js';
export * from './pretrain/masking.js';
export * from './pretrain/augment.js';
export * from './pretrain/batch.js';
export * from './pretrain/objective.js';
export * from './pretrain/init.js';
export * from './pretrain/recipe.js';
export * from './pretrain/streams.js';
export * from './pretrain/targets.js';

export interface PretrainSetup extends Omit<BatchOptions, 'imgSize' | 'grid'> {
  /** A registered name (its size, patch and image size are used) or a config. */
  model: string | Beit3Config;
  /** Block variant: 'decoupled' (released checkpoints) or 'shared' (the paper's; VL experts in the top `vlExpertLayers`). */
  variant?: 'decoupled' | 'shared';
  vlExpertLayers?: number;
  batch: Record<StreamName, number>;
  textLen: number;
  pairTextLen?: number;
  weights?: Partial<Record<StreamName, number>>;
  tokenizer: VisualTokenizerLike;
  vocab: TextVocab;
  hp?: Partial<PretrainHyperparameters>;
  seed?: number;
  /** Start from these weights (e.g. a pretraining checkpoint's `beit3.*` + heads) instead of the BEiT init. */
  init?: ReadonlyMap<string, Tensor>;
  threads?: number;
}

export interface Pretrain {
  model: Beit3ForPretraining;
  objective: Objective;
  step: TrainStep;
  /** The loop's StepEngine over the step (batches arrive as the objective's feeds). */
  engine: CompiledStepEngine;
  batcher: PretrainBatcher;
  hp: PretrainHyperparameters;
  schedule: number[];
}

/** The model config of a setup (drop path from the recipe, variant overrides). */
export function pretrainConfig(s: Pick<PretrainSetup, 'model' | 'variant' | 'vlExpertLayers' | 'hp'>): Beit3Config {
  const dropPathRate = s.hp?.dropPath ?? PAPER_HYPERPARAMETERS.dropPath;
  const variant = s.variant ?? (typeof s.model === 'string' ? undefined : s.model.variant);
  const over: Partial<Beit3Config> = { dropPathRate, normalizeOutput: true };
  if (variant) over.variant = variant;
  if (variant === 'shared') over.vlExpertLayers = s.vlExpertLayers ?? (typeof s.model === 'string' ? 0 : s.model.vlExpertLayers) ?? 0;
  if (variant === 'decoupled') over.vlExpertLayers = 0;
  if (typeof s.model !== 'string') return { ...s.model, ...over };
  getEntry(s.model);
  return configFor(s.model, over);
}

/** Model + BEiT init + MDM graph + groups + compiled TrainStep + batch builder. */
export async function compilePretrain(s: PretrainSetup): Promise<Pretrain> {
  const hp: PretrainHyperparameters = { ...PAPER_HYPERPARAMETERS, ...s.hp };
  const cfg = pretrainConfig(s);
  if (s.vocab.vocabSize > cfg.vocabSize)
    throw new PretrainError(`the text tokenizer produces ${s.vocab.vocabSize} ids but the model embeds only ${cfg.vocabSize}`);
  const model = new Beit3ForPretraining(cfg, s.tokenizer.vocabSize);
  const seed = s.seed ?? 0;
  if (s.init) model.loadStateDict(s.init, { strict: true });
  else {
    applyBeitInit(model);
    model.initialize(seed);
  }
  const grid = cfg.imgSize / cfg.patchSize;
  const batcher = new PretrainBatcher({ ...s, imgSize: cfg.imgSize, grid }, s.vocab, s.tokenizer);
  const objective = buildObjective(
    model,
    { batch: s.batch, textLen: s.textLen, pairTextLen: s.pairTextLen, imageMasked: batcher.maskedPerImage },
    { weights: s.weights, maskPairImage: s.maskPairImage },
  );
  if (numPatches(cfg) !== grid * grid) throw new PretrainError('patch grid mismatch');
  const step = await TrainStep.compile({
    graph: objective.graph,
    loss: objective.loss,
    params: objective.params,
    noise: objective.noise,
    seed,
    groups: pretrainGroups(model, hp.weightDecay),
    adamw: { beta1: hp.betas[0], beta2: hp.betas[1], eps: hp.eps },
    clipGradNorm: hp.clipGrad,
    updateFreq: hp.updateFreq,
    outputs: objective.outputs,
    compile: s.threads ? { threads: s.threads } : undefined,
  });
  step.init(model.stateDict());
  return { model, objective, step, engine: new CompiledStepEngine(step), batcher, hp, schedule: pretrainSchedule(hp) };
}

export interface RunPretrainingOptions extends PretrainSetup {
  streams: Partial<Record<StreamName, StreamSpec>>;
  textTokenizer: Beit3Tokenizer;
  /** Checkpoints, log.jsonl, plots and the published pretrained checkpoint go here. */
  outputDir: string;
  resume?: boolean;
  /** Optimizer steps per (virtual) epoch: the checkpoint/plot cadence (default min(steps, 1000)). */
  stepsPerEpoch?: number;
  checkpointEverySteps?: number;
  /** Stop after this many optimizer steps in all (default: hp.steps). */
  maxSteps?: number;
  /** Published checkpoint format: 'pth' (the released layout, torch.save zip under 'model'; default) or 'safetensors'. */
  format?: 'pth' | 'safetensors';
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export const PRETRAINED_FILE = { pth: 'pretrained.pth', safetensors: 'pretrained.safetensors' } as const;

/** Writes the released pretrained layout (`beit3.*` + `mlm_head.*` + `mim_head.*`) and its config.json. */
export async function publishPretrained(dir: string, params: ReadonlyMap<string, Tensor>, cfg: Beit3Config, format: 'pth' | 'safetensors', meta: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, PRETRAINED_FILE[format]);
  const keys = [...params.keys()].filter((k) => /^(beit3|mlm_head|mim_head)\./.test(k));
  const state = new Map(keys.map((k) => [k, params.get(k)!]));
  if (format === 'pth') await savePth(path, state, { modelKey: 'model' });
  else await saveSafetensors(path, state, { format: 'pt' });
  await writeFile(join(dir, 'pretrained.config.json'), JSON.stringify({ ...toEncoderConfig(cfg), ...meta }, null, 2) + '\n');
  return path;
}

/** Runs (or resumes) pretraining with the shared loop and publishes the released layout at the end. */
export async function runPretraining(o: RunPretrainingOptions): Promise<FitResult & { published?: string; pretrain: Pretrain }> {
  const p = await compilePretrain(o);
  const steps = p.hp.steps;
  const stepsPerEpoch = Math.max(1, Math.min(o.stepsPerEpoch ?? 1000, steps));
  const epochs = Math.ceil(steps / stepsPerEpoch);
  const seed = o.seed ?? 0;
  const loaders = await pretrainLoaders(o.streams, p.batcher, o.textTokenizer, {
    batch: o.batch,
    textLen: o.textLen,
    pairTextLen: o.pairTextLen ?? o.textLen,
    seed,
  });
  const data = await PretrainStream.create(loaders, stepsPerEpoch * p.hp.updateFreq, p.batcher);
  let published: string | undefined;
  const run = {
    kind: 'pretrain',
    model: typeof o.model === 'string' ? o.model : 'custom',
    config: toEncoderConfig(p.model.cfg),
    batch: o.batch,
    text_len: o.textLen,
    pair_text_len: o.pairTextLen ?? o.textLen,
    weights: o.weights ?? {},
    text_mask_rule: o.textMaskRule ?? 'bert',
    mask_pair_image: o.maskPairImage ?? false,
    targets: o.targets ?? 'online',
    visual_vocab: o.tokenizer.vocabSize,
    hp: p.hp,
  };
  try {
    const r = await fit({
      engine: p.engine,
      data,
      schedule: pretrainSchedule(p.hp, epochs * stepsPerEpoch),
      epochs,
      stepsPerEpoch,
      updateFreq: p.hp.updateFreq,
      batchSize: o.batch.images + o.batch.texts + o.batch.pairs,
      seed,
      outputDir: o.outputDir,
      run,
      resume: o.resume,
      checkpointEverySteps: o.checkpointEverySteps,
      maxSteps: Math.min(o.maxSteps ?? steps, steps),
      signal: o.signal,
      onProgress: o.onProgress,
    });
    if (r.stopped !== 'interrupted')
      published = await publishPretrained(o.outputDir, p.engine.params(), p.model.cfg, o.format ?? 'pth', {
        pretrain_steps: r.steps,
        visual_vocab_size: o.tokenizer.vocabSize,
      });
    return { ...r, published, pretrain: p };
  } finally {
    await p.engine.release();
  }
}
