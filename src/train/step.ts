/**
 * The compiled train step: a pure function of (params, optimizer state, extra state, batch)
 * run inside ONNX Runtime, in the semantics of unilm's `train_one_epoch` on the loss-scaler path
 * (train-ref README §4.1–4.4):
 * - updateFreq 1: ONE program does forward + loss + backward + grad norm + clip + AdamW;
 * - updateFreq k > 1: an accumulate program (forward + backward of loss/k, gradients added into
 *   accumulator buffers inside ORT) runs per micro-batch, and a small update program (norm,
 *   clip, AdamW) after every k-th one;
 * - the lr of every group is latched at the first micro-batch of an accumulation (schedule value
 *   · lr_scale) and its weight decay is constant;
 * - only the parameters the forward uses get gradients and optimizer state (torch: grad None →
 *   skipped by AdamW); parameters with exactly-zero gradients are still decayed and updated;
 * - the global norm before clipping is returned; the clip coefficient min(c/(norm+1e-6), 1) is
 *   applied to every gradient, also when it is 1.
 * Extra non-parameter state (e.g. a codebook EMA updated by the forward) travels as graph inputs
 * with "next" outputs; stochastic inputs (drop path draws) are U[0,1) feeds drawn per micro-batch
 * from the seed, so a run is reproducible and resumable. Every state tensor has two buffers: ORT
 * writes the next state into the idle set, which becomes current only if the step succeeded.
 */
import { grad } from '../autodiff/index.js';
import { Graph, GraphError, type Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { Tensor } from '../graph/tensor.js';
import { type CompileOptions, Program } from '../runtime/session.js';
import { Beit3Error } from '../util/errors.js';
import { deriveSeed, Rng } from '../util/random.js';
import {
  ADAMW_DEFAULTS,
  type AdamWConfig,
  adamwHostScalars,
  adamwUpdate,
  clipCoefficient,
  globalNorm,
  type ParamOptions,
} from './optim.js';
import type { ParamGroup } from './param-groups.js';

export type { AdamWConfig, ParamOptions } from './optim.js';

/** Bad train-step setup or state (names the parameter / tensor and what was expected). */
export class TrainStepError extends Beit3Error {
  override name = 'TrainStepError';
}

/** A micro-batch gave a non-finite loss or gradient norm; the state is left as before it. */
export class NonFiniteError extends Beit3Error {
  override name = 'NonFiniteError';
  constructor(
    message: string,
    readonly microStep: number,
    readonly step: number,
  ) {
    super(message);
  }
}

/** A non-parameter state tensor the forward updates (graph input + its next value). */
export interface StateUpdate {
  input: Value;
  next: Value;
}

export interface TrainStepOptions {
  /** The graph holding the forward pass and the loss; gradient and update nodes are added to it. */
  graph: Graph;
  /** Scalar loss of one micro-batch, BEFORE the division by updateFreq. */
  loss: Value;
  /** Parameters the forward uses (graph inputs, floating point, static shapes): they get gradients. */
  params: readonly Value[];
  /**
   * Optimizer groups (train/param-groups.ts) by parameter name; may also list parameters the
   * graph does not use (they keep grad None). Default: one group from `paramOptions`/adamw.
   */
  groups?: readonly ParamGroup[];
  /** Legacy per-parameter options (weight decay on/off, lr scale) used when `groups` is absent. */
  paramOptions?: Readonly<Record<string, ParamOptions>> | ((name: string) => ParamOptions | undefined);
  /** betas / eps (and the weight decay of the legacy form). */
  adamw?: AdamWConfig;
  /** Clip the accumulated gradient to this global L2 norm (off when undefined, null or 0). */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step (official --update_freq, default 1). */
  updateFreq?: number;
  /** Non-parameter state updated by the forward (updated in the program that runs the forward). */
  state?: readonly StateUpdate[];
  /** Graph inputs fed with fresh U[0,1) draws every micro-batch (drop path, dropout). */
  noise?: readonly Value[];
  /** Seed of the noise draws (default 0). */
  seed?: number;
  /** Extra values to return every micro-step (e.g. acc, logits), by output name. */
  outputs?: Readonly<Record<string, Value>>;
  /** Keep an exponential moving average of the parameters (timm ModelEma), updated after every optimizer step. */
  ema?: { decay: number };
  /** 'throw' (default): a non-finite loss / grad norm raises NonFiniteError and keeps the state; 'ignore': step anyway (as torch). */
  nonFinite?: 'throw' | 'ignore';
  /** Return the accumulated pre-clip gradients of every optimizer step (tests, parity); costs a copy. */
  exposeGrads?: boolean;
  compile?: CompileOptions;
}

export interface MicroStepResult {
  /** The micro-batch loss before the division by updateFreq (what the official engine logs). */
  loss: number;
  /** The requested extra outputs (fresh tensors). */
  outputs: Record<string, Tensor>;
  /** 0-based index of this micro-batch since init. */
  microStep: number;
  /** Optimizer step (schedule index) this micro-batch belongs to. */
  step: number;
  /** True when an optimizer step ran after this micro-batch. */
  update: boolean;
  /** Global gradient norm before clipping (update micro-steps only). */
  gradNorm?: number;
  /** The factor applied to every gradient (update micro-steps with clipping only). */
  clipCoef?: number;
  /** lr of every group used by this optimizer step (in group order). */
  lr?: number[];
  /** The accumulated gradient AdamW saw, before clipping (exposeGrads only; fresh tensors). */
  grads?: Map<string, Tensor>;
}

/** Legacy one-step result (updateFreq 1). */
export interface StepResult {
  loss: number;
  gradNorm: number;
  outputs: Record<string, Tensor>;
}

/**
 * The whole training state as plain data (tensors by name), enough to continue bit-for-bit.
 * Maps hold copies unless asked for live buffers.
 */
export interface TrainState {
  /** Optimizer steps taken = AdamW's step count = schedule index of the next optimizer step. */
  step: number;
  /** Micro-batches consumed since the start (positions the noise stream). */
  microStep: number;
  /** Micro-batches already accumulated toward the next optimizer step (0 at a step boundary). */
  accumulated: number;
  /** Schedule value latched at the first micro-batch of the pending accumulation (null at a boundary). */
  lr: number | null;
  /** Every parameter, also those the graph does not use. */
  params: Map<string, Tensor>;
  /** AdamW exp_avg / exp_avg_sq of the parameters with gradients (empty before the first step). */
  m: Map<string, Tensor>;
  v: Map<string, Tensor>;
  /** Non-parameter state by input name. */
  extra: Map<string, Tensor>;
  /** Accumulated gradients of the pending accumulation (empty at a step boundary). */
  grads: Map<string, Tensor>;
  /** Parameter EMA (empty without EMA). */
  ema: Map<string, Tensor>;
}

// Names of what the step adds to the graphs.
const M = (n: string) => `adamw.m.${n}`;
const V = (n: string) => `adamw.v.${n}`;
const ACC = (n: string) => `acc.${n}`;
const EMA = (n: string) => `ema.${n}`;
const GRAD = (n: string) => `grad.${n}`;
const NEXT = (n: string) => `next.${n}`;
const LOSS = 'train.loss';
const NORM = 'train.grad_norm';
const COEF = 'train.clip_coef';
const DECAY = 'train.decay';
const STEP_SIZE = 'train.step_size';
const BC2 = 'train.bc2_sqrt';

type Float = 'float32' | 'float64';

/** Two buffers per name: `cur` is the state, ORT writes `next`; swap on success. */
class DoubleBuffer {
  cur = new Map<string, Tensor>();
  next = new Map<string, Tensor>();
  add(name: string, dtype: Tensor['dtype'], shape: readonly number[]): void {
    this.cur.set(name, Tensor.zeros(dtype, shape));
    this.next.set(name, Tensor.zeros(dtype, shape));
  }
  swap(): void {
    [this.cur, this.next] = [this.next, this.cur];
  }
}

function copyOf(t: Tensor): Tensor {
  return new Tensor(t.dtype, [...t.shape], t.data.slice() as Tensor['data']);
}

function setInto(dst: Tensor, src: Tensor, what: string): void {
  if (src.dtype !== dst.dtype || src.shape.join() !== dst.shape.join())
    throw new TrainStepError(`${what}: expected ${dst.dtype}[${dst.shape}], got ${src.dtype}[${src.shape}]`);
  (dst.data as Float32Array).set(src.data as Float32Array);
}

function getFrom(values: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, n: string) {
  return values instanceof Map ? values.get(n) : (values as Record<string, Tensor>)[n];
}

/** Groups from the legacy per-parameter options: one group per distinct (lr scale, decay) pair. */
function legacyGroups(
  names: readonly string[],
  po: TrainStepOptions['paramOptions'],
  weightDecay: number,
): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  for (const n of names) {
    const o = (typeof po === 'function' ? po(n) : po?.[n]) ?? {};
    const wd = (o.weightDecay ?? true) ? weightDecay : 0;
    const scale = o.lrScale ?? 1;
    const key = `${scale}|${wd}`;
    let g = groups.get(key);
    if (!g)
      groups.set(key, (g = { name: `group_${groups.size}`, lrScale: scale, weightDecay: wd, params: [] }));
    g.params.push(n);
  }
  return [...groups.values()];
}

export class TrainStep {
  private readonly paramBuf = new DoubleBuffer();
  private readonly moments = new DoubleBuffer();
  private readonly extra = new DoubleBuffer();
  private readonly acc = new DoubleBuffer();
  private readonly emaBuf = new DoubleBuffer();
  /** Parameters the graph does not use (grad None): carried unchanged. */
  private readonly idle = new Map<string, Tensor>();
  private t = 0;
  private micro = 0;
  private accumulated = 0;
  private latchedLr: number | null = null;
  private readonly lossBuf: Tensor;
  private readonly normBuf: Tensor;
  private readonly coefBuf: Tensor;
  private readonly decayBuf: Tensor;
  private readonly stepSizeBuf: Tensor;
  private readonly bc2Buf: Tensor;
  private readonly noiseCache = new Map<string, Tensor>();

  private constructor(
    /** updateFreq 1: the whole step; else the accumulate program. */
    readonly program: Program,
    /** The update program (updateFreq > 1), else null. */
    readonly updateProgram: Program | null,
    /** Parameters with gradients, in graph order. */
    readonly paramNames: readonly string[],
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    readonly dtype: Float,
    readonly groups: readonly ParamGroup[],
    private readonly groupOf: readonly number[],
    readonly updateFreq: number,
    private readonly cfg: Required<AdamWConfig>,
    private readonly clip: number | null,
    private readonly extraOutputs: readonly string[],
    private readonly stateNames: readonly string[],
    private readonly noise: readonly Value[],
    private readonly symbolic: readonly Value[],
    private readonly seed: number,
    readonly emaDecay: number | null,
    private readonly nonFinite: 'throw' | 'ignore',
    private readonly exposeGrads: boolean,
  ) {
    for (const n of paramNames) {
      const shape = shapes.get(n)!;
      this.paramBuf.add(n, dtype, shape);
      this.moments.add(M(n), dtype, shape);
      this.moments.add(V(n), dtype, shape);
      if (updateFreq > 1) this.acc.add(ACC(n), dtype, shape);
      if (emaDecay !== null) this.emaBuf.add(EMA(n), dtype, shape);
    }
    this.lossBuf = Tensor.zeros(dtype, []);
    this.normBuf = Tensor.zeros(dtype, []);
    this.coefBuf = Tensor.zeros(dtype, []);
    this.decayBuf = Tensor.zeros(dtype, [groups.length]);
    this.stepSizeBuf = Tensor.zeros(dtype, [groups.length]);
    this.bc2Buf = Tensor.zeros(dtype, []);
  }

  /** Builds backward + optimizer into `opts.graph` (and an update graph) and compiles them. */
  static async compile(opts: TrainStepOptions): Promise<TrainStep> {
    const { graph: g, loss, params } = opts;
    if (loss.graph !== g) throw new GraphError('TrainStep: loss belongs to another graph');
    if (loss.rank !== 0) throw new GraphError(`TrainStep: loss must be a scalar, got ${loss.toString()}`);
    const dtype = loss.dtype;
    if (dtype !== 'float32' && dtype !== 'float64')
      throw new GraphError(`TrainStep: loss dtype ${dtype} is not supported (float32/float64)`);
    const uf = opts.updateFreq ?? 1;
    if (!Number.isInteger(uf) || uf < 1)
      throw new TrainStepError(`updateFreq must be an integer ≥ 1, got ${uf}`);
    const clip = opts.clipGradNorm ? opts.clipGradNorm : null;
    if (clip !== null && !(clip > 0)) throw new TrainStepError(`clipGradNorm must be > 0, got ${clip}`);
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
    const names = params.map((p) => p.name);
    const groups = opts.groups ? [...opts.groups] : legacyGroups(names, opts.paramOptions, cfg.weightDecay);
    const groupIndex = new Map<string, number>();
    groups.forEach((gr, i) =>
      gr.params.forEach((n) => {
        if (groupIndex.has(n))
          throw new TrainStepError(
            `parameter ${n} is in two groups (${groups[groupIndex.get(n)!].name}, ${gr.name})`,
          );
        groupIndex.set(n, i);
      }),
    );
    const missing = names.filter((n) => !groupIndex.has(n));
    if (missing.length)
      throw new TrainStepError(`parameters in no optimizer group: ${missing.slice(0, 10).join(', ')}`);
    const groupOf = names.map((n) => groupIndex.get(n)!);
    const decays = groups.map((gr) => gr.weightDecay !== 0);
    const emaDecay = opts.ema ? opts.ema.decay : null;
    if (emaDecay !== null && !(emaDecay >= 0 && emaDecay <= 1))
      throw new TrainStepError(`ema decay must be in [0, 1], got ${emaDecay}`);
    const state = opts.state ?? [];
    for (const s of state)
      if (!g.inputs.includes(s.input))
        throw new GraphError(`TrainStep: state ${s.input.name} must be a graph input`);
    const noise = opts.noise ?? [];
    for (const n of noise)
      if (!g.inputs.includes(n) || (n.dtype !== 'float32' && n.dtype !== 'float64'))
        throw new GraphError(`TrainStep: noise ${n.name} must be a floating-point graph input`);

    // The forward program's outputs shared by both layouts.
    g.output(loss, LOSS);
    const extraOutputs = Object.keys(opts.outputs ?? {});
    for (const name of extraOutputs) g.output(opts.outputs![name], name);
    for (const s of state) g.output(s.next, NEXT(s.input.name));

    const compileOpts: CompileOptions = { ...opts.compile, fuse: false };
    let program: Program;
    let updateProgram: Program | null = null;
    if (uf === 1) {
      const grads = grad(loss, params);
      if (opts.exposeGrads) params.forEach((p, i) => g.output(grads[i], GRAD(p.name)));
      addUpdate(g, params, grads, dtype, decays, groupOf, cfg, clip, emaDecay);
      program = await Program.compile(g, compileOpts);
    } else {
      // torch: (loss / update_freq).backward() accumulates into .grad
      const grads = grad(ops.div(loss, uf), params);
      params.forEach((p, i) =>
        g.output(ops.add(g.input(ACC(p.name), dtype, p.shape), grads[i]), NEXT(ACC(p.name))),
      );
      const u = new Graph(`${g.name}.update`);
      const ps = params.map((p) => u.input(p.name, dtype, p.shape));
      const gs = params.map((p) => u.input(ACC(p.name), dtype, p.shape));
      addUpdate(u, ps, gs, dtype, decays, groupOf, cfg, clip, emaDecay);
      [program, updateProgram] = await Promise.all([
        Program.compile(g, compileOpts),
        Program.compile(u, compileOpts),
      ]);
    }
    const symbolic = g.inputs.filter((v) => v.shape.some((d) => typeof d === 'string'));
    return new TrainStep(
      program,
      updateProgram,
      names,
      shapes,
      dtype,
      groups,
      groupOf,
      uf,
      cfg,
      clip,
      extraOutputs,
      state.map((s) => s.input.name),
      noise,
      symbolic,
      opts.seed ?? 0,
      emaDecay,
      opts.nonFinite ?? 'throw',
      opts.exposeGrads === true,
    ).withState(state);
  }

  private withState(state: readonly StateUpdate[]): this {
    for (const s of state) {
      if (!s.input.shape.every((d) => typeof d === 'number'))
        throw new GraphError(`TrainStep: state ${s.input.name} must have a static shape`);
      this.extra.add(s.input.name, s.input.dtype, s.input.shape as number[]);
    }
    return this;
  }

  /**
   * Starts training from `values`: every graph parameter and state tensor must be present;
   * other parameters given (those the graph does not use) are carried unchanged. Optimizer
   * state, accumulators and counters are reset; the EMA starts at the parameters.
   */
  init(values: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): void {
    for (const n of this.paramNames) {
      const t = getFrom(values, n);
      if (!t) throw new TrainStepError(`init: no value for parameter "${n}"`);
      setInto(this.paramBuf.cur.get(n)!, t, `init: parameter "${n}"`);
      if (this.emaDecay !== null) setInto(this.emaBuf.cur.get(EMA(n))!, t, `init: parameter "${n}"`);
    }
    for (const n of this.stateNames) {
      const t = getFrom(values, n);
      if (!t) throw new TrainStepError(`init: no value for state "${n}"`);
      setInto(this.extra.cur.get(n)!, t, `init: state "${n}"`);
    }
    this.idle.clear();
    const keys = values instanceof Map ? [...values.keys()] : Object.keys(values);
    for (const k of keys)
      if (!this.paramBuf.cur.has(k) && !this.extra.cur.has(k)) this.idle.set(k, copyOf(getFrom(values, k)!));
    for (const t of this.moments.cur.values()) (t.data as Float32Array).fill(0);
    for (const t of this.acc.cur.values()) (t.data as Float32Array).fill(0);
    this.t = 0;
    this.micro = 0;
    this.accumulated = 0;
    this.latchedLr = null;
  }

  /** Noise feeds of micro-batch `micro`: U[0,1) per element from deriveSeed(seed, 'noise', micro, name). */
  private noiseFeeds(feeds: Record<string, Tensor>, micro: number): void {
    if (!this.noise.length) return;
    const dims = new Map<string, number>();
    for (const v of this.symbolic) {
      const t = feeds[v.name];
      if (t) v.shape.forEach((d, i) => typeof d === 'string' && dims.set(d, t.shape[i]));
    }
    for (const v of this.noise) {
      const shape = v.shape.map((d) => {
        const n = typeof d === 'number' ? d : dims.get(d);
        if (n === undefined)
          throw new TrainStepError(`noise ${v.name}: size of dim "${d}" unknown (no feed has it)`);
        return n;
      });
      const key = `${v.name}|${shape}`;
      let t = this.noiseCache.get(key);
      if (!t) this.noiseCache.set(key, (t = Tensor.zeros(v.dtype, shape)));
      const rng = new Rng(deriveSeed(this.seed, 'noise', micro, v.name));
      for (let i = 0; i < t.size; i++) t.data[i] = rng.next();
      feeds[v.name] = t;
    }
  }

  /** Host-computed AdamW scalars of optimizer step t with schedule value `lr`; returns the group lrs. */
  private fillScalars(lr: number, t: number): number[] {
    const lrs: number[] = [];
    this.bc2Buf.data[0] = adamwHostScalars(0, 0, t, this.cfg).bc2Sqrt;
    this.groups.forEach((gr, i) => {
      const glr = lr * gr.lrScale;
      const s = adamwHostScalars(glr, gr.weightDecay, t, this.cfg);
      this.decayBuf.data[i] = s.decay;
      this.stepSizeBuf.data[i] = s.stepSize;
      lrs.push(glr);
    });
    return lrs;
  }

  private updateIO(feeds: Record<string, Tensor>, outputs: Record<string, Tensor>): void {
    feeds[DECAY] = this.decayBuf;
    feeds[STEP_SIZE] = this.stepSizeBuf;
    feeds[BC2] = this.bc2Buf;
    outputs[NORM] = this.normBuf;
    if (this.clip !== null) outputs[COEF] = this.coefBuf;
    for (const n of this.paramNames) {
      feeds[n] = this.paramBuf.cur.get(n)!;
      outputs[NEXT(n)] = this.paramBuf.next.get(n)!;
      for (const k of [M(n), V(n)]) {
        feeds[k] = this.moments.cur.get(k)!;
        outputs[NEXT(k)] = this.moments.next.get(k)!;
      }
      if (this.emaDecay !== null) {
        feeds[EMA(n)] = this.emaBuf.cur.get(EMA(n))!;
        outputs[NEXT(EMA(n))] = this.emaBuf.next.get(EMA(n))!;
      }
    }
  }

  /**
   * One micro-batch: `batch` holds the non-parameter feeds, `scheduleValue` the schedule entry
   * of this micro-batch's optimizer step (only the value given at the first micro-batch of an
   * accumulation is used, as the official loop sets the lr only then).
   */
  async microStep(batch: Readonly<Record<string, Tensor>>, scheduleValue: number): Promise<MicroStepResult> {
    if (!Number.isFinite(scheduleValue))
      throw new TrainStepError(`learning rate must be finite, got ${scheduleValue}`);
    const micro = this.micro;
    const k = this.t;
    const lr = this.accumulated === 0 ? scheduleValue : this.latchedLr!;
    const isUpdate = this.accumulated + 1 === this.updateFreq;
    const feeds: Record<string, Tensor> = { ...batch };
    const outputs: Record<string, Tensor> = { [LOSS]: this.lossBuf };
    this.noiseFeeds(feeds, micro);
    for (const n of this.stateNames) {
      feeds[n] = this.extra.cur.get(n)!;
      outputs[NEXT(n)] = this.extra.next.get(n)!;
    }
    let lrs: number[] | undefined;
    let res: Record<string, Tensor>;
    if (this.updateFreq === 1) {
      lrs = this.fillScalars(lr, k + 1);
      this.updateIO(feeds, outputs);
      res = await this.program.run(feeds, { outputs });
    } else {
      if (this.accumulated === 0) for (const t of this.acc.cur.values()) (t.data as Float32Array).fill(0);
      for (const n of this.paramNames) {
        feeds[n] = this.paramBuf.cur.get(n)!;
        feeds[ACC(n)] = this.acc.cur.get(ACC(n))!;
        outputs[NEXT(ACC(n))] = this.acc.next.get(ACC(n))!;
      }
      res = await this.program.run(feeds, { outputs });
    }
    const loss = Number(this.lossBuf.data[0]);
    if (!Number.isFinite(loss) && this.nonFinite === 'throw')
      throw new NonFiniteError(
        `non-finite loss ${loss} at micro-batch ${micro} (optimizer step ${k}); state kept`,
        micro,
        k,
      );
    if (isUpdate && this.updateProgram) {
      lrs = this.fillScalars(lr, k + 1);
      const uf: Record<string, Tensor> = {};
      const uo: Record<string, Tensor> = {};
      this.updateIO(uf, uo);
      for (const n of this.paramNames) uf[ACC(n)] = this.acc.next.get(ACC(n))!;
      await this.updateProgram.run(uf, { outputs: uo });
    }
    const gradNorm = isUpdate ? Number(this.normBuf.data[0]) : undefined;
    if (isUpdate && !Number.isFinite(gradNorm) && this.nonFinite === 'throw')
      throw new NonFiniteError(
        `non-finite gradient norm ${gradNorm} at optimizer step ${k} (micro-batch ${micro}); state kept`,
        micro,
        k,
      );
    // Success: commit.
    this.extra.swap();
    if (this.updateFreq > 1) this.acc.swap();
    this.micro += 1;
    if (isUpdate) {
      this.paramBuf.swap();
      this.moments.swap();
      if (this.emaDecay !== null) this.emaBuf.swap();
      this.t += 1;
      this.accumulated = 0;
      this.latchedLr = null;
    } else {
      this.accumulated += 1;
      this.latchedLr = lr;
    }
    const extra: Record<string, Tensor> = {};
    for (const n of this.extraOutputs) extra[n] = res[n];
    const r: MicroStepResult = { loss, outputs: extra, microStep: micro, step: k, update: isUpdate };
    if (isUpdate) {
      if (this.exposeGrads)
        r.grads = new Map(
          this.paramNames.map((n) => [
            n,
            this.updateFreq === 1 ? res[GRAD(n)] : copyOf(this.acc.cur.get(ACC(n))!),
          ]),
        );
      r.gradNorm = gradNorm;
      if (this.clip !== null) r.clipCoef = Number(this.coefBuf.data[0]);
      r.lr = lrs;
    }
    return r;
  }

  /** Legacy: one optimizer step (updateFreq 1) on `batch` with learning rate `lr`. */
  async step(batch: Readonly<Record<string, Tensor>>, lr: number): Promise<StepResult> {
    if (this.updateFreq !== 1) throw new TrainStepError('step(): use microStep() when updateFreq > 1');
    const r = await this.microStep(batch, lr);
    return { loss: r.loss, gradNorm: r.gradNorm!, outputs: r.outputs };
  }

  /** Optimizer steps taken since init. */
  get stepCount(): number {
    return this.t;
  }

  /** Current parameter values (graph parameters are live buffers: copy them to keep a snapshot). */
  params(): Map<string, Tensor> {
    return new Map([...this.paramBuf.cur, ...this.idle]);
  }

  /** The whole state as plain data (copies unless `live`: then valid until the next micro-step). */
  getState(opts: { live?: boolean } = {}): TrainState {
    const c = opts.live ? (t: Tensor) => t : copyOf;
    const map = (m: Map<string, Tensor>, prefix = '') =>
      new Map([...m].map(([k, t]) => [k.slice(prefix.length), c(t)] as [string, Tensor]));
    const params = new Map<string, Tensor>();
    for (const [k, t] of this.idle) params.set(k, c(t));
    for (const [k, t] of this.paramBuf.cur) params.set(k, c(t));
    const m = new Map<string, Tensor>();
    const v = new Map<string, Tensor>();
    if (this.t > 0)
      for (const n of this.paramNames) {
        m.set(n, c(this.moments.cur.get(M(n))!));
        v.set(n, c(this.moments.cur.get(V(n))!));
      }
    return {
      step: this.t,
      microStep: this.micro,
      accumulated: this.accumulated,
      lr: this.latchedLr,
      params,
      m,
      v,
      extra: map(this.extra.cur),
      grads: this.accumulated > 0 ? map(this.acc.cur, 'acc.') : new Map(),
      ema: map(this.emaBuf.cur, 'ema.'),
    };
  }

  /** Restores a state written from getState() (checked against this step's parameters and shapes). */
  setState(st: TrainState): void {
    for (const [k, v] of [
      ['step', st.step],
      ['microStep', st.microStep],
      ['accumulated', st.accumulated],
    ] as const)
      if (!Number.isInteger(v) || v < 0)
        throw new TrainStepError(`setState: ${k} must be an integer ≥ 0, got ${v}`);
    if (st.accumulated >= this.updateFreq)
      throw new TrainStepError(
        `setState: ${st.accumulated} accumulated micro-batches with updateFreq ${this.updateFreq}`,
      );
    if (st.accumulated > 0 && (st.lr === null || !Number.isFinite(st.lr)))
      throw new TrainStepError('setState: a pending accumulation needs its latched lr');
    this.init(new Map([...st.params, ...st.extra]));
    for (const n of this.paramNames) {
      const [m, v] = [st.m.get(n), st.v.get(n)];
      if (st.step > 0 && (!m || !v)) throw new TrainStepError(`setState: missing AdamW state for "${n}"`);
      if (m) setInto(this.moments.cur.get(M(n))!, m, `setState: exp_avg of "${n}"`);
      if (v) setInto(this.moments.cur.get(V(n))!, v, `setState: exp_avg_sq of "${n}"`);
      if (st.accumulated > 0) {
        const g = st.grads.get(n);
        if (!g) throw new TrainStepError(`setState: missing accumulated gradient of "${n}"`);
        setInto(this.acc.cur.get(ACC(n))!, g, `setState: gradient of "${n}"`);
      }
      if (this.emaDecay !== null) {
        const e = st.ema.get(n);
        if (e) setInto(this.emaBuf.cur.get(EMA(n))!, e, `setState: EMA of "${n}"`);
      }
    }
    this.t = st.step;
    this.micro = st.microStep;
    this.accumulated = st.accumulated;
    this.latchedLr = st.accumulated > 0 ? st.lr : null;
  }

  async release(): Promise<void> {
    await this.program.release();
    await this.updateProgram?.release();
  }
}

/** Norm, clip and AdamW (+ EMA) of `params` with gradients `grads`, added to graph `g` as outputs. */
function addUpdate(
  g: Graph,
  params: readonly Value[],
  grads: readonly Value[],
  dtype: Float,
  decays: readonly boolean[],
  groupOf: readonly number[],
  cfg: Required<AdamWConfig>,
  clip: number | null,
  emaDecay: number | null,
): void {
  const numGroups = decays.length;
  const decayVec = g.input(DECAY, dtype, [numGroups]);
  const stepVec = g.input(STEP_SIZE, dtype, [numGroups]);
  const bc2Sqrt = g.input(BC2, dtype, []);
  const pick = (vec: Value, i: number) => ops.squeeze(ops.slice(vec, [i], [i + 1], [0]), [0]);
  const decay = Array.from({ length: numGroups }, (_, i) => pick(decayVec, i));
  const stepSize = Array.from({ length: numGroups }, (_, i) => pick(stepVec, i));
  const squares = grads.map((x) => ops.mul(x, x)); // shared by the norm and AdamW's v
  const norm = globalNorm(grads, squares);
  g.output(norm, NORM);
  let coef: Value | null = null;
  if (clip !== null) {
    coef = clipCoefficient(norm, clip);
    g.output(coef, COEF);
  }
  params.forEach((p, i) => {
    const gi = groupOf[i];
    const m = g.input(M(p.name), dtype, p.shape);
    const v = g.input(V(p.name), dtype, p.shape);
    const [p2, m2, v2] = adamwUpdate(
      p,
      grads[i],
      m,
      v,
      {
        decay: decays[gi] ? decay[gi] : null,
        stepSize: stepSize[gi],
        bc2Sqrt,
        gradScale: coef,
        gradSquare: squares[i],
      },
      cfg,
    );
    g.output(p2, NEXT(p.name));
    g.output(m2, NEXT(M(p.name)));
    g.output(v2, NEXT(V(p.name)));
    if (emaDecay !== null) {
      const e = g.input(EMA(p.name), dtype, p.shape);
      g.output(ops.add(ops.mul(e, emaDecay), ops.mul(p2, 1 - emaDecay)), NEXT(EMA(p.name)));
    }
  });
}

/** Convenience: compile a train step (see TrainStep.compile). */
export const compileTrainStep = (opts: TrainStepOptions): Promise<TrainStep> => TrainStep.compile(opts);
