/**
 * Messages between the HTTP side and the inference workers. Everything here is plain data
 * (structured-clone safe): images travel decoded (`RgbImage`), tensors as `{dtype, shape, data}`.
 */
import type { DType, TypedArray } from '../graph/dtype.js';
import type { GenerationSettings, ModelTask, PipelineDType, TaskConfig } from '../tasks/index.js';
import type { RgbImage } from '../vision/image.js';

export interface ServedTask {
  config: TaskConfig;
  /** Official-init random weights with this seed (no checkpoint). */
  randomSeed?: number;
}

/** What every worker loads (`ctx.options` of the pool). */
export interface WorkerInit {
  tasks: ServedTask[];
  /** ORT intra-op threads of each worker (cores split among workers). */
  threads: number;
  /** Items per model call: a batch from the batcher is one ORT run. */
  batchSize: number;
  dtype: PipelineDType;
  /** Run a batch of one as two copies, so results never depend on the batch (worker.ts). Default true. */
  padSingle?: boolean;
}

export interface WireTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export type WorkerRequest =
  | { op: 'warmup' }
  | { op: 'classify'; images: RgbImage[]; topk: number }
  | { op: 'vqa'; items: { image: RgbImage; question: string }[]; topk: number }
  | { op: 'nlvr2'; items: { left: RgbImage; right: RgbImage; statement: string }[] }
  | { op: 'caption'; images: RgbImage[]; gen: Partial<GenerationSettings> }
  | { op: 'embed_images'; images: RgbImage[] }
  | { op: 'embed_texts'; texts: string[] }
  | { op: 'v2'; model: string; inputs: Record<string, WireTensor>; outputs?: string[] };

/** Open Inference Protocol metadata of one exported task graph. */
export interface V2ModelMeta {
  name: string;
  task: ModelTask;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}
