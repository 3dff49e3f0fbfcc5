export { type RgbImage, ImageShapeError, checkRgb, cropImage, flipHorizontal } from './image.js';
export { decodeImage, ImageDecodeError, type DecodeOptions } from './decode.js';
export { resize, type ResampleFilter, type ResizeOptions } from './resize.js';
export {
  type Normalization,
  type EvalTransformName,
  INCEPTION_NORM,
  IMAGENET_NORM,
  toNormalizedTensor,
  roundHalfEven,
  resizeShorterSide,
  centerCrop,
  vlResize,
  imagenetResizeCrop,
  vlEvalTransform,
  imagenetEvalTransform,
  evalTransform,
  stackImages,
} from './transforms.js';
export { Rng, toRng } from '../util/random.js';
export {
  type RandomResizedCropOptions,
  type AugName,
  type Fill,
  type TrainTransformOptions,
  randomResizedCropBox,
  randomResizedCrop,
  randomHorizontalFlip,
  ops as augmentOps,
  warpAffine,
  ALL_AUGS,
  BEIT3_AUGS,
  applyAug,
  RandomAugment,
  vlTrainTransform,
  imagenetTrainTransform,
} from './augment.js';
export {
  MaskingError,
  type BlockMaskingOptions,
  type MaskBlock,
  type BlockMask,
  BlockMaskingGenerator,
  type TextMaskingOptions,
  type TextMask,
  PAIR_TEXT_MASK_PROB,
  MONOMODAL_TEXT_MASK_PROB,
  maskTextTokens,
  type CaptioningMaskOptions,
  captioningMask,
} from './masking.js';
export { type TransformName, type TransformSpec, transformImage } from './transformImage.js';
export { type PreprocessJob, preprocessImage } from './preprocess.js';
export { PreprocessPool, type PoolOptions } from './pool.js';
