import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { type DType, ONNX_DTYPE, type TypedArray } from '../graph/dtype.js';
import type { Graph } from '../graph/ir.js';
import { encodeOnnxModel, type ModelProto, toModelProto } from '../graph/onnx.js';
import type { Dim } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { availableCores } from '../util/cores.node.js';
import { initializerBytes, modelInitializerBytes, writeExternalModelProto } from './external.js';
import { Beit3Error } from '../util/errors.js';

export interface CompileOptions {
  /** Inputs bound to fixed tensors: embedded as initializers so ORT can pre-pack them. */
  bind?: ReadonlyMap<string, Tensor>;
  /**
   * Intra-op threads. Default: every core the process may use (`availableCores()`: CPU affinity
   * capped by a cgroup quota). 0 leaves the choice to ORT, which is ONE thread on the 2-core
   * machines here.
   */
  threads?: number;
  /**
   * Let idle intra-op threads spin-wait for the next op (ORT's own default). Default false: with
   * every core given to ORT, spinning threads steal those cores from the other sessions of a
   * pipeline (captioning alternates two) and from Node's own threads. Measured, base-224, 2
   * threads, same run: greedy captioning 1.20 → 1.71 captions/s, image b8 6.9 → 8.3 images/s.
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
  /** ORT log severity (0 verbose … 4 fatal; ORT's default 2 prints graph-optimizer warnings). */
  logSeverity?: 0 | 1 | 2 | 3 | 4;
}

/** Compile options of a model given as an ONNX message (its weights are already initializers). */
export type ModelCompileOptions = Omit<CompileOptions, 'bind' | 'fuse'> & {
  /** Name used in messages (default: the model's graph name). */
  name?: string;
};

/** A graph input as a program checks feeds against it. */
export interface InputSignature {
  name: string;
  dtype: DType;
  shape: readonly Dim[];
}

/** Time spent inside ORT `run` calls across every program of the process (ms). */
export const ortClock = { ms: 0, calls: 0 };

export interface RunOptions {
  /**
   * Pre-allocated output tensors (by output name) that ORT writes into instead of allocating:
   * the returned record holds these same Tensor objects. Shapes must match the run's results.
   */
  outputs?: Readonly<Record<string, Tensor>>;
}

export class RuntimeError extends Beit3Error {
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

const FROM_ONNX: Partial<Record<number, DType>> = Object.fromEntries(
  Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]),
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
    resolveThreads(opts.threads),
    opts.optimization ?? 'all',
    String(opts.externalData ?? 'auto'),
    spec,
  ].join('|');
}

/**
 * Most intra-op threads a session may ask for. ORT creates every one up front (and lets them
 * spin), so an absurd count like 100000 stalls the process instead of failing.
 */
export const MAX_THREADS = Math.max(256, 4 * availableParallelism());

/** The intra-op thread count a session gets: `threads`, or every available core when unset. */
export function resolveThreads(threads: number | undefined): number {
  return threads === undefined ? availableCores() : threads;
}

function checkedThreads(threads: number | undefined): number {
  if (threads === undefined) return availableCores();
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_THREADS)
    throw new RuntimeError(
      `threads must be an integer in [0, ${MAX_THREADS}] (0 = ORT's choice), got ${threads}`,
    );
  return threads;
}

export function sessionOptions(opts: ModelCompileOptions): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: opts.optimization ?? 'all',
    intraOpNumThreads: checkedThreads(opts.threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    ...(opts.logSeverity !== undefined ? { logSeverityLevel: opts.logSeverity } : {}),
    ...(opts.specialize ? { freeDimensionOverrides: { ...opts.specialize } } : {}),
    extra: { session: { intra_op: { allow_spinning: opts.spinning ? '1' : '0' } } },
  };
}

/** The one place ORT sessions are created: inline bytes, or external data above `externalData`'s limit. */
async function createSession(
  model: ModelProto,
  weightBytes: number,
  opts: ModelCompileOptions,
): Promise<ort.InferenceSession> {
  const external =
    opts.externalData === true ||
    ((opts.externalData ?? 'auto') === 'auto' && weightBytes > EXTERNAL_AUTO_BYTES);
  if (!external) return ort.InferenceSession.create(encodeOnnxModel(model), sessionOptions(opts));
  const files = writeExternalModelProto(model);
  try {
    return await ort.InferenceSession.create(files.modelPath, sessionOptions(opts));
  } finally {
    files.dispose(); // ORT has read (or mapped) the weights; the folder is no longer needed
  }
}

function signatureOf(model: ModelProto, where: string): InputSignature[] {
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  return (model.graph?.input ?? [])
    .filter((v) => !inits.has(v.name))
    .map((v) => {
      const tt = v.type?.tensorType;
      const dtype = FROM_ONNX[tt?.elemType ?? -1];
      if (!dtype)
        throw new RuntimeError(`${where}: input "${v.name}" has unsupported element type ${tt?.elemType}`);
      const shape = (tt?.shape?.dim ?? []).map((d, i): Dim => {
        if (d.dimValue !== undefined && d.dimValue !== null) return Number(d.dimValue);
        return d.dimParam || `${v.name}_dim${i}`;
      });
      return { name: v.name!, dtype, shape };
    });
}

/** A compiled program: one ORT session, run many times. */
export class Program {
  readonly inputNames: readonly string[];

  private constructor(
    /** Graph name, for messages. */
    readonly name: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: readonly InputSignature[],
    readonly outputNames: readonly string[],
    /** The options this program was compiled with. */
    readonly options: Readonly<CompileOptions>,
  ) {
    this.inputNames = inputs.map((v) => v.name);
  }

  static async compile(graph: Graph, opts: CompileOptions = {}): Promise<Program> {
    const model = toModelProto(graph, { bind: opts.bind, fuse: opts.fuse ?? true });
    const session = await createSession(model, initializerBytes(graph, opts.bind), opts);
    const bound = opts.bind ?? new Map();
    return new Program(
      graph.name,
      session,
      graph.inputs.filter((v) => !bound.has(v.name)),
      graph.outputs.map((v) => v.name),
      { ...opts },
    );
  }

  /**
   * Compiles an ONNX ModelProto as it is (e.g. a rewritten or quantized export), so the bytes ORT
   * runs are exactly the model's; feeds are checked against the model's declared inputs.
   */
  static async fromModelProto(model: ModelProto, opts: ModelCompileOptions = {}): Promise<Program> {
    const name = opts.name ?? model.graph?.name ?? 'model';
    const inputs = signatureOf(model, name);
    const session = await createSession(model, modelInitializerBytes(model), opts);
    const outputs = (model.graph?.output ?? []).map((v) => v.name!);
    return new Program(name, session, inputs, outputs, { ...opts });
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
    for (const v of this.inputs) {
      const name = v.name;
      const t = feeds[name];
      if (!t)
        throw new RuntimeError(
          `missing feed "${name}" for graph ${this.name} (expects ${this.inputNames.join(', ')})`,
        );
      if (t.dtype !== v.dtype)
        throw new RuntimeError(`feed "${name}": expected dtype ${v.dtype}, got ${t.dtype}`);
      if (
        t.shape.length !== v.shape.length ||
        v.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])
      )
        throw new RuntimeError(
          `feed "${name}": expected shape [${v.shape.join(', ')}], got [${t.shape.join(', ')}]`,
        );
      ortFeeds[name] = toOrt(t);
    }
    const pre = opts.outputs;
    let out: ort.InferenceSession.OnnxValueMapType;
    const t0 = performance.now();
    try {
      if (pre) {
        const fetches: Record<string, ort.Tensor | null> = {};
        for (const name of this.outputNames) fetches[name] = pre[name] ? toOrt(pre[name]) : null;
        out = await this.session.run(ortFeeds, fetches as ort.InferenceSession.FetchesType);
      } else out = await this.session.run(ortFeeds);
    } catch (e) {
      throw new RuntimeError(`running graph ${this.name}: ${(e as Error).message}`);
    } finally {
      ortClock.ms += performance.now() - t0;
      ortClock.calls++;
    }
    const result: Record<string, Tensor> = {};
    for (const name of this.outputNames) result[name] = pre?.[name] ?? fromOrt(out[name] as ort.Tensor);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
