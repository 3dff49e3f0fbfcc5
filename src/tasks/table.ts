/**
 * The declarative task table (transformers.js style): each task → its pipeline class and what
 * its config must provide, plus the one alias table. `pipeline()` (pipeline.ts) resolves config,
 * weights and dtype in one place. Preprocessing comes from the model's pretrained cfg
 * (models/beit3/pretrained.ts), not from here.
 */
import type { PipelineOptions } from './base.js';
import { CaptioningPipeline } from './caption.js';
import { ImageClassificationPipeline } from './classify.js';
import type { ModelTask } from './config.js';
import { TaskConfigError } from './errors.js';
import { FeaturesPipeline } from './features.js';
import type { loadTaskModel } from './model.js';
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
    create: (l, o) => ImageClassificationPipeline.create(l, o),
  },
  retrieval: {
    id: 'image-text-retrieval',
    description: 'images × texts → similarity scores and rankings',
    needsTokenizer: true,
    needsLabels: false,
    create: (l, o) => RetrievalPipeline.create(l, o),
  },
  vqav2: {
    id: 'visual-question-answering',
    description: 'image + question → answer',
    needsTokenizer: true,
    needsLabels: true,
    create: (l, o) => VqaPipeline.create(l, o),
  },
  nlvr2: {
    id: 'visual-reasoning',
    description: 'two images + statement → true/false',
    needsTokenizer: true,
    needsLabels: false,
    create: (l, o) => Nlvr2Pipeline.create(l, o),
  },
  captioning: {
    id: 'image-to-text',
    description: 'image → caption (official beam search)',
    needsTokenizer: true,
    needsLabels: false,
    create: (l, o) => CaptioningPipeline.create(l, o),
  },
  backbone: {
    id: 'image-feature-extraction',
    description: 'per-layer hidden states, simple feature pyramid',
    needsTokenizer: false,
    needsLabels: false,
    create: (l, o) => FeaturesPipeline.create(l, o),
  },
};

/**
 * The one alias table: every name a task is known by (transformers.js task ids, short names, the
 * official dataset names) → its model task. `pipeline()`'s return type is derived from it.
 */
export const ALIASES = {
  imageclassification: 'imageclassification',
  classification: 'imageclassification',
  classify: 'imageclassification',
  'image-classification': 'imageclassification',
  imagenet: 'imageclassification',
  retrieval: 'retrieval',
  retrieve: 'retrieval',
  flickr30k: 'retrieval',
  coco_retrieval: 'retrieval',
  'image-text-retrieval': 'retrieval',
  vqav2: 'vqav2',
  vqa: 'vqav2',
  'visual-question-answering': 'vqav2',
  nlvr2: 'nlvr2',
  'visual-reasoning': 'nlvr2',
  captioning: 'captioning',
  caption: 'captioning',
  coco_captioning: 'captioning',
  nocaps: 'captioning',
  'image-to-text': 'captioning',
  backbone: 'backbone',
  features: 'backbone',
  'feature-extraction': 'backbone',
  'image-feature-extraction': 'backbone',
} as const satisfies Record<string, ModelTask>;

export type TaskAlias = keyof typeof ALIASES;

/** The model task of a task name or alias (case-insensitive); a TaskConfigError lists the known names. */
export function normalizeTask(name: string): ModelTask {
  const t = (ALIASES as Record<string, ModelTask>)[name.toLowerCase()];
  if (!t)
    throw new TaskConfigError(
      `unknown task "${name}" (known: ${[...new Set(Object.values(ALIASES))].join(', ')} and aliases ${Object.keys(ALIASES).join(', ')})`,
    );
  return t;
}
