import type { Graph, Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { shapeToString } from '../graph/shape.js';
import { Tensor } from '../graph/tensor.js';
import { fillInit, type Init } from './init.js';
import { Beit3Error } from '../util/errors.js';
import { deriveSeed } from '../util/random.js';

/** A trainable tensor: declared shape and initialiser; its value is created on demand. */
export class Parameter {
  value: Tensor | undefined;
  constructor(
    readonly shape: readonly number[],
    public init: Init,
    /** Multiplier applied after init (e.g. the 0.001 head scaling of modeling_finetune.py). */
    public initScale = 1,
  ) {}

  get numel(): number {
    return this.shape.reduce((p, c) => p * c, 1);
  }

  /** The value, initialised with seed 0 (keyed by its official name) if never initialised or loaded. */
  valueOrInit(name: string): Tensor {
    if (!this.value) {
      const data = new Float32Array(this.numel);
      fillInit(data, this.init, 0, name, this.initScale);
      this.value = new Tensor('float32', this.shape, data);
    }
    return this.value;
  }
}

export class StateDictError extends Beit3Error {
  override name = 'StateDictError';
  constructor(
    message: string,
    readonly missing: readonly string[] = [],
    readonly unexpected: readonly string[] = [],
    readonly mismatched: readonly { key: string; expected: readonly number[]; got: readonly number[] }[] = [],
  ) {
    super(message);
  }
}

export interface LoadStateDictOptions {
  /** Default true: any missing/unexpected key is an error. Shape mismatches are always errors. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/**
 * A node of the model tree. Child and parameter names compose with '.' into the official
 * PyTorch state_dict keys, so loading a checkpoint needs no renaming table.
 */
export class Module {
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  protected addParameter(name: string, shape: readonly number[], init: Init, initScale = 1): Parameter {
    const p = new Parameter(shape, init, initScale);
    this.params.set(name, p);
    return p;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every parameter with its full dotted name, in declaration order (like named_parameters()). */
  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [n, p] of this.params) yield [prefix + n, p];
    for (const [n, c] of this.children) yield* c.namedParameters(`${prefix}${n}.`);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, c] of this.children) yield* c.namedModules(`${prefix}${n}.`);
  }

  numParams(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) n += p.numel;
    return n;
  }

  /** key → shape of every parameter (what a manifest lists). */
  shapes(): Map<string, readonly number[]> {
    return new Map([...this.namedParameters()].map(([k, p]) => [k, p.shape]));
  }

  /** Initialises every parameter with its official initialiser; deterministic in `seed`. */
  initialize(seed = 0): this {
    for (const [name, p] of this.namedParameters()) {
      const data = new Float32Array(p.numel);
      fillInit(data, p.init, seed, name, p.initScale);
      p.value = new Tensor('float32', p.shape, data);
    }
    return this;
  }

  /** Current values by official key (initialising with seed 0 first if never initialised/loaded). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, p] of this.namedParameters()) out.set(name, p.valueOrInit(name));
    return out;
  }

  /**
   * Loads values by key. Every problem (missing keys, unexpected keys, shape mismatches,
   * non-float32 dtypes) is reported together in one StateDictError; nothing is changed then.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    const mismatched: { key: string; expected: readonly number[]; got: readonly number[] }[] = [];
    const badDtype: string[] = [];
    for (const [k, p] of own) {
      const t = state.get(k);
      if (!t) continue;
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
        mismatched.push({ key: k, expected: p.shape, got: t.shape });
      else if (t.dtype !== 'float32') badDtype.push(`${k} (${t.dtype})`);
    }
    const problems: string[] = [];
    if (mismatched.length)
      problems.push(
        `shape mismatch: ${mismatched.map((m) => `${m.key} expected ${shapeToString(m.expected)} got ${shapeToString(m.got)}`).join('; ')}`,
      );
    if (badDtype.length) problems.push(`not float32 (convert first): ${badDtype.join(', ')}`);
    if (strict && missing.length) problems.push(`missing keys (${missing.length}): ${listKeys(missing)}`);
    if (strict && unexpected.length)
      problems.push(`unexpected keys (${unexpected.length}): ${listKeys(unexpected)}`);
    if (problems.length)
      throw new StateDictError(
        `cannot load state dict into ${this.constructor.name}: ${problems.join(' | ')}`,
        missing,
        unexpected,
        mismatched,
      );
    for (const [k, p] of own) {
      const t = state.get(k);
      if (t) p.value = t; // shapes validated above; no copy (memory: weights are held once)
    }
    return { missing, unexpected };
  }
}

function listKeys(keys: readonly string[], max = 20): string {
  return keys.length <= max
    ? keys.join(', ')
    : `${keys.slice(0, max).join(', ')}, … (+${keys.length - max} more)`;
}

/**
 * Binds a module tree to one graph: each parameter used by a forward becomes a graph input named
 * by its official key (so `Program.compile(g, {bind: scope.bindings()})` turns them into
 * initializers for inference, or a train step feeds them).
 */
export interface ScopeOptions {
  /** Training-mode forward (like torch's model.train()): stochastic layers such as drop path are active. */
  training?: boolean;
  /** Seed for the in-graph random ops of a training forward (ORT RandomUniformLike). */
  seed?: number;
  /**
   * Random draws become graph inputs (`random.<i>`, U[0,1)) that the train step feeds every
   * micro-batch from its own seed, instead of in-graph random ops (whose seed is fixed at
   * compile time): reproducible and resumable training.
   */
  randomInputs?: boolean;
}

export class ParamScope {
  private readonly names = new Map<Parameter, string>();
  private readonly values = new Map<Parameter, Value>();
  private randomOps = 0;
  private readonly draws: Value[] = [];

  constructor(
    readonly graph: Graph,
    readonly root: Module,
    readonly options: ScopeOptions = {},
  ) {
    for (const [n, p] of root.namedParameters()) this.names.set(p, n);
  }

  /** The graph value of a parameter (declared as an input on first use). */
  get(p: Parameter): Value {
    let v = this.values.get(p);
    if (!v) {
      const name = this.names.get(p);
      if (name === undefined) throw new Error('ParamScope: parameter does not belong to the root module');
      v = this.graph.input(name, 'float32', p.shape);
      this.values.set(p, v);
    }
    return v;
  }

  get training(): boolean {
    return this.options.training === true;
  }

  /** A distinct seed for the next random op of this graph (undefined = ORT picks one). */
  nextSeed(): number | undefined {
    // deriveSeed, not seed*1000+i: that collides (seed 1 / op 1000 = seed 2 / op 0). ONNX seed
    // attributes are float32, so keep 24 bits: every value is then exact.
    return this.options.seed === undefined ? undefined : deriveSeed(this.options.seed, 'op', this.randomOps++) >>> 8;
  }

  /** U[0,1) draws shaped like `like` for a stochastic layer (see ScopeOptions.randomInputs). */
  uniform(like: Value): Value {
    if (!this.options.randomInputs) return ops.randomUniformLike(like, 0, 1, this.nextSeed());
    const v = this.graph.input(`random.${this.draws.length}`, like.dtype, like.shape);
    this.draws.push(v);
    return v;
  }

  /** The graph inputs created by uniform() with randomInputs, in creation order. */
  randomInputs(): Value[] {
    return [...this.draws];
  }

  /** Parameters used so far: key → graph input. */
  used(): Map<string, Value> {
    return new Map([...this.values].map(([p, v]) => [this.names.get(p)!, v]));
  }

  /** key → current value for every parameter the graph uses (initialises untouched ones). */
  bindings(): Map<string, Tensor> {
    // Only the parameters this graph uses: going through stateDict() would also initialise every
    // unused one (the text experts of an image encoder: ~12 s of a base model's cold start).
    return new Map([...this.values].map(([p]) => [this.names.get(p)!, p.valueOrInit(this.names.get(p)!)]));
  }
}
