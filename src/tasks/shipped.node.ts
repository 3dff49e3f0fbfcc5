/**
 * The models beit3 trained itself and ships (`scripts/recipe-mini.sh` on the mini-corpus;
 * docs/recipe.md): registered by name (`beit3-mini-vqa`, …) and used by every task command,
 * `pipeline()`, `beit3 export` and `beit3 eval` when no config is given. They live in
 * `shipped/<family>/<model>/config.json` beside fp16 weights, in the repository and the npm package.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelTask } from './config.js';
import { TaskConfigError } from './errors.js';

export interface ShippedModel {
  name: string;
  task: ModelTask;
  /** The corpus task it was fine-tuned and evaluated on. */
  corpusTask: string;
  /** config.json of the model (absolute). */
  config: string;
  description: string;
}

/** src/tasks or dist/tasks → the package root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHIPPED_DIR = join(ROOT, 'shipped');

const entry = (corpusTask: string, task: ModelTask, description: string): ShippedModel => ({
  name: `beit3-mini-${corpusTask}`,
  task,
  corpusTask,
  config: join(SHIPPED_DIR, 'beit3-mini', corpusTask, 'config.json'),
  description,
});

/** In the order `beit3 info --list` prints them; the first of each task is its default. */
export const SHIPPED_MODELS: readonly ShippedModel[] = [
  entry('vqa', 'vqav2', 'visual question answering on emoji, icons, flags, clip art and Fashion-MNIST'),
  entry('caption', 'captioning', 'names an emoji, icon, flag or clip-art image'),
  entry('retrieval', 'retrieval', 'image–text embeddings: emoji, icons, flags, clip art and their names'),
  entry('nlvr2', 'nlvr2', 'true/false statements about two images'),
  entry('fashion-mnist', 'imageclassification', 'Fashion-MNIST, 10 classes'),
  entry('emoji-group', 'imageclassification', 'emoji group, 9 classes (Smileys & Emotion, Animals & Nature, …)'),
];

export class ShippedModelMissingError extends TaskConfigError {
  override name = 'ShippedModelMissingError';
}

/** A shipped model by name, or undefined when `name` is not one. */
export function shippedModel(name: string): ShippedModel | undefined {
  return SHIPPED_MODELS.find((m) => m.name === name);
}

/** The default shipped model of a task (checked to be present on disk). */
export function defaultShippedModel(task: ModelTask): ShippedModel {
  const m = SHIPPED_MODELS.find((s) => s.task === task);
  if (!m) throw new TaskConfigError(`beit3 ships no ${task} model: pass a config (-c FILE)`);
  return present(m);
}

/** The shipped model for a corpus task name (fashion-mnist, vqa, …), for `beit3 eval`. */
export function shippedForCorpusTask(corpusTask: string): ShippedModel | undefined {
  return SHIPPED_MODELS.find((s) => s.corpusTask === corpusTask);
}

export function present(m: ShippedModel): ShippedModel {
  if (!existsSync(m.config))
    throw new ShippedModelMissingError(`shipped model ${m.name}: ${m.config} is missing (an incomplete install or checkout?)`);
  return m;
}

/**
 * What `config` means where a config is optional: a shipped model name → its config.json; a path
 * stays a path; nothing → the task's default shipped model.
 */
export function resolveConfigRef(task: ModelTask, config: string | undefined): string {
  if (config === undefined) return defaultShippedModel(task).config;
  const m = shippedModel(config);
  return m ? present(m).config : config;
}
