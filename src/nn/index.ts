export * from './module.js';
export * from './init.js';
export * from './layers.js';
export * as F from './functional.js';
