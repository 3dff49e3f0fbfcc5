// BEiT v2 VQ-KD visual tokenizer (the parity harness is Node-only: import ./parity.node.js directly).
export * from './config.js';
export * from './vit.js';
export * from './quantizer.js';
export * from './model.js';
export * from './registry.js';
export * from './pretrained.js';
export * from './modules.js';
export * from './teachers/teacher.js';
export * from './teachers/clip.js';
export * from './teachers/fixed.js';
export * from './tokenizer.js';
export * from './training.js';
