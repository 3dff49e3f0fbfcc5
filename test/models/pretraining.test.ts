import { describe, expect, it } from 'vitest';
import { grad } from '../../src/autodiff/index.js';
import { Graph, Program, Tensor } from '../../src/index.js';
import { Beit3ForPretraining, createModel, ParamScope } from '../../src/models/beit3/index.js';

function logSoftmaxRow(x: Float32Array, off: number, n: number): number[] {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, x[off + i]);
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(x[off + i] - m);
  return Array.from({ length: n }, (_, i) => x[off + i] - m - Math.log(z));
}

describe('pretraining heads (masked data modeling)', () => {
  it('MLM over text ids + MIM over visual tokens: logits at masked positions, CE losses, finite gradients', async () => {
    const model = createModel('beit3_tiny_patch8_32_pretraining') as Beit3ForPretraining;
    model.initialize(5);
    const B = 2;
    const T = 6;
    const P = 16;
    const g = new Graph('mdm');
    const s = new ParamScope(g, model);
    const spec = {
      ...model.inputs(B, T),
      text_labels: { dtype: 'int64', shape: [B, T] },
      visual_tokens: { dtype: 'int64', shape: [B, P] },
    } as const;
    const x = Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, g.input(k, v.dtype, v.shape)]));
    const out = model.loss(s, x);
    const params = s.used();
    const gs = grad(out.loss, [...params.values()]);
    for (const k of ['loss', 'mlm_loss', 'mim_loss', 'mlm_logits', 'mim_logits']) g.output(out[k], k);
    g.output(gs[[...params.keys()].indexOf('mim_head.weight')], 'g_mim');
    g.output(gs[[...params.keys()].indexOf('beit3.vision_embed.mask_token')], 'g_mask');
    const prog = await Program.compile(g, { bind: s.bindings() });
    const vmask = [
      0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    const tmask = [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0];
    const textLabels = [0, 17, 23, 42, 55, 2, 0, 9, 61, 2, 1, 1];
    const visual = Array.from({ length: B * P }, (_, i) => (i * 37) % 8192);
    const feeds = {
      image: Tensor.f32(
        [B, 3, 32, 32],
        Array.from({ length: B * 3072 }, (_, i) => Math.cos(i * 0.37)),
      ),
      vision_masked_position: new Tensor('bool', [B, P], Uint8Array.from(vmask)),
      text_ids: Tensor.i64(
        [B, T],
        textLabels.map((t, i) => (tmask[i] ? 99 : t)),
      ),
      padding_mask: Tensor.i64([B, T], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
      language_masked_pos: Tensor.i64([B, T], tmask),
      text_labels: Tensor.i64([B, T], textLabels),
      visual_tokens: Tensor.i64([B, P], visual),
    };
    const r = await prog.run(feeds);
    expect(r.mlm_logits.shape).toEqual([tmask.filter(Boolean).length, 100]);
    expect(r.mim_logits.shape).toEqual([vmask.filter(Boolean).length, 8192]);
    // losses equal cross entropy computed here from the returned logits
    const ce = (logits: Tensor, targets: number[]) => {
      const V = logits.shape[1];
      return (
        -targets.reduce((acc, t, i) => acc + logSoftmaxRow(logits.data as Float32Array, i * V, V)[t], 0) /
        targets.length
      );
    };
    const mlmTargets = textLabels.filter((_, i) => tmask[i]);
    const mimTargets = visual.filter((_, i) => vmask[i]);
    expect(Number(r.mlm_loss.data[0])).toBeCloseTo(ce(r.mlm_logits, mlmTargets), 4);
    expect(Number(r.mim_loss.data[0])).toBeCloseTo(ce(r.mim_logits, mimTargets), 4);
    expect(Number(r.loss.data[0])).toBeCloseTo(Number(r.mlm_loss.data[0]) + Number(r.mim_loss.data[0]), 5);
    const gm = [...(r.g_mask.data as Float32Array)];
    expect(gm.every(Number.isFinite) && gm.some((v) => v !== 0)).toBe(true); // masked patches use mask_token
    expect([...(r.g_mim.data as Float32Array)].every(Number.isFinite)).toBe(true);
  }, 60_000);
});
