import { Tensor } from '../graph/tensor.js';
import { WorkerPool } from '../util/workers.node.js';
import { decodeImage } from './decode.js';
import { ImageShapeError, type RgbImage } from './image.js';
import type { PreprocessJob } from './preprocess.js';
import type { TransformSpec } from './transformImage.js';
import { stackImages } from './transforms.js';
import type { TensorData } from './worker.js';

/**
 * Preprocessing off the main thread. Decoding runs through sharp, which is asynchronous and
 * executes on libuv's thread pool (measured: libvips decodes 2-3x slower when called from
 * worker threads); the CPU-bound JS part (PIL-exact resize, augmentation, normalization) runs in
 * the one util WorkerPool (`transform` of vision/worker.ts, two jobs in flight per worker). The
 * main thread only reads files, throttles decodes and moves transferred buffers.
 */

export interface PoolOptions {
  /** Worker count; default util defaultWorkerThreads() (half the cores: ORT runs beside it). */
  threads?: number;
  /** Decodes in flight at once (bounds memory for large batches); default 2 × threads + 2. */
  maxDecodes?: number;
}

export class PreprocessPool {
  private readonly pool: WorkerPool<{ img: RgbImage; spec: TransformSpec }, TensorData>;
  private readonly maxDecodes: number;
  private decoding = 0;
  private readonly decodeWaiters: (() => void)[] = [];

  constructor(opts: PoolOptions = {}) {
    this.pool = new WorkerPool({
      module: new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url),
      exportName: 'transform',
      threads: opts.threads,
      label: 'preprocess worker',
      // a transform's own error keeps its type when it is one of ours
      reviveError: (name, message) =>
        name === 'ImageShapeError' ? new ImageShapeError(message) : Object.assign(new Error(message), { name }),
    });
    this.maxDecodes = opts.maxDecodes ?? 2 * this.pool.size + 2;
  }

  get size(): number {
    return this.pool.size;
  }

  /** Decode (libuv pool) then transform (worker) one image; resolves to a (3, S, S) float32 tensor. */
  async run(job: PreprocessJob): Promise<Tensor> {
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

  /** Run only the transform of an already decoded image in a worker (its buffer is transferred when it owns it). */
  async transform(img: RgbImage, spec: TransformSpec): Promise<Tensor> {
    const r = await this.pool.run({ img, spec }, { transfer: 'owned' });
    return new Tensor('float32', r.shape, r.data);
  }

  /** Preprocess many images in parallel and stack them into one (N, 3, S, S) batch, in job order. */
  async runBatch(jobs: readonly PreprocessJob[]): Promise<Tensor> {
    return stackImages(await Promise.all(jobs.map((j) => this.run(j))));
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async acquireDecode(): Promise<void> {
    while (this.decoding >= this.maxDecodes) await new Promise<void>((r) => this.decodeWaiters.push(r));
    this.decoding++;
  }

  private releaseDecode(): void {
    this.decoding--;
    this.decodeWaiters.shift()?.();
  }
}
