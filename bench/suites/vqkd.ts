/**
 * The BEiT v2 VQ-KD tokenizer (vqkd_encoder_base_decoder_3x768x12_clip, random weights with a
 * unit-norm codebook) turning 224² images into code ids: ViT-B/16 encoder, encode_task_layer and
 * the nearest-code search over 8192 codes, one ORT program. images/s at batch 8 and the fraction
 * of the roofline measured in the same run; plus the same on ONE thread by process CPU time
 * against the one-thread CPU-time roofline (does not move when other processes share the cores).
 */
import { Graph } from '../../src/graph/ir.js';
import { Tensor } from '../../src/graph/tensor.js';
import type { VitConfig } from '../../src/models/vqkd/config.js';
import { createVqkd } from '../../src/models/vqkd/registry.js';
import { ParamScope } from '../../src/nn/module.js';
import { Program } from '../../src/runtime/index.js';
import { type BenchContext, type Suite, timeIt } from '../report.js';
import { cpuMs, measureRooflineCpu1t } from '../roofline.js';

/** Forward FLOPs (multiply-add = 2) of the ViT on one image: blocks, attention, patch projection. */
export function vitFlops(c: VitConfig): number {
  const n = (c.imgSize / c.patchSize) ** 2;
  const L = n + 1;
  const D = c.embedDim;
  const hidden = Math.floor(D * c.mlpRatio);
  const perLayer = L * 2 * (4 * D * D + 2 * D * hidden) + 2 * 2 * L * L * D;
  return c.depth * perLayer + 2 * n * c.inChans * c.patchSize ** 2 * D;
}

export const vqkdSuite: Suite = {
  name: 'vqkd',
  async run(ctx: BenchContext) {
    const model = createVqkd('vqkd_encoder_base_decoder_3x768x12_clip');
    model.initialize(0);
    const { nCode, codeDim, encoder } = model.cfg;
    const cb = new Float32Array(nCode * codeDim);
    for (let i = 0; i < cb.length; i++) cb[i] = Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453) - 0.5;
    for (let k = 0; k < nCode; k++) {
      const row = cb.subarray(k * codeDim, (k + 1) * codeDim);
      const n = Math.hypot(...row);
      for (let j = 0; j < codeDim; j++) row[j] /= n;
    }
    model.quantize.embedding.weight.value = new Tensor('float32', [nCode, codeDim], cb);
    model.quantize.embedding.initted.value = Tensor.f32([1], [1]);
    const B = 8;
    const S = encoder.imgSize;
    const g = new Graph('vqkd_tokenize');
    const s = new ParamScope(g, model);
    const x = g.input('image', 'float32', [B, 3, S, S]);
    g.output(model.encode(s, x).codes, 'codes');
    const prog = await Program.compile(g, { bind: s.bindings() });
    const img = Tensor.zeros('float32', [B, 3, S, S]);
    const a = img.data as Float32Array;
    for (let i = 0; i < a.length; i++) a[i] = ((i * 2654435761) >>> 0) / 2 ** 32;
    const ms = await timeIt(() => prog.run({ image: img }), 5, 1);
    await prog.release();
    const n = (S / encoder.patchSize) ** 2;
    const D = encoder.embedDim;
    const flops = vitFlops(encoder) + 2 * n * (D * D + D * codeDim) + 2 * n * nCode * codeDim;
    const gflops = (flops * B) / ms / 1e6;
    ctx.report({
      name: 'vqkd.base224.b8',
      value: (B * 1000) / ms,
      unit: 'images/s',
      roofline_fraction: gflops / ctx.rooflineGflops,
      note: `ViT-B/16 encoder + task layer + nearest of ${nCode} codes, ${gflops.toFixed(0)} GFLOP/s (${(flops / 1e9).toFixed(1)} GFLOP/image)`,
    });
    if (ctx.filter && !'vqkd.base224.b8.1thread_cpu'.includes(ctx.filter) && ctx.filter !== 'vqkd') return;
    const one = await Program.compile(g, { bind: s.bindings(), threads: 1 });
    const ms1 = await cpuMs(() => one.run({ image: img }), 2);
    await one.release();
    const roof1 = await measureRooflineCpu1t();
    const g1 = (flops * B) / ms1 / 1e6;
    ctx.report({
      name: 'vqkd.base224.b8.1thread_cpu',
      value: (B * 1000) / ms1,
      unit: 'images/cpu-s',
      roofline_fraction: g1 / roof1,
      threads: 1,
      note: `one ORT thread, CPU time: ${g1.toFixed(0)} GFLOP/s vs ${roof1.toFixed(0)} GFLOP/s single-thread roofline`,
    });
  },
};
