import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { expandShardList } from '../braces.js';
import { DataFormatError, ShardError, describeError } from '../errors.js';
import { InputFileError, openInputSync } from '../../util/read.node.js';

/**
 * A raw WebDataset sample: the files of a tar shard that share a key, by extension.
 * WebDataset convention: `dir/key.ext` → key `dir/key` (up to the first dot of the base name),
 * field `ext` (everything after it, lower-cased: `seg.png`, `json`, `cls`, …).
 */
export interface WdsSample {
  __key__: string;
  /** The shard the sample came from. */
  __url__: string;
  /** Fields by extension (raw bytes). */
  fields: Record<string, Buffer>;
}

export type ShardErrorPolicy = 'throw' | 'warn';

export interface WdsReadOptions {
  /**
   * What to do when a shard is missing, corrupt or truncated: 'throw' (default) raises ShardError;
   * 'warn' reports it and continues with the next shard (samples already read from the bad shard
   * stay delivered; the incomplete sample being assembled is dropped), like webdataset's
   * `warn_and_continue` handler.
   */
  onShardError?: ShardErrorPolicy;
  /** Receives warnings (default console.warn). */
  warn?: (message: string) => void;
  /** Keep only these extensions (lower case). Default: all. */
  extensions?: readonly string[];
}

/** Splits a tar member name into (key, extension) like webdataset's `base_plus_ext`; undefined when the base name has no dot. */
export function splitKeyExtension(name: string): { key: string; ext: string } | undefined {
  const m = /^((?:.*\/|)[^./]+)\.([^/]*)$/.exec(name);
  return m ? { key: m[1], ext: m[2].toLowerCase() } : undefined;
}

/**
 * Streams the samples of WebDataset tar shards (plain or gzipped; brace patterns such as
 * `data/shard-{000000..000009}.tar` expand to the list). Files are read with tar-stream as a
 * stream, so a shard never needs to fit in memory (one sample at a time does).
 * Members are grouped into samples by consecutive key, as webdataset's `group_by_keys`; a key
 * repeating an extension within one sample is a format error. Non-file members and
 * `__meta__`-style names are skipped.
 */
export async function* readWebDataset(shards: string | readonly string[], options: WdsReadOptions = {}): AsyncGenerator<WdsSample> {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const policy = options.onShardError ?? 'throw';
  for (const shard of expandShardList(shards)) {
    try {
      yield* readShard(shard, options.extensions);
    } catch (e) {
      const err = e instanceof ShardError ? e : new ShardError(shard, describeError(e), { cause: e });
      if (policy === 'throw') throw err;
      warn(`webdataset: skipping the rest of shard ${shard}: ${err.message}`);
    }
  }
}

async function* readShard(shard: string, extensions: readonly string[] | undefined): AsyncGenerator<WdsSample> {
  const keep = extensions ? new Set(extensions.map((e) => e.toLowerCase())) : undefined;
  let fd: number;
  try {
    fd = openInputSync(shard, 'shard').fd; // regular files only: a FIFO or device would never end
  } catch (e) {
    throw new ShardError(shard, `cannot open: ${e instanceof InputFileError ? e.reason : (e as Error).message}`, { cause: e });
  }
  const file = createReadStream(shard, { fd });
  const extract = tar.extract();
  let input: Readable = file;
  if (shard.endsWith('.gz') || shard.endsWith('.tgz')) {
    const gunzip = createGunzip();
    file.on('error', (e) => gunzip.destroy(e));
    input = file.pipe(gunzip);
  }
  input.on('error', (e) => extract.destroy(new ShardError(shard, `read failed: ${e.message}`)));
  input.pipe(extract);

  let current: WdsSample | undefined;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      // Skip non-file members unread: tar-stream never ends the body of a directory member that
      // declares a size, so iterating it hung forever (found by fuzz/webdataset).
      if (type !== 'file' && type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      const base = name.slice(name.lastIndexOf('/') + 1);
      if (base.startsWith('__') && !name.includes('/') && base.endsWith('__')) continue;
      const split = splitKeyExtension(name);
      if (!split) continue;
      if (!current || current.__key__ !== split.key) {
        if (current && Object.keys(current.fields).length > 0) yield current;
        current = { __key__: split.key, __url__: shard, fields: {} };
      }
      if (split.ext in current.fields)
        throw new ShardError(shard, `duplicate file ${name}: sample ${split.key} already has a .${split.ext} field`);
      if (!keep || keep.has(split.ext)) current.fields[split.ext] = Buffer.concat(parts);
    }
  } catch (e) {
    if (e instanceof ShardError) throw e;
    const msg = describeError(e);
    const hint = /Unexpected end of data/.test(msg) ? 'truncated tar (unexpected end of data)' : /Invalid tar header/.test(msg) ? 'corrupt tar header' : msg;
    throw new ShardError(shard, `${hint}${current ? ` after sample ${current.__key__}` : ''}`, { cause: e });
  } finally {
    input.unpipe(extract);
    file.destroy();
    extract.destroy();
  }
  if (current && Object.keys(current.fields).length > 0) yield current;
}

/** The standard fields of a WebDataset sample, decoded from bytes (images stay encoded). */
export interface WdsDecoded {
  key: string;
  url: string;
  /** Encoded image bytes from the first of .jpg/.jpeg/.png/.webp/.gif/.tif/.tiff/.bmp/.img/.image present. */
  image?: Uint8Array;
  imageExt?: string;
  /** Parsed .json. */
  json?: unknown;
  /** UTF-8 .txt (or .text / .caption). */
  text?: string;
  /** Integer class from .cls (or .cls2 / .label), written as decimal text. */
  cls?: number;
  /** All raw fields. */
  fields: Record<string, Buffer>;
}

const IMAGE_FIELDS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'bmp', 'img', 'image'];
const TEXT_FIELDS = ['txt', 'text', 'caption'];
const CLASS_FIELDS = ['cls', 'cls2', 'label', 'index'];

/** Decodes the standard fields of a raw sample; malformed .json/.cls raise DataFormatError naming shard and key. */
export function decodeWdsSample(s: WdsSample): WdsDecoded {
  const out: WdsDecoded = { key: s.__key__, url: s.__url__, fields: s.fields };
  const where = `${s.__url__} [sample ${s.__key__}]`;
  const imageExt = IMAGE_FIELDS.find((f) => f in s.fields);
  if (imageExt) {
    out.image = s.fields[imageExt];
    out.imageExt = imageExt;
  }
  if ('json' in s.fields) {
    try {
      out.json = JSON.parse(s.fields.json.toString('utf8'));
    } catch (e) {
      throw new DataFormatError(where, undefined, `invalid .json field (${describeError(e)})`);
    }
  }
  const textExt = TEXT_FIELDS.find((f) => f in s.fields);
  if (textExt) out.text = s.fields[textExt].toString('utf8');
  const clsExt = CLASS_FIELDS.find((f) => f in s.fields);
  if (clsExt) {
    const t = s.fields[clsExt].toString('utf8').trim();
    if (!/^-?\d+$/.test(t)) throw new DataFormatError(where, undefined, `.${clsExt} field: expected an integer, got ${JSON.stringify(t.slice(0, 40))}`);
    out.cls = Number(t);
  }
  return out;
}
