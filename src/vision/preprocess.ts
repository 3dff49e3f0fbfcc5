import { Tensor } from '../graph/tensor.js';
import { imagenetTrainTransform, vlTrainTransform } from './augment.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import { ImageShapeError } from './image.js';
import { imagenetEvalTransform, vlEvalTransform } from './transforms.js';

/** Which transform a job runs: the official eval transforms, or the seeded training ones. */
export type TransformName = 'vl' | 'imagenet' | 'vl-train' | 'imagenet-train';

/** One image to preprocess: a file path or encoded bytes, a transform and a size. Plain data, so it can cross to a worker. */
export interface PreprocessJob {
  source: string | Uint8Array;
  transform: TransformName;
  size: number;
  /** Seed for the training transforms (required there, ignored by the eval ones). */
  seed?: number;
  /** Training transforms: RandAugment on/off (default off) and flip (default on). */
  randaug?: boolean;
  flip?: boolean;
  decode?: DecodeOptions;
}

/** Decode + transform one image on the calling thread; returns a (3, size, size) float32 tensor. */
export async function preprocessImage(job: PreprocessJob): Promise<Tensor> {
  const img = await decodeImage(job.source, job.decode);
  switch (job.transform) {
    case 'vl':
      return vlEvalTransform(img, job.size);
    case 'imagenet':
      return imagenetEvalTransform(img, job.size);
    case 'vl-train':
    case 'imagenet-train': {
      if (job.seed === undefined) throw new ImageShapeError(`${job.transform} needs a seed (training transforms are seeded)`);
      const fn = job.transform === 'vl-train' ? vlTrainTransform : imagenetTrainTransform;
      return fn(img, job.size, job.seed, { randaug: job.randaug, flip: job.flip });
    }
    default:
      throw new ImageShapeError(`unknown transform '${job.transform as string}' (expected vl, imagenet, vl-train or imagenet-train)`);
  }
}

