import { describe, expect, it } from 'vitest';
import { Graph, Program, Tensor } from '../../src/index.js';
import { Inits, Linear, LayerNorm, Module, ParamScope, StateDictError } from '../../src/nn/index.js';

class Block extends Module {
  readonly fc: Linear;
  readonly norm: LayerNorm;
  constructor() {
    super();
    this.addParameter('scale', [], Inits.constant(2));
    this.fc = this.addModule('fc', new Linear(4, 3));
    this.norm = this.addModule('norm', new LayerNorm(3));
  }
}

describe('nn.Module', () => {
  it('names parameters like PyTorch named_parameters (own first, then children)', () => {
    expect([...new Block().shapes()]).toEqual([
      ['scale', []],
      ['fc.weight', [3, 4]],
      ['fc.bias', [3]],
      ['norm.weight', [3]],
      ['norm.bias', [3]],
    ]);
  });

  it('initialises deterministically per seed with the official initialisers', () => {
    const a = new Linear(64, 256).initialize(7).stateDict();
    const b = new Linear(64, 256).initialize(7).stateDict();
    const c = new Linear(64, 256).initialize(8).stateDict();
    expect(a.get('weight')!.data).toEqual(b.get('weight')!.data);
    expect(a.get('weight')!.data).not.toEqual(c.get('weight')!.data);
    const w = [...(a.get('weight')!.data as Float32Array)];
    // trunc_normal(std=0.02, a=-0.02, b=0.02): bounded, zero mean, std of N(0,1) truncated at ±1 ≈ 0.5396·0.02
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.02);
    const mean = w.reduce((p, x) => p + x, 0) / w.length;
    const std = Math.sqrt(w.reduce((p, x) => p + (x - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(std).toBeGreaterThan(0.0104);
    expect(std).toBeLessThan(0.0112);
    expect([...(a.get('bias')!.data as Float32Array)].every((x) => x === 0)).toBe(true);
    const ln = new LayerNorm(3).initialize().stateDict();
    expect([...(ln.get('weight')!.data as Float32Array)]).toEqual([1, 1, 1]);
    expect(
      new Linear(4, 4, { initScale: 0.001 })
        .initialize(1)
        .stateDict()
        .get('weight')!
        .data.every((x) => Math.abs(Number(x)) <= 2e-5),
    ).toBe(true);
  });

  it('loadStateDict reports missing, unexpected and mismatched keys together and changes nothing', () => {
    const m = new Block().initialize(1);
    const before = m.stateDict().get('fc.weight');
    const bad = new Map<string, Tensor>([
      ['fc.weight', Tensor.f32([4, 3])],
      ['fc.bias', Tensor.f32([3])],
      ['extra.weight', Tensor.f32([1])],
    ]);
    let err: StateDictError | undefined;
    try {
      m.loadStateDict(bad);
    } catch (e) {
      err = e as StateDictError;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect(err!.message).toMatch(/fc\.weight expected \[3, 4\] got \[4, 3\]/);
    expect(err!.message).toMatch(/missing keys \(3\): scale, norm\.weight, norm\.bias/);
    expect(err!.message).toMatch(/unexpected keys \(1\): extra\.weight/);
    expect(err!.mismatched.map((x) => x.key)).toEqual(['fc.weight']);
    expect(m.stateDict().get('fc.weight')).toBe(before);
  });

  it('non-strict loading returns missing/unexpected keys and loads the rest', () => {
    const m = new Block().initialize(1);
    const t = Tensor.f32([3], [1, 2, 3]);
    const r = m.loadStateDict(
      new Map([
        ['norm.bias', t],
        ['head.weight', Tensor.f32([2])],
      ]),
      { strict: false },
    );
    expect(r.missing).toEqual(['scale', 'fc.weight', 'fc.bias', 'norm.weight']);
    expect(r.unexpected).toEqual(['head.weight']);
    expect(m.stateDict().get('norm.bias')).toBe(t);
  });

  it('ParamScope turns used parameters into named graph inputs, bound for inference', async () => {
    const m = new Block().initialize(3);
    const g = new Graph('blk');
    const s = new ParamScope(g, m);
    const x = g.input('x', 'float32', [2, 4]);
    g.output(m.norm.forward(s, m.fc.forward(s, x)), 'y');
    expect([...s.used().keys()]).toEqual(['fc.weight', 'fc.bias', 'norm.weight', 'norm.bias']);
    expect(g.inputs.map((v) => v.name)).toEqual(['x', 'fc.weight', 'fc.bias', 'norm.weight', 'norm.bias']);
    const p = await Program.compile(g, { bind: s.bindings() });
    expect(p.inputNames).toEqual(['x']);
    const xs = Tensor.f32([2, 4], [1, 2, 3, 4, -1, 0, 1, 2]);
    const y = (await p.run({ x: xs })).y.data as Float32Array;
    // reference in plain JS
    const sd = m.stateDict();
    const W = sd.get('fc.weight')!.data as Float32Array;
    for (let r = 0; r < 2; r++) {
      const h = [0, 1, 2].map((o) =>
        [0, 1, 2, 3].reduce((acc, i) => acc + W[o * 4 + i] * (xs.data[r * 4 + i] as number), 0),
      );
      const mu = h.reduce((a, b) => a + b) / 3;
      const v = h.reduce((a, b) => a + (b - mu) ** 2, 0) / 3;
      h.forEach((hv, o) => expect(y[r * 3 + o]).toBeCloseTo((hv - mu) / Math.sqrt(v + 1e-5), 4));
    }
  });
});

describe('BEiT3 torchscale init (bare backbone)', () => {
  it('applies xavier q/k/v/out and the Magneto sub-LN scaling 1/√log(2L)', async () => {
    const { BEiT3, configFor } = await import('../../src/models/beit3/index.js');
    const cfg = configFor('beit3_tiny_patch8_32');
    const sd = new BEiT3(cfg, { init: 'torchscale' }).initialize(2).stateDict();
    const maxAbs = (k: string) => Math.max(...[...(sd.get(k)!.data as Float32Array)].map(Math.abs));
    const s = 1 / Math.sqrt(Math.log(2 * cfg.layers));
    const D = cfg.embedDim;
    const xav = (fi: number, fo: number, gain: number) => gain * Math.sqrt(6 / (fi + fo));
    expect(maxAbs('encoder.layers.0.self_attn.q_proj.A.weight')).toBeLessThanOrEqual(xav(D, D, Math.SQRT1_2));
    expect(maxAbs('encoder.layers.0.self_attn.q_proj.A.weight')).toBeGreaterThan(
      0.9 * xav(D, D, Math.SQRT1_2),
    );
    expect(maxAbs('encoder.layers.0.self_attn.v_proj.B.weight')).toBeLessThanOrEqual(
      xav(D, D, Math.SQRT1_2) * s + 1e-7,
    );
    expect(maxAbs('encoder.layers.0.self_attn.v_proj.B.weight')).toBeGreaterThan(
      0.9 * xav(D, D, Math.SQRT1_2) * s,
    );
    expect(maxAbs('encoder.layers.1.self_attn.out_proj.A.bias')).toBe(0);
    expect(maxAbs('encoder.layers.1.ffn.A.fc2.weight')).toBeLessThanOrEqual(s / Math.sqrt(cfg.ffnDim) + 1e-7);
    // the wrapper init (registered models) is trunc_normal(0.02) for every Linear instead
    const w = new BEiT3(cfg).initialize(2).stateDict();
    expect(
      Math.max(...[...(w.get('encoder.layers.1.ffn.A.fc2.weight')!.data as Float32Array)].map(Math.abs)),
    ).toBeLessThanOrEqual(0.02);
  });
});
