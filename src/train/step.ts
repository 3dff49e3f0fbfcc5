/**
 * A compiled train step: forward + loss + backward + gradient clipping + AdamW in ONE ORT
 * program (JAX-style: a pure function of params, optimizer state and batch). The TS side keeps
 * two sets of state buffers and lets ORT write the next state into the idle set, then swaps,
 * so no tensors are allocated per step.
 */
import { grad } from '../autodiff/index.js';
import { GraphError, type Graph, type Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { Tensor } from '../graph/tensor.js';
import { type CompileOptions, Program, RuntimeError } from '../runtime/session.js';
import {
  ADAMW_DEFAULTS,
  type AdamWConfig,
  adamwUpdate,
  clipByGlobalNorm,
  globalNorm,
  type ParamOptions,
} from './optim.js';

export type { AdamWConfig, ParamOptions } from './optim.js';

export interface TrainStepOptions {
  /** The graph holding the forward pass and the loss; gradient and update nodes are added to it. */
  graph: Graph;
  /** Scalar loss value. */
  loss: Value;
  /** Parameters: graph inputs (floating point) that the optimizer updates. */
  params: readonly Value[];
  adamw?: AdamWConfig;
  /** Per-parameter options (weight decay on/off, lr scale), by parameter name. */
  paramOptions?: Readonly<Record<string, ParamOptions>> | ((name: string) => ParamOptions | undefined);
  /** Clip gradients to this global L2 norm (off when undefined or 0). */
  clipGradNorm?: number;
  /** Extra values to return every step (e.g. logits, accuracy), by output name. */
  outputs?: Readonly<Record<string, Value>>;
  compile?: CompileOptions;
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The extra outputs requested in TrainStepOptions.outputs (fresh tensors each step). */
  outputs: Record<string, Tensor>;
}

/** Names of the optimizer state and scalar inputs the step adds to the graph. */
const M = (n: string) => `adamw.m.${n}`;
const V = (n: string) => `adamw.v.${n}`;
const NEW = (n: string) => `next.${n}`;
const NEW_M = (n: string) => `next.adamw.m.${n}`;
const NEW_V = (n: string) => `next.adamw.v.${n}`;

interface StateSet {
  params: Map<string, Tensor>;
  m: Map<string, Tensor>;
  v: Map<string, Tensor>;
}

export class TrainStep {
  private cur: StateSet;
  private next: StateSet;
  private t = 0;
  private readonly lossBuf: Tensor;
  private readonly normBuf: Tensor;
  private readonly lrBuf: Tensor;
  private readonly stepBuf: Tensor;

  private constructor(
    readonly program: Program,
    readonly paramNames: readonly string[],
    private readonly paramShapes: ReadonlyMap<string, readonly number[]>,
    readonly dtype: 'float32' | 'float64',
    private readonly extraNames: readonly string[],
  ) {
    const alloc = (): StateSet => {
      const mk = () => new Map(paramNames.map((n) => [n, Tensor.zeros(dtype, paramShapes.get(n)!)]));
      return { params: mk(), m: mk(), v: mk() };
    };
    this.cur = alloc();
    this.next = alloc();
    this.lossBuf = Tensor.zeros(dtype, []);
    this.normBuf = Tensor.zeros(dtype, []);
    this.lrBuf = Tensor.zeros(dtype, []);
    this.stepBuf = Tensor.zeros(dtype, []);
  }

  /** Builds backward + optimizer into `opts.graph` and compiles the whole step. */
  static async compile(opts: TrainStepOptions): Promise<TrainStep> {
    const { graph: g, loss, params } = opts;
    if (loss.graph !== g) throw new GraphError('TrainStep: loss belongs to another graph');
    if (loss.rank !== 0) throw new GraphError(`TrainStep: loss must be a scalar, got ${loss.toString()}`);
    const dtype = loss.dtype;
    if (dtype !== 'float32' && dtype !== 'float64')
      throw new GraphError(`TrainStep: loss dtype ${dtype} is not supported (float32/float64)`);
    const shapes = new Map<string, readonly number[]>();
    for (const p of params) {
      if (!g.inputs.includes(p)) throw new GraphError(`TrainStep: parameter ${p.name} must be a graph input`);
      if (p.dtype !== dtype)
        throw new GraphError(`TrainStep: parameter ${p.toString()} must have the loss dtype ${dtype}`);
      if (!p.shape.every((d) => typeof d === 'number'))
        throw new GraphError(`TrainStep: parameter ${p.toString()} must have a static shape`);
      shapes.set(p.name, p.shape as number[]);
    }
    const cfg = { ...ADAMW_DEFAULTS, ...opts.adamw };
    const po = (n: string): ParamOptions =>
      (typeof opts.paramOptions === 'function' ? opts.paramOptions(n) : opts.paramOptions?.[n]) ?? {};

    const lr = g.input('train.lr', dtype, []);
    const t = g.input('train.step', dtype, []);
    const bc = (beta: number) => ops.sub(1, ops.pow(g.constant(Tensor.scalar(beta, dtype), 'beta'), t));
    const scalars = { lr, bc1: bc(cfg.beta1), bc2: bc(cfg.beta2) };

    let grads = grad(loss, params);
    const norm = globalNorm(grads);
    if (opts.clipGradNorm) grads = clipByGlobalNorm(grads, norm, opts.clipGradNorm);
    g.output(loss, 'train.loss');
    g.output(norm, 'train.grad_norm');
    params.forEach((p, i) => {
      const m = g.input(M(p.name), dtype, p.shape);
      const v = g.input(V(p.name), dtype, p.shape);
      const [p2, m2, v2] = adamwUpdate(p, grads[i], m, v, scalars, cfg, po(p.name));
      g.output(p2, NEW(p.name));
      g.output(m2, NEW_M(p.name));
      g.output(v2, NEW_V(p.name));
    });
    const extraNames = Object.keys(opts.outputs ?? {});
    for (const name of extraNames) g.output(opts.outputs![name], name);
    // Standard ONNX ops only in training programs (no contrib fused kernels).
    const program = await Program.compile(g, { ...opts.compile, fuse: false });
    return new TrainStep(
      program,
      params.map((p) => p.name),
      shapes,
      dtype,
      extraNames,
    );
  }

  /** Sets parameter values (copied) and resets the optimizer state and step count. */
  init(values: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): void {
    const get = (n: string) =>
      values instanceof Map ? values.get(n) : (values as Record<string, Tensor>)[n];
    for (const n of this.paramNames) {
      const t = get(n);
      const dst = this.cur.params.get(n)!;
      if (!t) throw new RuntimeError(`TrainStep.init: no value for parameter "${n}"`);
      if (t.dtype !== dst.dtype || t.shape.join() !== dst.shape.join())
        throw new RuntimeError(
          `TrainStep.init: parameter "${n}" expected ${dst.dtype}[${dst.shape}], got ${t.dtype}[${t.shape}]`,
        );
      (dst.data as Float32Array).set(t.data as Float32Array);
      (this.cur.m.get(n)!.data as Float32Array).fill(0);
      (this.cur.v.get(n)!.data as Float32Array).fill(0);
    }
    this.t = 0;
  }

  /** One optimizer step on `batch` (the non-parameter inputs) with learning rate `lr`. */
  async step(batch: Readonly<Record<string, Tensor>>, lr: number): Promise<StepResult> {
    this.t += 1;
    this.lrBuf.data[0] = lr;
    this.stepBuf.data[0] = this.t;
    const feeds: Record<string, Tensor> = { ...batch, 'train.lr': this.lrBuf, 'train.step': this.stepBuf };
    const outputs: Record<string, Tensor> = { 'train.loss': this.lossBuf, 'train.grad_norm': this.normBuf };
    for (const n of this.paramNames) {
      feeds[n] = this.cur.params.get(n)!;
      feeds[M(n)] = this.cur.m.get(n)!;
      feeds[V(n)] = this.cur.v.get(n)!;
      outputs[NEW(n)] = this.next.params.get(n)!;
      outputs[NEW_M(n)] = this.next.m.get(n)!;
      outputs[NEW_V(n)] = this.next.v.get(n)!;
    }
    let res: Record<string, Tensor>;
    try {
      res = await this.program.run(feeds, { outputs });
    } catch (e) {
      this.t -= 1;
      throw e;
    }
    [this.cur, this.next] = [this.next, this.cur];
    const extra: Record<string, Tensor> = {};
    for (const n of this.extraNames) extra[n] = res[n];
    return { loss: this.lossBuf.data[0] as number, gradNorm: this.normBuf.data[0] as number, outputs: extra };
  }

  /** Number of steps taken since init. */
  get stepCount(): number {
    return this.t;
  }

  /** Current parameter values (live buffers: copy them to keep a snapshot across steps). */
  params(): Map<string, Tensor> {
    return new Map(this.cur.params);
  }

  /** Optimizer state for checkpoints: step count and first/second moments (live buffers). */
  optimizerState(): { step: number; m: Map<string, Tensor>; v: Map<string, Tensor> } {
    return { step: this.t, m: new Map(this.cur.m), v: new Map(this.cur.v) };
  }

  /** Restores a checkpoint written from params() + optimizerState(). */
  loadState(
    params: ReadonlyMap<string, Tensor>,
    state: { step: number; m: ReadonlyMap<string, Tensor>; v: ReadonlyMap<string, Tensor> },
  ): void {
    this.init(params);
    for (const n of this.paramNames) {
      const [m, v] = [state.m.get(n), state.v.get(n)];
      if (!m || !v) throw new RuntimeError(`TrainStep.loadState: missing optimizer state for "${n}"`);
      (this.cur.m.get(n)!.data as Float32Array).set(m.data as Float32Array);
      (this.cur.v.get(n)!.data as Float32Array).set(v.data as Float32Array);
    }
    this.t = state.step;
  }

  async release(): Promise<void> {
    await this.program.release();
  }
}

/** Convenience: compile a train step (see TrainStep.compile). */
export const compileTrainStep = (opts: TrainStepOptions): Promise<TrainStep> => TrainStep.compile(opts);
