export * from './module.js';
export * from './init.js';
export * from './layers.js';
