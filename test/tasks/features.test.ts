// Backbone features against the retrieval head (cls feature → vision_head → L2 norm must equal
// the official vision_cls), the feature pyramid's resampling, .pth loading, and greedy captioning.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  bilinear,
  type CaptioningPipeline,
  type FeaturesPipeline,
  loadTaskModel,
  maxPool2,
  pipeline,
  RetrievalPipeline,
  taskConfigFromObject,
  TASKS,
} from '../../src/tasks/index.js';
import { fixture } from '../support/paths.js';

const E2E = fixture('beit3-ref/e2e');
const CONFIG = join(E2E, 'config.json');
const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8'));
const img = (n: string) => join(E2E, cases.images[n].file);

describe('features', () => {
  it('every layer, and the final cls feature through the retrieval head equals the official vision_cls', async () => {
    const p = (await pipeline('features', { config: CONFIG, section: 'retrieval' })) as FeaturesPipeline;
    expect(p.loaded.notes.join()).toMatch(/ignored 3 head keys/);
    const images = [...cases.tasks.retrieval.images]
      .sort((a, b) => a.image_id - b.image_id)
      .map((i) => img(i.image));
    const r = await p.run(images);
    const cfg = p.config.model;
    expect(r.hiddenStates).toHaveLength(cfg.layers);
    const nv = (cfg.imgSize / cfg.patchSize) ** 2 + 1;
    expect(r.lastHiddenState.shape).toEqual([images.length, nv, cfg.embedDim]);
    const g = cfg.imgSize / cfg.patchSize;
    expect(r.pyramid!.map((t) => t.shape.slice(2))).toEqual([
      [4 * g, 4 * g],
      [2 * g, 2 * g],
      [g, g],
      [Math.floor(g / 2), Math.floor(g / 2)],
    ]);
    const head = (await loadSafetensors(join(E2E, 'retrieval.head.safetensors'))).get('vision_head.weight')!;
    const ref = (await loadSafetensors(join(E2E, 'e2e.safetensors'))).get('retrieval.vision_cls')!;
    const D = cfg.embedDim;
    const W = head.data as Float32Array;
    const pooled = r.pooled!.data as Float32Array;
    let err = 0;
    for (let b = 0; b < images.length; b++) {
      const y = Array.from({ length: D }, (_, o) =>
        pooled.subarray(b * D, (b + 1) * D).reduce((s, v, i) => s + v * W[o * D + i], 0),
      );
      const n = Math.hypot(...y);
      y.forEach((v, o) => (err = Math.max(err, Math.abs(v / n - (ref.data as Float32Array)[b * D + o]))));
    }
    expect(err).toBeLessThan(1e-4);
    const t = await p.run(undefined, { texts: ['a cat', 'a rocket'] });
    expect(t.lastHiddenState.shape).toEqual([2, p.config.textLen, D]);
    expect(t.pyramid).toBeUndefined();
    await p.dispose();
  });

  it('pyramid resampling: bilinear (align_corners=False) and 2×2 max pooling known answers', () => {
    const x = new Tensor('float32', [1, 1, 2, 2], Float32Array.from([0, 1, 2, 3]));
    // torch.nn.functional.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    expect(Array.from(bilinear(x, 4, 4).data as Float32Array)).toEqual([
      0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3,
    ]);
    const y = new Tensor('float32', [1, 1, 3, 4], Float32Array.from([1, 5, 2, 0, 3, 4, 9, 1, 7, 7, 7, 7]));
    expect(Array.from(maxPool2(y).data as Float32Array)).toEqual([5, 9]);
  });
});

describe('loading', () => {
  it('a .pth checkpoint gives the same model as its .safetensors twin', async () => {
    const fx = fixture('beit3-ref');
    const json = JSON.parse(readFileSync(join(fx, 'retrieval.json'), 'utf8'));
    const make = async (file: string) => {
      const c = taskConfigFromObject(
        { task: 'retrieval', encoder_config: json.encoder_config },
        { weights: [join(fx, file)] },
      );
      return (await TASKS.retrieval.create(await loadTaskModel(c), {})) as RetrievalPipeline;
    };
    const [a, b] = [await make('retrieval.pth'), await make('retrieval.safetensors')];
    const S = json.encoder_config.img_size;
    const x = new Tensor(
      'float32',
      [3, S, S],
      Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i)),
    );
    expect(Array.from((await a.embedImages([x])).data as Float32Array)).toEqual(
      Array.from((await b.embedImages([x])).data as Float32Array),
    );
    await Promise.all([a.dispose(), b.dispose()]);
  });
});

describe('greedy captioning', () => {
  it('numBeams 1: the first word is the arg-max of the step-0 logits, captions end with </s>', async () => {
    const p = (await pipeline('caption', { config: CONFIG })) as CaptioningPipeline;
    const names = ['astronaut', 'rocket'];
    const logits = await p.firstLogits(await p.preprocess(names.map(img)));
    const V = logits.shape[1];
    const out = await p.run(names.map(img), { numBeams: 1 });
    out.forEach((o, b) => {
      const row = (logits.data as Float32Array).subarray(b * V, (b + 1) * V);
      const arg = row.indexOf(Math.max(...row));
      expect(o.decodedIds[0]).toBe(0);
      if (arg !== 2) expect(o.decodedIds[1]).toBe(arg);
      const eos = o.decodedIds.indexOf(2);
      expect(o.decodedIds[eos - 1]).toBe(8001); // hypotheses end with the <mask> placeholder
      expect(o.decodedIds.slice(eos + 1).every((i) => i === 1)).toBe(true);
    });
    await p.dispose();
  });
});
