// Codebook k-means initialisation (initted = 0, train-ref README §5.6) and the pluggable teachers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors, type TensorMap } from '../../src/io/safetensors.js';
import { buildVqkdTrainGraph, kmeansInitIndices, randomProjectionTeacher, TeacherError, VQKD, vqkdConfigFromJson } from '../../src/models/vqkd/index.js';
import { vqkdReferenceOutputs } from '../../src/models/vqkd/parity.node.js';
import { Graph } from '../../src/graph/ir.js';
import { fromEncoderConfig } from '../../src/models/beit3/config.js';
import { makeVqkdConfig } from '../../src/models/vqkd/config.js';
import { Beit3Teacher } from '../../src/models/vqkd/teachers/beit3.js';
import { ParamScope } from '../../src/nn/module.js';
import { Program } from '../../src/runtime/session.js';
import { fit } from '../../src/train/loop.js';
import { VqkdEngine } from '../../src/train/vqkd.js';
import { deriveSeed, Rng } from '../../src/util/random.js';

const REF = join(import.meta.dirname, '../../fixtures/vqkd-ref');

/** Reference cosine k-means (float64) of `norm_ema_quantizer.kmeans`. */
function kmeansRef(x: Float32Array, n: number, c: number, init: number[], iters: number) {
  const K = init.length;
  let means = init.map((i) => Array.from(x.subarray(i * c, (i + 1) * c), Number));
  let bins = new Array<number>(K).fill(0);
  for (let it = 0; it < iters; it++) {
    bins = new Array<number>(K).fill(0);
    const sums = Array.from({ length: K }, () => new Array<number>(c).fill(0));
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bv = -Infinity;
      for (let k = 0; k < K; k++) {
        let d = 0;
        for (let j = 0; j < c; j++) d += x[i * c + j] * means[k][j];
        if (d > bv) [bv, best] = [d, k];
      }
      bins[best]++;
      for (let j = 0; j < c; j++) sums[best][j] += x[i * c + j];
    }
    means = means.map((m, k) => {
      if (!bins[k]) return m;
      const v = sums[k].map((s) => s / bins[k]);
      const nrm = Math.max(Math.hypot(...v), 1e-12);
      return v.map((e) => e / nrm);
    });
  }
  return { means, bins };
}

describe('VQ-KD codebook k-means init and teachers', () => {
  let weights: TensorMap;
  let images: Tensor;
  const cfg = () => vqkdConfigFromJson(JSON.parse(readFileSync(join(REF, 'vqkd.json'), 'utf8')));
  const fresh = (): VQKD => {
    const m = new VQKD(cfg());
    const st = new Map(weights);
    st.set('quantize.embedding.weight', Tensor.zeros('float32', [64, 8]));
    st.set('quantize.embedding.initted', Tensor.f32([1], [0]));
    m.loadStateDict(st);
    return m;
  };

  beforeAll(async () => {
    weights = await loadSafetensors(join(REF, 'vqkd.safetensors'));
    const rng = new Rng(7);
    const data = new Float32Array(8 * 3 * 32 * 32);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.next() * 256) / 255;
    images = new Tensor('float32', [8, 3, 32, 32], data);
  });

  it('k-means inside ORT equals the reference algorithm; counts, initted and embed_avg as the official init_embed_', async () => {
    const model = fresh();
    const teacher = randomProjectionTeacher({ patchSize: 8, outDim: 16, seed: 1 });
    const engine = await VqkdEngine.create({ model, teacher, batchSize: 8, stepsPerEpoch: 2, hp: { weightDecay: 0.05 }, seed: 3, threads: 1 });
    await engine.kmeansInit({ image: images });
    const p = engine.stateDict();
    expect(Number(p.get('quantize.embedding.initted')!.data[0])).toBe(1);
    const z = (await vqkdReferenceOutputs(model, images, 1)).l2_normalized_features.data as Float32Array;
    const init = kmeansInitIndices(128, 64, new Rng(deriveSeed(3, 'vqkd-kmeans', 0)));
    expect(new Set(init).size).toBe(64); // 128 vectors ≥ 64 codes: distinct rows (randperm prefix)
    const ref = kmeansRef(z, 128, 8, init, 10);
    const w = p.get('quantize.embedding.weight')!.data as Float32Array;
    let err = 0;
    for (let k = 0; k < 64; k++) for (let j = 0; j < 8; j++) err = Math.max(err, Math.abs(w[k * 8 + j] - ref.means[k][j]));
    expect(err).toBeLessThan(1e-5);
    for (let k = 0; k < 64; k++) expect(Math.hypot(...w.subarray(k * 8, k * 8 + 8))).toBeCloseTo(1, 5);
    expect(Array.from(p.get('quantize.embedding.cluster_size')!.data as Float32Array)).toEqual(ref.bins);
    expect(Array.from(p.get('quantize.embedding.embed_avg')!.data as Float32Array)).toEqual(
      Array.from(weights.get('quantize.embedding.embed_avg')!.data as Float32Array),
    );
    await engine.release();
  });

  it('fewer vectors than codes: initial rows drawn with replacement', () => {
    const idx = kmeansInitIndices(10, 64, new Rng(1));
    expect(idx).toHaveLength(64);
    expect(Math.max(...idx)).toBeLessThan(10);
  });

  it('the loop runs k-means on the first batch only, deterministically per seed', async () => {
    const run = async (seed: number) => {
      const engine = await VqkdEngine.create({
        model: fresh(),
        teacher: randomProjectionTeacher({ patchSize: 8, outDim: 16, seed: 1 }),
        batchSize: 8,
        stepsPerEpoch: 2,
        hp: { weightDecay: 0.05 },
        seed,
        threads: 1,
      });
      const data = {
        async *iterate({ state }: { state?: { position?: number } }) {
          for (let i = state?.position ?? 0; i < 2; i++) yield { batch: { image: images }, state: { epoch: 0, position: i + 1, seed }, epoch: 0 };
        },
      };
      const r = await fit({ engine, data, schedule: [1e-3, 1e-3], epochs: 1, stepsPerEpoch: 2, updateFreq: 1, batchSize: 8, seed });
      const cb = Array.from(engine.stateDict().get('quantize.embedding.weight')!.data as Float32Array);
      await engine.release();
      return { losses: r.losses, cb };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(a).toEqual(b);
    expect(a.losses.every(Number.isFinite)).toBe(true);
    expect(c.cb).not.toEqual(a.cb);
  });

  it('a teacher of the wrong grid or width is a TeacherError', () => {
    const model = fresh();
    expect(() => buildVqkdTrainGraph(model, randomProjectionTeacher({ patchSize: 16, outDim: 16 }), 2)).toThrow(TeacherError);
    expect(() => buildVqkdTrainGraph(model, randomProjectionTeacher({ patchSize: 8, outDim: 12 }), 2)).toThrow(
      /gives 12-d features, the tokenizer's decoder_out_dim is 16/,
    );
  });

  it('a BEiT-3 backbone checkpoint as teacher: its vision patch tokens (cls dropped) are the targets', async () => {
    const B3 = join(import.meta.dirname, '../../fixtures/beit3-ref');
    const js = JSON.parse(readFileSync(join(B3, 'backbone.json'), 'utf8')) as { encoder_config: Record<string, unknown> };
    const teacher = Beit3Teacher.fromState(fromEncoderConfig(js.encoder_config), await loadSafetensors(join(B3, 'backbone.safetensors')));
    const io = await loadSafetensors(join(B3, 'backbone.io.safetensors'));
    const x = io.get('in.vision.image')!; // BEiT-3's normalised input = VQ-KD's preprocessed batch
    const g = new Graph('t');
    const pre = g.input('pre', 'float32', x.shape);
    const s = new ParamScope(g, teacher.module);
    g.output(teacher.targets(s, pre), 'target');
    const prog = await Program.compile(g, { bind: s.bindings(), threads: 1 });
    const out = (await prog.run({ pre: x })).target;
    await prog.release();
    const ref = io.get('out.vision.encoder_out')!; // (2, 17, 32)
    expect(out.shape).toEqual([2, 16, 32]);
    let err = 0;
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 16 * 32; i++) err = Math.max(err, Math.abs(Number(out.data[b * 512 + i]) - Number(ref.data[b * 17 * 32 + 32 + i])));
    expect(err).toBeLessThan(1e-4);
    // It plugs into a tokenizer whose decoder_out_dim is the backbone width.
    const student = new VQKD(makeVqkdConfig({ imgSize: 32, patchSize: 8, embedDim: 32, depth: 1, heads: 4, decoderDepth: 1, nCode: 16, codeDim: 8, decoderOutDim: 32 }));
    expect(buildVqkdTrainGraph(student, teacher, 2).teacherBindings.size).toBeGreaterThan(0);
    expect(() => Beit3Teacher.fromState(fromEncoderConfig(js.encoder_config), new Map())).toThrow(TeacherError);
  });
});
