/** `pipeline(task, {config})`: the one entry that turns a task name into a ready pipeline. */
import { loadTaskConfig, type ModelTask, type TaskConfig } from './config.js';
import type { PipelineOptions } from './base.js';
import { TaskConfigError } from './errors.js';
import { type LoadModelOptions, loadTaskModel } from './model.js';
import { resolveConfigRef } from './shipped.node.js';
import { ALIASES, normalizeTask, type PipelineTypes, TASKS } from './table.js';

export interface CreatePipelineOptions extends PipelineOptions, LoadModelOptions {
  /**
   * Config file path, a shipped model name (`beit3-mini-vqa`, see SHIPPED_MODELS) or a resolved
   * config; omitted: the task's shipped model.
   */
  config?: string | TaskConfig;
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
  opts: CreatePipelineOptions = {},
): Promise<
  T extends keyof typeof ALIASES ? PipelineTypes[(typeof ALIASES)[T]] : PipelineTypes[ModelTask]
> {
  const t = normalizeTask(task);
  if (opts?.config !== undefined && typeof opts.config !== 'string' && (typeof opts.config !== 'object' || opts.config === null))
    throw new TaskConfigError(
      `pipeline('${task}'): options.config must be a config file path, a shipped model name or a loaded TaskConfig`,
    );
  if (typeof opts.config !== 'object' && t !== 'backbone') opts = { ...opts, config: resolveConfigRef(t, opts.config) };
  else if (opts.config === undefined)
    throw new TaskConfigError(`pipeline('${task}'): features need options.config (any task's config; its backbone is used)`);
  let config =
    typeof opts.config === 'string'
      ? loadTaskConfig(opts.config, { task: opts.section ?? t, weights: opts.weights })
      : opts.config!;
  if (typeof opts.config !== 'string' && opts.weights?.length) config = { ...config, weights: opts.weights };
  if (t === 'backbone') config = { ...config, task: 'backbone' };
  else if (config.task !== t)
    throw new TaskConfigError(
      `${config.source ?? 'config'}: is a ${config.task} config, pipeline('${task}') runs ${t}`,
    );
  const loaded = await loadTaskModel(config, opts);
  return (await TASKS[t].create(loaded, opts)) as never;
}

