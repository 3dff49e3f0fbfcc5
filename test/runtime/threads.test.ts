import { describe, expect, it } from 'vitest';
import { Graph, ops, Program, RuntimeError, Tensor } from '../../src/index.js';

describe('session thread count', () => {
  const graph = (): Graph => {
    const g = new Graph('threads');
    g.output(ops.add(g.input('x', 'float32', [2]), 1), 'y');
    return g;
  };

  it('refuses absurd or invalid counts with a RuntimeError instead of stalling in ORT', async () => {
    // ORT would try to start 100000 spinning threads (the process stalls for minutes).
    for (const threads of [100_000, -1, 1.5]) {
      await expect(Program.compile(graph(), { threads })).rejects.toThrow(RuntimeError);
      await expect(Program.compile(graph(), { threads })).rejects.toThrow(
        /threads must be an integer in \[0, \d+\].*got/,
      );
    }
  }, 20_000);

  it('still runs with a valid count', async () => {
    const p = await Program.compile(graph(), { threads: 2 });
    expect(Array.from((await p.run({ x: Tensor.f32([2], [1, 2]) })).y.data as Float32Array)).toEqual([2, 3]);
  });
});
