/**
 * The BEiT-3 checkpoint contract, one place per model family (timm's pretrained cfg +
 * checkpoint_filter_fn + the model's optimizer groups): what each registered name expects as
 * input (image size, eval transform, crop, mean/std, text length, classes), the one load-time
 * filter that adapts a foreign checkpoint to a model (heads, position table, final LayerNorm,
 * task detection), and (re-exported from param-groups.ts) the no-decay names and layer ids the
 * training loop uses. models/vqkd/pretrained.ts follows the same shape.
 */
import type { Tensor } from '../../graph/tensor.js';
import { resamplePositionTable } from '../../io/interpolate.js';
import type { Module } from '../../nn/module.js';
import {
  type EvalTransformName,
  IMAGENET_NORM,
  INCEPTION_NORM,
  type Normalization,
} from '../../vision/transforms.js';
import { defaultNormalizeOutput } from './config.js';
import type { TaskName } from './heads/base.js';
import { getEntry, listModels } from './registry.js';

export {
  BEIT3_NO_WEIGHT_DECAY,
  beit3GroupRule,
  type Beit3GroupOptions,
  getIsHeadFlagForVit,
  getNumLayerForVit,
  namedParameterShapes,
} from './param-groups.js';

/** What a registered model expects (timm `default_cfg`). */
export interface Beit3PretrainedCfg {
  /** Square input side (pixels). */
  imgSize: number;
  /** Official eval transform: 'imagenet' (classification) or 'vl' (every vision-language task). */
  transform: EvalTransformName;
  interpolation: 'bicubic';
  /** Center-crop fraction of the imagenet transform (1: resize to the side, crop nothing). */
  cropPct: number;
  mean: Normalization['mean'];
  std: Normalization['std'];
  /** num_max_bpe_tokens of the official evaluation (text segment incl. <s> and </s>). */
  textLen: number;
  /** Output classes of the head (ImageNet 1000, VQAv2 3129 answers, NLVR2 2), when it has one. */
  numClasses?: number;
  /** Whether the backbone ends in the multiway LayerNorm (false for classification and VQA). */
  normalizeOutput: boolean;
}

/** The official evaluation text length (run_beit3_finetuning.py --num_max_bpe_tokens). */
export const OFFICIAL_TEXT_LEN = 64;

/** The per-task part of the contract (everything but size and classes). */
export function taskPretrainedCfg(task: TaskName): Omit<Beit3PretrainedCfg, 'imgSize' | 'numClasses'> {
  const transform: EvalTransformName = task === 'imageclassification' ? 'imagenet' : 'vl';
  const norm = transform === 'imagenet' ? IMAGENET_NORM : INCEPTION_NORM;
  return {
    transform,
    interpolation: 'bicubic',
    cropPct: 1,
    mean: norm.mean,
    std: norm.std,
    textLen: OFFICIAL_TEXT_LEN,
    normalizeOutput: defaultNormalizeOutput(task),
  };
}

/** The pretrained cfg of a registered name (UnknownModelError with suggestions otherwise). */
export function pretrainedCfg(name: string): Beit3PretrainedCfg {
  const e = getEntry(name);
  return { imgSize: e.imgSize, numClasses: e.numClasses, ...taskPretrainedCfg(e.task) };
}

/** Every registered name → its pretrained cfg. */
export const PRETRAINED: ReadonlyMap<string, Beit3PretrainedCfg> = new Map(
  listModels().map((n) => [n, pretrainedCfg(n)]),
);

// ---------------------------------------------------------------------------------------------
// The load-time filter.

/** Rows before the patch grid in the vision position table: two unused fairseq rows + cls. */
export const POS_EXTRA_ROWS = 3;

/** Keys of the vision position table in task models (`beit3.` prefix) and in the bare backbone. */
export const VISION_POS_KEYS = ['beit3.encoder.embed_positions.A.weight', 'encoder.embed_positions.A.weight'];

/** Prefixes of the final multiway LayerNorm (absent when normalize_output=false). */
const FINAL_NORM_PREFIXES = ['beit3.encoder.layer_norm.', 'encoder.layer_norm.'];

/** Classifier keys the official fine-tuning load drops when their shape differs. */
const HEAD_KEYS = ['head.weight', 'head.bias'];

/**
 * Each head's marker (a key only that head has: identifies the task of a checkpoint) and the
 * weight whose rows are its classes.
 */
export const CHECKPOINT_HEADS: readonly { task: TaskName; markerKey: string; classesKey?: string }[] = [
  { task: 'pretraining', markerKey: 'mim_head.weight' },
  { task: 'vqav2', markerKey: 'pooler.dense.weight', classesKey: 'head.3.weight' },
  { task: 'nlvr2', markerKey: 'head.dense1.weight', classesKey: 'head.dense2.weight' },
  { task: 'retrieval', markerKey: 'vision_head.weight' },
  { task: 'captioning', markerKey: 'mlm_head.weight' },
  { task: 'imageclassification', markerKey: 'fc_norm.weight', classesKey: 'head.weight' },
];

/** The task whose head a state dict carries (undefined: backbone only). */
export function detectCheckpointTask(keys: Iterable<string>): TaskName | undefined {
  const set = new Set(keys);
  return CHECKPOINT_HEADS.find((h) => set.has(h.markerKey))?.task;
}

/** Output classes of `task`'s head in a state dict, read from its last layer's weight. */
export function classesInCheckpoint(task: TaskName, state: ReadonlyMap<string, Tensor>): number | undefined {
  const key = CHECKPOINT_HEADS.find((h) => h.task === task)?.classesKey;
  return key ? state.get(key)?.shape[0] : undefined;
}

/** Resizes a vision position table (rows 0-2 kept, the rest a square grid) for `numPatches` patches. */
export function interpolatePosEmbed(table: Tensor, numPatches: number): Tensor {
  return resamplePositionTable(table, POS_EXTRA_ROWS, numPatches);
}

type Shapes = ReadonlyMap<string, readonly number[]>;

/** Position tables of `state` whose row count differs from the model's (a checkpoint at another resolution). */
export function positionMismatches(
  state: ReadonlyMap<string, Tensor>,
  model: Module | Shapes,
): { key: string; rows: number; want: number }[] {
  const shapes = shapesOf(model);
  return VISION_POS_KEYS.flatMap((key) => {
    const t = state.get(key);
    const want = shapes.get(key);
    return t && want && t.shape[0] !== want[0] ? [{ key, rows: t.shape[0], want: want[0] }] : [];
  });
}

export interface FilterCheckpointOptions {
  /** Drop the final-LayerNorm keys a model without it does not have (official non-strict load: default false, they are reported as unexpected). */
  ignoreFinalNorm?: boolean;
  /** Keep the backbone only: drop keys outside `beit3.*` the model lacks (features from any task checkpoint). */
  backboneOnly?: boolean;
}

export interface FilteredCheckpoint {
  state: Map<string, Tensor>;
  /** What the filter changed, one human-readable line each (empty when nothing was). */
  notes: string[];
  /** Task of the head the checkpoint carries (undefined: backbone only). */
  task?: TaskName;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

function shapesOf(model: Module | Shapes | Record<string, readonly number[]>): Shapes {
  if (model instanceof Map) return model;
  if (typeof (model as Module).shapes === 'function') return (model as Module).shapes();
  return new Map(Object.entries(model as Record<string, readonly number[]>));
}

/**
 * The one load-time filter (unilm `load_model_and_may_interpolate`, timm `checkpoint_filter_fn`):
 * drops `head.weight` / `head.bias` whose shape differs from the model's, resizes the vision
 * position table to the model's patch grid (bicubic, as the official code), and on request drops
 * the final LayerNorm the model lacks and foreign head keys. Returns a new map; the input is not
 * modified. `model` may be the module or its key → shape map.
 */
export function filterCheckpoint(
  state: ReadonlyMap<string, Tensor>,
  model: Module | Shapes | Record<string, readonly number[]>,
  opts: FilterCheckpointOptions = {},
): FilteredCheckpoint {
  const shapes = shapesOf(model);
  const out = new Map(state);
  const notes: string[] = [];
  const task = detectCheckpointTask(state.keys());
  if (opts.backboneOnly) {
    const heads = [...out.keys()].filter((k) => !shapes.has(k) && !k.startsWith('beit3.'));
    for (const k of heads) out.delete(k);
    if (heads.length) notes.push(`ignored ${heads.length} head keys (features use the backbone only)`);
  }
  for (const k of HEAD_KEYS) {
    const t = out.get(k);
    const want = shapes.get(k);
    if (t && want && !sameShape(t.shape, want)) {
      out.delete(k);
      notes.push(`dropped ${k} [${t.shape}] (model has [${want}])`);
    }
  }
  for (const k of VISION_POS_KEYS) {
    const t = out.get(k);
    const want = shapes.get(k);
    if (!t || !want) continue;
    const resized = interpolatePosEmbed(t, want[0] - POS_EXTRA_ROWS);
    if (resized !== t) {
      out.set(k, resized);
      const g = Math.sqrt(t.shape[0] - POS_EXTRA_ROWS);
      const n = Math.sqrt(resized.shape[0] - POS_EXTRA_ROWS);
      notes.push(
        `interpolated ${k} [${t.shape}] -> [${resized.shape}] (patch grid ${g}x${g} -> ${n}x${n}, bicubic)`,
      );
    }
  }
  if (opts.ignoreFinalNorm) {
    const norm = [...out.keys()].filter((k) => !shapes.has(k) && FINAL_NORM_PREFIXES.some((p) => k.startsWith(p)));
    for (const k of norm) out.delete(k);
    if (norm.length) notes.push(`ignored ${norm.length} final-LayerNorm keys (normalize_output=false)`);
  }
  return { state: out, notes, task };
}
