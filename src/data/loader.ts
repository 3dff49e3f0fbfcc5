import { DataError, SampleError, WorkerPoolError, describeError } from './errors.js';
import { Rng, deriveSeed, permutation } from '../util/random.js';
import { orderedMap, prefetch } from './queue.js';
import { WorkerPool } from '../util/workers.node.js';
import { collate as defaultCollate } from './collate.js';

/**
 * The streaming loader: an explicit, fixed order of stages, as in open_clip / webdataset:
 *
 *   source → shuffle (seeded) → [position numbering, resume skip] → map stages → batch + collate → prefetch
 *
 * Determinism: the sample order of an epoch is a function of (seed, epoch) only; map stages keep
 * order and get a per-sample seed derived from (seed, epoch, position), so results do not depend
 * on timing or on the number of workers. Resume: a state {epoch, position, seed} is attached to
 * every batch; starting from it replays the same order and skips the first `position` samples
 * before any map stage (skipped samples are never decoded).
 */

export interface LoaderState {
  epoch: number;
  /** Samples of this epoch (in shuffled order) already consumed by the batches delivered so far. */
  position: number;
  seed: number;
}

export interface EpochContext {
  epoch: number;
  seed: number;
}

export interface SampleContext {
  epoch: number;
  /** Position of the sample in the epoch's (shuffled) order. */
  index: number;
  /** Seed for this sample's random choices (augmentation, masking), from (seed, epoch, index). */
  seed: number;
}

/** Random-access items (index files, folder listings): exact shuffles and O(1) resume. */
export interface ArraySource<T> {
  kind: 'array';
  items: readonly T[];
}

/** Any stream (text files, tar shards); opened afresh for every epoch. Must be deterministic for a given context. */
export interface StreamSource<T> {
  kind: 'stream';
  open: (ctx: EpochContext) => AsyncIterable<T>;
}

export type Source<T> = ArraySource<T> | StreamSource<T>;

export function arraySource<T>(items: readonly T[]): ArraySource<T> {
  return { kind: 'array', items };
}

export function streamSource<T>(open: (ctx: EpochContext) => AsyncIterable<T>): StreamSource<T> {
  return { kind: 'stream', open };
}

/**
 * Shuffling: 'full' = a fresh permutation every epoch (array sources, like a seeded
 * RandomSampler / DistributedSampler.set_epoch); {buffer} = webdataset's buffer shuffle
 * (any source, memory of `buffer` samples).
 */
export type ShuffleSpec = false | 'full' | { buffer: number };

export type ErrorPolicy = 'throw' | 'skip';

/** A map stage running in this thread (async functions such as sharp decoding overlap up to `concurrency`). */
export interface InlineMapStage {
  kind: 'map';
  name: string;
  fn: (value: any, ctx: SampleContext) => unknown;
  concurrency: number;
  onError: ErrorPolicy;
}

/** A map stage running in worker threads; the function lives in a module the workers import. */
export interface WorkerMapStage {
  kind: 'workerMap';
  name: string;
  pool: WorkerMapOptions;
  /** Samples in flight at once (default 2 per worker). */
  inFlight: number;
  onError: ErrorPolicy;
}

export type MapStage = InlineMapStage | WorkerMapStage;

export interface StageOptions {
  name?: string;
  /** Samples processed at once (default 1). */
  concurrency?: number;
  /** 'throw' (default): a failing sample fails the run; 'skip': warn and drop it. */
  onError?: ErrorPolicy;
}

/** A map (decode/transform/tokenize) stage. Returning undefined drops the sample (a filter). */
export function mapStage<I, O>(fn: (value: I, ctx: SampleContext) => O | undefined | Promise<O | undefined>, options: StageOptions = {}): MapStage {
  return { kind: 'map', name: options.name ?? (fn.name || 'map'), fn, concurrency: Math.max(1, options.concurrency ?? 1), onError: options.onError ?? 'throw' };
}

/**
 * A map stage in worker threads: `module` exports `exportName(value, ctx)` where ctx has
 * {epoch, index, seed, options}. Values cross threads by structured clone (typed arrays of the
 * result are transferred).
 */
export interface WorkerMapOptions {
  /** Module exporting the map function: a path (relative to cwd) or a file: URL. */
  module: string | URL;
  /** Exported function name (default 'default'). Called as fn(value, {epoch, index, seed, options}). */
  exportName?: string;
  /** Number of worker threads (default 2). */
  workers?: number;
  /** Passed to the function as ctx.options (structured-cloned once per worker). */
  options?: unknown;
}

export function workerMapStage(options: WorkerMapOptions & { inFlight?: number; onError?: ErrorPolicy; name?: string }): MapStage {
  const workers = options.workers ?? 2;
  return {
    kind: 'workerMap',
    name: options.name ?? `${String(options.module)}#${options.exportName ?? 'default'}`,
    pool: { ...options, workers },
    inFlight: Math.max(1, options.inFlight ?? 2 * workers),
    onError: options.onError ?? 'throw',
  };
}

export interface BatchSpec<B> {
  size: number;
  /** Drop the last incomplete batch of an epoch (default false). */
  dropLast?: boolean;
  /** Samples → batch. Default: `collate` (tensors stacked, ints → int64). */
  collate?: (samples: any[]) => B;
}

export interface LoaderConfig<B> {
  source: Source<unknown>;
  shuffle?: ShuffleSpec;
  stages?: MapStage[];
  batch: BatchSpec<B>;
  /** Batches prepared ahead of the consumer (default 2). */
  prefetch?: number;
  /** Default seed (a state passed to iterate overrides it). */
  seed?: number;
  /** Receives warnings of skipped samples (default console.warn). */
  warn?: (message: string) => void;
}

export interface LoaderBatch<B> {
  batch: B;
  /** Resume from this state to continue right after this batch. */
  state: LoaderState;
  epoch: number;
  /** Epoch positions of the samples in the batch. */
  indices: number[];
}

export interface IterateOptions {
  /** Where to start (default: epoch 0, position 0, the config's seed). */
  state?: Partial<LoaderState>;
  /** Number of epochs to run from the starting one (default 1; Infinity for an endless stream). */
  epochs?: number;
}

interface Numbered {
  index: number;
  value: unknown;
}

export class DataLoader<B = Record<string, unknown>> {
  constructor(readonly config: LoaderConfig<B>) {
    if (!Number.isInteger(config.batch.size) || config.batch.size < 1)
      throw new DataError(`DataLoader: batch.size must be a positive integer, got ${config.batch.size}`);
    const sh = config.shuffle;
    if (sh === 'full' && config.source.kind !== 'array')
      throw new DataError("DataLoader: shuffle 'full' needs an array source; use { buffer: N } for streams");
    if (sh && sh !== 'full' && (!Number.isInteger(sh.buffer) || sh.buffer < 1))
      throw new DataError(`DataLoader: shuffle buffer must be a positive integer, got ${sh.buffer}`);
  }

  /** Number of batches per epoch when known (array source without filtering stages). */
  get batchesPerEpoch(): number | undefined {
    if (this.config.source.kind !== 'array') return undefined;
    const n = this.config.source.items.length;
    return this.config.batch.dropLast ? Math.floor(n / this.config.batch.size) : Math.ceil(n / this.config.batch.size);
  }

  /** The samples of one epoch in order, numbered, starting at `position` (before any map stage). */
  async *orderedSamples(epoch: number, seed: number, position = 0): AsyncGenerator<Numbered> {
    const { source, shuffle } = this.config;
    const rng = new Rng(deriveSeed(seed, epoch, 'shuffle'), 'mulberry32'); // pinned: see util/random.ts
    if (source.kind === 'array' && (shuffle === 'full' || !shuffle)) {
      const order = shuffle === 'full' ? permutation(source.items.length, rng) : undefined;
      for (let i = position; i < source.items.length; i++) yield { index: i, value: source.items[order ? order[i] : i] };
      return;
    }
    const stream: AsyncIterable<unknown> =
      source.kind === 'array' ? toAsync(source.items) : source.open({ epoch, seed: deriveSeed(seed, epoch, 'source') });
    const ordered = shuffle && shuffle !== 'full' ? bufferShuffle(stream, shuffle.buffer, rng) : stream;
    let index = 0;
    for await (const value of ordered) {
      if (index >= position) yield { index, value };
      index++;
    }
  }

  /** Batches from the given state on, each with the state to resume after it. */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<LoaderBatch<B>> {
    const seed = options.state?.seed ?? this.config.seed ?? 0;
    const startEpoch = options.state?.epoch ?? 0;
    const startPosition = options.state?.position ?? 0;
    const epochs = options.epochs ?? 1;
    for (const [k, v] of [['seed', seed], ['epoch', startEpoch], ['position', startPosition]] as const)
      if (!Number.isInteger(v) || (k !== 'seed' && v < 0)) throw new DataError(`DataLoader.iterate: state.${k} must be a non-negative integer, got ${v}`);
    if (!(epochs >= 0)) throw new DataError(`DataLoader.iterate: epochs must be ≥ 0, got ${epochs}`);
    const pools = new Map<MapStage, WorkerPool>();
    const epochBatches = this.epochBatches.bind(this);
    async function* all(): AsyncGenerator<LoaderBatch<B>> {
      for (let epoch = startEpoch; epoch < startEpoch + epochs; epoch++) {
        const position = epoch === startEpoch ? startPosition : 0;
        let produced = 0;
        for await (const b of epochBatches(epoch, seed, position, pools)) {
          produced++;
          yield b;
        }
        if (produced === 0 && position === 0 && !Number.isFinite(epochs))
          throw new DataError(`DataLoader: epoch ${epoch} produced no batch; an endless stream over an empty source would spin forever`);
      }
    }
    try {
      yield* prefetch(all(), this.config.prefetch ?? 2);
    } finally {
      await Promise.all([...pools.values()].map((p) => p.close()));
    }
  }

  private async *epochBatches(epoch: number, seed: number, position: number, pools: Map<MapStage, WorkerPool>): AsyncGenerator<LoaderBatch<B>> {
    let samples: AsyncIterable<Numbered> = this.orderedSamples(epoch, seed, position);
    for (const stage of this.config.stages ?? []) samples = this.applyStage(stage, samples, epoch, seed, pools);
    const { size, dropLast } = this.config.batch;
    const collateFn = this.config.batch.collate ?? ((s: any[]) => defaultCollate(s) as B);
    // one batch of lookahead so that the last batch of an epoch can say "resume at the next epoch"
    let pending: Numbered[] | undefined;
    let current: Numbered[] = [];
    const emit = (group: Numbered[], last: boolean): LoaderBatch<B> => ({
      batch: collateFn(group.map((s) => s.value)),
      epoch,
      indices: group.map((s) => s.index),
      state: last ? { epoch: epoch + 1, position: 0, seed } : { epoch, position: group[group.length - 1].index + 1, seed },
    });
    for await (const s of samples) {
      current.push(s);
      if (current.length === size) {
        if (pending) yield emit(pending, false);
        pending = current;
        current = [];
      }
    }
    const tail = current.length > 0 && !dropLast ? current : undefined;
    if (pending) yield emit(pending, !tail);
    if (tail) yield emit(tail, true);
  }

  private applyStage(
    stage: MapStage,
    input: AsyncIterable<Numbered>,
    epoch: number,
    seed: number,
    pools: Map<MapStage, WorkerPool>,
  ): AsyncIterable<Numbered> {
    const warn = this.config.warn ?? ((m: string) => console.warn(m));
    let run: (value: unknown, ctx: SampleContext) => Promise<unknown>;
    let limit: number;
    if (stage.kind === 'map') {
      run = async (v, ctx) => stage.fn(v, ctx);
      limit = stage.concurrency;
    } else {
      let pool = pools.get(stage);
      if (!pool) {
        const o = stage.pool;
        // the one util pool; a map function's own error comes back as a DataError (per-sample policy applies)
        pool = new WorkerPool({ module: o.module, exportName: o.exportName, threads: o.workers, options: o.options, label: 'map worker', reviveError: (_name, message) => new DataError(message) });
        pools.set(stage, pool);
      }
      const p = pool;
      run = (v, ctx) => p.run(v, { ctx: { ...ctx }, transfer: [] });
      limit = stage.inFlight;
    }
    const DROP = Symbol('drop');
    const apply = async (s: Numbered): Promise<Numbered | typeof DROP> => {
      const ctx: SampleContext = { epoch, index: s.index, seed: deriveSeed(seed, epoch, s.index, stage.name) };
      try {
        const value = await run(s.value, ctx);
        return value === undefined ? DROP : { index: s.index, value };
      } catch (e) {
        const err = new SampleError(describeSample(s, epoch), `stage "${stage.name}" failed: ${describeError(e)}`, { cause: e });
        if (stage.onError === 'throw' || e instanceof WorkerPoolError) throw err;
        warn(`data: skipping ${err.message}`);
        return DROP;
      }
    };
    return (async function* () {
      for await (const r of orderedMap(input, apply, limit)) if (r !== DROP) yield r as Numbered;
    })();
  }
}

function describeSample(s: Numbered, epoch: number): string {
  const v = s.value as Record<string, unknown> | undefined;
  const name =
    v && typeof v === 'object'
      ? typeof v.__key__ === 'string'
        ? `${v.__key__}${typeof v.__url__ === 'string' ? ` in ${v.__url__}` : ''}`
        : typeof v.path === 'string'
          ? v.path
          : typeof v.image_path === 'string'
            ? v.image_path
            : typeof v.image === 'string'
              ? v.image
              : undefined
      : undefined;
  return `#${s.index} of epoch ${epoch}${name ? ` (${name})` : ''}`;
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/**
 * webdataset-style buffer shuffle: keep `size` samples; each incoming sample replaces a random
 * one, which is emitted; the rest is drained in random order at the end.
 */
export async function* bufferShuffle<T>(input: AsyncIterable<T>, size: number, rng: Rng): AsyncGenerator<T> {
  const buf: T[] = [];
  for await (const x of input) {
    if (buf.length < size) {
      buf.push(x);
      continue;
    }
    const k = rng.int(buf.length);
    const out = buf[k];
    buf[k] = x;
    yield out;
  }
  while (buf.length > 0) {
    const k = rng.int(buf.length);
    const out = buf[k];
    buf[k] = buf[buf.length - 1];
    buf.pop();
    yield out;
  }
}
