import { describe, expect, it } from 'vitest';
import { Graph, ops, Program, Tensor } from '../src/index.js';

describe('graph → ONNX → ORT', () => {
  it('runs a small program with a symbolic batch', async () => {
    const g = new Graph('smoke');
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.input('w', 'float32', [3, 2]);
    const y = ops.add(ops.matmul(x, w), 1);
    g.output(ops.softmax(y), 'y');
    const p = await Program.compile(g, { bind: new Map([['w', Tensor.f32([3, 2], [1, 0, 0, 1, 1, 1])]]) });
    const out = await p.run({ x: Tensor.f32([2, 3], [1, 2, 3, 0, 0, 0]) });
    expect(out.y.shape).toEqual([2, 2]);
    const e = [Math.exp(5), Math.exp(6)];
    expect(out.y.data[0]).toBeCloseTo(e[0] / (e[0] + e[1]), 6);
    expect(out.y.data[2]).toBeCloseTo(0.5, 6);
  });
});
