import * as F from '../graph/functional.js';
import type { Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { type Init, Inits } from './init.js';
import { Module, type Parameter, type ParamScope } from './module.js';

/** nn.Linear: `weight` [out, in], optional `bias` [out]. Init: BEiT3Wrapper's trunc normal std 0.02, bias 0. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; init?: Init; initScale?: number } = {},
  ) {
    super();
    const scale = opts.initScale ?? 1;
    this.weight = this.addParameter(
      'weight',
      [outFeatures, inFeatures],
      opts.init ?? Inits.truncNormal(0.02),
      scale,
    );
    this.bias = opts.bias === false ? null : this.addParameter('bias', [outFeatures], Inits.zeros, scale);
  }
  forward(s: ParamScope, x: Value): Value {
    return F.linear(x, s.get(this.weight), this.bias ? s.get(this.bias) : null);
  }
}

/** nn.LayerNorm over the last axis (affine). */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParameter('weight', [dim], Inits.ones);
    this.bias = this.addParameter('bias', [dim], Inits.zeros);
  }
  forward(s: ParamScope, x: Value): Value {
    return F.layerNorm(x, s.get(this.weight), s.get(this.bias), this.eps);
  }
}

/** nn.Embedding: a (num, dim) table looked up by int64 ids. */
export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(
    readonly num: number,
    readonly dim: number,
    init: Init = Inits.normal(1),
  ) {
    super();
    this.weight = this.addParameter('weight', [num, dim], init);
  }
  forward(s: ParamScope, ids: Value): Value {
    return this.lookup(s.get(this.weight), ids);
  }
  lookup(table: Value, ids: Value): Value {
    return ops.gather(table, ids, 0);
  }
}

/**
 * torchscale MultiwayNetwork: one copy of a module per modality, `A` = vision, `B` = language
 * (and optionally `C` = vision-language expert). Routing is done by the caller per token stream.
 */
export class Multiway<M extends Module> extends Module {
  readonly A: M;
  readonly B: M;
  readonly C: M | undefined;
  constructor(make: () => M, withVL = false) {
    super();
    this.A = this.addModule('A', make());
    this.B = this.addModule('B', make());
    this.C = withVL ? this.addModule('C', make()) : undefined;
  }
}

/** nn.ModuleList: children named 0, 1, 2, ... */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  push<T extends M>(m: T): T {
    this.items.push(m);
    return this.addModule(String(this.items.length - 1), m);
  }
}

/**
 * timm DropPath (stochastic depth) on a residual branch: active only while the scope trains.
 * No parameters, so it is not a child in the state_dict tree.
 */
export class DropPath extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(s: ParamScope, x: Value): Value {
    const k = this.keep(s, x);
    return k ? ops.mul(x, k) : x;
  }
  /**
   * The per-sample factor (B, 1, …) — 0 or 1/(1 − p) — of one draw, or null when inactive. A
   * branch split into several tensors (BEiT-3's vision/text streams) multiplies each by the same
   * factor, as torchscale applies one DropPath to the whole sequence.
   */
  keep(s: ParamScope, like: Value): Value | null {
    if (!s.training || this.p <= 0) return null;
    const rest = like.rank - 1;
    const axes = Array.from({ length: rest }, (_, i) => i + 1);
    const perSample = ops.slice(like, Array(rest).fill(0), Array(rest).fill(1), axes); // (B, 1, …)
    const kept = ops.cast(ops.greaterOrEqual(s.uniform(perSample), this.p), like.dtype);
    return ops.mul(kept, 1 / (1 - this.p));
  }
}
