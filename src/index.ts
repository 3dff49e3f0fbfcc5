export * from './graph/index.js';
export * from './runtime/index.js';
export * from './autodiff/index.js';
export * from './io/index.js';
export * from './data/index.js';
export * from './vision/index.js';
export * from './models/beit3/index.js';
// The BEiT v2 visual tokenizer: the class at the root, everything else under `vqkd.` (generic names such as Block).
export { VisualTokenizer, TokenizerCheckpointError } from './models/vqkd/tokenizer.js';
export * as vqkd from './models/vqkd/index.js';
export * from './text/index.js';
export * from './tasks/index.js';
