/**
 * Reverse-mode differentiation over the graph IR: gradient values are built into the same graph,
 * so the forward pass, the loss and its gradients compile into one ONNX program.
 */
import { isFloat } from '../graph/dtype.js';
import { GraphError, type Value } from '../graph/ir.js';
import * as ops from '../graph/ops/index.js';
import { Tensor } from '../graph/tensor.js';
import { NON_DIFFERENTIABLE, VJP } from './rules.js';

export { VJP, NON_DIFFERENTIABLE, type Vjp, type VjpContext } from './rules.js';
export { unbroadcast } from './broadcast.js';

/**
 * Values produced by `stopGradient`: their producer is an ONNX Identity, but grad() treats them
 * as constants (torch's `.detach()`), e.g. for VQ-KD's straight-through estimator.
 */
const STOPPED = new WeakSet<Value>();

/** x unchanged in the forward, no gradient through it (torch `.detach()`). */
export function stopGradient(x: Value): Value {
  const y = ops.identity(x);
  STOPPED.add(y);
  return y;
}

export interface GradOptions {
  /** Gradient of the final result w.r.t. `loss` (default: ones; required if loss has symbolic dims). */
  seed?: Value;
}

/**
 * Gradients of `loss` (normally a scalar) with respect to each value in `wrt` (graph inputs,
 * constants or intermediate values). Values that `loss` does not depend on get zeros.
 */
export function grad(loss: Value, wrt: readonly Value[], opts: GradOptions = {}): Value[] {
  const g = loss.graph;
  if (loss.dtype !== 'float32' && loss.dtype !== 'float64')
    throw new GraphError(`grad: loss ${loss.toString()} must be float32 or float64 (cast half-precision losses up first)`);
  for (const w of wrt) {
    if (w.graph !== g) throw new GraphError(`grad: ${w.name} belongs to another graph than the loss`);
    if (!isFloat(w.dtype))
      throw new GraphError(`grad: cannot differentiate w.r.t. ${w.toString()} (not floating point)`);
  }
  const nodes = g.nodes.slice(); // snapshot: gradient nodes are appended while we walk
  const lossIndex = loss.producer ? nodes.indexOf(loss.producer) : -1;

  // Forward: which values depend on some wrt value.
  const needs = new Set<Value>(wrt);
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE.has(n.op) || STOPPED.has(n.outputs[0])) continue;
    if (n.inputs.some((x) => x && needs.has(x)))
      for (const o of n.outputs) if (isFloat(o.dtype)) needs.add(o);
  }

  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, d: Value) => {
    const prev = grads.get(v);
    grads.set(v, prev ? ops.add(prev, d) : d);
  };
  let seed = opts.seed;
  if (!seed) {
    if (!loss.shape.every((d) => typeof d === 'number'))
      throw new GraphError(
        `grad: loss ${loss.toString()} has symbolic dims; pass opts.seed or reduce it to a scalar`,
      );
    seed = g.constant(onesTensor(loss), 'grad_seed');
  }
  accumulate(loss, seed);

  for (let k = lossIndex; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => grads.has(o))) continue;
    if (!n.inputs.some((x) => x && needs.has(x))) continue;
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    const rule = VJP[n.op];
    if (!rule) throw new GraphError(`grad: no VJP rule for op ${n.op} (output ${n.outputs[0]?.toString()})`);
    const gOut = n.outputs.map((o) => grads.get(o) ?? ops.zerosLike(o));
    const thunks = rule({ node: n, x: n.inputs, y: n.outputs, g: gOut });
    n.inputs.forEach((x, i) => {
      if (!x || !needs.has(x)) return;
      const t = thunks[i];
      if (t) accumulate(x, t());
    });
  }
  return wrt.map((w) => grads.get(w) ?? ops.zerosLike(w));
}

function onesTensor(v: Value): Tensor {
  const t = Tensor.zeros(v.dtype, v.shape as number[]);
  (t.data as Float32Array).fill(1);
  return t;
}
