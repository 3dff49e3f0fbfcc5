/**
 * `beit3 finetune` end to end on a corpus built from fixtures/corpus-sample: Fashion-MNIST
 * classification through the command (stop, resume, plots), then the output folder answering
 * through the pipelines; corpus retrieval in-process; the typed errors people meet.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus } from '../../src/corpus/build.js';
import { loadTaskConfig } from '../../src/tasks/config.js';
import { loadTaskModel } from '../../src/tasks/model.js';
import { ImageClassificationPipeline } from '../../src/tasks/classify.js';
import { RetrievalPipeline } from '../../src/tasks/retrieval.js';
import { loadCheckpointFile } from '../../src/train/checkpoint.js';
import { resolveTaskData } from '../../src/train/data.js';
import { TrainDataError } from '../../src/train/loop-errors.js';
import { readTrainLog } from '../../src/train/log.js';
import { OFFICIAL_DEFAULTS, prepareRun, runFinetune, taskDefaults, type FinetuneSettings } from '../../src/train/recipe.js';
import { settingsFromFlags } from '../../src/cli/commands/finetune.js';
import { tempDir } from './loop-fixture.js';

const ROOT = join(import.meta.dirname, '../..');
const SPM = join(ROOT, 'fixtures/sentencepiece/bpe_2k.model');
let tmp: { dir: string; done: () => void };
let corpus: string;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'finetune', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  tmp = tempDir('beit3-ft-');
  corpus = join(tmp.dir, 'corpus');
  await buildCorpus({ out: corpus, from: join(ROOT, 'fixtures/corpus-sample'), subset: 'small', progress: () => {}, log: () => {} });
}, 120_000);
afterAll(() => tmp?.done());

describe('beit3 finetune', () => {
  it('fine-tunes Fashion-MNIST from the command, stops, resumes, plots; the output answers through the classify pipeline', async () => {
    const out = join(tmp.dir, 'fmnist');
    const args = ['--task', 'fashion-mnist', '--model', 'beit3_tiny_patch8_32', '--input_size', '64', '--data', corpus, '--output', out, '--epochs', '1', '--batch_size', '8', '--lr', '2e-3', '--warmup_epochs', '1', '--threads', '2', '--eval_split', 'test', '--json'];
    const a = cli([...args, '--max_steps', '4']);
    expect(a.stderr).not.toMatch(/beit3: /);
    expect(a.code).toBe(0);
    const sa = JSON.parse(a.stdout.trim().split('\n').pop()!);
    expect(sa).toMatchObject({ stopped: 'max_steps', steps: 4, steps_per_epoch: 7 });
    expect((await loadCheckpointFile(join(out, 'checkpoint-last.safetensors'))).meta.step).toBe(4);
    expect(a.stderr).toMatch(/"stage":"train"/); // progress as JSON lines
    // resuming with another lr is refused, naming the setting
    const bad = cli([...args.map((x) => (x === '2e-3' ? '1e-3' : x)), '--resume']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/beit3: ResumeMismatchError: .*lr was 0\.002, now 0\.001/);
    const b = cli([...args, '--resume']);
    expect(b.code).toBe(0);
    const sb = JSON.parse(b.stdout.trim().split('\n').pop()!);
    expect(sb).toMatchObject({ stopped: 'finished', steps: 7 });
    const log = readTrainLog(join(out, 'log.jsonl'));
    expect(log.filter((r) => r.type === 'step').map((r) => r.step)).toEqual([...Array(7).keys()]);
    expect(log.filter((r) => r.type === 'eval')).toHaveLength(1);
    for (const f of ['config.json', 'model.safetensors', 'checkpoint-best.safetensors', 'loss.svg', 'loss.png', 'lr.png', 'metric.svg', 'metric.png'])
      expect(existsSync(join(out, f)), f).toBe(true);

    // the published folder loads in the pipeline as it is, and agrees with the loop's evaluation
    const cfg = loadTaskConfig(join(out, 'config.json'));
    expect(cfg.task).toBe('imageclassification');
    expect(cfg.labels).toEqual(JSON.parse(readFileSync(join(corpus, 'tasks/classification/fashion-mnist/labels.json'), 'utf8')));
    const p = await ImageClassificationPipeline.create(await loadTaskModel(cfg), { threads: 2 });
    const test = readFileSync(join(corpus, 'tasks/classification/fashion-mnist/test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: string; label: number });
    const res = await p.run(test.map((t) => join(corpus, t.image)));
    const top1 = res.filter((r, i) => r.topk[0].index === test[i].label).length / test.length;
    const stored = (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { finetune: { metrics: { top1: number } } }).finetune.metrics.top1;
    expect(Math.abs(top1 - stored)).toBeLessThanOrEqual(1 / test.length + 1e-9);
    expect(res[0].topk[0].label).toBe(cfg.labels![res[0].topk[0].index]);
  }, 400_000);

  it('fine-tunes corpus retrieval with a tokenizer; the output answers through the retrieval pipeline', async () => {
    const out = join(tmp.dir, 'ret');
    const s: FinetuneSettings = {
      ...taskDefaults('retrieval', 'retrieval'),
      task: 'retrieval',
      model: 'beit3_tiny_patch8_32',
      input_size: 64,
      data: corpus,
      output: out,
      sentencepiece_model: SPM,
      num_max_bpe_tokens: 16,
      epochs: 1,
      batch_size: 8,
      max_steps: undefined,
      threads: 2,
      lr: 1e-3,
      warmup_epochs: 1,
    };
    const r = await runFinetune({ ...s, epochs: 1 });
    expect(r.stopped).toBe('finished');
    const ev = r.log.evals()[0];
    expect(Object.keys(ev.metrics).sort()).toEqual(['average_score', 'ir_r1', 'ir_r10', 'ir_r5', 'tr_r1', 'tr_r10', 'tr_r5']);
    const cfg = loadTaskConfig(join(out, 'config.json'));
    expect(cfg.tokenizer).toBe(join(out, 'tokenizer.model'));
    const p = await RetrievalPipeline.create(await loadTaskModel(cfg), { threads: 2 });
    const val = readFileSync(join(corpus, 'tasks/retrieval/val.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: string; captions: string[] });
    const texts = val.flatMap((v) => v.captions);
    const tiids = val.flatMap((v, i) => v.captions.map(() => i));
    const rr = await p.run({ images: val.map((v) => join(corpus, v.image)), texts }, { topk: 3 });
    const recalls = RetrievalPipeline.evaluate(rr.scores, val.map((_, i) => i), tiids);
    // the pipeline (fused inference graphs) ranks like the loop's evaluator (training-side graphs)
    expect(recalls.average_score / 100).toBeCloseTo(ev.metrics.average_score, 1);
  }, 300_000);

  it('a data folder missing files is a TrainDataError, or skipped and counted with --skip_missing', async () => {
    const broken = join(tmp.dir, 'broken');
    cpSync(corpus, broken, { recursive: true });
    const first = JSON.parse(readFileSync(join(broken, 'tasks/classification/fashion-mnist/train.jsonl'), 'utf8').split('\n')[0]) as { image: string };
    rmSync(join(broken, first.image));
    await expect(resolveTaskData('fashion-mnist', broken)).rejects.toThrow(TrainDataError);
    await expect(resolveTaskData('fashion-mnist', broken)).rejects.toThrow(/1 image file\(s\) missing, e\.g\. .*fashion_train_00000\.png \(pass --skip_missing/);
    const d = await resolveTaskData('fashion-mnist', broken, { skipMissing: true });
    expect(d.skipped).toEqual([{ split: 'train', count: 1, examples: [join(broken, first.image)] }]);
    rmSync(join(broken, 'tasks/classification/fashion-mnist/val.jsonl'));
    await expect(resolveTaskData('fashion-mnist', broken, { skipMissing: true })).rejects.toThrow(/val\.jsonl is missing/);
    mkdirSync(join(tmp.dir, 'empty'), { recursive: true });
    await expect(resolveTaskData('imagenet', join(tmp.dir, 'empty'))).rejects.toThrow(/index file\(s\) missing: .*imagenet\.train\.index\.jsonl/);
    await expect(resolveTaskData('retrieval', corpus)).rejects.toThrow(/give a SentencePiece model/);
  }, 60_000);

  it('takes the official flags with each task\'s get_started defaults', () => {
    const base = ['--model', 'beit3_base_patch16_480', '--data', tmp.dir, '--output', join(tmp.dir, 'x')];
    const v = settingsFromFlags({ task: 'vqav2', model: base[1], data: tmp.dir, output: join(tmp.dir, 'x') });
    expect(v).toMatchObject({ lr: 3e-5, layer_decay: 1, task_head_lr_weight: 20, opt_betas: [0.9, 0.98], weight_decay: 0.01, randaug: true, epochs: 10, warmup_epochs: 1, batch_size: 16, drop_path: 0.1, min_lr: OFFICIAL_DEFAULTS.min_lr, clip_grad: null });
    const i = settingsFromFlags({ task: 'imagenet', model: 'beit3_base_patch16_224', data: tmp.dir, output: join(tmp.dir, 'x'), lr: '1e-3', opt_betas: ['0.9', '0.95'], clip_grad: '3', no_randaug: true });
    expect(i).toMatchObject({ lr: 1e-3, layer_decay: 0.65, epochs: 50, drop_path: 0.15, opt_betas: [0.9, 0.95], clip_grad: 3, randaug: false });
    expect(settingsFromFlags({ task: 'coco_captioning', model: 'm', data: tmp.dir, output: join(tmp.dir, 'x') })).toMatchObject({ num_max_bpe_tokens: 32, captioning_mask_prob: 0.7, lr: 4e-5 });
    expect(() => settingsFromFlags({ task: 'imagenet', model: 'm', data: tmp.dir, output: join(tmp.dir, 'x'), batch_size: 'eight' })).toThrow(/--batch_size must be an integer, got 'eight'/);
    expect(() => settingsFromFlags({ task: 'nope!', model: 'm', data: tmp.dir, output: 'x' })).toThrow(/--task nope!: unknown/);
    expect(base).toHaveLength(6);
  });

  it('--max_train_samples trains on a seeded subset, --max_eval_samples evaluates the first items', async () => {
    const s = (o: Record<string, string>) => settingsFromFlags({ task: 'fashion-mnist', model: 'beit3_tiny_patch8_32', data: corpus, output: join(tmp.dir, 'sub'), ...o });
    const full = await prepareRun(s({}));
    const a = await prepareRun(s({ max_train_samples: '7', max_eval_samples: '3' }));
    const b = await prepareRun(s({ max_train_samples: '7', max_eval_samples: '3' }));
    const c = await prepareRun(s({ max_train_samples: '7', seed: '1' }));
    const key = (x: { image?: string }) => x.image;
    expect(full.data.train.length).toBeGreaterThan(7);
    expect(a.data.train.map(key)).toEqual(b.data.train.map(key)); // seeded
    expect(new Set(a.data.train.map(key)).size).toBe(7); // distinct items
    const order = full.data.train.map(key);
    const idx = a.data.train.map((x) => order.indexOf(key(x)));
    expect(idx.every((i) => i >= 0)).toBe(true); // drawn from the train split, in its order
    expect(idx).toEqual([...idx].sort((x, y) => x - y));
    expect(c.data.train.map(key)).not.toEqual(a.data.train.map(key)); // another seed, another subset
    expect(a.data.eval.map(key)).toEqual(full.data.eval.slice(0, 3).map(key));
    expect(a.data.numClasses).toBe(full.data.numClasses); // the head keeps every class
    expect(() => s({ max_train_samples: '0' })).toThrow(/--max_train_samples must be > 0, got 0/);
    expect(() => s({ max_eval_samples: '2.5' })).toThrow(/--max_eval_samples must be an integer, got '2.5'/);
  });

  it('--head_bias_init prior starts each VQA answer bias at the log-odds of its train score; refused for other heads', async () => {
    const s = (o: Record<string, string>) => settingsFromFlags({ task: 'vqa', model: 'beit3_tiny_patch8_32', data: corpus, output: join(tmp.dir, 'hb'), sentencepiece_model: SPM, ...o });
    const p = await prepareRun(s({ head_bias_init: 'prior' }));
    const C = p.data.numClasses!;
    const mean = new Float64Array(C);
    for (const it of p.data.train) it.labels!.forEach((l, j) => (mean[l] += it.scores![j] / p.data.train.length));
    const bias = p.model.stateDict().get('head.3.bias')!.data as Float32Array;
    const logit = (q: number) => Math.log(Math.min(1 - 1e-4, Math.max(1e-4, q)) / (1 - Math.min(1 - 1e-4, Math.max(1e-4, q))));
    for (let l = 0; l < C; l++) expect(bias[l]).toBeCloseTo(logit(mean[l]), 4);
    expect(Math.max(...bias)).toBeGreaterThan(Math.log(1e-4 / (1 - 1e-4)) + 1); // some answers are frequent
    // the official zero init stays the default
    const z = (await prepareRun(s({}))).model.stateDict().get('head.3.bias')!.data as Float32Array;
    expect(Math.max(...z.map(Math.abs))).toBe(0);
    await expect(prepareRun(settingsFromFlags({ task: 'fashion-mnist', model: 'beit3_tiny_patch8_32', data: corpus, output: join(tmp.dir, 'hb2'), head_bias_init: 'prior' }))).rejects.toThrow(/applies to VQA's BCE head only/);
    expect(() => s({ head_bias_init: 'mean' })).toThrow(/--head_bias_init must be zero or prior, got 'mean'/);
  });
});
