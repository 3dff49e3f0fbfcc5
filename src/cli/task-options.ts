/**
 * What the task commands of the `beit3` CLI share: the model options (--config, --weights,
 * --task, --dtype, --threads, --batch-size, --model/--random-weights), loading the model and
 * opening a pipeline from them, progress on stderr, output (--json one JSON document, else
 * readable lines), and `taskCommand`, which registers a command with all of that.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createProgressSink } from '../util/progress.js';
import type { Pipeline, PipelineOptions } from '../tasks/base.js';
import {
  configForModel,
  loadTaskConfig,
  type ModelTask,
  type TaskConfig,
} from '../tasks/config.js';
import { TaskConfigError, TaskInputError } from '../tasks/errors.js';
import { type LoadedModel, loadTaskModel } from '../tasks/model.js';
import type { PipelineDType } from '../tasks/session.js';
import { resolveConfigRef, shippedModel } from '../tasks/shipped.node.js';
import { normalizeTask, type PipelineTypes, TASKS } from '../tasks/table.js';

export interface ModelCliOptions {
  config?: string;
  weights?: string[];
  task?: string;
  dtype?: string;
  threads?: string;
  batchSize?: string;
  model?: string;
  randomWeights?: string;
  tokenizer?: string;
  json?: boolean;
  progress?: boolean;
}

/** Adds the shared model options to a command. */
export function withModelOptions(cmd: Command, opts: { task?: boolean } = {}): Command {
  cmd
    .option(
      '-c, --config <file>',
      'task config JSON beside the weights (model, task, image size, tokenizer, labels), or a shipped model name (default: the task\'s shipped beit3-mini model)',
    )
    .option(
      '-w, --weights <files...>',
      'checkpoint(s): .pth or .safetensors, merged in order (default: the config\'s "weights")',
    )
    .option('--dtype <dtype>', 'fp32 | q8 (dynamic int8 MatMul weights)', 'fp32')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--batch-size <n>', 'items per model call (bounds memory)', '8')
    .option(
      '--model <name>',
      'shipped model (beit3-mini-vqa, …) or registry name for use without a config (e.g. beit3_base_patch16_224_retrieval, with --random-weights or --weights)',
    )
    .option(
      '--random-weights <seed>',
      'run with random official-init weights (no checkpoint; for trying the pipeline)',
    )
    .option('--tokenizer <file>', 'SentencePiece model (overrides the config)')
    .option('--json', 'machine-readable JSON output on stdout')
    .option('--no-progress', 'no progress output on stderr');
  if (opts.task) cmd.option('-t, --task <task>', 'task section to use from a multi-task config');
  return cmd;
}

/**
 * An integer option in [min, max]. Every count, size and length option has an upper bound, checked
 * before any work (default 2^31-1: beyond it sizes only overflow or exhaust memory); options that
 * size allocations pass a tighter one.
 */
export function intOption(
  name: string,
  value: string | undefined,
  min: number,
  fallback?: number,
  max = 2 ** 31 - 1,
): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new TaskInputError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
  return n;
}

export function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new TaskInputError(`${name} must be a number, got '${value}'`);
  return n;
}

/** Resolves the task config from the command-line options. */
export function cliConfig(task: ModelTask | string, o: ModelCliOptions): TaskConfig {
  const t = normalizeTask(task);
  // features run the backbone of any task's checkpoint: --task picks the config section
  const section = o.task ? normalizeTask(o.task) : t === 'backbone' ? undefined : t;
  if (t !== 'backbone' && section !== t)
    throw new TaskInputError(`--task ${o.task} does not match this command (it runs ${t})`);
  let c: TaskConfig;
  // a config path, a shipped name (-c or --model), or nothing: one resolver (nothing = the task's shipped model)
  const shippedName = o.model && shippedModel(o.model) ? o.model : undefined;
  if (o.config || shippedName || (!o.model && t !== 'backbone'))
    c = loadTaskConfig(resolveConfigRef(t, o.config ?? shippedName), { task: section, weights: o.weights });
  else if (o.model) c = { ...configForModel(o.model), weights: o.weights ?? [] };
  else
    throw new TaskConfigError(
      `needs --config FILE (a task config JSON beside the weights, or a shipped model name; see --help) or --model NAME`,
    );
  if (t === 'backbone') c = { ...c, task: 'backbone' };
  if (c.task !== t)
    throw new TaskConfigError(`${o.config ?? o.model}: is a ${c.task} model, this command runs ${t}`);
  if (o.tokenizer) c = { ...c, tokenizer: o.tokenizer };
  for (const w of c.weights) if (!existsSync(w)) throw new TaskConfigError(`weights file ${w} not found`);
  return c;
}

/** --dtype, checked. */
export function dtypeOption(o: ModelCliOptions): PipelineDType {
  const dtype = (o.dtype ?? 'fp32') as PipelineDType;
  if (dtype !== 'fp32' && dtype !== 'q8')
    throw new TaskInputError(`--dtype must be fp32 or q8, got '${o.dtype}'`);
  return dtype;
}

export function pipelineOptions(o: ModelCliOptions, stage?: string): PipelineOptions {
  const dtype = dtypeOption(o);
  const progress = o.progress === false ? undefined : createProgressSink({ stream: process.stderr });
  const batchSize = intOption('--batch-size', o.batchSize, 1, 8) ?? 8;
  return {
    dtype,
    threads: intOption('--threads', o.threads, 1),
    batchSize,
    onProgress:
      progress && stage ? (e) => (e.total ?? 0) > batchSize && progress({ ...e, stage }) : undefined,
  };
}

/** Loads the task model the CLI options name (config/model, weights or --random-weights). */
export async function loadCliModel(task: ModelTask | string, o: ModelCliOptions): Promise<LoadedModel> {
  if (o.randomWeights !== undefined && !o.config && !o.model)
    throw new TaskInputError('--random-weights needs --model NAME (or -c FILE): without them the shipped model, which has weights, is used');
  const config = cliConfig(task, o);
  const seed = intOption('--random-weights', o.randomWeights, 0);
  if (seed !== undefined && config.weights.length)
    throw new TaskInputError('--random-weights and --weights exclude each other');
  return loadTaskModel(config, { randomSeed: seed });
}

/** Opens the pipeline of a task from CLI options. */
export async function openPipeline<T extends ModelTask>(
  task: T,
  o: ModelCliOptions,
  stage?: string,
): Promise<PipelineTypes[T]> {
  const loaded = await loadCliModel(task, o);
  return (await TASKS[task].create(loaded, pipelineOptions(o, stage))) as PipelineTypes[T];
}

export interface TaskCommandSpec<T extends ModelTask> {
  /** Command name (also the progress label). */
  name: string;
  /** The task whose pipeline the action opens. */
  task: T;
  description: string;
  /** Adds the command's own arguments and options. */
  define?: (cmd: Command) => Command;
  /** Example command lines for --help. */
  examples: string[];
}

/**
 * Registers a task command: its own arguments and options, the shared model options (with
 * --task), examples, and an action that gets the positional arguments, the options and
 * `open(options?)`, which opens the task's pipeline; every pipeline opened is disposed after.
 */
export function taskCommand<T extends ModelTask, A extends unknown[], O extends ModelCliOptions>(
  program: Command,
  spec: TaskCommandSpec<T>,
  action: (args: A, o: O, open: (o?: ModelCliOptions) => Promise<PipelineTypes[T]>) => Promise<void>,
): Command {
  const base = program.command(spec.name).description(spec.description);
  return withModelOptions(spec.define ? spec.define(base) : base, { task: true })
    .addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}\n`).join('')}`)
    .action(async (...args: unknown[]) => {
      // commander calls action(...positionals, options, command)
      const o = args[args.length - 2] as O;
      const opened: Pipeline[] = [];
      const open = async (opts: ModelCliOptions = o) => {
        const p = await openPipeline(spec.task, opts, spec.name);
        opened.push(p);
        return p;
      };
      try {
        await action(args.slice(0, -2) as A, o, open);
      } finally {
        await Promise.all(opened.map((p) => p.dispose()));
      }
    });
}

export function print(o: ModelCliOptions, json: unknown, lines: () => string[]): void {
  process.stdout.write(o.json ? `${JSON.stringify(json)}\n` : `${lines().join('\n')}\n`);
}

export const fmt = (x: number, d = 4) => x.toFixed(d);
