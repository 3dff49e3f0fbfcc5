// The dynamic batcher alone: batch formation (size and delay), results back to their callers in
// order, errors to every item of the failed batch, the concurrency bound, limits and draining.
import { describe, expect, it } from 'vitest';
import { BatchGroup, type BatcherLimits } from '../../src/server/batcher.js';

const limits = (o: Partial<BatcherLimits> = {}): BatcherLimits => ({
  maxBatch: 4,
  maxDelayMs: 20,
  maxQueue: 100,
  queueTimeoutMs: 5000,
  concurrency: 1,
  ...o,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BatchGroup', () => {
  it('forms batches of at most maxBatch and gives each caller its own result', async () => {
    const batches: number[][] = [];
    const g = new BatchGroup('t', limits());
    const run = async (xs: number[]) => {
      batches.push(xs);
      await sleep(5);
      return xs.map((x) => x * 10);
    };
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => g.submit('k', i, run)));
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
    expect(batches.flat()).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Math.max(...batches.map((b) => b.length))).toBe(4);
  });

  it('a lone item waits at most maxDelayMs; a full batch goes at once', async () => {
    const g = new BatchGroup('t', limits({ maxDelayMs: 80 }));
    const run = async (xs: number[]) => xs;
    let t0 = Date.now();
    await g.submit('k', 1, run);
    const lone = Date.now() - t0;
    expect(lone).toBeGreaterThanOrEqual(75);
    t0 = Date.now();
    await Promise.all([1, 2, 3, 4].map((x) => g.submit('k', x, run)));
    expect(Date.now() - t0).toBeLessThan(60);
  });

  it('lanes do not mix; concurrency bounds running batches', async () => {
    const g = new BatchGroup('t', limits({ maxDelayMs: 0, concurrency: 2 }));
    let running = 0;
    let peak = 0;
    const seen: string[][] = [];
    const run = async (xs: string[]) => {
      running++;
      peak = Math.max(peak, running);
      seen.push(xs);
      await sleep(10);
      running--;
      return xs;
    };
    await Promise.all(
      ['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4', 'a5'].map((x) => g.submit(x[0], x, run)),
    );
    for (const b of seen) expect(new Set(b.map((x) => x[0])).size).toBe(1);
    expect(peak).toBeLessThanOrEqual(2 * 2); // two lanes, two batches each
  });

  it('a failing batch rejects all of its items, and only them', async () => {
    const g = new BatchGroup('t', limits({ maxBatch: 2, maxDelayMs: 50, concurrency: 2 }));
    const run = async (xs: number[]) => {
      if (xs.includes(3)) throw new Error('boom');
      return xs;
    };
    const res = await Promise.allSettled([1, 2, 3, 4].map((x) => g.submit('k', x, run)));
    expect(res.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });

  it('queue full → 429, queue timeout → 504, both reported to the observer', async () => {
    const rejected: string[] = [];
    const g = new BatchGroup('t', limits({ maxDelayMs: 1000, maxQueue: 2, queueTimeoutMs: 30 }), {
      rejected: (_t, why) => rejected.push(why),
    });
    const run = async (xs: number[]) => xs;
    const res = await Promise.allSettled([1, 2, 3].map((x) => g.submit('k', x, run)));
    const errs = res.map((r) => (r.status === 'rejected' ? (r.reason as { status: number }).status : 200));
    expect(errs).toEqual([504, 504, 429]);
    expect(rejected.sort()).toEqual(['queue_full', 'queue_timeout', 'queue_timeout']);
  });

  it('drain runs what is queued without waiting, then refuses new items', async () => {
    const g = new BatchGroup('t', limits({ maxDelayMs: 10_000 }));
    const run = async (xs: number[]) => xs;
    const p = g.submit('k', 7, run);
    const t0 = Date.now();
    await g.drain();
    expect(await p).toBe(7);
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(g.submit('k', 8, run)).rejects.toMatchObject({ status: 503, code: 'shutting_down' });
  });
});

describe('Reservation', () => {
  it('holds queue places before the items exist; unused places are freed', async () => {
    const g = new BatchGroup('t', limits({ maxQueue: 3, maxDelayMs: 10 }));
    const run = async (xs: number[]) => xs;
    const r = g.reserve(2);
    expect(g.depth).toBe(2);
    expect(() => g.reserve(2)).toThrow(expect.objectContaining({ status: 429 }));
    const p = g.submit('k', 1, run, undefined, r); // uses one held place
    expect(g.depth).toBe(2);
    r.release(); // the other is given back
    expect(g.depth).toBe(1);
    expect(await p).toBe(1);
    expect(g.depth).toBe(0);
    g.reserve(3).release();
    expect(g.depth).toBe(0);
  });
});
