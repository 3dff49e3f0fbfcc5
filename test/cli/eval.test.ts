/**
 * `beit3 eval` on a corpus built from fixtures/corpus-sample, with random-weights tiny models
 * saved as a `beit3 finetune`-style output folder: the printed metrics equal what the training
 * library's own evaluation (`evaluateOnly`, i.e. `finetune --eval-only`) computes for the same
 * weights and split, read through a different path (registry name + --init instead of the config);
 * and the typed errors of bad input.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../../src/cli/commands/eval.js';
import { buildCorpus } from '../../src/corpus/build.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { configFor, createTaskModel } from '../../src/models/beit3/registry.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import type { TrainKind } from '../../src/train/data.js';
import { evaluateOnly, taskDefaults } from '../../src/train/recipe.js';
import { tempDir } from '../train/loop-fixture.js';

const ROOT = join(import.meta.dirname, '../..');
const SPM = join(ROOT, 'fixtures/sentencepiece/bpe_2k.model');
const MODEL = 'beit3_tiny_patch8_32';
// 64 px: the official eval transform does not resize at ≤ 32; 16 tokens fit the tiny model's 24 positions.
const IMG = 64;
const TEXT_LEN = 16;
let tmp: { dir: string; done: () => void };
let corpus: string;

/** A random-weights model folder (config.json + model.safetensors [+ tokenizer]) like finetune's output. */
async function modelDir(name: string, kind: TrainKind, extra: { numClasses?: number; labels?: string[]; vocabSize?: number; tokenizer?: string }, seed: number): Promise<string> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const cfg = configFor(`${MODEL}_${kind}`, { imgSize: IMG, ...(extra.vocabSize ? { vocabSize: extra.vocabSize } : {}) });
  const m = createTaskModel(kind, cfg, extra.numClasses);
  m.initialize(seed);
  await saveSafetensors(join(dir, 'model.safetensors'), m.stateDict());
  if (extra.tokenizer) cpSync(extra.tokenizer, join(dir, 'tokenizer.model'));
  const config = {
    task: kind,
    model: `${MODEL}_${kind}`,
    img_size: cfg.imgSize,
    vocab_size: cfg.vocabSize,
    weights: 'model.safetensors',
    num_max_bpe_tokens: TEXT_LEN,
    ...(extra.numClasses ? { num_classes: extra.numClasses } : {}),
    ...(extra.labels ? { labels: extra.labels } : {}),
    ...(extra.tokenizer ? { tokenizer: 'tokenizer.model' } : {}),
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** What the fine-tuning library reports for the same weights (its --eval-only path). */
async function libraryMetrics(task: string, dir: string, kind: TrainKind, tokenizer?: string) {
  const r = await evaluateOnly({
    ...taskDefaults(task, kind),
    task,
    model: MODEL,
    data: corpus,
    output: join(tmp.dir, 'unused'),
    init: join(dir, 'model.safetensors'),
    sentencepiece_model: tokenizer,
    eval_split: 'test',
    batch_size: 5, // another batching than the command's: the metrics must not depend on it
    input_size: IMG,
    num_max_bpe_tokens: TEXT_LEN,
    threads: 2,
  });
  return r.metrics;
}

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  tmp = tempDir('beit3-eval-');
  corpus = join(tmp.dir, 'corpus');
  await buildCorpus({ out: corpus, from: join(ROOT, 'fixtures/corpus-sample'), subset: 'small', progress: () => {}, log: () => {} });
}, 120_000);
afterAll(() => tmp?.done());

const labelsOf = (task: string) => JSON.parse(readFileSync(join(corpus, 'tasks/classification', task, 'labels.json'), 'utf8')) as string[];

describe('beit3 eval', () => {
  it('prints the classification metrics the library evaluator computes (command, --json)', async () => {
    const labels = labelsOf('fashion-mnist');
    const dir = await modelDir('fmnist', 'imageclassification', { numClasses: labels.length, labels }, 7);
    const r = cli(['--task', 'fashion-mnist', '--data', corpus, '-c', join(dir, 'config.json'), '--threads', '2', '--json']);
    expect(r.stderr).not.toMatch(/beit3: /);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const n = readFileSync(join(corpus, 'tasks/classification/fashion-mnist/test.jsonl'), 'utf8').trim().split('\n').length;
    expect(out).toMatchObject({ task: 'fashion-mnist', split: 'test', items: n, primary: 'top1' });
    const lib = await libraryMetrics('fashion-mnist', dir, 'imageclassification');
    expect(Object.keys(out.metrics).sort()).toEqual(['top1', 'top5']);
    for (const k of Object.keys(lib)) expect(out.metrics[k], k).toBeCloseTo(lib[k], 9);
    expect(out.metrics.top5).toBeGreaterThanOrEqual(out.metrics.top1);
  }, 240_000);

  it('retrieval: R@1/5/10 both ways and their mean equal the library evaluator', async () => {
    const tok = await Beit3Tokenizer.load(SPM);
    const dir = await modelDir('ret', 'retrieval', { vocabSize: tok.vocabSize, tokenizer: SPM }, 3);
    const out = await runEval({ task: 'retrieval', data: corpus, split: 'test', config: join(dir, 'config.json'), threads: '2' });
    const lib = await libraryMetrics('retrieval', dir, 'retrieval', SPM);
    expect(Object.keys(out.metrics).sort()).toEqual(['average_score', 'ir_r1', 'ir_r10', 'ir_r5', 'tr_r1', 'tr_r10', 'tr_r5']);
    for (const k of Object.keys(lib)) expect(out.metrics[k], k).toBeCloseTo(lib[k], 9);
    const m = out.metrics as Record<string, number>;
    expect(m.average_score).toBeCloseTo((m.tr_r1 + m.tr_r5 + m.tr_r10 + m.ir_r1 + m.ir_r5 + m.ir_r10) / 6, 12);
  }, 240_000);

  it('captioning: scores the split it is given (it was read as training captions when split = train split, and failed)', async () => {
    const tok = await Beit3Tokenizer.load(SPM);
    const dir = await modelDir('cap', 'captioning', { vocabSize: tok.vocabSize, tokenizer: SPM }, 5);
    const out = await runEval({ task: 'caption', data: corpus, split: 'test', config: join(dir, 'config.json'), threads: '2' });
    const lib = await libraryMetrics('caption', dir, 'captioning', SPM);
    expect(out.items).toBe(readFileSync(join(corpus, 'tasks/caption/test.jsonl'), 'utf8').trim().split('\n').length);
    expect(Object.keys(out.metrics).sort()).toEqual(['bleu1', 'bleu2', 'bleu3', 'bleu4', 'cider']);
    for (const k of Object.keys(lib)) expect(out.metrics[k], k).toBeCloseTo(lib[k], 9);
  }, 240_000);

  it('without -c: the shipped model of the task (same metrics as naming it); a task beit3 ships no model for is NoShippedModelError', async () => {
    const r = cli(['--task', 'fashion-mnist', '--data', corpus, '--json']);
    expect(r.code).toBe(0);
    const named = await runEval({ task: 'fashion-mnist', data: corpus, split: 'test', config: 'beit3-mini-fashion-mnist', progress: false });
    expect(JSON.parse(r.stdout).metrics).toEqual(named.metrics);
    expect(JSON.parse(r.stdout).model).toBe('beit3_mini_patch8_64_imageclassification');
    // a classification task of the folder's own (a copy of fashion-mnist under another name)
    cpSync(join(corpus, 'tasks/classification/fashion-mnist'), join(corpus, 'tasks/classification/my-set'), { recursive: true });
    const none = cli(['--task', 'my-set', '--data', corpus, '--json']);
    expect(none.code).not.toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/beit3: NoShippedModelError: .*ships no my-set model.*-c <config\.json>/);
  }, 120_000);

  it('bad input: typed errors naming the problem', async () => {
    const labels = labelsOf('fashion-mnist');
    const fm = join(await modelDir('fmnist2', 'imageclassification', { numClasses: labels.length, labels }, 1), 'config.json');
    const base = { data: corpus, split: 'test', config: fm };
    await expect(runEval({ ...base, task: 'fashion-mnist', split: 'nosuch' })).rejects.toMatchObject({ name: 'EvalDataError', message: expect.stringMatching(/--split nosuch: .*fashion-mnist[/\\]nosuch\.jsonl is missing \(splits of fashion-mnist: .*test/) });
    await expect(runEval({ ...base, task: 'no-such-task' })).rejects.toMatchObject({ name: 'EvalDataError', message: expect.stringMatching(/--task no-such-task: unknown .*tasks there: .*fashion-mnist/) });
    await expect(runEval({ ...base, task: 'retrieval' })).rejects.toMatchObject({ name: 'TaskConfigError', message: expect.stringMatching(/config is for task imageclassification, but retrieval was asked for/) });
    await expect(runEval({ ...base, data: join(tmp.dir, 'nope'), task: 'fashion-mnist' })).rejects.toMatchObject({ name: 'EvalDataError' });
    // a folder of the same layout with another class count, and an empty split
    const other = join(tmp.dir, 'other');
    const t = join(other, 'tasks/classification/fashion-mnist');
    mkdirSync(t, { recursive: true });
    writeFileSync(join(t, 'labels.json'), JSON.stringify(labels.slice(0, 3)));
    cpSync(join(corpus, 'images'), join(other, 'images'), { recursive: true });
    const rows = readFileSync(join(corpus, 'tasks/classification/fashion-mnist/test.jsonl'), 'utf8').trim().split('\n').filter((l) => JSON.parse(l).label < 3);
    writeFileSync(join(t, 'test.jsonl'), rows.join('\n') + '\n');
    writeFileSync(join(t, 'empty.jsonl'), '');
    await expect(runEval({ ...base, data: other, task: 'fashion-mnist' })).rejects.toMatchObject({ name: 'EvalModelMismatchError', message: expect.stringMatching(/head has 10 classes, fashion-mnist in .* has 3/) });
    await expect(runEval({ ...base, data: other, task: 'fashion-mnist', split: 'empty' })).rejects.toMatchObject({ name: 'TrainDataError', message: expect.stringMatching(/fashion-mnist empty: no usable items/) });
  }, 120_000);
});
