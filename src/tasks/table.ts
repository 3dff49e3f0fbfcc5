/**
 * The declarative task table (transformers.js style): each task → its pipeline class, default
 * transform and what its config must provide. `pipeline()` resolves config, weights and dtype
 * in one place.
 */
import type { PipelineOptions } from './base.js';
import { CaptioningPipeline } from './caption.js';
import { ImageClassificationPipeline } from './classify.js';
import { loadTaskConfig, type ModelTask, normalizeTask, type TaskConfig } from './config.js';
import { TaskConfigError } from './errors.js';
import { FeaturesPipeline } from './features.js';
import { type LoadModelOptions, loadTaskModel } from './model.js';
import { Nlvr2Pipeline } from './nlvr2.js';
import { RetrievalPipeline } from './retrieval.js';
import { VqaPipeline } from './vqa.js';

export interface PipelineTypes {
  imageclassification: ImageClassificationPipeline;
  retrieval: RetrievalPipeline;
  vqav2: VqaPipeline;
  nlvr2: Nlvr2Pipeline;
  captioning: CaptioningPipeline;
  backbone: FeaturesPipeline;
}

export interface TaskEntry {
  /** transformers.js-style task id. */
  id: string;
  description: string;
  needsTokenizer: boolean;
  needsLabels: boolean;
  transform: 'vl' | 'imagenet';
  create(
    loaded: Awaited<ReturnType<typeof loadTaskModel>>,
    opts: PipelineOptions,
  ): Promise<PipelineTypes[ModelTask]>;
}

export const TASKS: { readonly [K in ModelTask]: TaskEntry } = {
  imageclassification: {
    id: 'image-classification',
    description: 'image → top-k class labels',
    needsTokenizer: false,
    needsLabels: false,
    transform: 'imagenet',
    create: (l, o) => ImageClassificationPipeline.create(l, o),
  },
  retrieval: {
    id: 'image-text-retrieval',
    description: 'images × texts → similarity scores and rankings',
    needsTokenizer: true,
    needsLabels: false,
    transform: 'vl',
    create: (l, o) => RetrievalPipeline.create(l, o),
  },
  vqav2: {
    id: 'visual-question-answering',
    description: 'image + question → answer',
    needsTokenizer: true,
    needsLabels: true,
    transform: 'vl',
    create: (l, o) => VqaPipeline.create(l, o),
  },
  nlvr2: {
    id: 'visual-reasoning',
    description: 'two images + statement → true/false',
    needsTokenizer: true,
    needsLabels: false,
    transform: 'vl',
    create: (l, o) => Nlvr2Pipeline.create(l, o),
  },
  captioning: {
    id: 'image-to-text',
    description: 'image → caption (official beam search)',
    needsTokenizer: true,
    needsLabels: false,
    transform: 'vl',
    create: (l, o) => CaptioningPipeline.create(l, o),
  },
  backbone: {
    id: 'image-feature-extraction',
    description: 'per-layer hidden states, simple feature pyramid',
    needsTokenizer: false,
    needsLabels: false,
    transform: 'vl',
    create: (l, o) => FeaturesPipeline.create(l, o),
  },
};

export interface CreatePipelineOptions extends PipelineOptions, LoadModelOptions {
  /** Config file path, or a resolved config. */
  config: string | TaskConfig;
  /** Weight files (override the config's). */
  weights?: string[];
  /** Section of a multi-task config to read (features from another task's checkpoint). */
  section?: string;
}

/**
 * `const vqa = await pipeline('vqa', { config: 'model/config.json' })` — loads config, tokenizer
 * and weights, checks them against each other, compiles the task's graphs.
 */
export async function pipeline<T extends string>(
  task: T,
  opts: CreatePipelineOptions,
): Promise<
  T extends keyof typeof ALIAS_TYPES ? PipelineTypes[(typeof ALIAS_TYPES)[T]] : PipelineTypes[ModelTask]
> {
  const t = normalizeTask(task);
  if (typeof opts?.config !== 'string' && (typeof opts?.config !== 'object' || opts.config === null))
    throw new TaskConfigError(
      `pipeline('${task}'): options.config must be a config file path or a loaded TaskConfig`,
    );
  let config =
    typeof opts.config === 'string'
      ? loadTaskConfig(opts.config, { task: opts.section ?? t, weights: opts.weights })
      : opts.config;
  if (typeof opts.config !== 'string' && opts.weights?.length) config = { ...config, weights: opts.weights };
  if (t === 'backbone') config = { ...config, task: 'backbone' };
  else if (config.task !== t)
    throw new TaskConfigError(
      `${config.source ?? 'config'}: is a ${config.task} config, pipeline('${task}') runs ${t}`,
    );
  const loaded = await loadTaskModel(config, opts);
  return (await TASKS[t].create(loaded, opts)) as never;
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- used as a type: alias → pipeline class
const ALIAS_TYPES = {
  imageclassification: 'imageclassification',
  classification: 'imageclassification',
  classify: 'imageclassification',
  'image-classification': 'imageclassification',
  retrieval: 'retrieval',
  retrieve: 'retrieval',
  'image-text-retrieval': 'retrieval',
  vqav2: 'vqav2',
  vqa: 'vqav2',
  'visual-question-answering': 'vqav2',
  nlvr2: 'nlvr2',
  'visual-reasoning': 'nlvr2',
  captioning: 'captioning',
  caption: 'captioning',
  'image-to-text': 'captioning',
  backbone: 'backbone',
  features: 'backbone',
  'image-feature-extraction': 'backbone',
} as const;
