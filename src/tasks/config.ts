/**
 * The small JSON config that travels beside a checkpoint: which task, which architecture, image
 * and text settings, the tokenizer, the labels / answers. Paths are relative to the config file.
 *
 * Two layouts are accepted:
 *  - one task: `{ "task": "vqav2", "model": "beit3_base_patch16_480_vqav2", "tokenizer": "spm.model",
 *    "label2ans": [...] | "labels_file": "answers.txt", "weights": "vqa.safetensors", ... }`
 *  - a multi-task file with a `tasks` object (the layout of fixtures/beit3-ref/e2e/config.json):
 *    the section `tasks.<task>` is used, the tokenizer comes from `tokenizer.sentencepiece_model`,
 *    and weights default to `backbone.safetensors` + `<task>.head.safetensors` beside the file.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { type Beit3Config, CONFIG_LIMITS, ConfigError, fromEncoderConfig } from '../models/beit3/config.js';
import type { TaskName } from '../models/beit3/heads/base.js';
import { pretrainedCfg, taskPretrainedCfg } from '../models/beit3/pretrained.js';
import { configFor, getEntry } from '../models/beit3/registry.js';
import type { EvalTransformName } from '../vision/transforms.js';
import { TaskConfigError } from './errors.js';
import { normalizeTask } from './table.js';
import { InputFileError, READ_LIMITS, readFileBoundedSync } from '../util/read.node.js';

/** The model tasks a pipeline can run (pretraining has no inference pipeline). */
export type ModelTask = Exclude<TaskName, 'pretraining'>;

/** Defaults of what a config may leave out (the official evaluation settings). */
export const DEFAULTS = {
  /** Beam search (official: beam_size 3, length_penalty 0.6, TOPN_PER_BEAM 3). */
  numBeams: 3,
  lengthPenalty: 0.6,
  topnPerBeam: 3,
  /** Answers / classes returned by top-k outputs. */
  topk: 5,
} as const;

export interface GenerationSettings {
  numBeams: number;
  /** Length limit of the generated row incl. <s> and the final </s> (official max_len = num_max_bpe_tokens). */
  maxLen: number;
  lengthPenalty: number;
  /** Candidates kept per beam at each step (official TOPN_PER_BEAM = 3). */
  topnPerBeam: number;
}

/** Everything a pipeline needs, resolved (absolute paths, numbers checked). */
export interface TaskConfig {
  task: ModelTask;
  /** Where the config came from (for messages); undefined when built in code. */
  source?: string;
  model: Beit3Config;
  /** Registry name when given. */
  modelName?: string;
  numClasses?: number;
  /** Class names (classification) or answers (VQA), index order. */
  labels?: string[];
  tokenizer?: string;
  transform: EvalTransformName;
  cropPct: number;
  /** num_max_bpe_tokens: text segment length incl. <s> and </s>. */
  textLen: number;
  generation: GenerationSettings;
  /** Weight files (merged in order). */
  weights: string[];
  /** Default k for top-k answers. */
  topk: number;
}

type Json = Record<string, unknown>;

/** Documented limits of task config fields (docs/reliability.md). */
const MAX_CLASSES = 1 << 24;
const MAX_BEAMS = 1024;

function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileBoundedSync(path, READ_LIMITS.json, 'config').toString('utf8');
  } catch (e) {
    throw new TaskConfigError(
      `${path}: cannot read config (${e instanceof InputFileError ? e.reason : (e as Error).message})`,
      { cause: e },
    );
  }
  try {
    const j = JSON.parse(text) as unknown;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('top level is not an object');
    return j as Json;
  } catch (e) {
    throw new TaskConfigError(`${path}: not a JSON object (${(e as Error).message})`);
  }
}

function readLabelsFile(path: string, what: string): string[] {
  let text: string;
  try {
    text = readFileBoundedSync(path, READ_LIMITS.json, 'labels file').toString('utf8');
  } catch (e) {
    throw new TaskConfigError(`${what}: ${(e as Error).message}`, { cause: e });
  }
  const t = text.trim();
  const lines = t.split(/\r?\n/).filter((l) => l.trim());
  // unilm's answer2label.txt: one {"answer": "...", "label": n} per line
  if (lines.length > 1 && lines.every((l) => l.trim().startsWith('{'))) {
    const rows = lines.map((l, i) => {
      try {
        return JSON.parse(l) as { answer?: unknown; label?: unknown };
      } catch {
        throw new TaskConfigError(`${path}:${i + 1}: not a JSON line`);
      }
    });
    if (rows.every((r) => typeof r.label === 'number' && r.answer !== undefined)) {
      // a label outside 0..n-1 would make a sparse array of up to 2^53 slots: refuse before filling
      const badRow = rows.findIndex((r) => !(Number.isInteger(r.label) && (r.label as number) >= 0 && (r.label as number) < rows.length));
      if (badRow >= 0)
        throw new TaskConfigError(`${path}:${badRow + 1}: label ${String(rows[badRow].label)} is not in 0..${rows.length - 1}`);
      const out: string[] = [];
      for (const r of rows) out[r.label as number] = String(r.answer);
      if (out.length !== rows.length || out.some((a) => a === undefined))
        throw new TaskConfigError(`${path}: labels are not 0..${rows.length - 1} without gaps`);
      return out;
    }
  }
  if (t.startsWith('[') || t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw new TaskConfigError(`${path}: labels file is not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(j)) return j.map(String);
    // {"label2ans": [...]} or {"0": "yes", ...} / {"yes": 0, ...}
    const o = j as Record<string, unknown>;
    for (const k of ['label2ans', 'labels', 'class_names', 'answers'])
      if (Array.isArray(o[k])) return (o[k] as unknown[]).map(String);
    const entries = Object.entries(o);
    if (entries.every(([, v]) => typeof v === 'number'))
      return entries.sort((a, b) => (a[1] as number) - (b[1] as number)).map(([k]) => k);
    if (entries.every(([k]) => /^\d+$/.test(k)))
      return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => String(v));
    throw new TaskConfigError(
      `${path}: JSON labels must be a list, {label2ans: [...]}, {name: index} or {index: name}`,
    );
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function num(j: Json, key: string, where: string): number | undefined {
  const v = j[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new TaskConfigError(`${where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** An integer field in [lo, hi] (validated up front: absurd sizes must fail before any work). */
function intIn(j: Json, key: string, lo: number, hi: number, where: string): number | undefined {
  const v = num(j, key, where);
  if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi))
    throw new TaskConfigError(`${where}: "${key}" must be an integer in [${lo}, ${hi}], got ${v}`);
  return v;
}

function str(j: Json, key: string, where: string): string | undefined {
  const v = j[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new TaskConfigError(`${where}: "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

export interface LoadConfigOptions {
  /** Task to pick (required for a multi-task file; checked against a single-task file). */
  task?: string;
  /** Weight files given on the command line (replace the config's). */
  weights?: string[];
}

/** Reads and resolves a task config file. */
export function loadTaskConfig(path: string, opts: LoadConfigOptions = {}): TaskConfig {
  const file = resolve(path);
  const root = readJson(file);
  const base = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  let section: Json = root;
  let task: ModelTask;
  let defaultWeights: string[] = [];
  let tokenizer: string | undefined;
  if (
    root.tasks !== undefined &&
    (typeof root.tasks !== 'object' || root.tasks === null || Array.isArray(root.tasks))
  )
    throw new TaskConfigError(
      `${file}: "tasks" must be an object of task sections, got ${JSON.stringify(root.tasks).slice(0, 60)}`,
    );
  if (root.tasks && typeof root.tasks === 'object') {
    const tasks = root.tasks as Record<string, Json>;
    if (!opts.task)
      throw new TaskConfigError(
        `${file}: holds several tasks (${Object.keys(tasks).join(', ')}); choose one with --task`,
      );
    task = normalizeTask(opts.task);
    const key = Object.keys(tasks).find((k) => normalizeTask(k) === task);
    if (!key)
      throw new TaskConfigError(
        `${file}: no section for task ${task} (has ${Object.keys(tasks).join(', ')})`,
      );
    section = { ...tasks[key] };
    const tok = root.tokenizer as Json | undefined;
    tokenizer =
      tok && typeof tok === 'object'
        ? str(tok, 'sentencepiece_model', `${file} tokenizer`)
        : str(root, 'tokenizer', file);
    const backbone = at('backbone.safetensors');
    const head = at(`${key}.head.safetensors`);
    if (existsSync(backbone) && existsSync(head)) defaultWeights = [backbone, head];
  } else {
    const t = str(root, 'task', file);
    if (!t && !opts.task)
      throw new TaskConfigError(
        `${file}: missing "task" (one of imageclassification, vqav2, nlvr2, retrieval, captioning, backbone)`,
      );
    task = normalizeTask(t ?? opts.task!);
    if (t && opts.task && normalizeTask(opts.task) !== task)
      throw new TaskConfigError(
        `${file}: config is for task ${task}, but ${normalizeTask(opts.task)} was asked for`,
      );
    tokenizer = str(root, 'tokenizer', file);
  }
  const where = `${file}${section === root ? '' : ` (tasks.${task})`}`;
  // A multi-task file's top-level "weights" may be a description object (fixtures/beit3-ref/e2e).
  const rootWeights = section === root || typeof root.weights !== 'object' ? root.weights : undefined;
  const w = section.weights ?? rootWeights;
  if (typeof w === 'string') defaultWeights = [at(w)];
  else if (Array.isArray(w) && w.every((x) => typeof x === 'string'))
    defaultWeights = (w as string[]).map(at);
  else if (w !== undefined && w !== null)
    throw new TaskConfigError(
      `${file}: "weights" must be a file name or a list of file names, got ${JSON.stringify(w).slice(0, 60)}`,
    );
  return resolveSection(section, {
    task,
    where,
    tokenizer: tokenizer ? at(tokenizer) : undefined,
    weights: opts.weights?.length ? opts.weights.map((p) => resolve(p)) : defaultWeights,
    at,
    root,
  });
}

/** Builds a TaskConfig from an in-memory object (same keys as the file; paths relative to `baseDir`). */
export function taskConfigFromObject(
  obj: Json,
  opts: { task?: string; baseDir?: string; weights?: string[] } = {},
): TaskConfig {
  const base = resolve(opts.baseDir ?? '.');
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const t = str(obj, 'task', 'config') ?? opts.task;
  if (!t) throw new TaskConfigError('config: missing "task"');
  const tok = str(obj, 'tokenizer', 'config');
  return resolveSection(obj, {
    task: normalizeTask(t),
    where: 'config',
    tokenizer: tok ? at(tok) : undefined,
    weights: (opts.weights ?? []).map(at),
    at,
    root: obj,
  });
}

function resolveSection(
  s: Json,
  ctx: {
    task: ModelTask;
    where: string;
    tokenizer?: string;
    weights: string[];
    at: (p: string) => string;
    root: Json;
  },
): TaskConfig {
  const { task, where } = ctx;
  // Architecture: official EncoderConfig > registry name (+ overrides).
  let model: Beit3Config;
  const modelName = str(s, 'model', where) ?? str(ctx.root, 'model', where);
  const enc = (s.encoder_config ?? ctx.root.encoder_config) as Json | undefined;
  try {
    if (enc && typeof enc === 'object') model = fromEncoderConfig(enc);
    else if (modelName) {
      const entry = getEntry(modelName);
      if (entry.task !== task && entry.task !== 'backbone')
        throw new TaskConfigError(
          `${where}: model ${modelName} is a ${entry.task} model, config task is ${task}`,
        );
      const over: Partial<Beit3Config> = {};
      const img = intIn(s, 'img_size', 1, CONFIG_LIMITS.imgSize, where);
      if (img) over.imgSize = img;
      const vocab = intIn(s, 'vocab_size', 1, CONFIG_LIMITS.vocabSize, where);
      if (vocab) over.vocabSize = vocab;
      model = configFor(modelName, over);
      if (entry.task === 'backbone' && task !== 'backbone')
        model = { ...model, normalizeOutput: taskPretrainedCfg(task).normalizeOutput };
    } else
      throw new TaskConfigError(
        `${where}: needs "model" (a registry name such as beit3_base_patch16_480_vqav2) or "encoder_config"`,
      );
  } catch (e) {
    if (e instanceof ConfigError) throw new TaskConfigError(`${where}: ${e.message}`);
    throw e;
  }
  const normalize = s.normalize_output;
  if (typeof normalize === 'boolean') model = { ...model, normalizeOutput: normalize };

  // Labels / answers.
  let labels: string[] | undefined;
  for (const k of ['label2ans', 'class_names', 'labels', 'answers']) {
    const v = s[k];
    if (Array.isArray(v)) labels = v.map(String);
    else if (typeof v === 'string') labels = readLabelsFile(ctx.at(v), where);
    if (labels) break;
  }
  const lf = str(s, 'labels_file', where) ?? str(s, 'answers_file', where);
  if (!labels && lf) labels = readLabelsFile(ctx.at(lf), where);
  const numClasses = intIn(s, 'num_classes', 1, MAX_CLASSES, where) ?? (labels ? labels.length : undefined);
  if (numClasses !== undefined && numClasses > MAX_CLASSES)
    throw new TaskConfigError(`${where}: ${numClasses} labels, more than the limit of ${MAX_CLASSES}`);
  if (labels && numClasses !== undefined && labels.length !== numClasses)
    throw new TaskConfigError(`${where}: ${labels.length} labels but num_classes = ${numClasses}`);

  const pre = taskPretrainedCfg(task);
  const transform = (str(s, 'transform', where) ?? pre.transform) as EvalTransformName;
  if (transform !== 'vl' && transform !== 'imagenet')
    throw new TaskConfigError(`${where}: transform must be "vl" or "imagenet", got "${transform}"`);
  // default: the official evaluation length, capped by the model's text position table
  const textLen =
    intIn(s, 'num_max_bpe_tokens', 3, CONFIG_LIMITS.maxSourcePositions, where) ??
    intIn((ctx.root.tiny_config ?? {}) as Json, 'num_max_bpe_tokens', 3, CONFIG_LIMITS.maxSourcePositions, where) ??
    Math.min(pre.textLen, model.maxSourcePositions - 2);
  if (!Number.isInteger(textLen) || textLen < 3)
    throw new TaskConfigError(`${where}: num_max_bpe_tokens must be an integer ≥ 3, got ${textLen}`);
  if (task !== 'imageclassification' && textLen + 2 > model.maxSourcePositions)
    throw new TaskConfigError(
      `${where}: num_max_bpe_tokens ${textLen} needs ${textLen + 2} text positions, the model has max_source_positions ${model.maxSourcePositions}`,
    );
  const keep = num(s, 'num_keep_best', where);
  if (keep !== undefined && keep !== 1)
    throw new TaskConfigError(
      `${where}: num_keep_best ${keep} is not supported (the official evaluation keeps 1)`,
    );
  const generation: GenerationSettings = {
    numBeams: intIn(s, 'num_beams', 1, MAX_BEAMS, where) ?? DEFAULTS.numBeams,
    maxLen: intIn(s, 'max_len', 3, Math.max(textLen, model.maxSourcePositions - 2), where) ?? textLen,
    lengthPenalty: num(s, 'length_penalty', where) ?? DEFAULTS.lengthPenalty,
    topnPerBeam: intIn(s, 'TOPN_PER_BEAM', 1, MAX_BEAMS, where) ?? intIn(s, 'topn_per_beam', 1, MAX_BEAMS, where) ?? DEFAULTS.topnPerBeam,
  };
  const cropPct = num(s, 'crop_pct', where) ?? pre.cropPct;
  if (!(cropPct > 0 && cropPct <= 1)) throw new TaskConfigError(`${where}: "crop_pct" must be in (0, 1], got ${cropPct}`);
  return {
    task,
    source: where,
    model,
    modelName,
    numClasses,
    labels,
    tokenizer: ctx.tokenizer,
    transform,
    cropPct,
    textLen,
    generation,
    weights: ctx.weights,
    topk: intIn(s, 'topk', 1, MAX_CLASSES, where) ?? DEFAULTS.topk,
  };
}

/** A config for a registry name without a file (random or explicitly loaded weights). */
export function configForModel(name: string, over: Partial<TaskConfig> = {}): TaskConfig {
  const e = getEntry(name);
  if (e.task === 'pretraining')
    throw new TaskConfigError(`${name}: pretraining models have no inference pipeline`);
  const model = configFor(name);
  const pre = pretrainedCfg(name);
  return {
    task: e.task,
    model,
    modelName: name,
    numClasses: pre.numClasses,
    transform: pre.transform,
    cropPct: pre.cropPct,
    textLen: pre.textLen,
    generation: {
      numBeams: DEFAULTS.numBeams,
      maxLen: pre.textLen,
      lengthPenalty: DEFAULTS.lengthPenalty,
      topnPerBeam: DEFAULTS.topnPerBeam,
    },
    weights: [],
    topk: DEFAULTS.topk,
    ...over,
  };
}
