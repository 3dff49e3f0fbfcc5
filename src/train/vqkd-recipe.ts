/**
 * One call from run_vqkd_training.py-style settings to a trained tokenizer: an image folder as
 * the train stream (the official train transform: RandomResizedCrop(input_size, scale=(min_crop,
 * 1), bicubic) + RandomHorizontalFlip + ToTensor, seeded per (seed, epoch, index)), the teacher,
 * the VQ-KD engine (vqkd.ts) driven by THE loop (loop.ts: checkpoints, resume, log, plots,
 * progress), codebook usage logged each epoch, and `tokenizer.safetensors` published at the end
 * (a checkpoint `beit3 visual-tokenize --tokenizer` and `VisualTokenizer.fromCheckpoint` load).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { scanImageFolder } from '../data/readers/imageFolder.js';
import { Tensor } from '../graph/tensor.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import { saveSafetensors } from '../io/safetensors.js';
import { configFor as beit3ConfigFor } from '../models/beit3/registry.js';
import { VQKD } from '../models/vqkd/model.js';
import { filterVqkdCheckpoint } from '../models/vqkd/pretrained.js';
import { vqkdConfigFor } from '../models/vqkd/registry.js';
import { Beit3Teacher } from '../models/vqkd/teachers/beit3.js';
import { ClipTeacher } from '../models/vqkd/teachers/clip.js';
import { randomProjectionTeacher } from '../models/vqkd/teachers/fixed.js';
import type { FeatureTeacher } from '../models/vqkd/teachers/teacher.js';
import type { ProgressCallback } from '../util/progress.js';
import { deriveSeed, permutation, Rng } from '../util/random.js';
import { randomHorizontalFlip, randomResizedCrop } from '../vision/augment.js';
import { decodeImage } from '../vision/decode.js';
import { toNormalizedTensor } from '../vision/transforms.js';
import type { DataPosition } from './checkpoint.js';
import { type BatchStream, fit, type FitResult } from './loop.js';
import { TrainConfigError } from './loop-errors.js';
import { codebookUsageEvaluator, scaledVqkdLr, type VqkdBatch, VqkdEngine, vqkdSchedule } from './vqkd.js';

export interface VqkdTrainSettings {
  /** Registered tokenizer name (vqkd_encoder_base_decoder_3x768x12_clip, vqkd_tiny, ...). */
  model: string;
  /** Image folder (searched recursively). */
  data: string;
  output: string;
  /** 'clip:CKPT' | 'beit3:<registry name>:CKPT' | 'random' (seeded patch projection). */
  teacher: string;
  /** Starting tokenizer weights (default: fresh init, codebook by k-means on the first batch). */
  init?: string;
  input_size?: number;
  n_code?: number;
  code_dim?: number;
  /** Base lr, scaled by batch_size / 128 as run_vqkd_training.py does. */
  lr: number;
  min_lr: number;
  warmup_epochs: number;
  warmup_steps: number;
  weight_decay: number;
  opt_betas: [number, number];
  opt_eps: number;
  clip_grad: number | null;
  epochs: number;
  batch_size: number;
  min_crop_scale: number;
  seed: number;
  threads?: number;
  resume?: boolean;
  max_steps?: number;
}

/** run_vqkd_training.py defaults with TOKENIZER.md's recipe (betas 0.9/0.99, warmup 10, wd 1e-4). */
export const VQKD_TRAIN_DEFAULTS: Omit<VqkdTrainSettings, 'model' | 'data' | 'output' | 'teacher'> = {
  lr: 5e-5,
  min_lr: 1e-5,
  warmup_epochs: 10,
  warmup_steps: -1,
  weight_decay: 1e-4,
  opt_betas: [0.9, 0.99],
  opt_eps: 1e-8,
  clip_grad: null,
  epochs: 100,
  batch_size: 64,
  min_crop_scale: 0.08,
  seed: 0,
};

/** Teacher from its spec string. */
export async function loadTeacher(spec: string, studentImgSize: number, patchSize: number, seed: number): Promise<FeatureTeacher> {
  if (spec === 'random' || spec.startsWith('random:')) {
    const dim = spec.includes(':') ? Number(spec.split(':')[1]) : 32;
    if (!Number.isInteger(dim) || dim < 1) throw new TrainConfigError(`--teacher ${spec}: the width must be an integer ≥ 1`);
    return randomProjectionTeacher({ patchSize, outDim: dim, seed });
  }
  const [kind, ...rest] = spec.split(':');
  if (kind === 'clip' && rest.length) return ClipTeacher.fromState(await loadCheckpoint(rest.join(':'), { modelKey: 'model|state_dict' }));
  if (kind === 'beit3' && rest.length >= 2) {
    const [name, ...path] = rest;
    const cfg = beit3ConfigFor(name, { imgSize: studentImgSize });
    return Beit3Teacher.fromState(cfg, await loadCheckpoint(path.join(':'), { modelKey: 'model|module' }));
  }
  throw new TrainConfigError(`--teacher ${spec}: expected clip:CKPT, beit3:<model name>:CKPT or random[:width]`);
}

/** The official train stream over an image folder: per-epoch seeded order, drop_last. */
export function imageFolderStream(
  files: readonly string[],
  o: { batchSize: number; imgSize: number; minCropScale: number; seed: number },
): BatchStream<VqkdBatch> & { stepsPerEpoch: number } {
  const stepsPerEpoch = Math.floor(files.length / o.batchSize);
  return {
    stepsPerEpoch,
    async *iterate({ state }) {
      const epoch = state?.epoch ?? 0;
      const order = permutation(files.length, new Rng(deriveSeed(o.seed, 'vqkd-data', epoch)));
      const S = o.imgSize;
      for (let b = state?.position ?? 0; b < stepsPerEpoch; b++) {
        const data = new Float32Array(o.batchSize * 3 * S * S);
        for (let i = 0; i < o.batchSize; i++) {
          const idx = order[b * o.batchSize + i];
          const rng = new Rng(deriveSeed(o.seed, 'vqkd-aug', epoch, idx));
          const img = randomHorizontalFlip(
            randomResizedCrop(await decodeImage(files[idx]), S, { scale: [o.minCropScale, 1], filter: 'bicubic' }, rng),
            rng,
          );
          data.set(toNormalizedTensor(img, { mean: [0, 0, 0], std: [1, 1, 1] }).data as Float32Array, i * 3 * S * S);
        }
        const pos: DataPosition = { epoch, position: b + 1, seed: o.seed };
        yield { batch: { image: new Tensor('float32', [o.batchSize, 3, S, S], data) }, state: pos, epoch };
      }
    },
  };
}

export interface VqkdRunOptions {
  onProgress?: ProgressCallback;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface VqkdRunResult extends FitResult {
  stepsPerEpoch: number;
  tokenizer: string;
}

export async function runVqkdTraining(s: VqkdTrainSettings, o: VqkdRunOptions = {}): Promise<VqkdRunResult> {
  const base = vqkdConfigFor(s.model);
  const imgSize = s.input_size ?? base.encoder.imgSize;
  const teacher = await loadTeacher(s.teacher, imgSize, base.encoder.patchSize, s.seed);
  const grid = imgSize / base.encoder.patchSize;
  const cfg = {
    ...base,
    encoder: { ...base.encoder, imgSize },
    decoder: { ...base.decoder, imgSize: grid, inChans: s.code_dim ?? base.codeDim },
    nCode: s.n_code ?? base.nCode,
    codeDim: s.code_dim ?? base.codeDim,
    // As the official constructor does for its teachers: the decoder predicts the teacher's width.
    decoderOutDim: teacher.outDim,
  };
  const model = new VQKD(cfg);
  model.initialize(s.seed);
  if (s.init) {
    const { state } = filterVqkdCheckpoint(await loadCheckpoint(s.init, { modelKey: 'model|state_dict' }));
    model.loadStateDict(state);
  }
  const folder = await scanImageFolder(s.data, { classFolders: false });
  const files = folder.items.map((i) => i.path);
  const data = imageFolderStream(files, { batchSize: s.batch_size, imgSize, minCropScale: s.min_crop_scale, seed: s.seed });
  if (data.stepsPerEpoch < 1)
    throw new TrainConfigError(`${s.data}: ${files.length} images, fewer than one batch of ${s.batch_size}`);
  const lr = scaledVqkdLr(s.lr, s.batch_size);
  o.log?.(`${files.length} images, ${data.stepsPerEpoch} steps per epoch, lr ${lr} (= ${s.lr} · ${s.batch_size}/128), teacher ${teacher.name}`);
  const schedule = vqkdSchedule(
    { lr, minLr: s.min_lr, epochs: s.epochs, warmupEpochs: s.warmup_epochs, warmupSteps: s.warmup_steps },
    data.stepsPerEpoch,
  );
  const engine = await VqkdEngine.create({
    model,
    teacher,
    batchSize: s.batch_size,
    stepsPerEpoch: data.stepsPerEpoch,
    hp: { weightDecay: s.weight_decay, optBetas: s.opt_betas, optEps: s.opt_eps, clipGrad: s.clip_grad },
    seed: s.seed,
    threads: s.threads,
  });
  mkdirSync(s.output, { recursive: true });
  const tokenizer = join(s.output, 'tokenizer.safetensors');
  try {
    const r = await fit({
      engine,
      data,
      schedule,
      epochs: s.epochs,
      stepsPerEpoch: data.stepsPerEpoch,
      updateFreq: 1,
      batchSize: s.batch_size,
      seed: s.seed,
      outputDir: s.output,
      resume: s.resume,
      maxSteps: s.max_steps,
      signal: o.signal,
      onProgress: o.onProgress,
      evaluator: codebookUsageEvaluator(engine),
      run: { model: s.model, teacher: s.teacher, lr: s.lr, weight_decay: s.weight_decay, n_code: cfg.nCode, code_dim: cfg.codeDim, input_size: imgSize },
    });
    // The last weights (the tokenizer has no held-out metric to pick a "best" by).
    if (r.steps > 0) await saveSafetensors(tokenizer, engine.stateDict(), { format: 'pt', model: s.model });
    return { ...r, stepsPerEpoch: data.stepsPerEpoch, tokenizer };
  } finally {
    await engine.release();
  }
}
