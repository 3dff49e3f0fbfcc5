import * as ort from 'onnxruntime-node';
import type { DType, TypedArray } from '../graph/dtype.js';
import type { Graph } from '../graph/ir.js';
import { serialize } from '../graph/onnx.js';
import { Tensor } from '../graph/tensor.js';

export interface CompileOptions {
  /** Inputs bound to fixed tensors: embedded as initializers so ORT can pre-pack them. */
  bind?: ReadonlyMap<string, Tensor>;
  /** Intra-op threads (default: ORT's choice = physical cores). */
  threads?: number;
  /** ORT graph optimization level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  bfloat16: 'bfloat16' as ort.Tensor.Type,
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

const FROM_ORT: Partial<Record<string, DType>> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]));

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, [...t.shape]);
}

function fromOrt(t: ort.Tensor): Tensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new RuntimeError(`unsupported output type ${t.type}`);
  return new Tensor(dtype, [...t.dims], t.data as TypedArray);
}

/** A compiled program: one ORT session, run many times. */
export class Program {
  private constructor(
    readonly graph: Graph,
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  static async compile(graph: Graph, opts: CompileOptions = {}): Promise<Program> {
    const bytes = serialize(graph, { bind: opts.bind });
    const session = await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: opts.optimization ?? 'all',
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    const bound = opts.bind ?? new Map();
    return new Program(
      graph,
      session,
      graph.inputs.filter((v) => !bound.has(v.name)).map((v) => v.name),
      graph.outputs.map((v) => v.name),
    );
  }

  /** Runs with named feeds; returns every output by name. */
  async run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (!t) throw new RuntimeError(`missing feed "${name}" for graph ${this.graph.name} (expects ${this.inputNames.join(', ')})`);
      const v = this.graph.findInput(name)!;
      if (t.dtype !== v.dtype) throw new RuntimeError(`feed "${name}": expected dtype ${v.dtype}, got ${t.dtype}`);
      if (t.shape.length !== v.rank || v.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i]))
        throw new RuntimeError(`feed "${name}": expected shape [${v.shape.join(', ')}], got [${t.shape.join(', ')}]`);
      ortFeeds[name] = toOrt(t);
    }
    const out = await this.session.run(ortFeeds);
    const result: Record<string, Tensor> = {};
    for (const name of this.outputNames) result[name] = fromOrt(out[name]);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
