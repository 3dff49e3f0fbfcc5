/**
 * Which task pipelines a server runs: every section of a multi-task config (or the ones named),
 * the one task of a single-task config, or a registry architecture (`model`, with random
 * weights for trying things out). Resolved here, on the HTTP side, so a bad config fails before
 * any worker starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  TaskConfigError,
  configForModel,
  loadTaskConfig,
  normalizeTask,
  type ModelTask,
} from '../tasks/index.js';
import { defaultShippedModel, SHIPPED_MODELS } from '../tasks/shipped.node.js';
import type { ServedTask } from './protocol.js';

export interface ServeModelOptions {
  config?: string;
  /** Tasks to serve (default: all sections of the config). */
  tasks?: string[];
  weights?: string[];
  /** A registry name instead of a config (one task). */
  model?: string;
  randomWeights?: number;
  tokenizer?: string;
}

function sectionsOf(path: string): string[] | undefined {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { tasks?: unknown };
    return j.tasks && typeof j.tasks === 'object' && !Array.isArray(j.tasks)
      ? Object.keys(j.tasks)
      : undefined;
  } catch {
    return undefined; // loadTaskConfig reports the problem
  }
}

export function resolveServedTasks(o: ServeModelOptions): ServedTask[] {
  if (o.randomWeights !== undefined && o.weights?.length)
    throw new TaskConfigError('--random-weights and --weights exclude each other');
  const out: ServedTask[] = [];
  const seen = new Set<ModelTask>();
  const add = (t: ServedTask) => {
    if (t.config.task === 'backbone') return; // features have no route
    if (seen.has(t.config.task)) throw new TaskConfigError(`task ${t.config.task} named twice`);
    seen.add(t.config.task);
    const config = o.tokenizer ? { ...t.config, tokenizer: o.tokenizer } : t.config;
    if (o.randomWeights === undefined && !config.weights.length)
      throw new TaskConfigError(
        `${config.source ?? config.modelName}: no weights (give --weights or --random-weights SEED)`,
      );
    for (const w of config.weights)
      if (!existsSync(w)) throw new TaskConfigError(`weights file ${w} not found`);
    out.push({ config, randomSeed: o.randomWeights });
  };
  if (o.config) {
    const wanted = o.tasks?.length ? o.tasks : (sectionsOf(o.config) ?? [undefined]);
    for (const t of wanted)
      add({
        config: loadTaskConfig(o.config, { task: t, weights: wanted.length > 1 ? undefined : o.weights }),
      });
  } else if (o.model) {
    const c = { ...configForModel(o.model), weights: o.weights ?? [] };
    if (o.tasks?.length && o.tasks.some((t) => normalizeTask(t) !== c.task))
      throw new TaskConfigError(`--model ${o.model} is a ${c.task} model`);
    add({ config: c });
  } else {
    // neither: the shipped beit3-mini model of every task (or of the --tasks asked for)
    if (o.randomWeights !== undefined) throw new TaskConfigError('--random-weights needs --model NAME (or --config FILE)');
    const tasks = o.tasks?.length ? o.tasks.map((t) => normalizeTask(t)) : [...new Set(SHIPPED_MODELS.map((m) => m.task))];
    for (const t of tasks) add({ config: loadTaskConfig(defaultShippedModel(t).config, { task: t, weights: tasks.length > 1 ? undefined : o.weights }) });
  }
  if (!out.length) throw new TaskConfigError('no servable task (features/backbone sections have no route)');
  return out;
}
