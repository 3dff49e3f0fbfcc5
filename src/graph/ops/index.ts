export * from './elementwise.js';
export * from './linalg.js';
export * from './shape.js';
export * from './indexing.js';
export * from './nn.js';
export { lift, type Operand } from './util.js';
