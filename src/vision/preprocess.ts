import type { Tensor } from '../graph/tensor.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import { transformImage, type TransformSpec } from './transformImage.js';

export { transformImage, type TransformName, type TransformSpec } from './transformImage.js';

/** One image to preprocess: a file path or encoded bytes, plus the transform to run. */
export interface PreprocessJob extends TransformSpec {
  source: string | Uint8Array;
  decode?: DecodeOptions;
}

/** Decode + transform one image on the calling thread; returns a (3, size, size) float32 tensor. */
export async function preprocessImage(job: PreprocessJob): Promise<Tensor> {
  return transformImage(await decodeImage(job.source, job.decode), job);
}
