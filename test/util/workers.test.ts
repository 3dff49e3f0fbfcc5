import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Beit3Error, WorkerPoolError } from '../../src/util/errors.js';
import { availableCores } from '../../src/util/cores.node.js';
import { ownedBuffers } from '../../src/util/transfer.js';
import { defaultWorkerThreads, WorkerPool } from '../../src/util/workers.node.js';

const module = join(import.meta.dirname, 'worker-fns.ts');

describe('WorkerPool', () => {
  const pool = new WorkerPool({ module, exportName: 'double', threads: 2, options: { scale: 3 } });
  afterAll(() => pool.close());

  it('returns results in call order with ctx and options; transfers owned buffers both ways', async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => ({ id: i, data: new Float32Array([i, i + 0.5]) }));
    const sent = inputs[0].data.buffer;
    const out = (await Promise.all(inputs.map((v, i) => pool.run(v, { ctx: { index: i }, transfer: i === 0 ? 'owned' : undefined })))) as {
      id: number;
      data: Float32Array;
      ctx: Record<string, unknown>;
    }[];
    expect(sent.byteLength).toBe(0); // moved, not copied
    expect(out.map((o) => o.id)).toEqual(inputs.map((v) => v.id));
    expect(out.map((o) => Array.from(o.data))).toEqual(inputs.map((_, i) => [2 * i, 2 * i + 1]));
    expect(out[5].ctx).toEqual({ index: 5, options: { scale: 3 } });
    expect(out[3].data).toBeInstanceOf(Float32Array);
  }, 30000);

  it('runs async task functions and spreads work over the threads', async () => {
    const p = new WorkerPool({ module, exportName: 'slow', threads: 2, perWorker: 1 });
    try {
      await p.run({ id: -1, ms: 1 }); // warm up (tsx start)
      const got = await Promise.all(Array.from({ length: 6 }, (_, i) => p.run({ id: i, ms: 30 })));
      expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await p.close();
    }
    const a = new WorkerPool<number, number>({ module, exportName: 'asyncTask', threads: 1 });
    try {
      expect(await Promise.all([1, 2, 3].map((v) => a.run(v)))).toEqual([2, 3, 4]);
    } finally {
      await a.close();
    }
  }, 30000);

  it("a task's error is revived by the caller and the pool keeps working", async () => {
    const p = new WorkerPool({ module, exportName: 'fail', threads: 1, reviveError: (name, message) => new RangeError(`${name}: ${message}`) });
    try {
      const err = await p.run({ name: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RangeError);
      expect((err as Error).message).toBe('CustomTaskError: task failed for x');
      await expect(p.run({ name: 'y' })).rejects.toThrow(/task failed for y/);
    } finally {
      await p.close();
    }
  }, 30000);

  describe('rejects', () => {
    it('a dead worker breaks the pool: the task and every later one get a WorkerPoolError', async () => {
      const p = new WorkerPool({ module, exportName: 'crash', threads: 1, label: 'test worker' });
      try {
        const err = await p.run(undefined).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkerPoolError);
        expect(err).toBeInstanceOf(Beit3Error);
        expect((err as Error).message).toMatch(/^test worker died: .*code: 7/);
        await expect(p.run(undefined)).rejects.toBe(err);
      } finally {
        await p.close();
      }
    }, 30000);

    it('a missing export or module, bad thread counts, and use after close', async () => {
      const p = new WorkerPool({ module, exportName: 'nope', threads: 1 });
      await expect(p.run(1)).rejects.toThrow(WorkerPoolError);
      await expect(p.run(1)).rejects.toThrow(/has no exported function "nope"/);
      await p.close();
      await expect(p.run(1)).rejects.toThrow(/closed/);
      const q = new WorkerPool({ module: join(import.meta.dirname, 'missing.ts'), threads: 1 });
      await expect(q.run(1)).rejects.toThrow(/cannot import .*missing\.ts/);
      await q.close();
      expect(() => new WorkerPool({ module, threads: 0 })).toThrow(WorkerPoolError);
      expect(() => new WorkerPool({ module, threads: 1, perWorker: 1.5 })).toThrow(/perWorker/);
    }, 30000);
  });

  it('defaultWorkerThreads leaves cores for ONNX Runtime; ownedBuffers skips views into larger buffers', () => {
    expect(defaultWorkerThreads()).toBe(Math.max(1, Math.floor(availableCores() / 2)));
    const whole = new Float32Array(4);
    const view = new Uint8Array(new ArrayBuffer(16), 4, 4);
    expect(ownedBuffers({ a: whole, b: [view, whole], c: 1 })).toEqual([whole.buffer]);
  });
});
