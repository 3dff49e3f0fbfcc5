import * as ort from 'onnxruntime-node';
import type { DType, TypedArray } from '../graph/dtype.js';
import type { Graph } from '../graph/ir.js';
import { serialize } from '../graph/onnx.js';
import { Tensor } from '../graph/tensor.js';
import { initializerBytes, writeExternalModel } from './external.js';

export interface CompileOptions {
  /** Inputs bound to fixed tensors: embedded as initializers so ORT can pre-pack them. */
  bind?: ReadonlyMap<string, Tensor>;
  /** Intra-op threads (default: ORT's choice = physical cores). */
  threads?: number;
  /**
   * Let idle intra-op threads spin (ORT default true: lowest latency). Turn off on shared
   * machines where spinning threads steal cores from other processes.
   */
  spinning?: boolean;
  /** ORT graph optimization level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Store initializers as ONNX external data in a temp folder (needed above protobuf's 2 GB
   * limit). 'auto' (default) does so when constants + bound inputs exceed 64 MiB.
   */
  externalData?: boolean | 'auto';
  /**
   * Use ORT fused kernels (contrib Gelu, MultiHeadAttention) registered by composites, for
   * inference (default true). Training steps compile with false: standard ONNX ops only.
   */
  fuse?: boolean;
  /** Fix symbolic dims to sizes (ORT free-dimension overrides) so ORT can plan static shapes. */
  specialize?: Readonly<Record<string, number>>;
}

export interface RunOptions {
  /**
   * Pre-allocated output tensors (by output name) that ORT writes into instead of allocating:
   * the returned record holds these same Tensor objects. Shapes must match the run's results.
   */
  outputs?: Readonly<Record<string, Tensor>>;
}

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/**
 * External data is used from this size on: besides lifting the 2 GB protobuf limit it compiles
 * ~3× faster with ~40% less peak memory than inline initializers (measured on 680 MB of
 * weights, see docs/engine.md), because the weights skip protobuf encoding and parsing.
 */
const EXTERNAL_AUTO_BYTES = 64 * 2 ** 20;

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

const FROM_ORT: Partial<Record<string, DType>> = Object.fromEntries(
  Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]),
);

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, [...t.shape]);
}

function fromOrt(t: ort.Tensor): Tensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new RuntimeError(`unsupported output type ${t.type}`);
  return new Tensor(dtype, [...t.dims], t.data as TypedArray);
}

/** Stable ids for objects used in cache keys (graphs and bind maps are keyed by identity). */
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
function idOf(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = ++nextObjectId));
  return id;
}

const programCache = new WeakMap<Graph, Map<string, Promise<Program>>>();

function cacheKey(graph: Graph, opts: CompileOptions): string {
  // The graph may grow after a compile; its size is part of the identity.
  const version = `${graph.nodes.length}/${graph.inputs.length}/${graph.outputs.length}/${graph.constants.size}`;
  const spec = opts.specialize
    ? Object.entries(opts.specialize)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : '';
  return [
    version,
    opts.bind ? idOf(opts.bind) : 0,
    opts.threads ?? 0,
    opts.optimization ?? 'all',
    String(opts.externalData ?? 'auto'),
    spec,
  ].join('|');
}

/** A compiled program: one ORT session, run many times. */
export class Program {
  private constructor(
    readonly graph: Graph,
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** The options this program was compiled with. */
    readonly options: Readonly<CompileOptions>,
  ) {}

  static async compile(graph: Graph, opts: CompileOptions = {}): Promise<Program> {
    const sessionOpts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: opts.optimization ?? 'all',
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...(opts.specialize ? { freeDimensionOverrides: { ...opts.specialize } } : {}),
      ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    const external =
      opts.externalData === true ||
      ((opts.externalData ?? 'auto') === 'auto' && initializerBytes(graph, opts.bind) > EXTERNAL_AUTO_BYTES);
    let session: ort.InferenceSession;
    if (external) {
      const model = writeExternalModel(graph, { bind: opts.bind, fuse: opts.fuse ?? true });
      try {
        session = await ort.InferenceSession.create(model.modelPath, sessionOpts);
      } finally {
        model.dispose(); // ORT has read (or mapped) the weights; the folder is no longer needed
      }
    } else {
      session = await ort.InferenceSession.create(
        serialize(graph, { bind: opts.bind, fuse: opts.fuse ?? true }),
        sessionOpts,
      );
    }
    const bound = opts.bind ?? new Map();
    return new Program(
      graph,
      session,
      graph.inputs.filter((v) => !bound.has(v.name)).map((v) => v.name),
      graph.outputs.map((v) => v.name),
      { ...opts },
    );
  }

  /**
   * Like compile, but returns the same Program for the same graph (identity and size), bind map
   * (identity) and options, so callers can ask for a program on every call without recompiling.
   */
  static cached(graph: Graph, opts: CompileOptions = {}): Promise<Program> {
    let perGraph = programCache.get(graph);
    if (!perGraph) programCache.set(graph, (perGraph = new Map()));
    const key = cacheKey(graph, opts);
    let p = perGraph.get(key);
    if (!p) {
      p = Program.compile(graph, opts);
      perGraph.set(key, p);
      p.catch(() => perGraph!.delete(key));
    }
    return p;
  }

  /**
   * A program specialized to the concrete sizes that `feeds` give the graph's symbolic dims
   * (cached per input-shape signature), so ORT can plan and fuse with static shapes.
   */
  static forFeeds(
    graph: Graph,
    feeds: Readonly<Record<string, Tensor>>,
    opts: CompileOptions = {},
  ): Promise<Program> {
    const specialize: Record<string, number> = { ...opts.specialize };
    for (const v of graph.inputs) {
      const t = feeds[v.name];
      if (!t) continue;
      v.shape.forEach((d, i) => {
        if (typeof d === 'string') specialize[d] = t.shape[i];
      });
    }
    return Program.cached(graph, { ...opts, specialize });
  }

  /** Runs with named feeds; returns every output by name. */
  async run(feeds: Readonly<Record<string, Tensor>>, opts: RunOptions = {}): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (!t)
        throw new RuntimeError(
          `missing feed "${name}" for graph ${this.graph.name} (expects ${this.inputNames.join(', ')})`,
        );
      const v = this.graph.findInput(name)!;
      if (t.dtype !== v.dtype)
        throw new RuntimeError(`feed "${name}": expected dtype ${v.dtype}, got ${t.dtype}`);
      if (t.shape.length !== v.rank || v.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i]))
        throw new RuntimeError(
          `feed "${name}": expected shape [${v.shape.join(', ')}], got [${t.shape.join(', ')}]`,
        );
      ortFeeds[name] = toOrt(t);
    }
    const pre = opts.outputs;
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      if (pre) {
        const fetches: Record<string, ort.Tensor | null> = {};
        for (const name of this.outputNames) fetches[name] = pre[name] ? toOrt(pre[name]) : null;
        out = await this.session.run(ortFeeds, fetches as ort.InferenceSession.FetchesType);
      } else out = await this.session.run(ortFeeds);
    } catch (e) {
      throw new RuntimeError(`running graph ${this.graph.name}: ${(e as Error).message}`);
    }
    const result: Record<string, Tensor> = {};
    for (const name of this.outputNames) result[name] = pre?.[name] ?? fromOrt(out[name] as ort.Tensor);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
