import type { Tensor } from '../graph/tensor.js';
import { imagenetTrainTransform, vlTrainTransform } from './augment.js';
import { ImageShapeError, type RgbImage } from './image.js';
import { imagenetEvalTransform, vlEvalTransform } from './transforms.js';

/** Which transform a job runs: the official eval transforms, or the seeded training ones. */
export type TransformName = 'vl' | 'imagenet' | 'vl-train' | 'imagenet-train';

/** What to do with a decoded image. Plain data, so it can cross to a worker. */
export interface TransformSpec {
  transform: TransformName;
  size: number;
  /** Seed for the training transforms (required there, ignored by the eval ones). */
  seed?: number;
  /** Training transforms: RandAugment on/off (default off) and flip (default on). */
  randaug?: boolean;
  flip?: boolean;
}

/** Runs a transform on an already decoded image (synchronous, pure JS: what the pool's workers do). */
export function transformImage(img: RgbImage, spec: TransformSpec): Tensor {
  switch (spec.transform) {
    case 'vl':
      return vlEvalTransform(img, spec.size);
    case 'imagenet':
      return imagenetEvalTransform(img, spec.size);
    case 'vl-train':
    case 'imagenet-train': {
      if (spec.seed === undefined) throw new ImageShapeError(`${spec.transform} needs a seed (training transforms are seeded)`);
      const fn = spec.transform === 'vl-train' ? vlTrainTransform : imagenetTrainTransform;
      return fn(img, spec.size, spec.seed, { randaug: spec.randaug, flip: spec.flip });
    }
    default:
      throw new ImageShapeError(`unknown transform '${spec.transform as string}' (expected vl, imagenet, vl-train or imagenet-train)`);
  }
}
