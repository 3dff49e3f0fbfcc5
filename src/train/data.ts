/**
 * Train and eval streams of the fine-tuning tasks, from the existing readers:
 *  - the official unilm index files (`imagenet.*.index.jsonl`, `coco_retrieval.*.jsonl`,
 *    `flickr30k.*.jsonl`, `vqa.*.jsonl` + `answer2label.txt`, `nlvr2.*.index.jsonl`,
 *    `coco_captioning.*.jsonl`), laid out as the official get_started guides make them;
 *  - the mini-corpus' `tasks/<task>/<split>.jsonl` (docs/corpus.md), tokenized here.
 * Items become loader samples through the official train transforms (vision/augment.ts: random
 * resized crop, flip, RandAugment where the recipe turns it on) seeded per (seed, epoch, index),
 * decoded by sharp and transformed in the vision worker pool; captioning texts are masked by the
 * official rule (vision/masking.ts `captioningMask`) with a per-sample seed too. Batches carry
 * the model's input names (image, label, question, text_description, padding_mask, ...).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Tensor } from '../graph/tensor.js';
import { arraySource, DataLoader, type LoaderBatch, type LoaderConfig, mapStage } from '../data/loader.js';
import { loadJsonl, FieldReader } from '../data/readers/jsonl.js';
import { loadUnilmIndex, readAnswer2Label, unilmIndexFiles, type UnilmTask } from '../data/readers/unilmIndex.js';
import type { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import { captioningMask } from '../vision/masking.js';
import { PreprocessPool } from '../vision/pool.js';
import { preprocessImage } from '../vision/preprocess.js';
import type { TransformName } from '../vision/transformImage.js';
import { deriveSeed } from '../util/random.js';
import { TrainDataError } from './loop-errors.js';

/** The model kinds a fine-tuning run trains (registry task names). */
export type TrainKind = 'imageclassification' | 'vqav2' | 'nlvr2' | 'retrieval' | 'captioning';

/** One training/eval example, normalized over the sources (paths absolute, texts as ids without <s>/</s>). */
export interface TaskItem {
  image: string;
  image2?: string;
  label?: number;
  /** Text token ids (no <s>/</s>): caption, question or statement. */
  tokens?: number[];
  /** VQA: answer labels and their soft scores. */
  labels?: number[];
  scores?: number[];
  /** Retrieval/captioning: which image (items of one image share it). */
  imageId?: number;
  /** Captioning eval: reference captions. */
  references?: string[];
}

export interface TaskData {
  kind: TrainKind;
  /** The --task name as given (official or corpus). */
  task: string;
  /** 'unilm' index files or the 'corpus' layout. */
  layout: 'unilm' | 'corpus';
  train: TaskItem[];
  eval: TaskItem[];
  /** Class names (classification) or answers (VQA). */
  labels?: string[];
  numClasses?: number;
  /** Items dropped because a file was missing (only with skipMissing). */
  skipped: { split: string; count: number; examples: string[] }[];
}

/** Official --task names → model kind and unilm index task. */
export const OFFICIAL_TASKS: Record<string, { kind: TrainKind; index: UnilmTask; dataset?: string }> = {
  imagenet: { kind: 'imageclassification', index: 'imagenet' },
  vqav2: { kind: 'vqav2', index: 'vqav2' },
  nlvr2: { kind: 'nlvr2', index: 'nlvr2' },
  coco_retrieval: { kind: 'retrieval', index: 'retrieval', dataset: 'coco_retrieval' },
  flickr30k: { kind: 'retrieval', index: 'retrieval', dataset: 'flickr30k' },
  coco_captioning: { kind: 'captioning', index: 'captioning', dataset: 'coco_captioning' },
  nocaps: { kind: 'captioning', index: 'captioning', dataset: 'nocaps' },
};

/** Corpus task names (docs/corpus.md) → folder under tasks/ and kind. */
export function corpusTask(name: string): { dir: string; kind: TrainKind } | undefined {
  const n = name.replace(/^corpus[:/]/, '');
  if (n === 'retrieval') return { dir: 'retrieval', kind: 'retrieval' };
  if (n === 'vqa') return { dir: 'vqa', kind: 'vqav2' };
  if (n === 'nlvr2') return { dir: 'nlvr2', kind: 'nlvr2' };
  if (n === 'caption' || n === 'captioning') return { dir: 'caption', kind: 'captioning' };
  const m = /^(?:classification\/)?([a-z0-9][a-z0-9_-]*)$/.exec(n);
  if (m && !OFFICIAL_TASKS[n]) return { dir: `classification/${m[1]}`, kind: 'imageclassification' };
  return undefined;
}

export interface ResolveDataOptions {
  /** Needed for corpus texts (unilm index files are already tokenized). */
  tokenizer?: Beit3Tokenizer;
  /** Drop items whose image is missing (and count them) instead of stopping. */
  skipMissing?: boolean;
  /** Split names (defaults: train / val; the corpus has val, unilm imagenet evaluates on val). */
  trainSplit?: string;
  evalSplit?: string;
}

/** VQAv2 soft score of an answer given by `count` of the 10 annotators (official get_score). */
export function vqaScore(count: number): number {
  return count === 0 ? 0 : count === 1 ? 0.3 : count === 2 ? 0.6 : count === 3 ? 0.9 : 1;
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TrainDataError(`${path}: ${existsSync(path) ? 'not valid JSON' : 'missing'} (${(e as Error).message})`);
  }
}

function needTokenizer(o: ResolveDataOptions, what: string): Beit3Tokenizer {
  if (!o.tokenizer) throw new TrainDataError(`${what} has raw texts: give a SentencePiece model with --sentencepiece_model`);
  return o.tokenizer;
}

// `role`, not the split's name, decides the item shape: `beit3 eval` reads one split as both.
async function corpusItems(dataDir: string, dir: string, kind: TrainKind, split: string, role: 'train' | 'eval', o: ResolveDataOptions, answers?: Map<string, number>): Promise<TaskItem[]> {
  const file = join(dataDir, 'tasks', dir, `${split}.jsonl`);
  if (!existsSync(file)) throw new TrainDataError(`${file} is missing (build the corpus with \`beit3 corpus build\`, or check --data and --task)`);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dataDir, p));
  const items: TaskItem[] = [];
  let imageId = 0;
  for (const l of await loadJsonl(file)) {
    const r = FieldReader.of(l);
    switch (kind) {
      case 'imageclassification':
        items.push({ image: at(r.nonEmptyString('image')), label: r.int('label') });
        break;
      case 'retrieval': {
        const tok = needTokenizer(o, file);
        const caps = r.record.captions;
        if (!Array.isArray(caps) || caps.length === 0 || !caps.every((c) => typeof c === 'string')) r.fail('field "captions": expected a non-empty list of strings');
        const image = at(r.nonEmptyString('image'));
        for (const c of caps as string[]) items.push({ image, tokens: tok.encode(c), imageId });
        imageId++;
        break;
      }
      case 'captioning': {
        const tok = needTokenizer(o, file);
        const refs = r.record.references;
        if (!Array.isArray(refs) || refs.length === 0) r.fail('field "references": expected a non-empty list of strings');
        const image = at(r.nonEmptyString('image'));
        if (role === 'train') for (const c of refs as string[]) items.push({ image, tokens: tok.encode(c), imageId });
        else items.push({ image, imageId, references: (refs as unknown[]).map(String) });
        imageId++;
        break;
      }
      case 'vqav2': {
        const tok = needTokenizer(o, file);
        const counts = new Map<number, number>();
        const given = Array.isArray(r.record.answers) ? (r.record.answers as unknown[]).map(String) : [r.string('answer')];
        for (const a of given) {
          const id = answers!.get(a);
          if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        items.push({ image: at(r.nonEmptyString('image')), tokens: tok.encode(r.string('question')), labels: [...counts.keys()], scores: [...counts.values()].map(vqaScore), references: given });
        break;
      }
      case 'nlvr2': {
        const tok = needTokenizer(o, file);
        const label = r.record.label;
        if (typeof label !== 'boolean' && label !== 0 && label !== 1) r.fail('field "label": expected true/false or 0/1');
        items.push({ image: at(r.nonEmptyString('left')), image2: at(r.nonEmptyString('right')), tokens: tok.encode(r.string('statement')), label: label === true || label === 1 ? 1 : 0 });
        break;
      }
    }
  }
  return items;
}

async function unilmItems(dataDir: string, task: string, split: string): Promise<TaskItem[]> {
  const t = OFFICIAL_TASKS[task];
  const files = unilmIndexFiles(t.index, split, t.dataset).map((f) => join(dataDir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length)
    throw new TrainDataError(`${task} ${split}: index file(s) missing: ${missing.join(', ')} (make them with the official make_*_dataset_index, see docs/train.md)`);
  const at = (p: string) => (isAbsolute(p) ? p : join(dataDir, p));
  const raw = await loadUnilmIndex(files, t.index);
  return raw.map((it): TaskItem => {
    switch (it.task) {
      case 'imagenet':
        return { image: at(it.image_path), label: it.label };
      case 'vqav2':
        return { image: at(it.image_path), tokens: it.text_segment, labels: it.labels, scores: it.scores };
      case 'nlvr2':
        return { image: at(it.image_path), image2: at(it.image2_path), tokens: it.text_segment, label: it.label };
      case 'retrieval':
        return { image: at(it.image_path), tokens: it.text_segment, imageId: it.image_id };
      case 'captioning':
        return { image: at(it.image_path), tokens: it.text_segment ?? undefined, imageId: it.image_id };
    }
  });
}

/** Drops (skipMissing) or refuses items whose image files do not exist. */
function checkFiles(items: TaskItem[], split: string, task: string, o: ResolveDataOptions, skipped: TaskData['skipped']): TaskItem[] {
  const seen = new Map<string, boolean>();
  const ok = (p: string) => {
    let v = seen.get(p);
    if (v === undefined) {
      v = existsSync(p) && statSync(p).isFile();
      seen.set(p, v);
    }
    return v;
  };
  const kept: TaskItem[] = [];
  const bad: string[] = [];
  for (const it of items) {
    const miss = [it.image, it.image2].filter((p): p is string => !!p && !ok(p));
    if (miss.length) bad.push(...miss);
    else kept.push(it);
  }
  if (bad.length && !o.skipMissing)
    throw new TrainDataError(
      `${task} ${split}: ${bad.length} image file(s) missing, e.g. ${[...new Set(bad)].slice(0, 3).join(', ')} (pass --skip_missing to drop those items and count them)`,
    );
  if (bad.length) skipped.push({ split, count: items.length - kept.length, examples: [...new Set(bad)].slice(0, 3) });
  if (!kept.length) throw new TrainDataError(`${task} ${split}: no usable items`);
  return kept;
}

/** Finds and reads a task's train and eval items under `dataDir` (unilm layout or corpus). */
export async function resolveTaskData(task: string, dataDir: string, o: ResolveDataOptions = {}): Promise<TaskData> {
  const trainSplit = o.trainSplit ?? 'train';
  const evalSplit = o.evalSplit ?? 'val';
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new TrainDataError(`--data ${dataDir}: not a folder`);
  const skipped: TaskData['skipped'] = [];
  const official = OFFICIAL_TASKS[task];
  const corpus = !official || existsSync(join(dataDir, 'tasks')) ? corpusTask(official ? officialToCorpus(task) : task) : undefined;
  if (official && !corpus) {
    const data: TaskData = { kind: official.kind, task, layout: 'unilm', train: [], eval: [], skipped };
    data.train = checkFiles(await unilmItems(dataDir, task, trainSplit), trainSplit, task, o, skipped);
    data.eval = checkFiles(await unilmItems(dataDir, task, evalSplit), evalSplit, task, o, skipped);
    if (official.kind === 'vqav2') {
      const f = join(dataDir, 'answer2label.txt');
      if (!existsSync(f)) throw new TrainDataError(`${f} is missing (written by the official VQAv2Dataset.make_dataset_index)`);
      data.labels = await readAnswer2Label(f);
    }
    if (official.kind === 'imageclassification') data.numClasses = Math.max(...data.train.map((i) => i.label!)) + 1;
    if (official.kind === 'vqav2') data.numClasses = data.labels!.length;
    if (official.kind === 'nlvr2') data.numClasses = 2;
    return data;
  }
  if (!corpus) throw new TrainDataError(`unknown task "${task}": official ${Object.keys(OFFICIAL_TASKS).join(', ')}, or a corpus task (fashion-mnist, emoji-group, retrieval, vqa, nlvr2, caption)`);
  const data: TaskData = { kind: corpus.kind, task, layout: 'corpus', train: [], eval: [], skipped };
  let answers: Map<string, number> | undefined;
  if (corpus.kind === 'imageclassification') {
    const f = join(dataDir, 'tasks', corpus.dir, 'labels.json');
    const labels = readJsonFile(f);
    if (!Array.isArray(labels)) throw new TrainDataError(`${f}: expected a list of class names`);
    data.labels = labels.map(String);
  } else if (corpus.kind === 'vqav2') {
    const f = join(dataDir, 'tasks', corpus.dir, 'answers.json');
    const list = readJsonFile(f);
    if (!Array.isArray(list)) throw new TrainDataError(`${f}: expected a list of answers`);
    data.labels = list.map(String);
    answers = new Map(data.labels.map((a, i) => [a, i]));
  }
  data.train = checkFiles(await corpusItems(dataDir, corpus.dir, corpus.kind, trainSplit, 'train', o, answers), trainSplit, task, o, skipped);
  data.eval = checkFiles(await corpusItems(dataDir, corpus.dir, corpus.kind, evalSplit, 'eval', o, answers), evalSplit, task, o, skipped);
  data.numClasses = corpus.kind === 'nlvr2' ? 2 : data.labels?.length;
  if (corpus.kind === 'imageclassification')
    for (const it of [...data.train, ...data.eval])
      if (it.label! < 0 || it.label! >= data.numClasses!) throw new TrainDataError(`${task}: label ${it.label} outside the ${data.numClasses} classes of labels.json`);
  return data;
}

/** On a corpus folder, the official names pick the corpus' task of the same kind. */
function officialToCorpus(task: string): string {
  const k = OFFICIAL_TASKS[task].kind;
  return k === 'imageclassification' ? 'fashion-mnist' : k === 'vqav2' ? 'vqa' : k === 'captioning' ? 'caption' : k;
}

// ------------------------------------------------------------------------------------------
// Streams

export interface StreamOptions {
  imgSize: number;
  batchSize: number;
  seed: number;
  /** Text length incl. <s>/</s> (official num_max_bpe_tokens). */
  textLen: number;
  /** RandAugment (the official --randaug flag). */
  randaug?: boolean;
  /** Random horizontal flip (official: on for every training transform). */
  flip?: boolean;
  /** Worker threads for image transforms (0: on the main thread). */
  threads?: number;
  /** VQA: number of answer classes (labels → dense score rows). */
  numClasses?: number;
  /** Captioning: official captioning_mask_prob, mask id and vocab size. */
  captioningMaskProb?: number;
  maskTokenId?: number;
  vocabSize?: number;
  /** Batches prepared ahead (default 2). */
  prefetch?: number;
}

type Sample = Record<string, unknown>;

/** The official `_get_text_segment` on ids: <s> ids </s> + <pad>, mask 1 on padding. */
export function textSegment(ids: readonly number[], maxLen: number): { tokens: number[]; paddingMask: number[]; numTokens: number } {
  if (!ids.length) throw new TrainDataError('empty text segment (the official loader refuses it too)');
  const body = ids.slice(0, maxLen - 2);
  const tokens = [0, ...body, 2];
  const n = tokens.length;
  return { tokens: [...tokens, ...new Array<number>(maxLen - n).fill(1)], paddingMask: [...new Array<number>(n).fill(0), ...new Array<number>(maxLen - n).fill(1)], numTokens: n };
}

function stack(rows: Float32Array[], shape: number[]): Tensor {
  const n = rows[0].length;
  const out = new Float32Array(n * rows.length);
  rows.forEach((r, i) => out.set(r, i * n));
  return new Tensor('float32', [rows.length, ...shape], out);
}
const i64 = (rows: number[][]): Tensor => Tensor.i64([rows.length, rows[0].length], rows.flat());

/** The official --task name whose objective trains a model kind. */
export const KIND_TASK: Record<TrainKind, 'imagenet' | 'vqav2' | 'nlvr2' | 'coco_retrieval' | 'coco_captioning'> = {
  imageclassification: 'imagenet',
  vqav2: 'vqav2',
  nlvr2: 'nlvr2',
  retrieval: 'coco_retrieval',
  captioning: 'coco_captioning',
};

/** Samples → a batch with the official collate keys (objectives.ts batchKeys). */
export function collateTask(kind: TrainKind, samples: Sample[], o: Pick<StreamOptions, 'numClasses'> & { imgSize: number }, train: boolean): Record<string, Tensor> {
  const img = (k: string) => stack(samples.map((s) => s[k] as Float32Array), [3, o.imgSize, o.imgSize]);
  const col = (k: string) => samples.map((s) => s[k] as number[]);
  const ints = (k: string) => Tensor.i64([samples.length], samples.map((s) => (s[k] as number | undefined) ?? 0));
  const text = () => ({ language_tokens: i64(col('tokens')), padding_mask: i64(col('padding_mask')) });
  switch (kind) {
    case 'imageclassification':
      return { image: img('image'), label: ints('label') };
    case 'retrieval':
      return { image: img('image'), ...text(), image_id: ints('image_id') };
    case 'vqav2': {
      const C = o.numClasses!;
      const dense = new Float32Array(samples.length * C);
      samples.forEach((s, i) => ((s.labels as number[] | undefined) ?? []).forEach((l, j) => (dense[i * C + l] = (s.scores as number[])[j])));
      return { image: img('image'), ...text(), labels: new Tensor('float32', [samples.length, C], dense) };
    }
    case 'nlvr2':
      return { image: img('image'), ...text(), image2: img('image2'), label: ints('label') };
    case 'captioning':
      if (!train) return { image: img('image'), image_id: ints('image_id') };
      return {
        image: img('image'),
        image_id: ints('image_id'),
        ...text(),
        masked_tokens: i64(col('masked_tokens')),
        language_masked_pos: i64(col('language_masked_pos')),
      };
  }
}

/** A loader over task items: seeded shuffle + train transforms (train) or eval order + eval transforms. */
export function taskLoader(data: TaskData, split: 'train' | 'eval', o: StreamOptions): DataLoader<Record<string, Tensor>> & { pool?: PreprocessPool; close(): Promise<void> } {
  const train = split === 'train';
  const items = train ? data.train : data.eval;
  const kind = data.kind;
  const tname: TransformName = kind === 'imageclassification' ? (train ? 'imagenet-train' : 'imagenet') : train ? 'vl-train' : 'vl';
  const pool = o.threads ? new PreprocessPool({ threads: o.threads }) : undefined;
  const image = async (path: string, seed: number): Promise<Float32Array> => {
    const job = { source: path, transform: tname, size: o.imgSize, seed, randaug: o.randaug, flip: o.flip };
    const t = pool ? await pool.run(job) : await preprocessImage(job);
    if (t.shape.join() !== `3,${o.imgSize},${o.imgSize}`)
      throw new TrainDataError(
        `${path}: the ${tname} transform gave [${t.shape.join(', ')}], the model needs [3, ${o.imgSize}, ${o.imgSize}]` +
          (tname === 'imagenet' && o.imgSize <= 32 ? ' (the official ImageNet eval transform does not resize at sizes ≤ 32: use a larger --input_size or images of that size)' : ''),
      );
    return t.data as Float32Array;
  };
  const prepare = async (it: TaskItem, ctx: { seed: number }): Promise<Sample> => {
    const s: Sample = { image: await image(it.image, deriveSeed(ctx.seed, 'image')) };
    if (it.image2) s.image2 = await image(it.image2, deriveSeed(ctx.seed, 'image2'));
    if (it.label !== undefined) s.label = it.label;
    if (it.imageId !== undefined) s.image_id = it.imageId;
    if (it.labels) {
      s.labels = it.labels;
      s.scores = it.scores;
    }
    if (it.tokens && (kind !== 'captioning' || train)) {
      const seg = textSegment(it.tokens, o.textLen);
      s.tokens = seg.tokens;
      s.padding_mask = seg.paddingMask;
      if (kind === 'captioning') {
        if (o.maskTokenId === undefined || o.vocabSize === undefined) throw new TrainDataError('captioning training needs the tokenizer (mask id, vocab size)');
        const m = captioningMask(seg.tokens, seg.numTokens, { maskProb: o.captioningMaskProb, maskTokenId: o.maskTokenId, vocabSize: o.vocabSize }, deriveSeed(ctx.seed, 'mask'));
        s.masked_tokens = m.maskedTokens;
        s.language_masked_pos = m.languageMaskedPos;
      }
    }
    return s;
  };
  const cfg: LoaderConfig<Record<string, Tensor>> = {
    source: arraySource(items),
    shuffle: train ? 'full' : false,
    seed: o.seed,
    prefetch: o.prefetch ?? 2,
    stages: [mapStage(prepare, { name: 'prepare', concurrency: Math.max(2, 2 * (o.threads ?? 1)) })],
    // the official train loaders drop the last incomplete batch; eval keeps every item
    batch: { size: o.batchSize, dropLast: train, collate: (s) => collateTask(kind, s, { imgSize: o.imgSize, numClasses: o.numClasses }, train) },
  };
  const loader = new DataLoader(cfg) as DataLoader<Record<string, Tensor>> & { pool?: PreprocessPool; close(): Promise<void> };
  loader.pool = pool;
  loader.close = async () => {
    await pool?.close();
  };
  return loader;
}

/** Official num_training_steps_per_epoch = len(dataset) // (batch_size · update_freq). */
export function stepsPerEpoch(trainItems: number, batchSize: number, updateFreq: number): number {
  const n = Math.floor(trainItems / (batchSize * updateFreq));
  if (n < 1)
    throw new TrainDataError(`${trainItems} training items give no full optimizer step at batch_size ${batchSize} × update_freq ${updateFreq}; lower --batch_size`);
  return n;
}

export type { LoaderBatch };
