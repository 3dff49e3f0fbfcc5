/**
 * Masked data modeling pretraining step throughput (random weights): one optimizer step of the
 * compiled train program (forward of the three streams + MLM/MIM heads + CE, backward, clip,
 * AdamW) over 8 images + 8 texts + 8 pairs, for the small config and for base at 224.
 * samples/s per stream = 8 / step time (the streams share the step); roofline_fraction = the
 * step's GFLOP/s (≈ 3 × forward matmul FLOPs, heads included) over the roofline of the same run.
 * Also the visual tokenizer's cost per step when targets are computed online (VQ-KD base, random
 * weights, the same 8 images) — what the cached mode saves.
 */
import { Tensor } from '../../src/graph/tensor.js';
import { type Beit3Config, numPatches, numVisionTokens } from '../../src/models/beit3/config.js';
import {
  compilePretrain,
  PatchColourTokenizer,
  type StreamBatches,
  type TextVocab,
  untrainedVqkd,
  vqkdTargets,
} from '../../src/train/pretrain.js';
import { type BenchContext, type Suite, timeIt } from '../report.js';
import { forwardFlops } from './beit3.js';

const B = 8;
const T = 64;
const VOCAB: TextVocab = { bosId: 0, padId: 1, eosId: 2, maskId: 64001, vocabSize: 64001 };

function image(i: number, size: number) {
  const data = new Uint8Array(size * size * 3);
  for (let k = 0; k < data.length; k++) data[k] = (k * 2654435761 + i * 97) >>> 24;
  return { width: size, height: size, data };
}

function textRow(i: number) {
  const n = 20 + (i * 7) % 40;
  const tokens = [0, ...Array.from({ length: n }, (_, k) => 4 + ((i * 7919 + k * 104729) % 60000)), 2];
  const padding = tokens.map(() => 0);
  while (tokens.length < T) {
    tokens.push(1);
    padding.push(1);
  }
  return { tokens, padding };
}

/** ≈ FLOPs of one train step: 3 × (backbone forwards + heads on the masked rows). */
function stepFlops(c: Beit3Config, feeds: Record<string, Tensor>, visualVocab: number): number {
  const nv = numVisionTokens(c);
  const fwd =
    B * forwardFlops(c, nv, 0) +
    B * forwardFlops(c, 0, T) +
    B * forwardFlops(c, nv, T) +
    2 * c.embedDim * visualVocab * feeds['images.index'].shape[0] +
    2 * c.embedDim * c.vocabSize * (feeds['texts.index'].shape[0] + feeds['pairs.index'].shape[0]);
  return 3 * fwd;
}

async function measure(ctx: BenchContext, label: string, model: string, iters: number): Promise<void> {
  const t0 = performance.now();
  const p = await compilePretrain({
    model,
    batch: { images: B, texts: B, pairs: B },
    textLen: T,
    tokenizer: new PatchColourTokenizer(16, 4),
    vocab: VOCAB,
    hp: { steps: 1000, warmupSteps: 10 },
    seed: 0,
  });
  const compileMs = performance.now() - t0;
  const c = p.model.cfg;
  const b: StreamBatches = { images: [], texts: [], pairs: [] };
  for (let i = 0; i < B; i++) {
    const r = textRow(i);
    const q = textRow(i + 100);
    b.images!.push(p.batcher.image(image(i, c.imgSize + 32), `i${i}`, i));
    b.texts!.push(p.batcher.text(r.tokens, r.padding, i));
    b.pairs!.push(p.batcher.pair(image(i + 50, c.imgSize + 32), `p${i}`, q.tokens, q.padding, i));
  }
  const feeds = await p.batcher.assemble(b);
  let k = 0;
  const ms = await timeIt(() => p.step.microStep(feeds, p.schedule[k++]), iters, 1);
  const flops = stepFlops(c, feeds, p.batcher.tokenizer.vocabSize);
  const gflops = flops / (ms / 1000) / 1e9;
  const frac = gflops / ctx.rooflineGflops;
  const name = `train.pretrain.${label}.b8`;
  ctx.report({
    name,
    value: (3 * B) / (ms / 1000),
    unit: 'samples/s',
    roofline_fraction: frac,
    note: `one step over ${B} images + ${B} texts + ${B} pairs (${T} tokens): ${ms.toFixed(0)} ms, ${gflops.toFixed(1)} GFLOP/s of ${(flops / 1e9).toFixed(0)} GFLOP; compile ${(compileMs / 1000).toFixed(1)} s; ${(p.model.numParams() / 1e6).toFixed(1)}M params; RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(1)} GiB`,
  });
  for (const s of ['images', 'texts', 'pairs'])
    ctx.report({ name: `${name}.${s}_per_s`, value: B / (ms / 1000), unit: 'samples/s', roofline_fraction: frac, note: `${s} stream (${B} per step)` });
  await p.step.release();
  if (label === 'base224') await tokenizerCost(ctx, name, numPatches(c), feeds, ms);
}

/** VQ-KD base forward on the step's 8 images: the per-step price of online targets. */
async function tokenizerCost(ctx: BenchContext, name: string, patches: number, feeds: Record<string, Tensor>, stepMs: number): Promise<void> {
  const tok = vqkdTargets(await untrainedVqkd('vqkd_encoder_base_decoder_3x768x12_clip'));
  const raw = feeds['images.image'];
  const x = new Tensor('float32', raw.shape, Float32Array.from(raw.data as Float32Array, (v) => v * 0.5 + 0.5));
  const ms = await timeIt(() => tok.encode(x), 3, 1);
  ctx.report({
    name: `${name}.targets_online_ms`,
    value: ms,
    unit: 'ms',
    note: `VQ-KD base encode of the step's ${B} images (${patches} codes each): ${((100 * ms) / stepMs).toFixed(1)}% of the train step; cached targets skip it`,
  });
  await tok.release();
}

export const pretrainSuite: Suite = {
  name: 'pretrain',
  async run(ctx) {
    const want = (l: string) => !ctx.filter || !ctx.filter.startsWith('pretrain.') || ctx.filter.includes(l);
    if (want('small')) await measure(ctx, 'small', 'beit3_small_patch16_224_pretraining', 3);
    if (want('base224')) await measure(ctx, 'base224', 'beit3_base_patch16_224_pretraining', 2);
  },
};
