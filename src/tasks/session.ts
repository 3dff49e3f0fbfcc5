/**
 * One compiled task graph as an ONNX Runtime session built from ModelProto bytes. The task layer
 * works on the ONNX message (rather than `runtime/Program`) because export and int8 quantization
 * are rewrites of that message: the bytes a pipeline runs are exactly the bytes `beit3 export`
 * writes. Keeps a running total of time spent inside ORT for the bench's "outside ORT" figure.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import type { DType, TypedArray } from '../graph/dtype.js';
import type { Graph } from '../graph/ir.js';
import { toModelProto } from '../graph/onnx.js';
import { Tensor } from '../graph/tensor.js';
import { type QuantizeOptions, quantizeModelProto, type QuantizeStats } from './quantize.js';

const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.IModelProto;

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

/** Time spent in ORT `run` calls across every session of the process (ms). */
export const ortClock = { ms: 0, calls: 0 };

const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: 'float32',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
  float64: 'float64',
};
const FROM_ORT: Record<string, DType> = {
  float32: 'float32',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
  float64: 'float64',
};

export function toOrtTensor(t: Tensor): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (!type) throw new Error(`tensor dtype ${t.dtype} is not supported as a task input`);
  return new ort.Tensor(type, t.data as never, [...t.shape]);
}

export function fromOrtTensor(t: ort.Tensor): Tensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new Error(`unsupported ORT output type ${t.type}`);
  return new Tensor(dtype, [...t.dims], t.data as TypedArray);
}

/** Serialized size of all initializers (bytes) — decides external data on export. */
export function modelInitializerBytes(m: ModelProto): number {
  let n = 0;
  for (const t of m.graph?.initializer ?? []) n += t.rawData?.byteLength ?? 0;
  return n;
}

export function encodeModel(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}

/** Above protobuf's 2 GB limit the model must be loaded from a file with external data. */
const EXTERNAL_BYTES = 1.5 * 2 ** 30;

export class TaskSession {
  private constructor(
    readonly name: string,
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly quantized?: QuantizeStats,
  ) {}

  /** ModelProto of a graph with parameters bound as initializers (optionally int8-quantized). */
  static modelProto(
    graph: Graph,
    bind: ReadonlyMap<string, Tensor>,
    dtype: PipelineDType = 'fp32',
    quantize?: QuantizeOptions,
  ): { proto: ModelProto; stats?: QuantizeStats } {
    const proto = toModelProto(graph, { bind, producer: 'beit3 tasks' });
    if (dtype === 'q8') {
      const stats = quantizeModelProto(proto, quantize);
      return { proto, stats };
    }
    return { proto };
  }

  static async create(
    graph: Graph,
    bind: ReadonlyMap<string, Tensor>,
    opts: SessionOptions = {},
  ): Promise<TaskSession> {
    const { proto, stats } = TaskSession.modelProto(graph, bind, opts.dtype, opts.quantize);
    return TaskSession.fromProto(graph.name, proto, opts, stats);
  }

  static async fromProto(
    name: string,
    proto: ModelProto,
    opts: SessionOptions = {},
    stats?: QuantizeStats,
  ): Promise<TaskSession> {
    const sessionOpts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3, // graph-optimizer notices are not the user's business
      ...(opts.specialize ? { freeDimensionOverrides: { ...opts.specialize } } : {}),
    };
    let session: ort.InferenceSession;
    if (modelInitializerBytes(proto) > EXTERNAL_BYTES) {
      const dir = mkdtempSync(join(tmpdir(), 'beit3-task-'));
      try {
        const { writeOnnx } = await import('./export.js');
        const path = join(dir, 'model.onnx');
        writeOnnx(proto, path, { external: true });
        session = await ort.InferenceSession.create(path, sessionOpts);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else session = await ort.InferenceSession.create(encodeModel(proto), sessionOpts);
    const inputs = (proto.graph?.input ?? []).map((v) => v.name!);
    const outputs = (proto.graph?.output ?? []).map((v) => v.name!);
    return new TaskSession(name, session, inputs, outputs, stats);
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const f: Record<string, ort.Tensor> = {};
    for (const n of this.inputNames) {
      const t = feeds[n];
      if (!t) throw new Error(`${this.name}: missing input "${n}" (expects ${this.inputNames.join(', ')})`);
      f[n] = toOrtTensor(t);
    }
    const t0 = performance.now();
    const out = await this.session.run(f);
    ortClock.ms += performance.now() - t0;
    ortClock.calls++;
    const r: Record<string, Tensor> = {};
    for (const n of this.outputNames) r[n] = fromOrtTensor(out[n] as ort.Tensor);
    return r;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Writes bytes atomically (temp file + rename on the same filesystem). */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
