/**
 * BEiT-3 base (random weights) forward throughput on ONNX Runtime: image encoder 224² at batch
 * 1 and 8, text encoder (64 tokens), vision-language fusion (224² + 64 tokens); images/s and the
 * fraction of the roofline measured in the same run. Also cold start (init + build + compile)
 * and peak RSS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Graph } from '../../src/graph/ir.js';
import { ops } from '../../src/graph/index.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/graph/tensor.js';
import { joinStreams } from '../../src/models/beit3/backbone.js';
import { type Beit3Config, numVisionTokens } from '../../src/models/beit3/config.js';
import type { Beit3Backbone } from '../../src/models/beit3/heads/pretrained.js';
import { createModel } from '../../src/models/beit3/registry.js';
import { ParamScope } from '../../src/nn/module.js';
import { Program } from '../../src/runtime/index.js';
import { type BenchContext, type Suite, timeIt } from '../report.js';
import { FFN_SHAPE, measureRooflineAt } from '../roofline.js';

/** Forward FLOPs (multiply-add = 2) of the backbone for Nv vision and T text tokens. */
export function forwardFlops(c: Beit3Config, nv: number, t: number): number {
  const L = nv + t;
  const perToken = 2 * (4 * c.embedDim ** 2 + 2 * c.embedDim * c.ffnDim);
  const attention = 2 * 2 * L * L * c.embedDim;
  const patch = nv > 0 ? 2 * (nv - 1) * c.inChans * c.patchSize ** 2 * c.embedDim : 0;
  return c.layers * (L * perToken + attention) + patch;
}

function randomTensor(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros('float32', shape);
  const a = t.data as Float32Array;
  for (let i = 0; i < a.length; i++) a[i] = (((i * 2654435761 + seed) >>> 0) / 2 ** 32) * 2 - 1;
  return t;
}

type Kind = 'image' | 'text' | 'vl';

async function compileFor(model: Beit3Backbone, kind: Kind, batch: number, textLen: number) {
  const cfg = model.cfg;
  const g = new Graph(`beit3_base_${kind}`);
  const s = new ParamScope(g, model);
  const feeds: Record<string, Tensor> = {};
  const inp: {
    image?: ReturnType<Graph['input']>;
    textIds?: ReturnType<Graph['input']>;
    textPadding?: ReturnType<Graph['input']>;
  } = {};
  if (kind !== 'text') {
    inp.image = g.input('image', 'float32', [batch, 3, cfg.imgSize, cfg.imgSize]);
    feeds.image = randomTensor([batch, 3, cfg.imgSize, cfg.imgSize], 1);
  }
  if (kind !== 'image') {
    inp.textIds = g.input('text_ids', 'int64', [batch, textLen]);
    inp.textPadding = g.input('padding_mask', 'int64', [batch, textLen]);
    feeds.text_ids = Tensor.i64(
      [batch, textLen],
      Array.from({ length: batch * textLen }, (_, i) => 4 + ((i * 7919) % 60000)),
    );
    feeds.padding_mask = Tensor.i64([batch, textLen], Array(batch * textLen).fill(0));
  }
  const r = model.beit3.forward(s, inp);
  g.output(joinStreams(r.out), 'encoder_out');
  const prog = await Program.compile(g, { bind: s.bindings() });
  return { prog, feeds };
}

/** Saves the weights, then loads + compiles them in a fresh process (cold start, peak RSS). */
async function coldStart(ctx: BenchContext, model: Beit3Backbone): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'beit3-bench-'));
  try {
    const file = join(dir, 'beit3_base_patch16_224.safetensors');
    await saveSafetensors(file, model.stateDict());
    const script = join(dirname(fileURLToPath(import.meta.url)), 'beit3-coldstart.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, file], {
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
      loadMs: number;
      totalMs: number;
      maxRssMiB: number;
      usedMiB: number;
    };
    const weightsMiB = (model.numParams() * 4) / 2 ** 20;
    ctx.report({
      name: 'beit3_base.cold_start_ms',
      value: r.totalMs,
      unit: 'ms',
      note: `build graph + read its ${r.usedMiB.toFixed(0)} MiB of weights ${r.loadMs.toFixed(0)} ms, then ORT compile`,
    });
    ctx.report({
      name: 'beit3_base.cold_start_peak_rss',
      value: r.maxRssMiB,
      unit: 'MiB',
      note: `fresh process; checkpoint ${weightsMiB.toFixed(0)} MiB float32 (${(r.maxRssMiB / weightsMiB).toFixed(2)}×), image encoder uses ${r.usedMiB.toFixed(0)} MiB`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mean process CPU ms per call (user + system): robust to other processes on a shared machine. */
async function cpuMs(fn: () => Promise<unknown>, n: number): Promise<number> {
  await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

/**
 * Single-thread efficiency by CPU time: the image encoder at batch 8 and the roofline chain, both
 * on one ORT thread, timed by process CPU time. Unlike wall-clock figures this does not move
 * when other processes compete for the cores.
 */
async function singleThread(ctx: BenchContext, model: Beit3Backbone): Promise<void> {
  const { tokens, dim, hidden } = FFN_SHAPE;
  const rg = new Graph('roofline_1t');
  let x = rg.input('x', 'float32', [tokens, dim]);
  for (let r = 0; r < 3; r++) {
    x = ops.matmul(x, rg.constant(randomTensor([dim, hidden], 2 * r), 'w1'));
    x = ops.matmul(x, rg.constant(randomTensor([hidden, dim], 2 * r + 1), 'w2'));
  }
  rg.output(x, 'y');
  const rp = await Program.compile(rg, { threads: 1 });
  const xin = randomTensor([tokens, dim], 9);
  const roof = (3 * 4 * tokens * dim * hidden) / (await cpuMs(() => rp.run({ x: xin }), 3)) / 1e6;
  await rp.release();
  const B = 8;
  const cfg = model.cfg;
  const g = new Graph('image_1t');
  const s = new ParamScope(g, model);
  const image = g.input('image', 'float32', [B, 3, cfg.imgSize, cfg.imgSize]);
  g.output(joinStreams(model.beit3.forward(s, { image }).out), 'y');
  const p = await Program.compile(g, { bind: s.bindings(), threads: 1 });
  const ms = await cpuMs(() => p.run({ image: randomTensor([B, 3, cfg.imgSize, cfg.imgSize], 1) }), 2);
  await p.release();
  const gflops = (forwardFlops(cfg, numVisionTokens(cfg), 0) * B) / ms / 1e6;
  ctx.report({
    name: 'beit3_base.image.b8.1thread_cpu',
    value: (B * 1000) / ms,
    unit: 'images/cpu-s',
    roofline_fraction: gflops / roof,
    threads: 1,
    note: `one ORT thread, CPU time: ${gflops.toFixed(0)} GFLOP/s vs ${roof.toFixed(0)} GFLOP/s single-thread roofline`,
  });
}

export const beit3Suite: Suite = {
  name: 'beit3',
  async run(ctx: BenchContext) {
    const t0 = performance.now();
    const model = createModel('beit3_base_patch16_224') as Beit3Backbone;
    model.initialize(0);
    const tInit = performance.now() - t0;
    const cfg = model.cfg;
    const nv = numVisionTokens(cfg);
    const T = 64;
    const cases: { name: string; kind: Kind; batch: number; flops: number; unit: string }[] = [
      {
        name: 'beit3_base.image.b1',
        kind: 'image',
        batch: 1,
        flops: forwardFlops(cfg, nv, 0),
        unit: 'images/s',
      },
      {
        name: 'beit3_base.image.b8',
        kind: 'image',
        batch: 8,
        flops: forwardFlops(cfg, nv, 0),
        unit: 'images/s',
      },
      {
        name: 'beit3_base.text64.b8',
        kind: 'text',
        batch: 8,
        flops: forwardFlops(cfg, 0, T),
        unit: 'texts/s',
      },
      {
        name: 'beit3_base.vl224_64.b8',
        kind: 'vl',
        batch: 8,
        flops: forwardFlops(cfg, nv, T),
        unit: 'pairs/s',
      },
    ];
    const wanted = (name: string) => !ctx.filter || name.includes(ctx.filter) || 'beit3'.includes(ctx.filter);
    if (wanted('beit3_base.image.b8.1thread_cpu')) await singleThread(ctx, model);
    ctx.report({
      name: 'beit3_base.random_init_ms',
      value: tInit,
      unit: 'ms',
      note: 'seeded official init of 221M parameters in JS',
    });
    await coldStart(ctx, model);
    for (const c of cases) {
      if (!wanted(c.name)) continue;
      const { prog, feeds } = await compileFor(model, c.kind, c.batch, T);
      // The machine may be shared: measure the roofline right before and after this figure and
      // divide by their mean, so a load change between the run's start and now does not skew it.
      const before = await measureRooflineAt(ctx.rooflineThreads, 3, 3);
      const ms = await timeIt(() => prog.run(feeds), c.batch === 1 ? 5 : 3, 1);
      const after = await measureRooflineAt(ctx.rooflineThreads, 3, 3);
      const roof = (before + after) / 2;
      const perSec = (c.batch * 1000) / ms;
      const gflops = (perSec * c.flops) / 1e9;
      ctx.report({
        name: c.name,
        value: perSec,
        unit: c.unit,
        roofline_fraction: gflops / roof,
        note: `${(c.flops / 1e9).toFixed(1)} GFLOPs each, ${gflops.toFixed(0)} GFLOP/s; roofline (${ctx.rooflineThreads} threads) around it ${before.toFixed(0)}/${after.toFixed(0)} GFLOP/s (run start ${ctx.rooflineGflops.toFixed(0)})`,
      });
      await prog.release();
    }
  },
};
