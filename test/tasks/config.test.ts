// Config loading and checkpoint checks: every mismatch is a typed error naming the problem.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  detectHeadTask,
  loadTaskConfig,
  loadTaskModel,
  MissingVocabularyError,
  pipeline,
  readWeights,
  SizeMismatchError,
  TaskConfigError,
  taskConfigFromObject,
  WrongTaskHeadError,
} from '../../src/tasks/index.js';
import { fixture } from '../support/paths.js';

const E2E = fixture('beit3-ref/e2e');
const CONFIG = join(E2E, 'config.json');
const e2e = JSON.parse(readFileSync(CONFIG, 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'beit3-taskcfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const w = (task: string) => [join(E2E, 'backbone.safetensors'), join(E2E, `${task}.head.safetensors`)];

/** A single-task config file like a user would write beside a checkpoint. */
function single(task: string, extra: Record<string, unknown> = {}): string {
  const sec = e2e.tasks[task];
  const path = join(tmp, `${task}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      task,
      encoder_config: sec.encoder_config,
      tokenizer: join(E2E, e2e.tokenizer.sentencepiece_model),
      label2ans: sec.label2ans,
      class_names: sec.class_names,
      num_max_bpe_tokens: sec.num_max_bpe_tokens,
      weights: w(task),
      ...extra,
    }),
  );
  return path;
}

describe('task config', () => {
  it('reads the multi-task e2e layout: settings, tokenizer path and default weights', () => {
    const c = loadTaskConfig(CONFIG, { task: 'vqa' });
    expect(c.task).toBe('vqav2');
    expect(c.labels).toEqual(e2e.tasks.vqav2.label2ans);
    expect(c.model.imgSize).toBe(e2e.tiny_config.img_size);
    expect(c.textLen).toBe(e2e.tiny_config.num_max_bpe_tokens);
    expect(c.tokenizer).toBe(fixture('sentencepiece/unigram_8k.model'));
    expect(c.weights).toEqual(w('vqav2'));
    const cap = loadTaskConfig(CONFIG, { task: 'captioning' });
    expect(cap.generation).toEqual({
      numBeams: e2e.tasks.captioning.num_beams,
      maxLen: e2e.tasks.captioning.max_len,
      lengthPenalty: e2e.tasks.captioning.length_penalty,
      topnPerBeam: 3,
    });
    expect(loadTaskConfig(CONFIG, { task: 'classify' }).transform).toBe('imagenet');
  });

  it('errors: no task for a multi-task file, unknown task, unreadable file, task mismatch, label count', () => {
    expect(() => loadTaskConfig(CONFIG)).toThrow(/choose one with --task/);
    expect(() => loadTaskConfig(CONFIG, { task: 'segmentation' })).toThrow(TaskConfigError);
    expect(() => loadTaskConfig(join(tmp, 'missing.json'), { task: 'vqa' })).toThrow(/cannot read config/);
    writeFileSync(join(tmp, 'bad.json'), '{ not json');
    expect(() => loadTaskConfig(join(tmp, 'bad.json'))).toThrow(/not a JSON object/);
    expect(() => loadTaskConfig(single('vqav2'), { task: 'nlvr2' })).toThrow(/config is for task vqav2/);
    expect(() => loadTaskConfig(single('vqav2', { num_classes: 5 }))).toThrow(
      /12 labels but num_classes = 5/,
    );
    expect(() => taskConfigFromObject({ task: 'vqa' })).toThrow(/needs "model"/);
    expect(() => taskConfigFromObject({ task: 'vqa', model: 'beit3_base_patch16_224_retrieval' })).toThrow(
      /is a retrieval model/,
    );
  });

  it('reads labels from a text file', () => {
    const labels = join(tmp, 'answers.txt');
    writeFileSync(labels, e2e.tasks.vqav2.label2ans.join('\n') + '\n');
    const c = loadTaskConfig(single('vqav2', { label2ans: undefined, answers_file: labels }));
    expect(c.labels).toEqual(e2e.tasks.vqav2.label2ans);
    // unilm's answer2label.txt (JSON lines, any order)
    const jl = join(tmp, 'answer2label.txt');
    const answers: string[] = e2e.tasks.vqav2.label2ans;
    writeFileSync(
      jl,
      answers
        .map((answer, label) => JSON.stringify({ answer, label }))
        .reverse()
        .join('\n'),
    );
    expect(loadTaskConfig(single('vqav2', { label2ans: undefined, answers_file: jl })).labels).toEqual(
      answers,
    );
  });
});

describe('checkpoint checks', () => {
  it('detects the head of a checkpoint', async () => {
    expect(detectHeadTask((await readWeights(w('retrieval'))).keys())).toBe('retrieval');
    expect(detectHeadTask((await readWeights([join(E2E, 'backbone.safetensors')])).keys())).toBeUndefined();
  });

  it('wrong task head, backbone-only weights, class count, vocabulary and image size mismatches', async () => {
    const vqa = loadTaskConfig(single('vqav2'));
    await expect(loadTaskModel({ ...vqa, weights: w('retrieval') })).rejects.toThrow(WrongTaskHeadError);
    await expect(loadTaskModel({ ...vqa, weights: w('retrieval') })).rejects.toThrow(
      /has a retrieval head, but the config's task is vqav2/,
    );
    await expect(loadTaskModel({ ...vqa, weights: [join(E2E, 'backbone.safetensors')] })).rejects.toThrow(
      /no task head/,
    );
    await expect(loadTaskModel({ ...vqa, numClasses: 7, labels: undefined })).rejects.toThrow(
      /head has 12 classes, the config says 7/,
    );
    await expect(loadTaskModel({ ...vqa, model: { ...vqa.model, vocabSize: 9000 } })).rejects.toThrow(
      SizeMismatchError,
    );
    await expect(loadTaskModel({ ...vqa, model: { ...vqa.model, imgSize: 48 } })).rejects.toThrow(
      /set img_size to 40/,
    );
    const resized = await loadTaskModel(
      { ...vqa, model: { ...vqa.model, imgSize: 48 } },
      { interpolatePositions: true },
    );
    expect(resized.notes.join()).toMatch(/interpolated/);
    await expect(loadTaskModel({ ...vqa, weights: [] })).rejects.toThrow(/no weights given/);
  });

  it('missing vocabulary and missing tokenizer are reported before any work', async () => {
    await expect(pipeline('vqa', { config: single('vqav2', { label2ans: undefined }) })).rejects.toThrow(
      MissingVocabularyError,
    );
    const p = await pipeline('retrieval', { config: single('retrieval', { tokenizer: undefined }) });
    await expect(p.embedTexts(['a cat'])).rejects.toThrow(/needs a tokenizer/);
    await p.dispose();
  });
});
