/**
 * What every pipeline shares: the loaded model, tokenizer and preprocessing, image inputs of any
 * kind (paths, encoded bytes, decoded RGB, already-normalized tensors), and batching with
 * bounded memory: inputs are processed `batchSize` at a time, the next batch's images are
 * decoded while the current batch runs in ORT.
 */
import { Tensor } from '../graph/tensor.js';
import { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import { decodeImage } from '../vision/decode.js';
import type { RgbImage } from '../vision/image.js';
import { PreprocessPool } from '../vision/pool.js';
import { evalTransform, imagenetEvalTransform, stackImages } from '../vision/transforms.js';
import type { TaskConfig } from './config.js';
import { MissingVocabularyError, SizeMismatchError, TaskConfigError, TaskInputError } from './errors.js';
import type { GraphSpec } from './graphs.js';
import { compileSpec, type LoadedModel } from './model.js';
import type { QuantizeOptions } from '../graph/passes/quantize.js';
import type { PipelineDType, TaskSession } from './session.js';
import type { ProgressCallback } from '../util/progress.js';

/** An image: file path, encoded bytes, decoded 8-bit RGB, or a preprocessed (3, S, S) float32 tensor. */
export type ImageInput = string | Uint8Array | RgbImage | Tensor;

/** Pipelines report `{status, stage: <task>, done, total, unit: 'items'}` after each batch. */
export type { ProgressEvent } from '../util/progress.js';

export interface PipelineOptions {
  dtype?: PipelineDType;
  /** int8 rewrite options (dtype 'q8'): e.g. which weights stay float32. */
  quantize?: QuantizeOptions;
  /** ORT intra-op threads (default: ORT's choice). */
  threads?: number;
  /** Items per model call (default 8). Bounds memory: only two batches of images live at once. */
  batchSize?: number;
  /** Decode/transform images in this many worker threads (default 0: on the main thread, overlapped with ORT). */
  workers?: number;
  onProgress?: ProgressCallback;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new TaskInputError(`batch size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export abstract class Pipeline {
  readonly config: TaskConfig;
  readonly batchSize: number;
  private readonly compiled = new Map<string, Promise<TaskSession>>();
  private pool?: PreprocessPool;
  private tokenizerValue?: Beit3Tokenizer;

  constructor(
    readonly loaded: LoadedModel,
    readonly options: PipelineOptions = {},
  ) {
    this.config = loaded.config;
    this.batchSize = options.batchSize ?? 8;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new TaskInputError(`batchSize must be a positive integer, got ${this.batchSize}`);
    if (options.workers) this.pool = new PreprocessPool({ threads: options.workers });
  }

  get task(): string {
    return this.config.task;
  }

  /** Loads the tokenizer named by the config and checks its ids fit the model's vocabulary. */
  protected async tokenizer(): Promise<Beit3Tokenizer> {
    if (this.tokenizerValue) return this.tokenizerValue;
    const path = this.config.tokenizer;
    if (!path)
      throw new TaskConfigError(
        `${this.config.source ?? 'config'}: task ${this.task} needs a tokenizer (give "tokenizer": path to the SentencePiece .model)`,
      );
    let tok: Beit3Tokenizer;
    try {
      tok = await Beit3Tokenizer.load(path);
    } catch (e) {
      throw new TaskConfigError(`tokenizer ${path}: ${(e as Error).message}`);
    }
    if (tok.vocabSize > this.config.model.vocabSize)
      throw new SizeMismatchError(
        `tokenizer ${path} produces ${tok.vocabSize} ids, the model's vocab_size is ${this.config.model.vocabSize}`,
      );
    this.tokenizerValue = tok;
    return tok;
  }

  /** Labels for the head, or an error naming what is missing. */
  protected labels(): string[] {
    const l = this.config.labels;
    if (!l)
      throw new MissingVocabularyError(
        `${this.config.source ?? 'config'}: task ${this.task} needs ${this.task === 'vqav2' ? 'an answer vocabulary ("label2ans" or "answers_file")' : 'class names ("class_names" or "labels_file")'}`,
      );
    if (this.config.numClasses !== undefined && l.length !== this.config.numClasses)
      throw new MissingVocabularyError(
        `${this.config.source ?? 'config'}: ${l.length} labels for a head with ${this.config.numClasses} classes`,
      );
    return l;
  }

  /** One image → (3, S, S) with the task's eval transform. */
  async preprocessOne(img: ImageInput): Promise<Tensor> {
    const S = this.config.model.imgSize;
    if (img instanceof Tensor) {
      if (img.dtype !== 'float32' || img.shape.join() !== `3,${S},${S}`)
        throw new SizeMismatchError(
          `image tensor must be float32 [3, ${S}, ${S}], got ${img.dtype} [${img.shape}]`,
        );
      return img;
    }
    if (this.pool && (typeof img === 'string' || img instanceof Uint8Array))
      return this.pool.run({ source: img, transform: this.config.transform, size: S });
    if (typeof img !== 'string' && !(img instanceof Uint8Array) && (typeof img !== 'object' || img === null))
      throw new TaskInputError(
        `image must be a path, encoded bytes, an RgbImage or a [3, ${S}, ${S}] tensor, got ${img === null ? 'null' : typeof img}`,
      );
    const rgb = typeof img === 'string' || img instanceof Uint8Array ? await decodeImage(img) : img;
    return this.config.transform === 'imagenet' && this.config.cropPct !== 1
      ? imagenetEvalTransform(rgb, S, this.config.cropPct)
      : evalTransform(this.config.transform, rgb, S);
  }

  async preprocess(images: readonly ImageInput[]): Promise<Tensor> {
    if (!images.length) throw new TaskInputError('no images given');
    return stackImages(await Promise.all(images.map((i) => this.preprocessOne(i))));
  }

  /**
   * Runs `step` over `items` in batches; batch i+1 is prepared (`prepare`) while batch i runs.
   * Results come back in input order.
   */
  protected async batched<I, P, R>(
    items: readonly I[],
    prepare: (b: I[]) => Promise<P>,
    step: (p: P, b: I[]) => Promise<R[]>,
  ): Promise<R[]> {
    const parts = chunks(items, this.batchSize);
    const out: R[] = [];
    let next = parts.length ? prepare(parts[0]) : undefined;
    for (let i = 0; i < parts.length; i++) {
      const ready = await next!;
      if (i + 1 < parts.length) {
        next = prepare(parts[i + 1]);
        next.catch(() => undefined); // surfaced when awaited
      }
      out.push(...(await step(ready, parts[i])));
      this.options.onProgress?.({
        status: i + 1 === parts.length ? 'done' : 'progress',
        stage: this.task,
        done: out.length,
        total: items.length,
        unit: 'items',
      });
    }
    return out;
  }

  /** The session of a task graph: compiled on first use (once per key), released by dispose(). */
  protected compile(spec: GraphSpec, key = spec.name): Promise<TaskSession> {
    let p = this.compiled.get(key);
    if (!p) this.compiled.set(key, (p = compileSpec(this.loaded.model, spec, this.options)));
    return p;
  }

  async dispose(): Promise<void> {
    const settled = await Promise.allSettled(this.compiled.values());
    this.compiled.clear();
    await Promise.all(settled.map((r) => (r.status === 'fulfilled' ? r.value.release() : undefined)));
    await this.pool?.close();
  }
}

/** Indices of the k largest values (stable for ties: lower index first), largest first. */
export function topkIndices(values: ArrayLike<number>, k: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw new TaskInputError(`topk must be an integer ≥ 1, got ${k}`);
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, Math.min(k, values.length));
}

export function softmax(values: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) m = Math.max(m, values[i]);
  const e = Array.from(values, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Row r of a 2-D float tensor. */
export function row(t: Tensor, r: number): Float32Array {
  const n = t.shape[t.shape.length - 1];
  return (t.data as Float32Array).subarray(r * n, (r + 1) * n);
}
