import { expandShardList } from './braces.js';
import { arraySource, streamSource, type ArraySource, type StreamSource } from './loader.js';
import { Rng, shuffleInPlace } from '../util/random.js';
import { readWebDataset, type WdsReadOptions, type WdsSample } from './readers/webdataset.js';
import { readTextLines, type TextFileOptions, type TextLine } from './readers/text.js';
import { readImageTextPairs, type ImageTextPair, type PairFileOptions } from './readers/pairs.js';
import { scanImageFolder, type ImageFolder, type ImageFolderItem, type ImageFolderOptions } from './readers/imageFolder.js';
import { loadUnilmIndex, type IndexSource, type UnilmIndexItemOf, type UnilmTask } from './readers/unilmIndex.js';

/** Loader sources over the readers: one line each, so pipelines read as a list of stages. */

export interface WebDatasetSourceOptions extends WdsReadOptions {
  /** Shuffle the shard order every epoch with the loader's seed (default true), as webdataset's shardshuffle. */
  shuffleShards?: boolean;
}

/** WebDataset shards (brace patterns allowed), shard order shuffled per epoch. */
export function webDatasetSource(shards: string | readonly string[], options: WebDatasetSourceOptions = {}): StreamSource<WdsSample> {
  const list = expandShardList(shards);
  return streamSource((ctx) => {
    const order = [...list];
    if (options.shuffleShards ?? true) shuffleInPlace(order, new Rng(ctx.seed, 'mulberry32'));
    return readWebDataset(order, options);
  });
}

/** Lines of text files (one sentence or document per line). */
export function textSource(files: string | readonly string[], options: TextFileOptions = {}): StreamSource<TextLine> {
  return streamSource(() => readTextLines(files, options));
}

/** Image–text pairs from JSONL files, streamed. */
export function pairSource(files: string | readonly string[], options: PairFileOptions = {}): StreamSource<ImageTextPair> {
  const list = typeof files === 'string' ? [files] : files;
  return streamSource(async function* () {
    for (const f of list) yield* readImageTextPairs(f, options);
  });
}

/** A folder of images (class-per-subfolder labels), listed once; `folder` gives classes. */
export async function imageFolderSource(root: string, options: ImageFolderOptions = {}): Promise<ArraySource<ImageFolderItem> & { folder: ImageFolder }> {
  const folder = await scanImageFolder(root, options);
  return { ...arraySource(folder.items), folder };
}

/** The items of official unilm index files, loaded once (random access: exact shuffles, O(1) resume). */
export async function unilmIndexSource<T extends UnilmTask>(
  files: string | readonly string[],
  task: T,
): Promise<ArraySource<UnilmIndexItemOf<T> & { source: IndexSource }>> {
  return arraySource(await loadUnilmIndex(files, task));
}
