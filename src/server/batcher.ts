/**
 * A dynamic batcher (Triton's "dynamic batching", hand-written because it is ~100 lines of
 * queue logic with no library that fits the per-item result / timeout / limit contract):
 * concurrent requests are queued per lane, and a batch is formed when `maxBatch` items wait
 * or the oldest has waited `maxDelayMs`, but only while fewer than `concurrency` batches of
 * the lane are running (so under load batches fill up while the workers are busy). Each item's
 * result goes back to its own caller, in order. Items left in the queue past `queueTimeoutMs`
 * fail with 504; a full queue (shared by all lanes of a task) refuses new items with 429.
 */
import { queueFull, queueTimeout, unavailable } from './errors.js';

export interface BatcherLimits {
  maxBatch: number;
  maxDelayMs: number;
  /** Items waiting (not yet running) across all lanes of the group. */
  maxQueue: number;
  queueTimeoutMs: number;
  /** Batches of one lane running at once (= inference workers). */
  concurrency: number;
}

export interface BatchObserver {
  queued?(group: string, depth: number): void;
  batch?(group: string, size: number, queueWaitsMs: number[], runMs: number): void;
  rejected?(group: string, reason: 'queue_full' | 'queue_timeout' | 'shutting_down'): void;
}

interface Waiting<I, R> {
  item: I;
  enqueued: number;
  resolve(r: R): void;
  reject(e: unknown): void;
  timer?: NodeJS.Timeout;
}

/** One queue that forms batches of items with the same `run`. */
class Lane<I, R> {
  readonly queue: Waiting<I, R>[] = [];
  running = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly group: BatchGroup,
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  push(w: Waiting<I, R>): void {
    this.queue.push(w);
    this.pump();
  }

  remove(w: Waiting<I, R>): boolean {
    const i = this.queue.indexOf(w);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  pump(): void {
    const { maxDelayMs, concurrency } = this.group.limits;
    const maxBatch = this.maxBatch;
    while (this.queue.length && this.running < concurrency) {
      const waited = Date.now() - this.queue[0].enqueued;
      if (this.queue.length < maxBatch && waited < maxDelayMs && !this.group.flushing) {
        if (!this.timer)
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, maxDelayMs - waited);
        return;
      }
      this.start(this.queue.splice(0, maxBatch));
    }
  }

  private start(batch: Waiting<I, R>[]): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.running++;
    const t0 = Date.now();
    for (const w of batch) clearTimeout(w.timer);
    this.group.changed();
    const finish = () => {
      this.running--;
      this.group.observer?.batch?.(
        this.group.name,
        batch.length,
        batch.map((w) => t0 - w.enqueued),
        Date.now() - t0,
      );
      this.group.ran(batch.length, Date.now() - t0);
      this.pump();
      this.group.changed();
    };
    this.run(batch.map((w) => w.item)).then(
      (results) => {
        finish();
        if (results.length !== batch.length) {
          const e = new Error(`batch of ${batch.length} returned ${results.length} results`);
          for (const w of batch) w.reject(e);
        } else batch.forEach((w, i) => w.resolve(results[i]));
      },
      (e) => {
        finish();
        for (const w of batch) w.reject(e);
      },
    );
  }
}

/**
 * Places in a group's queue held for a request that is still reading and decoding its inputs,
 * so a full queue refuses it before that work rather than after. `release()` frees the places
 * it did not use (call it when the request is done, also on failure).
 */
export class Reservation {
  constructor(
    private readonly group: BatchGroup,
    public left: number,
  ) {}

  /** @internal one place becomes a queued item. */
  take(): boolean {
    if (this.left <= 0) return false;
    this.left--;
    this.group.unreserve(1);
    return true;
  }

  release(): void {
    this.group.unreserve(this.left);
    this.left = 0;
  }
}

/** The lanes of one task, sharing its queue limit and its drain. */
export class BatchGroup {
  private readonly lanes = new Map<string, Lane<never, never>>();
  private reserved = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  /** Set while draining: waiting items go out at once instead of waiting for `maxDelayMs`. */
  flushing = false;
  /** Mean ms per item of recent batches, for Retry-After. */
  private msPerItem = 0;

  constructor(
    readonly name: string,
    readonly limits: BatcherLimits,
    readonly observer?: BatchObserver,
  ) {}

  /** Items waiting in all lanes, plus places reserved by requests still decoding their inputs. */
  get depth(): number {
    let n = this.reserved;
    for (const l of this.lanes.values()) n += l.queue.length;
    return n;
  }

  get running(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.running;
    return n;
  }

  /**
   * Queues `item` in lane `key` (items of one lane are run together by `run`); resolves with
   * its own result. `run` must be the same function for every call with the same key.
   */
  submit<I, R>(
    key: string,
    item: I,
    run: (items: I[]) => Promise<R[]>,
    maxBatch = this.limits.maxBatch,
    reservation?: Reservation,
  ): Promise<R> {
    if (!reservation?.take()) {
      try {
        this.admit(1);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    let lane = this.lanes.get(key) as Lane<I, R> | undefined;
    if (!lane) {
      lane = new Lane<I, R>(this, run, Math.max(1, Math.min(maxBatch, this.limits.maxBatch)));
      this.lanes.set(key, lane as unknown as Lane<never, never>);
    }
    return new Promise<R>((resolve, reject) => {
      const w: Waiting<I, R> = { item, enqueued: Date.now(), resolve, reject };
      w.timer = setTimeout(() => {
        if (lane.remove(w)) {
          this.observer?.rejected?.(this.name, 'queue_timeout');
          this.changed();
          reject(
            queueTimeout(
              `${this.name}: waited ${this.limits.queueTimeoutMs} ms in the queue without a worker`,
            ),
          );
        }
      }, this.limits.queueTimeoutMs);
      lane.push(w);
      this.changed();
    });
  }

  /** Throws the 503 (draining) or 429 (no room for `n` more items) for this group. */
  admit(n: number): void {
    if (this.closed) {
      this.observer?.rejected?.(this.name, 'shutting_down');
      throw unavailable('shutting_down', 'the server is shutting down');
    }
    if (this.depth + n > this.limits.maxQueue) {
      this.observer?.rejected?.(this.name, 'queue_full');
      const wait = Math.ceil((this.depth * this.msPerItem) / 1000);
      throw queueFull(
        `${this.name}: ${this.depth} requests already queued (limit ${this.limits.maxQueue}); retry later`,
        Math.min(60, Math.max(1, wait)),
      );
    }
  }

  /** Holds `n` places in the queue for a request about to decode its inputs (429 when full). */
  reserve(n: number): Reservation {
    this.admit(n);
    this.reserved += n;
    this.changed();
    return new Reservation(this, n);
  }

  /** @internal */
  unreserve(n: number): void {
    this.reserved -= n;
    if (n) this.changed();
  }

  /** @internal */
  ran(items: number, ms: number): void {
    const per = ms / Math.max(1, items);
    this.msPerItem = this.msPerItem ? 0.8 * this.msPerItem + 0.2 * per : per;
  }

  /** @internal */
  changed(): void {
    this.observer?.queued?.(this.name, this.depth);
    if (this.depth === 0 && this.running === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Refuses new items, runs what is queued without waiting for more, resolves when all finished. */
  drain(): Promise<void> {
    this.closed = true;
    this.flushing = true;
    for (const l of this.lanes.values()) l.pump();
    if (this.depth === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}
