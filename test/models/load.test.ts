import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { createModel, loadPretrained, StateDictError } from '../../src/models/beit3/index.js';

const DIR = join(import.meta.dirname, '../../fixtures/beit3-ref');

describe('loadPretrained (official load_model_and_may_interpolate + non-strict load)', () => {
  it('loads a 32² backbone into 48² and 24² models with the official bicubic position interpolation', async () => {
    const interp = await loadSafetensors(join(DIR, 'interp.safetensors'));
    for (const [name, img] of [
      ['up', 48],
      ['down', 24],
    ] as const) {
      const model = createModel('beit3_tiny_patch8_32_imageclassification', {
        numClasses: 7,
        config: { imgSize: img },
      });
      const r = await loadPretrained(model, join(DIR, 'backbone.safetensors'), { prefix: 'beit3.' });
      expect(r.changes.join()).toMatch(/interpolated beit3\.encoder\.embed_positions\.A\.weight/);
      // classification has no final LayerNorm (unexpected) and keeps its head at init (missing)
      expect(r.unexpected.sort()).toEqual([
        'beit3.encoder.layer_norm.A.bias',
        'beit3.encoder.layer_norm.A.weight',
        'beit3.encoder.layer_norm.B.bias',
        'beit3.encoder.layer_norm.B.weight',
      ]);
      expect(r.missing.sort()).toEqual(['fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight']);
      const got = model.stateDict().get('beit3.encoder.embed_positions.A.weight')!;
      const ref = interp.get(`${name}.pos_embed_out`)!;
      expect(got.shape).toEqual(ref.shape);
      let m = 0;
      for (let i = 0; i < ref.size; i++) m = Math.max(m, Math.abs(Number(got.data[i]) - Number(ref.data[i])));
      expect(m).toBeLessThan(1e-5);
    }
  });

  it('drops a head of another shape, and strict loading still reports everything', async () => {
    const src = createModel('beit3_tiny_patch8_32_imageclassification', { numClasses: 10 })
      .initialize(1)
      .stateDict();
    const model = createModel('beit3_tiny_patch8_32_imageclassification', { numClasses: 7 });
    const r = await loadPretrained(model, src);
    expect(r.changes.some((c) => c.startsWith('dropped head.weight'))).toBe(true);
    expect(r.missing).toEqual(['head.weight', 'head.bias']);
    await expect(
      loadPretrained(createModel('beit3_tiny_patch8_32_vqav2'), src, { strict: true }),
    ).rejects.toBeInstanceOf(StateDictError);
  });
});
