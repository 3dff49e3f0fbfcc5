/**
 * Model registry under the official names (unilm beit3/modeling_finetune.py), plus our own
 * tiny/small sizes and the paper's giant. A name is `beit3_<size>_patch<p>_<img>[_<task>]`.
 */
import { type Beit3Config, defaultNormalizeOutput, makeConfig } from './config.js';
import type { Beit3TaskModel, TaskName } from './heads/base.js';
import { Beit3ForCaptioning } from './heads/captioning.js';
import { Beit3ForImageClassification } from './heads/classification.js';
import { Beit3ForNLVR2 } from './heads/nlvr2.js';
import { Beit3Backbone } from './heads/pretrained.js';
import { Beit3ForPretraining } from './heads/pretraining.js';
import { Beit3ForRetrieval } from './heads/retrieval.js';
import { Beit3ForVQA } from './heads/vqa.js';
import { Beit3Error } from '../../util/errors.js';

export interface RegistryEntry {
  name: string;
  size: string;
  patchSize: number;
  imgSize: number;
  task: TaskName;
  /** Default classes for classification heads (ImageNet 1000, VQAv2 3129 answers, NLVR2 2). */
  numClasses?: number;
  /** True for the names registered in the official modeling_finetune.py. */
  official: boolean;
}

export class UnknownModelError extends Beit3Error {
  override name = 'UnknownModelError';
  constructor(
    readonly model: string,
    readonly suggestions: string[],
  ) {
    super(
      `unknown model "${model}"${suggestions.length ? `; did you mean ${suggestions.join(', ')}?` : ''} (run \`beit3 info --list\` for all names)`,
    );
  }
}

const DEFAULT_CLASSES: Partial<Record<TaskName, number>> = {
  imageclassification: 1000,
  vqav2: 3129,
  nlvr2: 2,
};
const TASKS: TaskName[] = ['imageclassification', 'vqav2', 'nlvr2', 'retrieval', 'captioning', 'pretraining'];

const OFFICIAL: [string, number, TaskName][] = [
  ['base', 224, 'imageclassification'],
  ['large', 224, 'imageclassification'],
  ['base', 224, 'nlvr2'],
  ['large', 224, 'nlvr2'],
  ['base', 384, 'vqav2'],
  ['base', 480, 'vqav2'],
  ['large', 384, 'vqav2'],
  ['large', 480, 'vqav2'],
  ['large', 768, 'vqav2'],
  ['base', 224, 'captioning'],
  ['base', 480, 'captioning'],
  ['large', 480, 'captioning'],
  ['base', 224, 'retrieval'],
  ['base', 384, 'retrieval'],
  ['large', 384, 'retrieval'],
];

function entryName(size: string, patch: number, img: number, task: TaskName): string {
  return `beit3_${size}_patch${patch}_${img}${task === 'backbone' ? '' : `_${task}`}`;
}

function buildRegistry(): Map<string, RegistryEntry> {
  const m = new Map<string, RegistryEntry>();
  const add = (size: string, patch: number, img: number, task: TaskName, official: boolean) => {
    const name = entryName(size, patch, img, task);
    if (!m.has(name))
      m.set(name, {
        name,
        size,
        patchSize: patch,
        imgSize: img,
        task,
        numClasses: DEFAULT_CLASSES[task],
        official,
      });
  };
  for (const [size, img, task] of OFFICIAL) add(size, 16, img, task, true);
  // Pretrained backbone layouts (beit3_base_patch16_224.pth ...) and their higher resolutions.
  for (const img of [224, 384, 480]) add('base', 16, img, 'backbone', img === 224);
  for (const img of [224, 384, 480, 768]) add('large', 16, img, 'backbone', img === 224);
  for (const [size, patch, img] of [
    ['tiny', 8, 32],
    ['mini', 8, 64],
    ['small', 16, 224],
    ['giant', 14, 224],
  ] as const) {
    add(size, patch, img, 'backbone', false);
    for (const t of TASKS) add(size, patch, img, t, false);
  }
  for (const size of ['base', 'large']) add(size, 16, 224, 'pretraining', false);
  return m;
}

export const REGISTRY: ReadonlyMap<string, RegistryEntry> = buildRegistry();

export function listModels(): string[] {
  return [...REGISTRY.keys()];
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

export function getEntry(name: string): RegistryEntry {
  const e = REGISTRY.get(name);
  if (e) return e;
  const scored = listModels()
    .map((n) => [n, editDistance(name, n)] as const)
    .sort((x, y) => x[1] - y[1]);
  const best = scored
    .filter(([, d]) => d <= Math.max(3, scored[0][1] + 2))
    .slice(0, 5)
    .map(([n]) => n);
  throw new UnknownModelError(name, best);
}

export interface CreateOptions {
  numClasses?: number;
  /** Config overrides (e.g. vocabSize, imgSize, normalizeOutput). */
  config?: Partial<Beit3Config>;
}

/** Config for a registered name (normalize_output=False for classification and VQA, as registered). */
export function configFor(name: string, overrides: Partial<Beit3Config> = {}): Beit3Config {
  const e = getEntry(name);
  return makeConfig(e.size, e.imgSize, e.patchSize, {
    normalizeOutput: defaultNormalizeOutput(e.task),
    ...overrides,
  });
}

/** Builds the model for a task from a config (parameters declared, not yet initialised). */
export function createTaskModel(task: TaskName, cfg: Beit3Config, numClasses?: number): Beit3TaskModel {
  const classes = numClasses ?? DEFAULT_CLASSES[task];
  switch (task) {
    case 'backbone':
      return new Beit3Backbone(cfg);
    case 'imageclassification':
      return new Beit3ForImageClassification(cfg, classes!);
    case 'vqav2':
      return new Beit3ForVQA(cfg, classes!);
    case 'nlvr2':
      return new Beit3ForNLVR2(cfg, classes!);
    case 'retrieval':
      return new Beit3ForRetrieval(cfg);
    case 'captioning':
      return new Beit3ForCaptioning(cfg);
    case 'pretraining':
      return new Beit3ForPretraining(cfg);
  }
}

/** `createModel('beit3_base_patch16_480_vqav2')` — like timm.create_model(name, pretrained=False). */
export function createModel(name: string, opts: CreateOptions = {}): Beit3TaskModel {
  const e = getEntry(name);
  return createTaskModel(e.task, configFor(name, opts.config), opts.numClasses ?? e.numClasses);
}
