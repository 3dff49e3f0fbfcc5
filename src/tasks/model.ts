/**
 * Loading a task model: config → module tree → checkpoint(s) merged and checked against the
 * task's head, with typed errors for every mismatch; plus compiling the task's graphs.
 */
import type { Graph } from '../graph/ir.js';
import type { Tensor } from '../graph/tensor.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import {
  classesInCheckpoint,
  detectCheckpointTask,
  filterCheckpoint,
  POS_EXTRA_ROWS,
  positionMismatches,
} from '../models/beit3/pretrained.js';
import { createTaskModel } from '../models/beit3/registry.js';
import { buildSpecGraph } from '../models/beit3/spec.js';
import type { ModelTask, TaskConfig } from './config.js';
import { SizeMismatchError, TaskConfigError, WrongTaskHeadError } from './errors.js';
import type { GraphSpec } from './graphs.js';
import { type SessionOptions, TaskSession } from './session.js';

/** The task whose head a state dict carries (undefined: backbone only); the checkpoint contract's rule. */
export { detectCheckpointTask as detectHeadTask } from '../models/beit3/pretrained.js';

export interface LoadedModel {
  config: TaskConfig;
  model: Beit3TaskModel;
  /** What loading adapted or ignored (human-readable). */
  notes: string[];
}

export interface LoadModelOptions {
  /** State dict already in memory (instead of config.weights). */
  state?: Map<string, Tensor>;
  /** Random weights (official initialisers) with this seed when no weights are given. */
  randomSeed?: number;
  /** Interpolate vision position embeddings when the checkpoint's image size differs (default false: error). */
  interpolatePositions?: boolean;
}

/** Reads and merges weight files (later files override earlier keys). */
export async function readWeights(paths: readonly string[]): Promise<Map<string, Tensor>> {
  const state = new Map<string, Tensor>();
  for (const p of paths) for (const [k, t] of await loadCheckpoint(p)) state.set(k, t);
  return state;
}

export async function loadTaskModel(config: TaskConfig, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const notes: string[] = [];
  let state = opts.state;
  if (!state && config.weights.length) state = await readWeights(config.weights);
  const where = config.weights.length ? config.weights.join(' + ') : 'weights';
  let numClasses = config.numClasses;
  if (state) {
    const found = detectCheckpointTask(state.keys());
    if (config.task !== 'backbone' && found !== config.task)
      throw new WrongTaskHeadError(
        config.task,
        found,
        found
          ? `${where}: the checkpoint has a ${found} head, but the config's task is ${config.task} (use a ${config.task} checkpoint or --task ${found})`
          : `${where}: the checkpoint has no task head (backbone only); task ${config.task} needs its fine-tuned head weights`,
      );
    const inWeights = classesInCheckpoint(config.task, state);
    if (inWeights !== undefined) {
      if (numClasses !== undefined && numClasses !== inWeights)
        throw new SizeMismatchError(
          `${where}: the ${config.task} head has ${inWeights} classes, the config says ${numClasses}${config.labels ? ` (${config.labels.length} labels)` : ''}`,
        );
      numClasses = inWeights;
    }
    const emb = state.get('beit3.text_embed.weight');
    if (emb && (emb.shape[0] !== config.model.vocabSize || emb.shape[1] !== config.model.embedDim))
      throw new SizeMismatchError(
        `${where}: beit3.text_embed.weight is [${emb.shape}], the config's model has vocab_size ${config.model.vocabSize} × embed_dim ${config.model.embedDim}`,
      );
  } else if (opts.randomSeed === undefined)
    throw new TaskConfigError(
      `${config.source ?? 'config'}: no weights given (pass --weights, list "weights" in the config, or ask for random weights)`,
    );
  if (
    numClasses === undefined &&
    (config.task === 'vqav2' || config.task === 'imageclassification' || config.task === 'nlvr2')
  )
    throw new TaskConfigError(
      `${config.source ?? 'config'}: number of classes unknown (give num_classes or labels)`,
    );
  const model = createTaskModel(config.task, config.model, numClasses);
  if (!state) {
    model.initialize(opts.randomSeed);
    notes.push(`random weights (seed ${opts.randomSeed})`);
    return { config: { ...config, numClasses }, model, notes };
  }
  // Position tables: checkpoints at another resolution are resized only when asked for.
  if (!opts.interpolatePositions)
    for (const { key, rows, want } of positionMismatches(state, model)) {
      const side = (n: number) => Math.sqrt(n - POS_EXTRA_ROWS) * config.model.patchSize;
      throw new SizeMismatchError(
        `${where}: ${key} has ${rows} rows (image size ${side(rows)}), the config's image size ${config.model.imgSize} needs ${want}; set img_size to ${side(rows)} or allow position interpolation`,
      );
    }
  // Features read any task checkpoint (its head is ignored); models without the final LayerNorm
  // (VQA, classification) ignore those backbone keys, as the official non-strict load does.
  const own = model.shapes();
  const { state: filtered, notes: changes } = filterCheckpoint(state, own, {
    backboneOnly: config.task === 'backbone',
    ignoreFinalNorm: true,
  });
  notes.push(...changes);
  const mismatched = [...own].filter(([k, s]) => {
    const t = filtered.get(k);
    return t && (t.shape.length !== s.length || t.shape.some((d, i) => d !== s[i]));
  });
  if (mismatched.length)
    throw new SizeMismatchError(
      `${where}: ${mismatched
        .slice(0, 5)
        .map(([k, s]) => `${k} is [${filtered.get(k)!.shape}], model expects [${s}]`)
        .join(
          '; ',
        )}${mismatched.length > 5 ? ` (+${mismatched.length - 5} more)` : ''} — check the config's model sizes`,
    );
  const missing = [...own.keys()].filter((k) => !filtered.has(k));
  const extra = [...filtered.keys()].filter((k) => !own.has(k));
  if (missing.length || extra.length)
    throw new SizeMismatchError(
      `${where}: keys do not match the ${config.task} model: ${missing.length ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (+${missing.length - 5})` : ''}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `unexpected ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` (+${extra.length - 5})` : ''}` : ''}`,
    );
  model.loadStateDict(filtered);
  return { config: { ...config, numClasses }, model, notes };
}

/** Builds one inference graph over the model (batch symbolic): a spec given in parts. */
export function buildGraph(
  name: string,
  model: Beit3TaskModel,
  inputs: GraphSpec['inputs'],
  body: GraphSpec['body'],
): { graph: Graph; bind: Map<string, Tensor> } {
  return buildSpecGraph(model, { name, inputs, body });
}

/** Compiles a graph spec (src/tasks/graphs.ts). */
export function compileSpec(
  model: Beit3TaskModel,
  spec: GraphSpec,
  opts: SessionOptions = {},
): Promise<TaskSession> {
  const { graph, bind } = buildSpecGraph(model, spec);
  return TaskSession.create(graph, bind, opts);
}
