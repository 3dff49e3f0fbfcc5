import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Tensor } from '../graph/tensor.js';
import { decodeImage } from './decode.js';
import { ImageShapeError, type RgbImage } from './image.js';
import type { PreprocessJob } from './preprocess.js';
import type { TransformSpec } from './transformImage.js';
import { stackImages } from './transforms.js';

/**
 * Preprocessing off the main thread. Decoding runs through sharp, which is asynchronous and
 * executes on libuv's thread pool (measured: libvips decodes 2-3x slower when called from
 * worker threads); the CPU-bound JS part (PIL-exact resize, augmentation, normalization) runs in a
 * fixed pool of worker threads. The main thread only reads files and moves transferred buffers.
 * Hand-written rather than piscina: the whole job is "send a transferred image, get one transferred
 * Float32Array back", which needs ~150 lines and no extra dependency.
 */

export interface PoolOptions {
  /** Worker count; default = available cores. */
  threads?: number;
  /** Decodes in flight at once (bounds memory for large batches); default 2 × threads + 2. */
  maxDecodes?: number;
}

interface Pending {
  resolve(t: Tensor): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

interface Reply {
  id: number;
  shape?: number[];
  data?: Float32Array;
  error?: { name: string; message: string };
}

let devBundle: string | undefined;

/**
 * Running from TypeScript sources (vitest, tsx) there is no worker.js, and Node 20 workers cannot
 * inherit a TS loader; bundle worker.ts once per process with esbuild (a dev dependency of tsx and
 * vitest) into node_modules/.cache.
 */
function devWorkerBundle(): string {
  if (devBundle) return devBundle;
  const require = createRequire(import.meta.url);
  const esbuild = require('esbuild') as typeof import('esbuild');
  const esbuildMain = require.resolve('esbuild');
  const nodeModules = esbuildMain.slice(0, esbuildMain.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length);
  const dir = join(nodeModules, '.cache', 'beit3-vision');
  mkdirSync(dir, { recursive: true });
  const built = esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  }).outputFiles[0].contents;
  // content-addressed: concurrent processes share one file per version of the worker code
  const out = join(dir, `worker-${createHash('sha256').update(built).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, built);
    renameSync(tmp, out);
  }
  devBundle = out;
  return out;
}

function startWorker(): Worker {
  const js = new URL('./worker.js', import.meta.url);
  return new Worker(existsSync(fileURLToPath(js)) ? js : devWorkerBundle());
}

export class PreprocessPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: { id: number; img: RgbImage; spec: TransformSpec }[] = [];
  private readonly maxDecodes: number;
  private decoding = 0;
  private readonly decodeWaiters: (() => void)[] = [];
  private nextId = 0;
  private closed = false;
  /** Set when a worker died: the pool refuses further work instead of hanging. */
  private broken: Error | undefined;

  constructor(opts: PoolOptions = {}) {
    const n = opts.threads ?? availableParallelism();
    if (!Number.isInteger(n) || n < 1) throw new ImageShapeError(`PreprocessPool: threads must be a positive integer, got ${n}`);
    this.maxDecodes = opts.maxDecodes ?? 2 * n + 2;
    for (let i = 0; i < n; i++) {
      const worker = startWorker();
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (r: Reply) => this.onReply(slot, r));
      worker.on('error', (e) => this.fail(new Error(`preprocess worker crashed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`preprocess worker exited unexpectedly (code ${code})`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Decode (libuv pool) then transform (worker) one image; resolves to a (3, S, S) float32 tensor. */
  async run(job: PreprocessJob): Promise<Tensor> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new ImageShapeError('PreprocessPool is closed');
    const { source, decode, ...spec } = job;
    let img: RgbImage;
    await this.acquireDecode();
    try {
      img = await decodeImage(source, decode);
    } finally {
      this.releaseDecode();
    }
    return this.transform(img, spec);
  }

  /** Run only the transform of an already decoded image in a worker (the image's buffer is transferred). */
  transform(img: RgbImage, spec: TransformSpec): Promise<Tensor> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new ImageShapeError('PreprocessPool is closed'));
    const id = this.nextId++;
    return new Promise<Tensor>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, img, spec });
      this.dispatch();
    });
  }

  /** Preprocess many images in parallel and stack them into one (N, 3, S, S) batch, in job order. */
  async runBatch(jobs: readonly PreprocessJob[]): Promise<Tensor> {
    return stackImages(await Promise.all(jobs.map((j) => this.run(j))));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new ImageShapeError('PreprocessPool closed with jobs pending'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      // at most two jobs in flight per worker keeps every worker fed without a long private queue
      const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (slot.busy >= 2) return;
      const msg = this.queue.shift()!;
      slot.busy++;
      slot.worker.ref();
      const buf = msg.img.data.buffer;
      // transfer when the image owns its whole buffer (decodeImage's do); otherwise copy
      const owns = msg.img.data.byteOffset === 0 && msg.img.data.byteLength === buf.byteLength && buf instanceof ArrayBuffer;
      slot.worker.postMessage(msg, owns ? [buf as ArrayBuffer] : []);
    }
  }

  private onReply(slot: Slot, r: Reply): void {
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (p) {
      if (r.error) {
        const e =
          r.error.name === 'ImageShapeError'
            ? new ImageShapeError(r.error.message)
            : Object.assign(new Error(r.error.message), { name: r.error.name });
        p.reject(e);
      } else p.resolve(new Tensor('float32', r.shape!, r.data!));
    }
    this.dispatch();
  }

  private async acquireDecode(): Promise<void> {
    while (this.decoding >= this.maxDecodes) await new Promise<void>((r) => this.decodeWaiters.push(r));
    this.decoding++;
  }

  private releaseDecode(): void {
    this.decoding--;
    this.decodeWaiters.shift()?.();
  }

  private fail(e: Error): void {
    this.broken ??= e;
    this.failAll(e);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.queue.length = 0;
  }
}
