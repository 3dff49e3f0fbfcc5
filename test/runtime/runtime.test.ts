import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { F, Graph, ops, Program, RuntimeError, Tensor, toModelProto } from '../../src/index.js';

function mlp(): Graph {
  const g = new Graph('mlp');
  const x = g.input('x', 'float32', ['batch', 4]);
  const w = g.input('w', 'float32', [3, 4]);
  const b = g.input('b', 'float32', [3]);
  g.output(F.gelu(F.linear(x, w, b)), 'y');
  g.output(ops.reduceSum(x, [1]), 's');
  return g;
}
const W = Tensor.f32([3, 4], [1, 0, -1, 2, 0.5, 0.5, 0, 1, -1, 1, 1, 0]);
const B = Tensor.f32([3], [0.1, 0, -0.1]);
const X = (n: number) =>
  Tensor.f32(
    [n, 4],
    Array.from({ length: 4 * n }, (_, i) => (i % 7) / 3 - 1),
  );

describe('Program cache', () => {
  it('returns one program per graph identity, bind map and options; recompiles when the graph grows', async () => {
    const g = mlp();
    const bind = new Map([
      ['w', W],
      ['b', B],
    ]);
    const p1 = await Program.cached(g, { bind, threads: 1 });
    expect((await Program.cached(g, { bind, threads: 1 })) === p1).toBe(true);
    expect((await Program.cached(g, { bind: new Map(bind), threads: 1 })) === p1).toBe(false);
    expect((await Program.cached(g, { bind, threads: 2 })) === p1).toBe(false);
    expect((await Program.cached(mlp(), { bind, threads: 1 })) === p1).toBe(false);
    g.output(ops.mul(g.inputs[0], 2), 'z');
    const p2 = await Program.cached(g, { bind, threads: 1 });
    expect(p2 === p1).toBe(false);
    expect(p2.outputNames).toContain('z');
  });
  it('specializes symbolic dims per input-shape signature', async () => {
    const g = mlp();
    const bind = new Map([
      ['w', W],
      ['b', B],
    ]);
    const feeds2 = { x: X(2) };
    const p2 = await Program.forFeeds(g, feeds2, { bind });
    expect((await Program.forFeeds(g, { x: X(2) }, { bind })) === p2).toBe(true);
    const p5 = await Program.forFeeds(g, { x: X(5) }, { bind });
    expect(p5 === p2).toBe(false);
    const generic = await Program.compile(g, { bind });
    const [a, b] = [await p5.run({ x: X(5) }), await generic.run({ x: X(5) })];
    expect(Array.from(a.y.data as Float32Array)).toEqual(Array.from(b.y.data as Float32Array));
  });
});

describe('Program.run', () => {
  it('writes into pre-allocated outputs (all or some) and returns those tensors', async () => {
    const p = await Program.compile(mlp(), {
      bind: new Map([
        ['w', W],
        ['b', B],
      ]),
    });
    const ref = await p.run({ x: X(3) });
    const y = Tensor.zeros('float32', [3, 3]);
    const out = await p.run({ x: X(3) }, { outputs: { y } });
    expect(out.y).toBe(y);
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(ref.y.data as Float32Array));
    expect(Array.from(out.s.data as Float32Array)).toEqual(Array.from(ref.s.data as Float32Array));
  });
  it('reports missing feeds and wrong shapes/dtypes by name', async () => {
    const p = await Program.compile(mlp());
    await expect(p.run({ x: X(2), w: W })).rejects.toThrow(/missing feed "b"/);
    await expect(p.run({ x: Tensor.f32([2, 3]), w: W, b: B })).rejects.toThrow(RuntimeError);
    await expect(p.run({ x: Tensor.f32([2, 3]), w: W, b: B })).rejects.toThrow(
      /feed "x": expected shape \[batch, 4\], got \[2, 3\]/,
    );
    await expect(p.run({ x: X(2), w: W, b: Tensor.f64([3]) })).rejects.toThrow(
      /feed "b": expected dtype float32, got float64/,
    );
  });
});

describe('external data', () => {
  it('loads weights from a side file with the same results and leaves no temp folder', async () => {
    const g = new Graph('ext');
    const x = g.input('x', 'float32', ['n', 64]);
    const w = g.input('w', 'float32', [128, 64]);
    g.output(F.linear(x, w), 'y');
    const wt = Tensor.f32(
      [128, 64],
      Array.from({ length: 128 * 64 }, (_, i) => Math.sin(i)),
    );
    const bind = new Map([['w', wt]]);
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('beit3-ort-')).length;
    const ext = await Program.compile(g, { bind, externalData: true });
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('beit3-ort-')).length).toBe(before);
    const inline = await Program.compile(g, { bind, externalData: false });
    const feeds = {
      x: Tensor.f32(
        [3, 64],
        Array.from({ length: 192 }, (_, i) => Math.cos(i)),
      ),
    };
    const [a, b] = [await ext.run(feeds), await inline.run(feeds)];
    expect(Array.from(a.y.data as Float32Array)).toEqual(Array.from(b.y.data as Float32Array));
  });
});

describe('Program.fromModelProto', () => {
  it('runs a ModelProto as given (inline or external data), with the same feed checks and pre-allocated outputs', async () => {
    const g = mlp();
    const bind = new Map(Object.entries({ w: W, b: B }));
    const ref = await (await Program.compile(g, { bind })).run({ x: X(2) });
    const proto = toModelProto(g, { bind });
    for (const externalData of [false, true]) {
      const p = await Program.fromModelProto(proto, { externalData, threads: 1 });
      expect(p.name).toBe('mlp');
      expect(p.inputNames).toEqual(['x']);
      expect(p.outputNames).toEqual(['y', 's']);
      const y = Tensor.f32([2, 3]);
      const out = await p.run({ x: X(2) }, { outputs: { y } });
      expect(out.y).toBe(y);
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from(ref.y.data as Float32Array));
      expect(Array.from(out.s.data as Float32Array)).toEqual(Array.from(ref.s.data as Float32Array));
      await expect(p.run({})).rejects.toThrow(/missing feed "x" for graph mlp/);
      await expect(p.run({ x: Tensor.f32([2, 3]) })).rejects.toThrow(
        /feed "x": expected shape \[batch, 4\], got \[2, 3\]/,
      );
      await expect(p.run({ x: Tensor.f64([2, 4]) })).rejects.toThrow(/expected dtype float32, got float64/);
      await p.release();
    }
  });
});

describe('inference fusion (ORT contrib kernels)', () => {
  it('emits Gelu and MultiHeadAttention with the same results as the primitive graph', async () => {
    const g = new Graph('fuse');
    const x = g.input('x', 'float32', ['b', 5, 8]);
    const pad = g.input('pad', 'bool', ['b', 5]);
    const causal = g.constant(
      Tensor.f32(
        [5, 5],
        Array.from({ length: 25 }, (_, i) => (i % 5 > Math.floor(i / 5) ? -1e4 : 0)),
      ),
    );
    const w = (n: number, s: number) =>
      g.constant(
        Tensor.f32(
          [n, 8],
          Array.from({ length: n * 8 }, (_, i) => Math.sin(i * s) * 0.4),
        ),
      );
    const att = F.multiHeadAttention(
      x,
      x,
      x,
      { qWeight: w(8, 1), kWeight: w(8, 2), vWeight: w(8, 3), outWeight: w(8, 4) },
      2,
      { keyPaddingMask: pad, attnMask: causal },
    );
    g.output(F.gelu(ops.add(x, att)), 'y');
    const ops1 = (await import('../../src/graph/onnx.js'))
      .toModelProto(g, { fuse: true })
      .graph!.node!.map((n) => n.opType);
    expect(ops1).toContain('Gelu');
    expect(ops1).toContain('MultiHeadAttention');
    expect(ops1).not.toContain('Erf');
    expect(ops1).not.toContain('Softmax');
    const feeds = {
      x: Tensor.f32(
        [2, 5, 8],
        Array.from({ length: 80 }, (_, i) => Math.cos(i)),
      ),
      pad: new Tensor('bool', [2, 5], Uint8Array.from([0, 0, 0, 1, 1, 0, 0, 0, 0, 0])),
    };
    const [a, b] = [
      await (await Program.compile(g, { fuse: true })).run(feeds),
      await (await Program.compile(g, { fuse: false })).run(feeds),
    ];
    (a.y.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(b.y.data[i] as number, 5));
  });
});
