/**
 * The vision worker module, run by the one util WorkerPool:
 * - `transform` (PreprocessPool): the pure-JS transform of one decoded image; the image arrives
 *   transferred and the Float32Array goes back transferred. Decoding stays on the main thread's
 *   libuv pool (sharp is async, and libvips decodes 2-3x slower from worker threads), so these
 *   workers never load sharp;
 * - the default export (data-loader `workerMapStage`): decode + transform of one job in the
 *   worker. A job without its own seed takes the per-sample seed the loader passes in `ctx.seed`,
 *   so training augmentation stays reproducible per (epoch, index). Its import of the decoder is
 *   lazy, so `transform` workers do not pay for sharp.
 */
import type { RgbImage } from './image.js';
import type { PreprocessJob } from './preprocess.js';
import { transformImage, type TransformSpec } from './transformImage.js';

export interface TensorData {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

export function transform(req: { img: RgbImage; spec: TransformSpec }): TensorData {
  const t = transformImage(req.img, req.spec);
  return { dtype: 'float32', shape: [...t.shape], data: t.data as Float32Array };
}

export default async function preprocessMap(job: PreprocessJob, ctx: { seed?: number } = {}): Promise<TensorData> {
  const { preprocessImage } = await import('./preprocess.js');
  const t = await preprocessImage(job.seed === undefined && ctx.seed !== undefined ? { ...job, seed: ctx.seed } : job);
  return { dtype: 'float32', shape: [...t.shape], data: t.data as Float32Array };
}
