import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../util/atomic.node.js';
import { AtomicWriteError } from '../../util/errors.js';
import { DataError } from '../errors.js';
import { readJsonl, FieldReader } from './jsonl.js';
import { scanImageFolder, walkSorted } from './imageFolder.js';

/**
 * The task index files of the official unilm BEiT-3 code (`beit3/datasets.py`): JSON Lines written
 * by its `make_*_dataset_index` builders, one item per line, `image_path` relative to the data
 * root and `text_segment` = token ids already converted with the BEiT-3 (XLM-R) tokenizer
 * (no <s>/</s>; the loader adds them and pads, see `_get_text_segment`).
 */
export type UnilmTask = 'vqav2' | 'nlvr2' | 'retrieval' | 'captioning' | 'imagenet';

/** `vqa.<split>.jsonl`: labels/scores empty for test splits (the loader then returns the qid). */
export interface VqaIndexItem {
  task: 'vqav2';
  image_path: string;
  text_segment: number[];
  labels: number[];
  scores: number[];
  qid: number;
}

/** `nlvr2.<split>.index.jsonl`: two images, label 1 = "True". */
export interface Nlvr2IndexItem {
  task: 'nlvr2';
  image_path: string;
  image2_path: string;
  text_segment: number[];
  label: 0 | 1;
  identifier: string;
}

/** `<flickr30k|coco_retrieval>.<split>.jsonl`: one item per caption; image_id = index of the image in the split. */
export interface RetrievalIndexItem {
  task: 'retrieval';
  image_path: string;
  text_segment: number[];
  image_id: number;
}

/** `coco_captioning.<split>.jsonl` / `nocaps.<split>.jsonl`: text_segment null on eval splits. */
export interface CaptioningIndexItem {
  task: 'captioning';
  image_path: string;
  text_segment: number[] | null;
  image_id: number;
}

/** `imagenet.<split>.index.jsonl`: class index by sorted folder name. */
export interface ImageNetIndexItem {
  task: 'imagenet';
  image_path: string;
  label: number;
}

export type UnilmIndexItem = VqaIndexItem | Nlvr2IndexItem | RetrievalIndexItem | CaptioningIndexItem | ImageNetIndexItem;
export type UnilmIndexItemOf<T extends UnilmTask> = Extract<UnilmIndexItem, { task: T }>;

export interface IndexSource {
  /** Index file and 1-based line of the item (for error messages downstream). */
  file: string;
  line: number;
}

/** Parses one index record for a task; throws DataFormatError naming file, line and field. */
export function parseUnilmIndexItem<T extends UnilmTask>(task: T, r: FieldReader): UnilmIndexItemOf<T> {
  const image_path = r.nonEmptyString('image_path');
  switch (task) {
    case 'vqav2': {
      const labels = r.has('labels') ? r.intArray('labels') : [];
      const scores = r.has('scores') ? r.numberArray('scores') : [];
      if (labels.length !== scores.length)
        r.fail(`fields "labels" and "scores": lengths differ (${labels.length} vs ${scores.length})`);
      return { task, image_path, text_segment: r.tokenIds('text_segment'), labels, scores, qid: r.int('qid') } as UnilmIndexItemOf<T>;
    }
    case 'nlvr2': {
      const label = r.int('label');
      if (label !== 0 && label !== 1) r.fail(`field "label": expected 0 or 1, got ${label}`);
      return {
        task,
        image_path,
        image2_path: r.nonEmptyString('image2_path'),
        text_segment: r.tokenIds('text_segment'),
        label,
        identifier: r.string('identifier'),
      } as UnilmIndexItemOf<T>;
    }
    case 'retrieval':
      return { task, image_path, text_segment: r.tokenIds('text_segment'), image_id: r.int('image_id') } as UnilmIndexItemOf<T>;
    case 'captioning': {
      const seg = r.record.text_segment;
      const text_segment = seg === null || seg === undefined ? null : r.tokenIds('text_segment');
      return { task, image_path, text_segment, image_id: r.int('image_id') } as UnilmIndexItemOf<T>;
    }
    case 'imagenet':
      return { task, image_path, label: r.int('label') } as UnilmIndexItemOf<T>;
    default:
      throw new DataError(`unknown unilm task ${JSON.stringify(task)}; expected one of ${UNILM_TASKS.join(', ')}`);
  }
}

export const UNILM_TASKS: readonly UnilmTask[] = ['vqav2', 'nlvr2', 'retrieval', 'captioning', 'imagenet'];

/** Streams the items of one index file, typed and validated. */
export async function* readUnilmIndex<T extends UnilmTask>(
  file: string,
  task: T,
): AsyncGenerator<UnilmIndexItemOf<T> & { source: IndexSource }> {
  if (!UNILM_TASKS.includes(task)) throw new DataError(`unknown unilm task ${JSON.stringify(task)}; expected one of ${UNILM_TASKS.join(', ')}`);
  for await (const l of readJsonl(file)) {
    const item = parseUnilmIndexItem(task, FieldReader.of(l));
    yield { ...item, source: { file: l.file, line: l.line } };
  }
}

/** Reads every item of the task's index files (in order, as BaseDataset concatenates them). */
export async function loadUnilmIndex<T extends UnilmTask>(
  files: string | readonly string[],
  task: T,
): Promise<(UnilmIndexItemOf<T> & { source: IndexSource })[]> {
  const out: (UnilmIndexItemOf<T> & { source: IndexSource })[] = [];
  for (const f of typeof files === 'string' ? [files] : files) for await (const item of readUnilmIndex(f, task)) out.push(item);
  return out;
}

/**
 * The index file names the official datasets read for a split (`get_index_files`).
 * `dataset` names the retrieval/captioning dataset: 'flickr30k' | 'coco_retrieval' for retrieval,
 * 'coco_captioning' | 'nocaps' for captioning (captioning train always reads coco_captioning).
 */
export function unilmIndexFiles(task: UnilmTask, split: string, dataset?: string): string[] {
  const bad = (): never => {
    throw new DataError(`unilmIndexFiles: split ${JSON.stringify(split)} is not defined for task ${task}`);
  };
  switch (task) {
    case 'vqav2':
      return (
        { train: ['vqa.train.jsonl', 'vqa.trainable_val.jsonl'], val: ['vqa.rest_val.jsonl'], test: ['vqa.test.jsonl'], 'test-dev': ['vqa.test-dev.jsonl'] } as Record<string, string[]>
      )[split] ?? bad();
    case 'nlvr2':
      return ({ train: ['nlvr2.train.index.jsonl'], val: ['nlvr2.dev.index.jsonl'], test: ['nlvr2.test-P.index.jsonl'] } as Record<string, string[]>)[split] ?? bad();
    case 'imagenet':
      return ({ train: ['imagenet.train.index.jsonl'], val: ['imagenet.val.index.jsonl'], test: ['imagenet.val.index.jsonl'] } as Record<string, string[]>)[split] ?? bad();
    case 'retrieval': {
      if (!['train', 'val', 'test'].includes(split)) bad();
      return [`${dataset ?? 'flickr30k'}.${split}.jsonl`];
    }
    case 'captioning': {
      if (split === 'train') return ['coco_captioning.train.jsonl'];
      if (!['val', 'test'].includes(split)) bad();
      return [`${dataset ?? 'coco_captioning'}.${split}.jsonl`];
    }
    default:
      throw new DataError(`unknown unilm task ${JSON.stringify(task)}`);
  }
}

/** VQA `answer2label.txt`: one `{"answer", "label"}` JSON per line, label = line index. Returns label2ans. */
export async function readAnswer2Label(file: string): Promise<string[]> {
  const label2ans: string[] = [];
  for await (const l of readJsonl(file)) {
    const r = FieldReader.of(l);
    const answer = r.string('answer');
    const label = Number(r.record.label);
    if (!Number.isInteger(label) || label !== label2ans.length)
      r.fail(`field "label": expected ${label2ans.length} (labels are line indices), got ${JSON.stringify(r.record.label)}`);
    label2ans.push(answer);
  }
  return label2ans;
}

/**
 * Writes index items the way the official `_write_data_into_jsonl` does (`json.dumps(item)` per
 * line: ", " and ": " separators, non-ASCII escaped), with the one atomic write (util/atomic.node.ts).
 * The `task` and `source` fields of typed items are not written.
 */
export async function writeUnilmIndex(file: string, items: Iterable<Record<string, unknown>>): Promise<void> {
  const lines: string[] = [];
  for (const item of items) {
    const rest = { ...item };
    delete rest.task;
    delete rest.source;
    lines.push(pythonJsonDumps(rest));
  }
  try {
    await writeFileAtomic(file, lines.map((l) => l + '\n').join(''));
  } catch (e) {
    throw new DataError(`writeUnilmIndex: cannot write ${file}: ${e instanceof AtomicWriteError ? e.reason : (e as Error).message}`, { cause: e });
  }
}

/** Python `json.dumps(value)` with default settings (ensure_ascii, ", " / ": " separators). */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    return Number.isInteger(value) ? String(value) : pythonFloatRepr(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return '[' + value.map(pythonJsonDumps).join(', ') + ']';
  if (typeof value === 'object')
    return '{' + Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(v)}`).join(', ') + '}';
  throw new DataError(`pythonJsonDumps: cannot serialize ${typeof value}`);
}

/** Python float repr: shortest round-trip digits like JS, but exponents as 1e-05 and always a '.' or 'e'. */
function pythonFloatRepr(x: number): string {
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [m, e] = x.toExponential().split('e');
    const exp = Number(e);
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') || s.includes('e') ? s : s + '.0';
}

/**
 * unilm `ImageNetDataset.make_dataset_index(train_dir, val_dir, index_dir)`: classes = sorted
 * folder names of the train dir; for each split, every file under each class folder (no
 * extension filter), class by class, in sorted-walk order; `image_path` = the file path minus the
 * character-wise common prefix of the two split paths (e.g. `train/n01440764/x.JPEG`). Writes
 * `imagenet.train.index.jsonl` and `imagenet.val.index.jsonl` into indexDir and returns the items.
 */
export async function makeImageNetIndex(
  trainDir: string,
  valDir: string,
  indexDir: string,
): Promise<{ classes: string[]; train: ImageNetIndexItem[]; val: ImageNetIndexItem[] }> {
  let common = 0;
  while (common < trainDir.length && common < valDir.length && trainDir[common] === valDir[common]) common++;
  const prefix = trainDir.slice(0, common);
  const { classes } = await scanImageFolder(trainDir, { extensions: 'all', allowEmptyClasses: true });
  const build = async (dir: string): Promise<ImageNetIndexItem[]> => {
    const items: ImageNetIndexItem[] = [];
    for (const [label, name] of classes.entries()) {
      const classDir = path.join(dir, name);
      const st = await fs.stat(classDir).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      for (const file of await walkSorted(classDir, () => true)) {
        const rel = file.startsWith(prefix) ? file.slice(prefix.length) : file;
        items.push({ task: 'imagenet', image_path: rel.split(path.sep).join('/'), label });
      }
    }
    return items;
  };
  const train = await build(trainDir);
  const val = await build(valDir);
  await fs.mkdir(indexDir, { recursive: true });
  await writeUnilmIndex(path.join(indexDir, 'imagenet.train.index.jsonl'), train as unknown as Record<string, unknown>[]);
  await writeUnilmIndex(path.join(indexDir, 'imagenet.val.index.jsonl'), val as unknown as Record<string, unknown>[]);
  return { classes, train, val };
}
