// beit3/web — the browser entry: no Node-only imports (the architecture test checks that no
// `*.node.ts` file is reachable from here). Tokenizer, image preprocessing on ImageData, task
// models over onnxruntime-web, and a Web Worker client.
export { Beit3Tokenizer, BOS_ID, EOS_ID, PAD_ID, UNK_ID } from '../text/beit3-tokenizer.js';
export { SentencePieceProcessor } from '../text/sentencepiece.js';
export { Tensor } from '../graph/tensor.js';
export { WebError } from './errors.js';
export { DEFAULT_CACHE, fetchCached, fetchJson } from './cache.js';
export {
  decodeImage,
  preprocessBatch,
  preprocessPixels,
  toRgb,
  type ImageSettings,
  type Pixels,
} from './image.js';
export {
  configureOrt,
  loadOrt,
  wasmThreads,
  WebTaskModel,
  type Backend,
  type ExportMeta,
  type Scored,
  type WebModelOptions,
} from './model.js';
export { dots, rows, sigmoid, softmax, topk } from './post.js';
export { Beit3Worker } from './client.js';
export type { WorkerMethod, WorkerRequest, WorkerResponse } from './protocol.js';
