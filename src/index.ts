export * from './graph/index.js';
export * from './runtime/index.js';
export * from './autodiff/index.js';
export * from './io/index.js';
export * from './data/index.js';
export * from './vision/index.js';
export * from './models/beit3/index.js';
export * from './text/index.js';
