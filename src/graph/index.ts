export * from './dtype.js';
export * from './shape.js';
export * from './tensor.js';
export * from './ir.js';
export * as ops from './ops/index.js';
export * as F from './functional.js';
export { serialize, toModelProto, OPSET, type ModelProto, type SerializeOptions } from './onnx.js';
export { dumpGraph } from './dump.js';
export * from './passes/quantize.js';
