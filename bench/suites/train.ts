/**
 * Fine-tuning train steps of the full base model (forward + official loss + backward + clip +
 * AdamW, one compiled program from compileFinetune), random weights, batch 8:
 *  - train.finetune.classify.base224.b8  — ImageNet classification at 224 (1000 classes);
 *  - train.finetune.vqa.base224_64.b8    — VQAv2 at 224 with 64 text tokens (3129 answers).
 * samples/s = 8 / median step time; roofline_fraction = the step's GFLOP/s counted as
 * 3 × forward FLOPs over the roofline measured at the start of the same run; peak RSS after each.
 */
import { Tensor } from '../../src/graph/tensor.js';
import { numVisionTokens } from '../../src/models/beit3/config.js';
import { createModel } from '../../src/models/beit3/registry.js';
import { compileFinetune, type FinetuneTask } from '../../src/train/index.js';
import { type BenchContext, type Suite, timeIt } from '../report.js';
import { forwardFlops } from './beit3.js';

const B = 8;
const T = 64;

function filled(shape: number[], f: (i: number) => number, dtype: 'float32' | 'int64' = 'float32'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return dtype === 'int64' ? Tensor.i64(shape, Array.from({ length: n }, (_, i) => f(i))) : Tensor.f32(shape, Array.from({ length: n }, (_, i) => f(i)));
}

async function measure(ctx: BenchContext, name: string, modelName: string, task: FinetuneTask, imgSize?: number): Promise<void> {
  const model = createModel(modelName, { config: { dropPathRate: 0.1, ...(imgSize ? { imgSize } : {}) } });
  const c = model.cfg;
  const t0 = performance.now();
  const { step } = await compileFinetune(
    model,
    task,
    { lr: 1e-4, minLr: 1e-6, epochs: 1, warmupEpochs: 0, layerDecay: 0.65, weightDecay: 0.05, clipGrad: 3, updateFreq: 1 },
    { batchSize: B, textLen: T, seed: 0 },
  );
  step.init(model.stateDict());
  process.stderr.write(`${name}: compiled + initialised in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const compileS = (performance.now() - t0) / 1000;
  const S = c.imgSize;
  const image = filled([B, 3, S, S], (i) => ((((i * 2654435761) >>> 0) / 2 ** 32) * 2 - 1));
  const classes = (model as unknown as { numClasses: number }).numClasses;
  const feeds: Record<string, Tensor> =
    task === 'imagenet'
      ? { image, label: filled([B], (i) => (i * 37) % classes, 'int64') }
      : {
          image,
          language_tokens: filled([B, T], (i) => (i % T === 0 ? 0 : 4 + ((i * 7919) % 60000)), 'int64'),
          padding_mask: filled([B, T], () => 0, 'int64'),
          labels: filled([B, classes], (i) => (i % 97 === 0 ? 1 : 0)),
        };
  // one warm-up step (ORT arena, first-run allocations), then the median of two timed steps
  const ms = await timeIt(() => step.microStep(feeds, 1e-4), 2, 1);
  const nv = numVisionTokens(c);
  const fwd = B * forwardFlops(c, nv, task === 'imagenet' ? 0 : T) + 2 * B * c.embedDim * classes;
  const gflops = (3 * fwd) / (ms / 1000) / 1e9;
  const rss = process.resourceUsage().maxRSS / 1024;
  ctx.report({
    name,
    value: B / (ms / 1000),
    unit: 'samples/s',
    roofline_fraction: gflops / ctx.rooflineGflops,
    note: `${ms.toFixed(0)} ms/step, ${gflops.toFixed(0)} GFLOP/s as 3× forward (${((3 * fwd) / 1e9).toFixed(0)} GFLOP) vs roofline ${ctx.rooflineGflops.toFixed(0)} GFLOP/s; compile+init ${compileS.toFixed(1)} s; peak RSS ${rss.toFixed(0)} MiB`,
  });
  ctx.report({ name: `${name}.peak_rss`, value: rss, unit: 'MiB', note: 'process peak RSS after this figure (params + AdamW moments + activations + ORT arena)' });
  await step.release();
}

export const trainSuite: Suite = {
  name: 'train',
  async run(ctx) {
    const want = (l: string) => !ctx.filter || !ctx.filter.startsWith('train.') || ctx.filter.includes(l);
    if (want('classify')) await measure(ctx, 'train.finetune.classify.base224.b8', 'beit3_base_patch16_224_imageclassification', 'imagenet');
    if (want('vqa')) await measure(ctx, 'train.finetune.vqa.base224_64.b8', 'beit3_base_patch16_384_vqav2', 'vqav2', 224); // VQAv2 is registered at 384/480 only
  },
};
