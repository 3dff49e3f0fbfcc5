import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  DataLoader,
  arraySource,
  streamSource,
  mapStage,
  workerMapStage,
  collate,
  mixedBatches,
  webDatasetSource,
  textSource,
  decodeWdsSample,
  prefetch,
  orderedMap,
  SampleError,
  DataError,
  type LoaderBatch,
  type LoaderState,
} from '../../src/data/index.js';
import { Tensor } from '../../src/graph/tensor.js';
import { tempDir, tarBytes, collect } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const ids = (n: number): { id: number }[] => Array.from({ length: n }, (_, i) => ({ id: i }));
const idsOf = (b: LoaderBatch<any>): number[] => (b.batch as { id: Tensor }).id.toArray();

/** Runs k batches, then resumes from the k-th state; the concatenation must equal one uninterrupted run. */
async function checkResume(make: () => DataLoader<any>, epochs: number, stops: number[]): Promise<number[][]> {
  const full = (await collect(make().iterate({ state: { seed: 5 }, epochs }))).map(idsOf);
  for (const k of stops) {
    const first: number[][] = [];
    let state: LoaderState | undefined;
    for await (const b of make().iterate({ state: { seed: 5 }, epochs })) {
      first.push(idsOf(b));
      state = b.state;
      if (first.length === k) break;
    }
    const remainingEpochs = epochs - (state!.epoch - 0);
    const rest = remainingEpochs > 0 ? (await collect(make().iterate({ state, epochs: remainingEpochs }))).map(idsOf) : [];
    expect([...first, ...rest]).toEqual(full);
  }
  return full;
}

describe('DataLoader order and shuffling', () => {
  it('gives the same order for the same seed, a different one per epoch and per seed, and every sample once per epoch', async () => {
    const make = (): DataLoader<any> => new DataLoader({ source: arraySource(ids(23)), shuffle: 'full', batch: { size: 4 } });
    const run = async (seed: number): Promise<number[][]> => (await collect(make().iterate({ state: { seed }, epochs: 2 }))).map(idsOf);
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
    expect(a).toHaveLength(12); // 6 batches per epoch (last one has 3)
    const epoch0 = a.slice(0, 6).flat();
    const epoch1 = a.slice(6).flat();
    expect([...epoch0].sort((x, y) => x - y)).toEqual([...Array(23).keys()]);
    expect([...epoch1].sort((x, y) => x - y)).toEqual([...Array(23).keys()]);
    expect(epoch0).not.toEqual(epoch1);
    expect(epoch0).not.toEqual([...Array(23).keys()]);
  });

  it('buffer shuffle is seeded, keeps every sample, and only moves samples within its window', async () => {
    const source = streamSource(async function* () {
      for (let i = 0; i < 50; i++) yield { id: i };
    });
    const make = (): DataLoader<any> => new DataLoader({ source, shuffle: { buffer: 5 }, batch: { size: 50 } });
    const [b] = await collect(make().iterate({ state: { seed: 3 } }));
    const order = idsOf(b);
    expect([...order].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(order).not.toEqual([...Array(50).keys()]);
    // a sample can only come out after at most `buffer` later samples have entered
    order.forEach((id, pos) => expect(id).toBeLessThanOrEqual(pos + 5));
    expect(idsOf((await collect(make().iterate({ state: { seed: 3 } })))[0])).toEqual(order);
  });

  it('the last batch of an epoch hands over to the next epoch; dropLast drops the remainder', async () => {
    const loader = new DataLoader({ source: arraySource(ids(10)), batch: { size: 4 } });
    const got = await collect(loader.iterate({ epochs: 2 }));
    expect(got.map((b) => [b.epoch, idsOf(b), b.state])).toEqual([
      [0, [0, 1, 2, 3], { epoch: 0, position: 4, seed: 0 }],
      [0, [4, 5, 6, 7], { epoch: 0, position: 8, seed: 0 }],
      [0, [8, 9], { epoch: 1, position: 0, seed: 0 }],
      [1, [0, 1, 2, 3], { epoch: 1, position: 4, seed: 0 }],
      [1, [4, 5, 6, 7], { epoch: 1, position: 8, seed: 0 }],
      [1, [8, 9], { epoch: 2, position: 0, seed: 0 }],
    ]);
    const dropped = new DataLoader({ source: arraySource(ids(10)), batch: { size: 4, dropLast: true } });
    expect((await collect(dropped.iterate())).map((b) => [idsOf(b), b.state.epoch])).toEqual([
      [[0, 1, 2, 3], 0],
      [[4, 5, 6, 7], 1],
    ]);
    expect(dropped.batchesPerEpoch).toBe(2);
  });
});

describe('DataLoader resume', () => {
  it('array source with full shuffle: stop after k batches, resume, concatenation equals an uninterrupted run', async () => {
    const make = (): DataLoader<any> => new DataLoader({ source: arraySource(ids(17)), shuffle: 'full', batch: { size: 3 } });
    await checkResume(make, 2, [1, 3, 5, 6, 7, 11]);
  });

  it('streamed tar shards with buffer shuffle, shard shuffle, a filtering map stage and seeded augmentation', async () => {
    for (let s = 0; s < 3; s++) {
      const entries = [];
      for (let i = 0; i < 7; i++) {
        const id = s * 7 + i;
        entries.push({ name: `s${s}/k${String(i).padStart(3, '0')}.json`, data: JSON.stringify({ id }) });
        entries.push({ name: `s${s}/k${String(i).padStart(3, '0')}.txt`, data: `text ${id}` });
      }
      await writeFile(path.join(dir, `shard-${String(s).padStart(2, '0')}.tar`), await tarBytes(entries));
    }
    const decoded: number[] = [];
    const make = (): DataLoader<any> =>
      new DataLoader({
        source: webDatasetSource(path.join(dir, 'shard-{00..02}.tar')),
        shuffle: { buffer: 4 },
        stages: [
          mapStage(
            (s: any) => {
              const d = decodeWdsSample(s);
              const id = (d.json as { id: number }).id;
              decoded.push(id);
              return id % 5 === 4 ? undefined : { id, text: d.text };
            },
            { name: 'decode' },
          ),
          mapStage(async (x: { id: number; text: string }, ctx) => ({ id: x.id, noise: ctx.seed % 1000 }), { concurrency: 3, name: 'augment' }),
        ],
        batch: { size: 4 },
      });
    const full = await checkResume(make, 2, [1, 2, 4, 5, 7]);
    expect(full.flat().length).toBe(2 * (21 - 4)); // ids 4, 9, 14, 19 filtered each epoch
    // resuming does not decode the skipped samples: run 3 batches, resume, count decodes of the second part
    let state: LoaderState | undefined;
    let n = 0;
    for await (const b of make().iterate({ state: { seed: 5 } })) {
      state = b.state;
      if (++n === 3) break;
    }
    decoded.length = 0;
    await collect(make().iterate({ state }));
    expect(decoded.length).toBe(21 - state!.position);
  });

  it('per-sample seeds make augmentations identical after a resume and independent of concurrency', async () => {
    const make = (concurrency: number): DataLoader<any> =>
      new DataLoader({
        source: arraySource(ids(12)),
        shuffle: 'full',
        stages: [
          mapStage(
            async (x: { id: number }, ctx) => {
              await new Promise((r) => setTimeout(r, (x.id * 7) % 5)); // finish out of order
              return { id: x.id, aug: ctx.seed };
            },
            { concurrency },
          ),
        ],
        batch: { size: 5 },
      });
    const a = (await collect(make(1).iterate({ state: { seed: 9 } }))).map((b) => (b.batch as any).aug.toArray());
    const b = (await collect(make(4).iterate({ state: { seed: 9 } }))).map((b) => (b.batch as any).aug.toArray());
    expect(b).toEqual(a);
    const resumed = (await collect(make(4).iterate({ state: { seed: 9, epoch: 0, position: 5 } }))).map((b) => (b.batch as any).aug.toArray());
    expect(resumed).toEqual(a.slice(1));
  });
});

describe('bounded prefetch', () => {
  it('never pulls more than the stage and queue bounds ahead of a slow consumer', async () => {
    let pulled = 0;
    const source = streamSource(async function* () {
      for (let i = 0; i < 200; i++) {
        pulled++;
        yield { id: i };
      }
    });
    const batchSize = 4;
    const concurrency = 3;
    const prefetchBatches = 2;
    const loader = new DataLoader({
      source,
      stages: [mapStage(async (x: { id: number }) => x, { concurrency })],
      batch: { size: batchSize },
      prefetch: prefetchBatches,
    });
    // queue (2 batches) + one batch in the lookahead + one being filled + the map window + the source's pending one
    const bound = (prefetchBatches + 2) * batchSize + concurrency + 1;
    let consumed = 0;
    let maxAhead = 0;
    for await (const b of loader.iterate()) {
      consumed += idsOf(b).length;
      await new Promise((r) => setTimeout(r, 3)); // slow consumer: the producer must wait
      maxAhead = Math.max(maxAhead, pulled - consumed);
      if (consumed >= 80) break;
    }
    expect(maxAhead).toBeLessThanOrEqual(bound);
    expect(maxAhead).toBeGreaterThan(batchSize); // it does work ahead
    expect(pulled).toBeLessThan(80 + bound + 1); // stopping early stops the source
  });

  it('prefetch() keeps at most `capacity` items ready and delivers errors after earlier items', async () => {
    let produced = 0;
    async function* gen(): AsyncGenerator<number> {
      for (let i = 0; i < 10; i++) {
        produced++;
        yield i;
      }
      throw new Error('boom');
    }
    const it = prefetch(gen(), 3);
    expect((await it.next()).value).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(produced).toBeLessThanOrEqual(1 + 3 + 1);
    const rest: number[] = [];
    await expect(
      (async () => {
        for await (const x of it) rest.push(x);
      })(),
    ).rejects.toThrow('boom');
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('orderedMap keeps input order with out-of-order completion and at most `limit` in flight', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const out = await collect(
      orderedMap(
        (async function* () {
          yield* [5, 1, 4, 2, 3, 0];
        })(),
        async (x: number) => {
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          await new Promise((r) => setTimeout(r, x * 3));
          inFlight--;
          return x * 10;
        },
        2,
      ),
    );
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(maxInFlight).toBe(2);
  });
});

describe('worker map stages', () => {
  const module = path.join(import.meta.dirname, 'workerFns.ts');

  it('runs a module function in worker threads with the same results and order as in-thread', async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ id: i, text: `t${i}` }));
    const { describeSample } = await import('./workerFns.js');
    const make = (inWorkers: boolean): DataLoader<any> =>
      new DataLoader({
        source: arraySource(items),
        shuffle: 'full',
        stages: [
          inWorkers
            ? workerMapStage({ module, exportName: 'describeSample', workers: 2, options: { scale: 2 }, name: 'describe' })
            : mapStage((v: any, ctx) => describeSample(v, { ...ctx, options: { scale: 2 } }), { name: 'describe' }),
        ],
        batch: { size: 6 },
      });
    const viaWorkers = await collect(make(true).iterate({ state: { seed: 4 } }));
    const inline = await collect(make(false).iterate({ state: { seed: 4 } }));
    expect(viaWorkers.map(idsOf)).toEqual(inline.map(idsOf));
    const pixels = (b: LoaderBatch<any>): Tensor => b.batch.pixels;
    expect(pixels(viaWorkers[0]).shape).toEqual([6, 4]);
    expect(pixels(viaWorkers[0]).dtype).toBe('float32');
    expect(viaWorkers.map((b) => Array.from(pixels(b).data as Float32Array))).toEqual(inline.map((b) => Array.from(pixels(b).data as Float32Array)));
    expect(viaWorkers[0].batch.text).toEqual(inline[0].batch.text);
  });

  it('a failing sample names the sample and stage; onError skip drops it with a warning', async () => {
    const make = (onError: 'throw' | 'skip', warn?: (m: string) => void): DataLoader<any> =>
      new DataLoader({
        source: arraySource(ids(10)),
        stages: [workerMapStage({ module, exportName: 'failOnSeven', workers: 1, onError, name: 'check' })],
        batch: { size: 4 },
        warn,
      });
    const err = await collect(make('throw').iterate()).catch((e) => e);
    expect(err).toBeInstanceOf(SampleError);
    expect(err.message).toMatch(/sample #7 of epoch 0: stage "check" failed: seven is not allowed/);
    const warnings: string[] = [];
    const got = await collect(make('skip', (m) => warnings.push(m)).iterate());
    expect(got.map(idsOf)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 8],
      [9],
    ]);
    expect(warnings).toHaveLength(1);
  });

  it('a dying worker is fatal even with onError skip', async () => {
    const loader = new DataLoader({
      source: arraySource(ids(4)),
      stages: [workerMapStage({ module, exportName: 'crash', workers: 1, onError: 'skip' })],
      batch: { size: 2 },
      warn: () => undefined,
    });
    await expect(collect(loader.iterate())).rejects.toThrow(/map worker died: worker exited with code: 3/);
  });

  it('reports a missing export clearly', async () => {
    const loader = new DataLoader({ source: arraySource(ids(2)), stages: [workerMapStage({ module, exportName: 'nope', workers: 1 })], batch: { size: 2 } });
    await expect(collect(loader.iterate())).rejects.toThrow(/has no exported function "nope"/);
  });
});

describe('collate', () => {
  it('stacks CHW images to NCHW float32, ints to int64, pads token lists with a padding mask', () => {
    const img = (v: number): Tensor => Tensor.f32([3, 2, 2], new Array(12).fill(v));
    const b = collate(
      [
        { image: img(1), tokens: [0, 5, 2], label: 3, score: 0.5, name: 'a', flag: true },
        { image: img(2), tokens: [0, 6, 7, 8, 2], label: 1, score: 1, name: 'b', flag: false },
      ],
      { pad: { tokens: { value: 1, mask: 'padding_mask' } } },
    );
    const image = b.image as Tensor;
    expect(image.shape).toEqual([2, 3, 2, 2]);
    expect(image.dtype).toBe('float32');
    expect(image.toArray()).toEqual([...new Array(12).fill(1), ...new Array(12).fill(2)]);
    const tokens = b.tokens as Tensor;
    expect(tokens.dtype).toBe('int64');
    expect(tokens.shape).toEqual([2, 5]);
    expect(tokens.toArray()).toEqual([0, 5, 2, 1, 1, 0, 6, 7, 8, 2]);
    expect((b.padding_mask as Tensor).toArray()).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    expect((b.label as Tensor).dtype).toBe('int64');
    expect((b.score as Tensor).dtype).toBe('float32');
    expect((b.flag as Tensor).toArray()).toEqual([1, 0]);
    expect(b.name).toEqual(['a', 'b']);
  });

  it('names the field and sample on a mismatch', () => {
    expect(() => collate([{ a: Tensor.f32([2]) }, { a: Tensor.f32([3]) }])).toThrow(/field "a" sample 1 is float32\[3\], sample 0 is float32\[2\]/);
    expect(() => collate([{ a: [1, 2] }, { a: [1] }])).toThrow(/field "a" sample 1 has shape \[1\]/);
    expect(() => collate([{ a: 1 }, { b: 1 }])).toThrow(/sample 1 has fields \[b\]/);
    expect(() => collate([{ t: [1, 2, 3] }], { pad: { t: { value: 1, length: 2 } } })).toThrow(/more than the pad length 2/);
  });
});

describe('mixed pretraining stream', () => {
  it('takes one batch from each stream, wraps small streams around, and resumes all of them exactly', async () => {
    const corpus = path.join(dir, 'corpus.txt');
    await writeFile(corpus, Array.from({ length: 9 }, (_, i) => `sentence ${i}`).join('\n') + '\n');
    const make = () => ({
      images: new DataLoader({ source: arraySource(ids(7)), shuffle: 'full' as const, batch: { size: 3 }, seed: 1 }),
      texts: new DataLoader({
        source: textSource(corpus),
        shuffle: { buffer: 4 },
        stages: [mapStage((l: { text: string }) => ({ id: Number(l.text.split(' ')[1]) }))],
        batch: { size: 2 },
        seed: 2,
      }),
      pairs: new DataLoader({ source: arraySource(ids(5).map((x) => ({ id: 100 + x.id }))), batch: { size: 2 }, seed: 3 }),
    });
    const take = async (n: number, state?: any) => {
      const out: { images: number[]; texts: number[]; pairs: number[] }[] = [];
      let last: any;
      for await (const m of mixedBatches(make(), { state })) {
        const bs = m.batches as unknown as Record<string, { id: Tensor }>;
        out.push({ images: bs.images.id.toArray(), texts: bs.texts.id.toArray(), pairs: bs.pairs.id.toArray() });
        last = m.state;
        if (out.length === n) break;
      }
      return { out, last };
    };
    const full = await take(12);
    expect(full.out[0].pairs).toEqual([100, 101]);
    expect(full.out[3].pairs).toEqual([100, 101]); // 5 pairs = 3 batches per epoch, then epoch 1
    expect(full.last.images.epoch).toBeGreaterThanOrEqual(3);
    const first = await take(5);
    const second = await take(7, first.last);
    expect([...first.out, ...second.out]).toEqual(full.out);
  });

  it('refuses an endless stream over an empty source instead of spinning', async () => {
    const loader = new DataLoader({ source: arraySource([]), batch: { size: 2 } });
    await expect(collect(mixedBatches({ a: loader }))).rejects.toThrow(DataError);
  });
});

describe('loader errors', () => {
  it('a corrupt shard surfaces as ShardError through the loader, or is skipped with onShardError warn', async () => {
    const good = await tarBytes([
      { name: 'a.txt', data: 'one' },
      { name: 'b.txt', data: 'two' },
    ]);
    await writeFile(path.join(dir, 'lg-0.tar'), good);
    await writeFile(path.join(dir, 'lg-1.tar'), good.subarray(0, 700));
    const pattern = path.join(dir, 'lg-{0..1}.tar');
    const strict = new DataLoader({ source: webDatasetSource(pattern, { shuffleShards: false }), batch: { size: 1, collate: (s) => s } });
    await expect(collect(strict.iterate())).rejects.toThrow(/lg-1\.tar: truncated tar/);
    const warnings: string[] = [];
    const lenient = new DataLoader({
      source: webDatasetSource(pattern, { shuffleShards: false, onShardError: 'warn', warn: (m) => warnings.push(m) }),
      stages: [mapStage((s: any) => decodeWdsSample(s).text)],
      batch: { size: 10, collate: (s) => s },
    });
    const [b] = await collect(lenient.iterate());
    // lg-1's only complete member belongs to a sample that may have had more fields: dropped
    expect(b.batch).toEqual(['one', 'two']);
    expect(warnings).toHaveLength(1);
  });

  it('rejects invalid states and configurations', async () => {
    const loader = new DataLoader({ source: arraySource(ids(3)), batch: { size: 2 } });
    await expect(collect(loader.iterate({ state: { position: -1 } }))).rejects.toThrow(/state.position must be a non-negative integer/);
    expect(() => new DataLoader({ source: streamSource(async function* () {}), shuffle: 'full', batch: { size: 2 } })).toThrow(/needs an array source/);
    expect(() => new DataLoader({ source: arraySource([]), batch: { size: 0 } })).toThrow(/batch.size/);
  });
});
