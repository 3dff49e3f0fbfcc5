/**
 * The op set is closed (tinygrad-style): every op builder is called here once and every op type
 * it emits must have a VJP rule or be declared NON_DIFFERENTIABLE; every VJP rule must be
 * exercised by a finite-difference case (fd-cases.ts, run by grad.test.ts); and no src file
 * outside graph/ops builds nodes by hand. A new builder without a sample here, an op without a
 * gradient rule, or a rule without an FD case fails this file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NON_DIFFERENTIABLE, VJP } from '../../src/autodiff/index.js';
import { Graph, ops, Tensor, type Value } from '../../src/index.js';
import { FD_CASES } from './fd-cases.js';

type Sample = (g: Graph) => unknown;

const f = (g: Graph, shape: number[] = [2, 3]) => g.input(`f${g.inputs.length}`, 'float32', shape);
const b = (g: Graph, shape: number[] = [2, 3]) => g.input(`b${g.inputs.length}`, 'bool', shape);
const i = (g: Graph, shape: number[], v: number[]) => g.constant(Tensor.i64(shape, v), 'idx');

/** One call of every exported op builder (keys must equal the builder names). */
const SAMPLES: Record<string, Sample> = {
  lift: (g) => ops.lift(1, f(g)),
  abs: (g) => ops.abs(f(g)),
  add: (g) => ops.add(f(g), 1),
  and: (g) => ops.and(b(g), b(g)),
  cast: (g) => ops.cast(f(g), 'int64'),
  ceil: (g) => ops.ceil(f(g)),
  clip: (g) => ops.clip(f(g), 0, 1),
  div: (g) => ops.div(f(g), 2),
  equal: (g) => ops.equal(f(g), 0),
  erf: (g) => ops.erf(f(g)),
  exp: (g) => ops.exp(f(g)),
  floor: (g) => ops.floor(f(g)),
  greater: (g) => ops.greater(f(g), 0),
  greaterOrEqual: (g) => ops.greaterOrEqual(f(g), 0),
  identity: (g) => ops.identity(f(g)),
  less: (g) => ops.less(f(g), 0),
  lessOrEqual: (g) => ops.lessOrEqual(f(g), 0),
  log: (g) => ops.log(f(g)),
  max: (g) => ops.max(f(g), 0),
  min: (g) => ops.min(f(g), 0),
  mul: (g) => ops.mul(f(g), 2),
  neg: (g) => ops.neg(f(g)),
  not: (g) => ops.not(b(g)),
  or: (g) => ops.or(b(g), b(g)),
  pow: (g) => ops.pow(f(g), 2),
  reciprocal: (g) => ops.reciprocal(f(g)),
  relu: (g) => ops.relu(f(g)),
  sigmoid: (g) => ops.sigmoid(f(g)),
  sign: (g) => ops.sign(f(g)),
  sqrt: (g) => ops.sqrt(f(g)),
  sub: (g) => ops.sub(f(g), 1),
  tanh: (g) => ops.tanh(f(g)),
  where: (g) => ops.where(b(g), f(g), 0),
  xor: (g) => ops.xor(b(g), b(g)),
  gemm: (g) => ops.gemm(f(g, [2, 3]), f(g, [3, 4]), f(g, [4])),
  matmul: (g) => ops.matmul(f(g, [2, 3]), f(g, [3, 4])),
  concat: (g) => ops.concat([f(g), f(g)], 0),
  constantOfShape: (g) => ops.constantOfShape(f(g), [2, 2], 1),
  expand: (g) => ops.expand(f(g, [1, 3]), [4, 3]),
  flatten: (g) => ops.flatten(f(g, [2, 3, 4]), 1),
  pad: (g) => ops.pad(f(g), [0, 1, 0, 1]),
  reshape: (g) => ops.reshape(f(g), [3, 2]),
  reshapeLike: (g) => ops.reshapeLike(f(g, [6]), f(g, [2, 3])),
  shapeOf: (g) => ops.shapeOf(f(g)),
  shapeVector: (g) => ops.shapeVector(g.input('s', 'float32', ['n', 3]), ['n', 3]),
  size: (g) => ops.size(f(g)),
  slice: (g) => ops.slice(f(g), [0], [1], [1]),
  split: (g) => ops.split(f(g), [1, 2], 1),
  splitDynamic: (g) => ops.splitDynamic(f(g), i(g, [2], [1, 2]), [[2, 1], [2, 2]], 1),
  squeeze: (g) => ops.squeeze(f(g, [1, 3]), [0]),
  transpose: (g) => ops.transpose(f(g), [1, 0]),
  unsqueeze: (g) => ops.unsqueeze(f(g), [0]),
  zerosLike: (g) => ops.zerosLike(g.input('z', 'float32', ['n', 3])),
  argMax: (g) => ops.argMax(f(g)),
  gather: (g) => ops.gather(f(g), i(g, [2], [0, 1]), 0),
  gatherElements: (g) => ops.gatherElements(f(g), i(g, [2, 1], [0, 1]), 1),
  gatherND: (g) => ops.gatherND(f(g), i(g, [1, 1], [1])),
  nonZero: (g) => ops.nonZero(b(g)),
  oneHot: (g) => ops.oneHot(i(g, [2], [0, 1]), 3),
  range: (g) => ops.range(f(g), 0, 4),
  scatterElements: (g) => ops.scatterElements(f(g), i(g, [2, 1], [0, 1]), f(g, [2, 1]), 1),
  scatterND: (g) => ops.scatterND(f(g), i(g, [1, 1], [1]), f(g, [1, 3])),
  topK: (g) => [ops.topK(f(g), 2), ops.topK(f(g), ops.size(f(g, [2])))],
  layerNormalization: (g) => ops.layerNormalization(f(g), f(g, [3]), f(g, [3])),
  logSoftmax: (g) => ops.logSoftmax(f(g)),
  randomUniformLike: (g) => ops.randomUniformLike(f(g)),
  reduceMax: (g) => ops.reduceMax(f(g), [1]),
  reduceMean: (g) => ops.reduceMean(f(g), [1]),
  reduceMin: (g) => ops.reduceMin(f(g), [1]),
  reduceSum: (g) => ops.reduceSum(f(g), [1]),
  reduceSumDynamic: (g) => ops.reduceSumDynamic(f(g), i(g, [1], [1]), [2, 1]),
  softmax: (g) => ops.softmax(f(g)),
};

/** Exports of graph/ops that build no nodes. */
const NOT_BUILDERS = new Set(['freshDim']);

function opsOf(build: (g: Graph) => unknown): Set<string> {
  const g = new Graph('coverage');
  build(g);
  return new Set(g.nodes.map((n) => n.op));
}

describe('closed op set', () => {
  const builders = Object.entries(ops)
    .filter(([k, v]) => typeof v === 'function' && !NOT_BUILDERS.has(k))
    .map(([k]) => k)
    .sort();
  const emitted = new Map<string, string>(); // op type → first builder emitting it
  for (const name of builders)
    if (SAMPLES[name]) for (const op of opsOf(SAMPLES[name])) if (!emitted.has(op)) emitted.set(op, name);

  it('every exported op builder has a sample here (and every sample names a builder)', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(builders);
  });

  it('every op type a builder emits has a VJP rule or is declared non-differentiable', () => {
    const uncovered = [...emitted].filter(([op]) => !VJP[op] && !NON_DIFFERENTIABLE.has(op));
    expect(uncovered.map(([op, by]) => `${op} (from ops.${by})`)).toEqual([]);
  });

  it('no op is both differentiable and declared non-differentiable', () => {
    expect(Object.keys(VJP).filter((op) => NON_DIFFERENTIABLE.has(op))).toEqual([]);
  });

  it('every VJP rule is emitted by some builder and exercised by a finite-difference case', () => {
    const inCases = new Set<string>();
    for (const c of FD_CASES)
      for (const op of opsOf((g) => {
        const xs = c.inputs.map((inp, k) => g.input(`x${k}`, c.dtype ?? 'float64', inp.dims ?? inp.shape));
        return c.build(g, xs as Value[]);
      }))
        inCases.add(op);
    const rules = Object.keys(VJP).sort();
    expect(rules.filter((op) => !emitted.has(op))).toEqual([]);
    expect(rules.filter((op) => !inCases.has(op))).toEqual([]);
  });
});

describe('one builder per op', () => {
  it('no src file outside graph/ops (and the IR itself) calls addNode', () => {
    const root = join(import.meta.dirname, '../../src');
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((n) => {
        const p = join(d, n);
        return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
      });
    const offenders = walk(root)
      .map((p) => relative(root, p))
      .filter((p) => !p.startsWith('graph/ops/') && p !== 'graph/ir.ts')
      .filter((p) => /\.addNode\(/.test(readFileSync(join(root, p), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
