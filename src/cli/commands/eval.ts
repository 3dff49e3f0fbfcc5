/**
 * `beit3 eval`: a task model's corpus metrics on one split of any folder laid out like the
 * mini-corpus (`<dir>/tasks/<task>/<split>.jsonl`, image paths relative to `<dir>`). The model
 * comes from a task config (-c, as `beit3 finetune` writes it); the data, streams and metrics are
 * the fine-tuning loop's own (train/data.ts + train/eval.ts), so these numbers are the ones
 * `beit3 finetune --eval-only` reports for the same weights.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadTaskConfig } from '../../tasks/config.js';
import { loadTaskModel } from '../../tasks/model.js';
import { present, resolveConfigRef, shippedForCorpusTask } from '../../tasks/shipped.node.js';
import { Beit3Tokenizer } from '../../text/beit3-tokenizer.js';
import { corpusTask, OFFICIAL_TASKS, resolveTaskData, type TrainKind } from '../../train/data.js';
import { TaskEvaluator } from '../../train/eval.js';
import { createProgressSink, type ProgressCallback } from '../../util/progress.js';
import { CliError } from '../errors.js';
import { intOption } from '../task-options.js';

/** No -c and no shipped model to fall back on (shipping one is issue 11's later work). */
export class NoShippedModelError extends CliError {
  override name = 'NoShippedModelError';
}

/** The data folder has no such task, or not the split asked for. */
export class EvalDataError extends CliError {
  override name = 'EvalDataError';
}

/** The model's head does not fit the task's classes or answers. */
export class EvalModelMismatchError extends CliError {
  override name = 'EvalModelMismatchError';
}

export interface EvalOptions {
  task?: string;
  data?: string;
  split: string;
  config?: string;
  batchSize?: string;
  threads?: string;
  json?: boolean;
  progress?: boolean;
}

const CORPUS_TASKS = 'fashion-mnist, emoji-group, retrieval, vqa, nlvr2, caption';

/** Task names present under `<dir>/tasks` (for the unknown-task message). */
function tasksIn(dir: string): string[] {
  const root = join(dir, 'tasks');
  if (!existsSync(root)) return [];
  const names: string[] = [];
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    if (d.name === 'classification') names.push(...readdirSync(join(root, d.name), { withFileTypes: true }).filter((c) => c.isDirectory()).map((c) => c.name));
    else names.push(d.name);
  }
  return names.sort();
}

/** Checks task, folder and split file before any model is loaded. */
function locate(o: EvalOptions): { task: string; kind: TrainKind; corpusTask: string; dir: string; file: string } {
  if (!o.task) throw new CliError(`--task is required (a corpus task: ${CORPUS_TASKS})`);
  if (!o.data) throw new CliError('--data is required (a folder laid out like `beit3 corpus build` output)');
  const dir = resolve(o.data);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new EvalDataError(`--data ${dir}: not a folder`);
  // Official names (vqav2, coco_captioning, ...) pick the corpus task of their kind, as in finetune.
  const kind = OFFICIAL_TASKS[o.task]?.kind;
  const ct = corpusTask(kind ? { imageclassification: 'fashion-mnist', vqav2: 'vqa', captioning: 'caption', nlvr2: 'nlvr2', retrieval: 'retrieval' }[kind] : o.task);
  const taskDir = ct && join(dir, 'tasks', ct.dir);
  if (!ct || !existsSync(taskDir!)) {
    const have = tasksIn(dir);
    throw new EvalDataError(`--task ${o.task}: unknown in ${dir} (${have.length ? `tasks there: ${have.join(', ')}` : `no tasks/ folder; corpus tasks: ${CORPUS_TASKS}`})`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(o.split)) throw new EvalDataError(`--split ${o.split}: not a split name`);
  const file = join(taskDir!, `${o.split}.jsonl`);
  if (!existsSync(file)) {
    const splits = readdirSync(taskDir!).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -6));
    throw new EvalDataError(`--split ${o.split}: ${file} is missing (splits of ${o.task}: ${splits.join(', ') || 'none'})`);
  }
  return { task: o.task, kind: ct.kind, corpusTask: ct.dir.replace(/^classification\//, ''), dir, file };
}

/** Runs the evaluation; returns what --json prints. */
export async function runEval(o: EvalOptions, onProgress?: ProgressCallback) {
  const where = locate(o);
  if (!o.config) {
    const shipped = shippedForCorpusTask(where.corpusTask);
    if (!shipped)
      throw new NoShippedModelError(
        `no model given and beit3 ships no ${where.corpusTask} model: pass -c <config.json> (e.g. the config.json that \`beit3 finetune\` writes)`,
      );
    o = { ...o, config: present(shipped).config };
  } else o = { ...o, config: resolveConfigRef(where.kind, o.config) };
  const batchSize = intOption('--batch-size', o.batchSize, 1, 8, 4096)!;
  const threads = intOption('--threads', o.threads, 1, undefined, 1024);
  // Asking for the task's kind makes a config of another task a typed TaskConfigError naming both.
  const loaded = await loadTaskModel(loadTaskConfig(o.config!, { task: where.kind }));
  const { config, model } = loaded;
  const tokenizer = config.tokenizer ? await Beit3Tokenizer.load(config.tokenizer) : undefined;
  // The split serves as "train" too: resolveTaskData reads both, and a folder to evaluate need not have train.
  const data = await resolveTaskData(where.task, where.dir, { tokenizer, trainSplit: o.split, evalSplit: o.split });
  const headClasses = config.numClasses;
  if ((where.kind === 'imageclassification' || where.kind === 'vqav2') && headClasses !== data.numClasses)
    throw new EvalModelMismatchError(
      `${o.config}: the model's head has ${headClasses} ${where.kind === 'vqav2' ? 'answers' : 'classes'}, ${where.task} in ${where.dir} has ${data.numClasses}`,
    );
  const ev = new TaskEvaluator({
    model,
    data,
    tokenizer,
    imgSize: model.cfg.imgSize,
    batchSize,
    textLen: config.textLen,
    numClasses: data.numClasses,
    numBeams: config.generation.numBeams,
    lengthPenalty: config.generation.lengthPenalty,
    ortThreads: threads,
  });
  try {
    const r = await ev.evaluate(model.stateDict(), { step: 0, epoch: 0, onProgress });
    return { task: where.task, split: o.split, items: data.eval.length, model: config.modelName ?? null, metrics: r.metrics, primary: r.primary };
  } finally {
    await ev.release();
  }
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('corpus metrics of a task model on one split of a folder laid out like `beit3 corpus build` output')
    .option('--task <name>', `corpus task: ${CORPUS_TASKS} (or an official name of the same kind)`)
    .option('--data <dir>', 'folder with tasks/<task>/<split>.jsonl; image paths relative to it')
    .option('--split <name>', 'split to evaluate', 'test')
    .option('-c, --config <file>', 'task config JSON beside the weights (as `beit3 finetune` writes it) or a shipped model name (default: the shipped model of the task)')
    .option('--batch-size <n>', 'items per model call', '8')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--json', 'one JSON document on stdout (progress as JSON lines on stderr)')
    .option('--no-progress', 'no progress output on stderr')
    .addHelpText(
      'after',
      `
Examples:
  beit3 eval --task fashion-mnist --data corpus -c runs/fmnist/config.json --json
  beit3 eval --task retrieval --data corpus --split val -c runs/ret/config.json`,
    )
    .action(async (o: EvalOptions) => {
      const onProgress = o.progress === false ? undefined : createProgressSink({ stream: process.stderr, json: o.json === true ? true : undefined });
      const r = await runEval(o, onProgress);
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        process.stdout.write(`${r.task} ${r.split} (${r.items} items)\n`);
        for (const [k, v] of Object.entries(r.metrics)) process.stdout.write(`  ${k.padEnd(14)} ${v.toFixed(4)}${k === r.primary ? '  (primary)' : ''}\n`);
      }
    });
}
