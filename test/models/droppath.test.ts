import { describe, expect, it } from 'vitest';
import { grad } from '../../src/autodiff/index.js';
import { Graph, Program, Tensor } from '../../src/index.js';
import { createModel, ParamScope } from '../../src/models/beit3/index.js';

async function logits(rate: number, training: boolean, withGrad = false) {
  const model = createModel('beit3_tiny_patch8_32_imageclassification', {
    numClasses: 5,
    config: { dropPathRate: rate },
  }).initialize(4);
  const g = new Graph('dp');
  const s = new ParamScope(g, model, { training, seed: 7 });
  const image = g.input('image', 'float32', [4, 3, 32, 32]);
  const label = g.input('label', 'int64', [4]);
  const out = model.loss(s, { image, label });
  g.output(out.logits, 'logits');
  if (withGrad) g.output(grad(out.loss, [s.used().get('head.weight')!])[0], 'g');
  const p = await Program.compile(g, { bind: s.bindings(), fuse: false });
  const feeds = {
    image: Tensor.f32(
      [4, 3, 32, 32],
      Array.from({ length: 4 * 3072 }, (_, i) => Math.sin(i * 0.1)),
    ),
    label: Tensor.i64([4], [0, 1, 2, 3]),
  };
  return p.run(feeds);
}

describe('drop path (stochastic depth) in training forwards', () => {
  it('is the identity at rate 0 or in eval mode, and perturbs a training forward at rate > 0', async () => {
    const ref = (await logits(0, false)).logits.data as Float32Array;
    expect((await logits(0, true)).logits.data).toEqual(ref);
    expect((await logits(0.5, false)).logits.data).toEqual(ref);
    const r = await logits(0.9, true, true);
    const d = r.logits.data as Float32Array;
    expect([...d].every(Number.isFinite)).toBe(true);
    expect(d.some((v, i) => Math.abs(v - ref[i]) > 1e-6)).toBe(true);
    expect([...(r.g.data as Float32Array)].every(Number.isFinite)).toBe(true);
  }, 60_000);
});
