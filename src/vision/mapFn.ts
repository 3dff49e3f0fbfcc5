import { preprocessImage, type PreprocessJob } from './preprocess.js';

/**
 * A map function for the data layer's worker stages (`workerMap` in src/data): decodes and
 * transforms one image job in the worker. A job without its own seed takes the per-sample seed
 * the loader passes in `ctx.seed`, so training augmentation stays reproducible per (epoch, index).
 * Returns a plain {dtype, shape, data} object (structured-clone friendly; data is transferred).
 */
export default async function preprocessMap(
  job: PreprocessJob,
  ctx: { seed?: number } = {},
): Promise<{ dtype: 'float32'; shape: number[]; data: Float32Array }> {
  const t = await preprocessImage(job.seed === undefined && ctx.seed !== undefined ? { ...job, seed: ctx.seed } : job);
  return { dtype: 'float32', shape: [...t.shape], data: t.data as Float32Array };
}
