/**
 * The three pretraining streams as data loaders and the loop's BatchStream over them.
 *
 * Sources: a corpus folder (`OUT/pretrain/{images.jsonl, texts.txt, pairs.jsonl}`, image paths
 * relative to OUT), or per stream an image folder / JSONL list / WebDataset shards, text files,
 * and pair JSONL / WebDataset shards (image + txt/caption fields).
 *
 * Every stream runs endless epochs of its own with `dropLast` (the graph has static batch sizes)
 * and a seed derived from the run seed and its name. The loop's data position counts micro-batches
 * (n = epoch · microPerEpoch + position); each stream's loader state after n batches is
 * (⌊n / b⌋, (n mod b) · batch) with b its batches per epoch, so one number resumes all three
 * exactly, and skipped samples are never decoded.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  arraySource,
  DataLoader,
  imageFolderSource,
  loadJsonl,
  mapStage,
  mixedBatches,
  readImageTextPairs,
  type Source,
  textSource,
  webDatasetSource,
  type WdsSample,
} from '../../data/index.js';
import { FieldReader } from '../../data/readers/jsonl.js';
import type { Tensor } from '../../graph/tensor.js';
import type { Beit3Tokenizer } from '../../text/beit3-tokenizer.js';
import { deriveSeed } from '../../util/random.js';
import { decodeImage } from '../../vision/decode.js';
import type { DataPosition } from '../checkpoint.js';
import type { BatchStream } from '../loop.js';
import type { PretrainBatcher, PreparedImage, PreparedPair, PreparedText, StreamBatches } from './batch.js';
import { PretrainError } from './errors.js';
import { STREAM_NAMES, type StreamName } from './objective.js';

/** Where a stream's samples come from. */
export type StreamSpec =
  | { kind: 'image-folder'; root: string }
  | { kind: 'image-jsonl'; file: string; root?: string }
  | { kind: 'image-wds'; shards: string }
  | { kind: 'text-files'; files: string[] }
  | { kind: 'pair-jsonl'; file: string; root?: string }
  | { kind: 'pair-wds'; shards: string };

/** Stream specs of a `beit3 corpus build` output folder. */
export function corpusStreams(out: string): Record<StreamName, StreamSpec> {
  const p = (f: string) => {
    const full = join(out, 'pretrain', f);
    if (!existsSync(full)) throw new PretrainError(`${out} is not a corpus folder: ${full} is missing (build one with \`beit3 corpus build\`)`);
    return full;
  };
  return {
    images: { kind: 'image-jsonl', file: p('images.jsonl'), root: out },
    texts: { kind: 'text-files', files: [p('texts.txt')] },
    pairs: { kind: 'pair-jsonl', file: p('pairs.jsonl'), root: out },
  };
}

/** Guesses the spec of a path given for a stream: folder, .jsonl, .txt files, or shards (.tar / brace pattern). */
export function streamSpecFor(stream: StreamName, paths: string[]): StreamSpec {
  if (!paths.length) throw new PretrainError(`--${stream}: no path given`);
  const first = paths[0];
  const isShards = /\.tar(\.gz)?$|\{.*\}/.test(first);
  if (stream === 'texts') return { kind: 'text-files', files: paths };
  if (paths.length > 1 && !isShards) throw new PretrainError(`--${stream}: give one folder, JSONL file or shard pattern (got ${paths.length} paths)`);
  if (isShards) return stream === 'images' ? { kind: 'image-wds', shards: first } : { kind: 'pair-wds', shards: first };
  if (existsSync(first) && statSync(first).isDirectory()) {
    if (stream === 'pairs') throw new PretrainError(`--pairs ${first}: pairs need a JSONL file or WebDataset shards, not a folder`);
    return { kind: 'image-folder', root: first };
  }
  if (/\.jsonl$/.test(first)) return stream === 'images' ? { kind: 'image-jsonl', file: first } : { kind: 'pair-jsonl', file: first };
  throw new PretrainError(`--${stream} ${first}: expected a folder, a .jsonl file or .tar shards`);
}

const IMAGE_FIELDS = ['jpg', 'jpeg', 'png', 'webp', 'bmp', 'tif', 'tiff', 'ppm'];
const TEXT_FIELDS = ['txt', 'caption', 'text'];

function wdsField(s: WdsSample, names: readonly string[], what: string): Buffer {
  for (const n of names) if (s.fields[n]) return s.fields[n];
  throw new PretrainError(`${s.__key__} in ${s.__url__}: no ${what} field (looked for .${names.join(', .')})`);
}

interface ImageRef {
  key: string;
  image: string | Uint8Array;
}
interface PairRef extends ImageRef {
  text: string;
}

async function imageSource(spec: StreamSpec): Promise<Source<ImageRef | WdsSample | { path: string }>> {
  switch (spec.kind) {
    case 'image-folder':
      // Every image under the folder (class subfolders or not): MIM needs no labels.
      return imageFolderSource(spec.root, { classFolders: false });
    case 'image-jsonl': {
      const root = spec.root ?? join(spec.file, '..');
      const items = (await loadJsonl(spec.file)).map((l) => {
        const r = FieldReader.of(l);
        const image = r.nonEmptyString('image');
        return { key: typeof r.record.key === 'string' ? r.record.key : image, image: join(root, image) };
      });
      return arraySource(items);
    }
    case 'image-wds':
      return webDatasetSource(spec.shards);
    default:
      throw new PretrainError(`the images stream cannot read a ${spec.kind} source`);
  }
}

async function pairSource(spec: StreamSpec): Promise<Source<PairRef | WdsSample>> {
  switch (spec.kind) {
    case 'pair-jsonl': {
      const items: PairRef[] = [];
      for await (const p of readImageTextPairs(spec.file, { root: spec.root }))
        items.push({ key: typeof p.extra.key === 'string' ? p.extra.key : p.imagePath, image: p.image, text: p.text });
      return arraySource(items);
    }
    case 'pair-wds':
      return webDatasetSource(spec.shards);
    default:
      throw new PretrainError(`the pairs stream cannot read a ${spec.kind} source`);
  }
}

function toImageRef(x: ImageRef | WdsSample | { path: string }): ImageRef {
  if ('fields' in x) return { key: x.__key__, image: wdsField(x, IMAGE_FIELDS, 'image') };
  if ('path' in x && !('image' in x)) return { key: x.path, image: x.path };
  return x as ImageRef;
}

function toPairRef(x: PairRef | WdsSample): PairRef {
  if ('fields' in x)
    return { key: x.__key__, image: wdsField(x, IMAGE_FIELDS, 'image'), text: wdsField(x, TEXT_FIELDS, 'text').toString('utf8') };
  return x;
}

export interface StreamsOptions {
  batch: Record<StreamName, number>;
  textLen: number;
  pairTextLen: number;
  seed: number;
  /** Concurrent decodes per stream (default 2). */
  concurrency?: number;
  /** Shuffle buffer of streamed sources (text files, shards; default 1000). */
  shuffleBuffer?: number;
}

/** The per-stream loaders (samples prepared by the batcher; batches are arrays of prepared samples). */
export async function pretrainLoaders(
  specs: Partial<Record<StreamName, StreamSpec>>,
  batcher: PretrainBatcher,
  tokenizer: Beit3Tokenizer,
  o: StreamsOptions,
): Promise<Partial<Record<StreamName, DataLoader<unknown[]>>>> {
  const loaders: Partial<Record<StreamName, DataLoader<unknown[]>>> = {};
  const conc = o.concurrency ?? 2;
  const shuffle = (src: Source<unknown>) => (src.kind === 'array' ? ('full' as const) : { buffer: o.shuffleBuffer ?? 1000 });
  const common = (name: StreamName, source: Source<unknown>) => ({
    source,
    shuffle: shuffle(source),
    batch: { size: o.batch[name], dropLast: true, collate: (s: unknown[]) => s },
    seed: deriveSeed(o.seed, 'stream', name) >>> 1,
  });
  const segment = (text: string, T: number) => tokenizer.segment(text, T);
  for (const name of STREAM_NAMES) {
    if (!o.batch[name]) continue;
    const spec = specs[name];
    if (!spec) throw new PretrainError(`stream "${name}" has batch size ${o.batch[name]} but no source (give --${name} or --corpus, or set its batch size to 0)`);
    if (name === 'images') {
      const source = await imageSource(spec);
      loaders.images = new DataLoader({
        ...common(name, source),
        stages: [
          mapStage(async (x: ImageRef | WdsSample | { path: string }, ctx): Promise<PreparedImage> => {
            const r = toImageRef(x);
            return batcher.image(await decodeImage(r.image), r.key, ctx.seed);
          }, { concurrency: conc, name: 'image' }),
        ],
      });
    } else if (name === 'texts') {
      if (spec.kind !== 'text-files') throw new PretrainError(`the texts stream reads text files, got a ${spec.kind} source`);
      loaders.texts = new DataLoader({
        ...common(name, textSource(spec.files)),
        stages: [
          mapStage((l: { text: string }, ctx): PreparedText => {
            const seg = segment(l.text, o.textLen);
            return batcher.text(seg.tokens, seg.paddingMask, ctx.seed);
          }, { name: 'text' }),
        ],
      });
    } else {
      const source = await pairSource(spec);
      loaders.pairs = new DataLoader({
        ...common(name, source),
        stages: [
          mapStage(async (x: PairRef | WdsSample, ctx): Promise<PreparedPair> => {
            const r = toPairRef(x);
            const seg = segment(r.text, o.pairTextLen);
            return batcher.pair(await decodeImage(r.image), r.key, seg.tokens, seg.paddingMask, ctx.seed);
          }, { concurrency: conc, name: 'pair' }),
        ],
      });
    }
  }
  return loaders;
}

/** Batches per epoch of a loader with dropLast: from the item count, or by one pass over a streamed source (no decoding). */
export async function batchesPerEpoch(loader: DataLoader<unknown[]>, name: string): Promise<number> {
  let n = loader.batchesPerEpoch;
  if (n === undefined) {
    let count = 0;
    for await (const _ of loader.orderedSamples(0, loader.config.seed ?? 0)) count++;
    n = Math.floor(count / loader.config.batch.size);
  }
  if (n < 1)
    throw new PretrainError(`stream "${name}" has fewer samples than one batch of ${loader.config.batch.size}: lower its batch size`);
  return n;
}

/** The loop's BatchStream: one assembled three-stream micro-batch per item. */
export class PretrainStream implements BatchStream<Record<string, Tensor>> {
  private constructor(
    readonly loaders: Partial<Record<StreamName, DataLoader<unknown[]>>>,
    readonly perEpoch: Partial<Record<StreamName, number>>,
    readonly microPerEpoch: number,
    readonly batcher: PretrainBatcher,
  ) {}

  static async create(
    loaders: Partial<Record<StreamName, DataLoader<unknown[]>>>,
    microPerEpoch: number,
    batcher: PretrainBatcher,
  ): Promise<PretrainStream> {
    const perEpoch: Partial<Record<StreamName, number>> = {};
    for (const [k, l] of Object.entries(loaders) as [StreamName, DataLoader<unknown[]>][]) perEpoch[k] = await batchesPerEpoch(l, k);
    return new PretrainStream(loaders, perEpoch, microPerEpoch, batcher);
  }

  async *iterate(options: { state?: Partial<DataPosition>; epochs?: number }): AsyncGenerator<{ batch: Record<string, Tensor>; state: DataPosition; epoch: number }> {
    const M = this.microPerEpoch;
    const seed = options.state?.seed ?? 0;
    let epoch = options.state?.epoch ?? 0;
    let position = options.state?.position ?? 0;
    const end = (epoch + (options.epochs ?? 1)) * M;
    let n = epoch * M + position;
    if (n >= end) return;
    const states: Record<string, { epoch: number; position: number; seed: number }> = {};
    for (const [k, l] of Object.entries(this.loaders) as [StreamName, DataLoader<unknown[]>][]) {
      const b = this.perEpoch[k]!;
      states[k] = { epoch: Math.floor(n / b), position: (n % b) * l.config.batch.size, seed: l.config.seed ?? 0 };
    }
    for await (const m of mixedBatches(this.loaders as Record<string, DataLoader<unknown[]>>, { state: states })) {
      const batch = await this.batcher.assemble(m.batches as StreamBatches);
      n++;
      position++;
      if (position === M) {
        epoch++;
        position = 0;
      }
      yield { batch, state: { epoch, position, seed }, epoch: position === 0 ? epoch - 1 : epoch };
      if (n >= end) return;
    }
  }
}

