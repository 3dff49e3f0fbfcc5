export * from './config.js';
export * from './backbone.js';
export * from './losses.js';
export * from './registry.js';
export * from './params.js';
export * from './heads/base.js';
export * from './heads/pretrained.js';
export * from './heads/classification.js';
export * from './heads/vqa.js';
export * from './heads/nlvr2.js';
export * from './heads/retrieval.js';
export * from './heads/captioning.js';
export * from './heads/pretraining.js';
export * from './spec.js';
export * from './decoder.js';
export * from './beam.js';
// The nn building blocks (composites are graph/functional's, exported from the package root as `F`).
export {
  Module,
  Parameter,
  ParamScope,
  StateDictError,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from '../../nn/module.js';
export { Linear, LayerNorm, Embedding, Multiway, ModuleList, DropPath } from '../../nn/layers.js';
export { Inits, type Init } from '../../nn/init.js';
export * from './load.js';
export * from './pretrained.js';
