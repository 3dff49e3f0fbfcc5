/**
 * Engine figures: run overhead of a trivial program, and a ViT-base-sized transformer block
 * (dim 768, 12 heads, 197 tokens, batch 8) forward (weights as initializers) and compiled train
 * step (forward + backward + AdamW), as fractions of the roofline measured in the same run.
 */
import { F, Graph, ops, Program, Tensor, type Value } from '../../src/index.js';
import { TrainStep } from '../../src/train/step.js';
import { type BenchContext, bestOf, type Suite } from '../report.js';

export interface BlockSpec {
  dim: number;
  heads: number;
  tokens: number;
  batch: number;
}

export const BLOCK_B8: BlockSpec = { dim: 768, heads: 12, tokens: 197, batch: 8 };

function randomTensor(shape: readonly number[], scale: number, seed: number): Tensor {
  const t = Tensor.zeros('float32', shape);
  const a = t.data as Float32Array;
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return t;
}

/** A pre-LN transformer block x + MHA(LN(x)); x + FFN(LN(x)) with PyTorch-layout parameters. */
export function buildBlock(spec: BlockSpec): {
  g: Graph;
  x: Value;
  y: Value;
  params: Value[];
  init: Map<string, Tensor>;
} {
  const { dim: D, tokens: L, batch: B } = spec;
  const g = new Graph('block');
  const x = g.input('x', 'float32', [B, L, D]);
  const p: Record<string, Value> = {};
  const init = new Map<string, Tensor>();
  let seed = 1;
  const param = (name: string, shape: number[], kind: 'w' | 'b' | 'one' | 'zero') => {
    p[name] = g.input(name, 'float32', shape);
    const t =
      kind === 'w' ? randomTensor(shape, 1 / Math.sqrt(shape[1]), seed++) : Tensor.zeros('float32', shape);
    if (kind === 'one') (t.data as Float32Array).fill(1);
    if (kind === 'b') (t.data as Float32Array).fill(0.01);
    init.set(name, t);
  };
  for (const n of ['ln1', 'ln2']) {
    param(`${n}.weight`, [D], 'one');
    param(`${n}.bias`, [D], 'zero');
  }
  for (const n of ['q', 'k', 'v', 'o']) {
    param(`${n}.weight`, [D, D], 'w');
    param(`${n}.bias`, [D], 'b');
  }
  param('fc1.weight', [4 * D, D], 'w');
  param('fc1.bias', [4 * D], 'b');
  param('fc2.weight', [D, 4 * D], 'w');
  param('fc2.bias', [D], 'b');
  const h = F.layerNorm(x, p['ln1.weight'], p['ln1.bias']);
  const attn = F.multiHeadAttention(
    h,
    h,
    h,
    {
      qWeight: p['q.weight'],
      qBias: p['q.bias'],
      kWeight: p['k.weight'],
      kBias: p['k.bias'],
      vWeight: p['v.weight'],
      vBias: p['v.bias'],
      outWeight: p['o.weight'],
      outBias: p['o.bias'],
    },
    spec.heads,
  );
  const x1 = ops.add(x, attn);
  const ffn = F.linear(
    F.gelu(F.linear(F.layerNorm(x1, p['ln2.weight'], p['ln2.bias']), p['fc1.weight'], p['fc1.bias'])),
    p['fc2.weight'],
    p['fc2.bias'],
  );
  return { g, x, y: ops.add(x1, ffn), params: Object.values(p), init };
}

/** Multiply-add FLOPs of one block forward (projections, FFN, attention products). */
export function blockFlops({ dim: D, heads, tokens: L, batch: B }: BlockSpec): number {
  const N = B * L;
  return 2 * N * D * D * 12 + 2 * 2 * B * heads * L * L * (D / heads);
}


async function runOverhead(ctx: BenchContext): Promise<void> {
  const g = new Graph('trivial');
  const x = g.input('x', 'float32', [1]);
  g.output(ops.add(x, 1), 'y');
  const p = await Program.compile(g);
  const feeds = { x: Tensor.f32([1], [1]) };
  const out = { y: Tensor.f32([1]) };
  const n = 2000;
  for (let i = 0; i < 200; i++) await p.run(feeds, { outputs: out });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await p.run(feeds, { outputs: out });
  ctx.report({
    name: 'engine.run_overhead',
    value: ((performance.now() - t0) / n) * 1000,
    unit: 'µs',
    note: 'trivial program, pre-allocated output',
  });
  await p.release();
}

async function blockForward(ctx: BenchContext, spec: BlockSpec, name: string): Promise<void> {
  const { g, y, init } = buildBlock(spec);
  g.output(y, 'y');
  const p = await Program.compile(g, { bind: init });
  const feeds = { x: randomTensor([spec.batch, spec.tokens, spec.dim], 1, 77) };
  const out = { y: Tensor.zeros('float32', [spec.batch, spec.tokens, spec.dim]) };
  const ms = await bestOf(() => p.run(feeds, { outputs: out }), 5);
  const gflops = blockFlops(spec) / (ms / 1000) / 1e9;
  ctx.report({
    name,
    value: gflops,
    unit: 'GFLOP/s',
    roofline_fraction: gflops / ctx.rooflineGflops,
    note: `${ms.toFixed(1)} ms/run`,
  });
  await p.release();
}

async function blockTrain(ctx: BenchContext, spec: BlockSpec, name: string): Promise<void> {
  const { g, y, params, init } = buildBlock(spec);
  const loss = ops.reduceMean(ops.mul(y, y), [0, 1, 2]);
  const step = await TrainStep.compile({ graph: g, loss, params, clipGradNorm: 1 });
  step.init(init);
  const feeds = { x: randomTensor([spec.batch, spec.tokens, spec.dim], 1, 77) };
  const ms = await bestOf(() => step.step(feeds, 1e-4), 3);
  const gflops = (3 * blockFlops(spec)) / (ms / 1000) / 1e9;
  ctx.report({
    name,
    value: gflops,
    unit: 'GFLOP/s',
    roofline_fraction: gflops / ctx.rooflineGflops,
    note: `${ms.toFixed(1)} ms/step (3× forward FLOPs)`,
  });
  await step.release();
}

export const engineSuite: Suite = {
  name: 'engine',
  async run(ctx) {
    const want = (n: string) => !ctx.filter || n.includes(ctx.filter) || 'engine'.includes(ctx.filter);
    if (want('engine.run_overhead')) await runOverhead(ctx);
    if (want('block.forward.b8')) await blockForward(ctx, BLOCK_B8, 'block.forward.b8');
    if (want('block.train.b8')) await blockTrain(ctx, BLOCK_B8, 'block.train.b8');
  },
};

// ---------------------------------------------------------------------------------------------
// Weights at scale: initializers inline vs ONNX external data vs weights fed as inputs.
// Each mode runs in its own process so peak RSS is attributable:
//   npx tsx bench/suites/engine.ts weights [layers]
// ---------------------------------------------------------------------------------------------

type WeightsMode = 'inline' | 'external' | 'fed';

/** A residual stack of BEiT-3-base-sized linears (4·768² attention-like + 768↔3072 FFN per layer). */
function weightStack(layers: number) {
  const D = 768;
  const g = new Graph('weights');
  const x = g.input('x', 'float32', ['batch', 197, D]);
  const init = new Map<string, Tensor>();
  let seed = 1;
  const lin = (h: Value, name: string, o: number, i: number) => {
    const w = g.input(name, 'float32', [o, i]);
    init.set(name, randomTensor([o, i], 1 / Math.sqrt(i), seed++));
    return F.linear(h, w);
  };
  let h = x;
  for (let l = 0; l < layers; l++) {
    let a = h;
    for (const n of ['q', 'k', 'v', 'o']) a = lin(a, `l${l}.${n}`, D, D);
    h = ops.add(h, ops.mul(a, 0.1));
    h = ops.add(h, ops.mul(lin(F.gelu(lin(h, `l${l}.fc1`, 4 * D, D)), `l${l}.fc2`, D, 4 * D), 0.1));
  }
  g.output(h, 'y');
  return { g, init };
}

async function weightsChild(mode: WeightsMode, layers: number): Promise<void> {
  const { g, init } = weightStack(layers);
  const bytes = [...init.values()].reduce((s, t) => s + t.data.byteLength, 0);
  const t0 = performance.now();
  const p = await Program.compile(g, mode === 'fed' ? {} : { bind: init, externalData: mode === 'external' });
  const compileMs = performance.now() - t0;
  const feeds: Record<string, Tensor> = { x: randomTensor([1, 197, 768], 1, 5) };
  if (mode === 'fed') for (const [k, v] of init) feeds[k] = v;
  const runMs = await bestOf(() => p.run(feeds), 3);
  process.stdout.write(
    JSON.stringify({
      mode,
      layers,
      weightBytes: bytes,
      compileMs,
      runMs,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    }) + '\n',
  );
}

async function weightsParent(layers: number): Promise<void> {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const self = fileURLToPath(import.meta.url);
  for (const mode of ['inline', 'external', 'fed'] as WeightsMode[]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, 'weights-child', mode, String(layers)], {
      encoding: 'utf8',
    });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    process.stdout.write(
      r.status === 0 ? line + '\n' : `${mode}: failed (${r.stderr.trim().split('\n').pop()})\n`,
    );
  }
}

const isMain =
  process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;
if (isMain) {
  const [cmd, a, b] = process.argv.slice(2);
  if (cmd === 'weights') await weightsParent(Number(a ?? 24));
  else if (cmd === 'weights-child') await weightsChild(a as WeightsMode, Number(b));
  else process.stdout.write('usage: tsx bench/suites/engine.ts weights [layers]\n');
}
