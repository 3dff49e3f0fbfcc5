import { describe, expect, it } from 'vitest';
import { F, Graph, ops, Tensor, type Value } from '../../src/index.js';
import { TrainStep } from '../../src/train/step.js';

/** Seeded uniform [-1, 1) numbers (LCG), independent of the code under test. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

describe('AdamW train step vs an independent reference', () => {
  it('matches torch.optim.AdamW semantics (bias correction, decoupled decay, per-param options, clipping) for 4 steps', async () => {
    const [N, I, O] = [5, 3, 2];
    const r = rng(3);
    const X = Array.from({ length: N * I }, r);
    const Y = Array.from({ length: N * O }, r);
    const W0 = Array.from({ length: O * I }, r);
    const B0 = Array.from({ length: O }, r);
    const g = new Graph('linreg');
    const x = g.input('x', 'float64', [N, I]);
    const y = g.input('y', 'float64', [N, O]);
    const w = g.input('w', 'float64', [O, I]);
    const b = g.input('b', 'float64', [O]);
    const d = ops.sub(F.linear(x, w, b), y);
    const loss = ops.reduceMean(ops.mul(d, d), [0, 1]);
    const cfg = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
    const clip = 0.5;
    const step = await TrainStep.compile({
      graph: g,
      loss,
      params: [w, b],
      adamw: cfg,
      paramOptions: { b: { weightDecay: false, lrScale: 0.5 } },
      clipGradNorm: clip,
    });
    step.init({ w: Tensor.f64([O, I], W0), b: Tensor.f64([O], B0) });

    // Reference: analytic MSE gradients + AdamW written out in plain float64 JS.
    const P = { w: [...W0], b: [...B0] };
    const Mo = { w: new Array(O * I).fill(0), b: new Array(O).fill(0) };
    const Ve = { w: new Array(O * I).fill(0), b: new Array(O).fill(0) };
    const lrs = [0.1, 0.05, 0.2, 0.01];
    for (let t = 1; t <= lrs.length; t++) {
      const gw = new Array(O * I).fill(0);
      const gb = new Array(O).fill(0);
      let lossRef = 0;
      for (let n = 0; n < N; n++)
        for (let o = 0; o < O; o++) {
          let pred = P.b[o];
          for (let i = 0; i < I; i++) pred += X[n * I + i] * P.w[o * I + i];
          const e = pred - Y[n * O + o];
          lossRef += (e * e) / (N * O);
          gb[o] += (2 * e) / (N * O);
          for (let i = 0; i < I; i++) gw[o * I + i] += (2 * e * X[n * I + i]) / (N * O);
        }
      const norm = Math.sqrt([...gw, ...gb].reduce((s, v) => s + v * v, 0));
      const coef = Math.min(1, clip / (norm + 1e-6));
      const res = await step.step({ x: Tensor.f64([N, I], X), y: Tensor.f64([N, O], Y) }, lrs[t - 1]);
      expect(res.loss).toBeCloseTo(lossRef, 12);
      expect(res.gradNorm).toBeCloseTo(norm, 12);
      for (const [k, grads, scale, decay] of [
        ['w', gw, 1, true],
        ['b', gb, 0.5, false],
      ] as const) {
        const lr = lrs[t - 1] * scale;
        for (let j = 0; j < grads.length; j++) {
          const gj = grads[j] * coef;
          Mo[k][j] = cfg.beta1 * Mo[k][j] + (1 - cfg.beta1) * gj;
          Ve[k][j] = cfg.beta2 * Ve[k][j] + (1 - cfg.beta2) * gj * gj;
          if (decay) P[k][j] *= 1 - lr * cfg.weightDecay;
          const denom = Math.sqrt(Ve[k][j]) / Math.sqrt(1 - cfg.beta2 ** t) + cfg.eps;
          P[k][j] -= (lr / (1 - cfg.beta1 ** t)) * (Mo[k][j] / denom);
        }
      }
      const got = step.params();
      got
        .get('w')!
        .toArray()
        .forEach((v, j) => expect(v).toBeCloseTo(P.w[j], 12));
      got
        .get('b')!
        .toArray()
        .forEach((v, j) => expect(v).toBeCloseTo(P.b[j], 12));
    }
    expect(step.stepCount).toBe(4);
  });
});

/** Previous-token prediction: needs attention + positions, so only a working block learns it. */
function buildBlock(V: number, L: number, D: number, H: number) {
  const g = new Graph('tiny-transformer');
  const tokens = g.input('tokens', 'int64', ['batch', L]);
  const targets = g.input('targets', 'int64', ['batch', L]);
  const p: Record<string, Value> = {};
  const param = (name: string, shape: number[]) => (p[name] = g.input(name, 'float32', shape));
  param('embed', [V, D]);
  param('pos', [L, D]);
  for (const n of ['ln1', 'ln2', 'lnf']) {
    param(`${n}.weight`, [D]);
    param(`${n}.bias`, [D]);
  }
  for (const n of ['q', 'k', 'v', 'o']) {
    param(`${n}.weight`, [D, D]);
    param(`${n}.bias`, [D]);
  }
  param('fc1.weight', [4 * D, D]);
  param('fc1.bias', [4 * D]);
  param('fc2.weight', [D, 4 * D]);
  param('fc2.bias', [D]);
  param('head.weight', [V, D]);
  let x = ops.add(ops.gather(p.embed, tokens), p.pos);
  const h = F.layerNorm(x, p['ln1.weight'], p['ln1.bias']);
  const causal = g.constant(
    Tensor.f32(
      [L, L],
      Array.from({ length: L * L }, (_, i) => (i % L > Math.floor(i / L) ? -1e9 : 0)),
    ),
    'causal',
  );
  x = ops.add(
    x,
    F.multiHeadAttention(
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
      H,
      { attnMask: causal },
    ),
  );
  x = ops.add(
    x,
    F.linear(
      F.gelu(F.linear(F.layerNorm(x, p['ln2.weight'], p['ln2.bias']), p['fc1.weight'], p['fc1.bias'])),
      p['fc2.weight'],
      p['fc2.bias'],
    ),
  );
  const logits = F.linear(F.layerNorm(x, p['lnf.weight'], p['lnf.bias']), p['head.weight']);
  const loss = F.crossEntropy(logits, targets, { ignoreIndex: -100 });
  return { g, loss, params: Object.values(p) };
}

async function trainTiny(seed: number, steps: number): Promise<number[]> {
  const [V, L, D, H, B] = [8, 6, 16, 2, 16];
  const { g, loss, params } = buildBlock(V, L, D, H);
  const noDecay = (n: string) => n.endsWith('.bias') || n.startsWith('ln') || n === 'pos' || n === 'embed';
  const step = await TrainStep.compile({
    graph: g,
    loss,
    params,
    adamw: { weightDecay: 0.05 },
    paramOptions: (n) => ({ weightDecay: !noDecay(n) }),
    clipGradNorm: 1,
    compile: { threads: 1 },
  });
  const r = rng(seed);
  const init: Record<string, Tensor> = {};
  for (const p of params) {
    const shape = p.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const isLnW = p.name.endsWith('.weight') && p.name.startsWith('ln');
    init[p.name] = Tensor.f32(
      shape,
      Array.from({ length: n }, () => (isLnW ? 1 : p.name.startsWith('ln') ? 0 : r() * 0.3)),
    );
  }
  step.init(init);
  // Gelu/attention registered contrib fused forms, but the training program must not use them.
  expect(g.fusions.size).toBeGreaterThan(0);
  expect(step.program.options.fuse).toBe(false);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const tok = Array.from({ length: B * L }, () => Math.floor(((r() + 1) / 2) * V) % V);
    const tgt = tok.map((_, i) => (i % L === 0 ? -100 : tok[i - 1]));
    const lr = 3e-3 * Math.min(1, (s + 1) / 10);
    losses.push(
      (await step.step({ tokens: Tensor.i64([B, L], tok), targets: Tensor.i64([B, L], tgt) }, lr)).loss,
    );
  }
  await step.release();
  return losses;
}

describe('compiled train step learns', () => {
  it('a causal transformer block learns previous-token prediction, deterministically per seed', async () => {
    const a = await trainTiny(7, 150);
    if (process.env.SHOW_LOSS)
      console.log(
        a
          .filter((_, i) => i % 15 === 0 || i === 149)
          .map((v) => v.toFixed(3))
          .join(' '),
      );
    const start = a.slice(0, 5).reduce((s, v) => s + v) / 5;
    const end = a.slice(-10).reduce((s, v) => s + v) / 10;
    expect(start).toBeGreaterThan(1.8); // ≈ ln 8
    expect(end).toBeLessThan(0.35 * start);
    const b = await trainTiny(7, 20);
    expect(b).toEqual(a.slice(0, 20));
  }, 60_000);
});
