/**
 * A compiled task graph: the graph's ONNX ModelProto (weights bound as initializers, optionally
 * int8-quantized) compiled by the runtime (`Program.fromModelProto`). The task layer works on the
 * ONNX message because export and int8 quantization are rewrites of it: the bytes a pipeline runs
 * are exactly the bytes `beit3 export` writes.
 */
import type { Graph } from '../graph/ir.js';
import { encodeOnnxModel, type ModelProto, toModelProto } from '../graph/onnx.js';
import type { Tensor } from '../graph/tensor.js';
import { Program } from '../runtime/index.js';
import { writeFileAtomicSync } from '../util/atomic.node.js';
import { OutputWriteError } from './errors.js';
import { type QuantizeOptions, quantizeModelProto, type QuantizeStats } from '../graph/passes/quantize.js';

export type { ModelProto };
export { ortClock, modelInitializerBytes } from '../runtime/index.js';
export { encodeOnnxModel as encodeModel };

/** Weights dtype of a compiled pipeline: float32, or dynamic int8 MatMul weights. */
export type PipelineDType = 'fp32' | 'q8';

export interface SessionOptions {
  dtype?: PipelineDType;
  /** Options of the int8 rewrite (dtype 'q8'). */
  quantize?: QuantizeOptions;
  /** Fix symbolic dims (e.g. {batch: 8}) so ORT plans static shapes. */
  specialize?: Record<string, number>;
  threads?: number;
}

/** A task graph compiled by the runtime. */
export type TaskSession = Program;

export const TaskSession = {
  /** ModelProto of a graph with parameters bound as initializers (optionally int8-quantized). */
  modelProto(
    graph: Graph,
    bind: ReadonlyMap<string, Tensor>,
    dtype: PipelineDType = 'fp32',
    quantize?: QuantizeOptions,
  ): { proto: ModelProto; stats?: QuantizeStats } {
    const proto = toModelProto(graph, { bind, producer: 'beit3 tasks' });
    return dtype === 'q8' ? { proto, stats: quantizeModelProto(proto, quantize) } : { proto };
  },

  /** Compiles a graph's task ModelProto (graph-optimizer notices are not the user's business). */
  create(graph: Graph, bind: ReadonlyMap<string, Tensor>, opts: SessionOptions = {}): Promise<Program> {
    const { proto } = TaskSession.modelProto(graph, bind, opts.dtype, opts.quantize);
    return Program.fromModelProto(proto, {
      name: graph.name,
      threads: opts.threads,
      specialize: opts.specialize,
      logSeverity: 3,
    });
  },
};

/**
 * Writes bytes with the one atomic write (util/atomic.node.ts); failures become an
 * OutputWriteError naming `path` (not the temp file) and leave no temp file behind.
 */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  try {
    writeFileAtomicSync(path, bytes);
  } catch (e) {
    throw new OutputWriteError(path, e);
  }
}
