import { describe, expect, it } from 'vitest';
import { F, Graph, ops, Program, Tensor, type Value } from '../../src/index.js';
import { createModel, ParamScope } from '../../src/models/beit3/index.js';
import { NonFiniteError, TrainStep, TrainStepError } from '../../src/train/step.js';

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

/** x·wᵀ + b regression in float64 with an extra parameter z whose gradient is exactly zero. */
function regression(N: number, I: number, O: number, opts: { noise?: boolean; state?: boolean } = {}) {
  const g = new Graph('reg');
  const x = g.input('x', 'float64', ['batch', I]);
  const y = g.input('y', 'float64', ['batch', O]);
  const w = g.input('w', 'float64', [O, I]);
  const b = g.input('b', 'float64', [O]);
  const z = g.input('z', 'float64', [O]);
  const pred = F.linear(x, w, b);
  let d = ops.sub(pred, y);
  const noise: Value[] = [];
  if (opts.noise) {
    const r = g.input('random.0', 'float64', ['batch', 1]);
    noise.push(r);
    d = ops.mul(d, ops.add(ops.mul(r, 0.5), 1));
  }
  let loss = ops.reduceMean(ops.mul(d, d), [0, 1]);
  loss = ops.add(loss, ops.reduceSum(ops.mul(z, 0), [0])); // z is used: its gradient is 0, not None
  const state = [];
  if (opts.state) {
    const s = g.input('running_mean', 'float64', [O]);
    state.push({ input: s, next: ops.add(ops.mul(s, 0.9), ops.mul(ops.reduceMean(pred, [0]), 0.1)) });
  }
  return { g, loss, params: [w, b, z], noise, state, N, I, O };
}

function batches(n: number, N: number, I: number, O: number, seed: number) {
  const r = rng(seed);
  return Array.from({ length: n }, () => ({
    x: Tensor.f64([N, I], Array.from({ length: N * I }, r)),
    y: Tensor.f64([N, O], Array.from({ length: N * O }, r)),
  }));
}

describe('TrainStep: gradient accumulation, groups, grad-None parameters', () => {
  it('update_freq 3 accumulates ∇(loss/3), latches the lr at the first micro-batch, clips once and skips unused parameters', async () => {
    const [N, I, O, UF] = [4, 3, 2, 3];
    const { g, loss, params } = regression(N, I, O);
    const cfg = { beta1: 0.9, beta2: 0.99, eps: 1e-8 };
    const groups = [
      { name: 'decay', lrScale: 1, weightDecay: 0.1, params: ['w', 'z', 'u'] }, // u: not in the graph
      { name: 'no_decay', lrScale: 0.5, weightDecay: 0, params: ['b'] },
    ];
    const clip = 0.3;
    const step = await TrainStep.compile({
      graph: g,
      loss,
      params,
      groups,
      adamw: cfg,
      clipGradNorm: clip,
      updateFreq: UF,
      exposeGrads: true,
    });
    const r = rng(11);
    const P: Record<string, number[]> = {
      w: Array.from({ length: O * I }, r),
      b: Array.from({ length: O }, r),
      z: [0.5, -0.25],
    };
    const U = [1, 2, 3];
    step.init({
      w: Tensor.f64([O, I], P.w),
      b: Tensor.f64([O], P.b),
      z: Tensor.f64([O], P.z),
      u: Tensor.f64([3], U),
    });
    const data = batches(2 * UF, N, I, O, 5);
    const Mo: Record<string, number[]> = {
      w: Array(O * I).fill(0),
      b: Array(O).fill(0),
      z: Array(O).fill(0),
    };
    const Ve: Record<string, number[]> = {
      w: Array(O * I).fill(0),
      b: Array(O).fill(0),
      z: Array(O).fill(0),
    };
    const sched = [0.2, 0.05];
    for (let k = 0; k < 2; k++) {
      const G: Record<string, number[]> = {
        w: Array(O * I).fill(0),
        b: Array(O).fill(0),
        z: Array(O).fill(0),
      };
      for (let j = 0; j < UF; j++) {
        const { x, y } = data[k * UF + j];
        let lossRef = 0;
        for (let n = 0; n < N; n++)
          for (let o = 0; o < O; o++) {
            let pred = P.b[o];
            for (let i = 0; i < I; i++) pred += Number(x.data[n * I + i]) * P.w[o * I + i];
            const e = pred - Number(y.data[n * O + o]);
            lossRef += (e * e) / (N * O);
            G.b[o] += (2 * e) / (N * O) / UF;
            for (let i = 0; i < I; i++) G.w[o * I + i] += (2 * e * Number(x.data[n * I + i])) / (N * O) / UF;
          }
        // the lr given at later micro-batches of the accumulation is ignored
        const res = await step.microStep({ x, y }, j === 0 ? sched[k] : 999);
        expect(res.loss).toBeCloseTo(lossRef, 12);
        expect(res.update).toBe(j === UF - 1);
        expect(res.step).toBe(k);
        if (!res.update) continue;
        const norm = Math.sqrt([...G.w, ...G.b, ...G.z].reduce((s, v) => s + v * v, 0));
        const coef = Math.min(1, clip / (norm + 1e-6));
        expect(res.gradNorm).toBeCloseTo(norm, 12);
        expect(res.clipCoef).toBeCloseTo(coef, 12);
        expect(res.lr).toEqual([sched[k], sched[k] * 0.5]);
        res
          .grads!.get('w')!
          .toArray()
          .forEach((v, i) => expect(v).toBeCloseTo(G.w[i], 12));
        const t = k + 1;
        for (const [name, scale, wd] of [
          ['w', 1, 0.1],
          ['z', 1, 0.1],
          ['b', 0.5, 0],
        ] as const) {
          const lr = sched[k] * scale;
          P[name] = P[name].map((p, i) => {
            const gi = G[name][i] * coef;
            Mo[name][i] = cfg.beta1 * Mo[name][i] + (1 - cfg.beta1) * gi;
            Ve[name][i] = cfg.beta2 * Ve[name][i] + (1 - cfg.beta2) * gi * gi;
            const q = p * (1 - lr * wd);
            return (
              q -
              (lr / (1 - cfg.beta1 ** t)) *
                (Mo[name][i] / (Math.sqrt(Ve[name][i]) / Math.sqrt(1 - cfg.beta2 ** t) + cfg.eps))
            );
          });
        }
      }
      const st = step.getState();
      for (const n of ['w', 'b', 'z'])
        st.params
          .get(n)!
          .toArray()
          .forEach((v, i) => expect(v).toBeCloseTo(P[n][i], 12));
      // zero gradient, still decayed: z shrinks by (1 − lr·wd) and its moments stay 0
      expect(st.params.get('u')!.toArray()).toEqual(U); // grad None: untouched
      expect([...st.m.keys()].sort()).toEqual(['b', 'w', 'z']); // and no optimizer state
    }
    expect(step.stepCount).toBe(2);
    await step.release();
  });

  it('getState / setState mid-accumulation resumes bit-exactly (params, moments, accumulators, latched lr, extra state, noise stream)', async () => {
    const [N, I, O] = [4, 3, 2];
    const make = async () => {
      const { g, loss, params, noise, state } = regression(N, I, O, { noise: true, state: true });
      const s = await TrainStep.compile({
        graph: g,
        loss,
        params,
        updateFreq: 2,
        noise,
        state,
        seed: 42,
        clipGradNorm: 1,
        ema: { decay: 0.5 },
      });
      return s;
    };
    const r = rng(3);
    const init = {
      w: Tensor.f64([O, I], Array.from({ length: O * I }, r)),
      b: Tensor.f64([O], [0.1, -0.2]),
      z: Tensor.f64([O], [0, 0]),
      running_mean: Tensor.f64([O], [0, 0]),
    };
    const data = batches(7, N, I, O, 9);
    const lrs = (i: number) => 0.01 * (1 + Math.floor(i / 2));
    const a = await make();
    a.init(init);
    const losses: number[] = [];
    let saved: ReturnType<TrainStep['getState']> | undefined;
    for (let i = 0; i < 7; i++) {
      if (i === 3) saved = a.getState();
      losses.push((await a.microStep(data[i], lrs(i))).loss);
    }
    expect(saved!.accumulated).toBe(1);
    expect(saved!.grads.size).toBe(3);
    expect(
      saved!.extra
        .get('running_mean')!
        .toArray()
        .some((v) => v !== 0),
    ).toBe(true);
    const final = a.getState();
    const b = await make();
    b.init(init);
    b.setState(saved!);
    for (let i = 3; i < 7; i++) expect((await b.microStep(data[i], lrs(i))).loss).toBe(losses[i]);
    const again = b.getState();
    for (const key of ['params', 'm', 'v', 'extra', 'grads', 'ema'] as const)
      for (const [n, t] of final[key]) expect(again[key].get(n)!.toArray()).toEqual(t.toArray());
    expect([again.step, again.microStep, again.accumulated, again.lr]).toEqual([
      final.step,
      final.microStep,
      final.accumulated,
      final.lr,
    ]);
    // the noise differs between micro-batches: same batch, different loss
    const c = await make();
    c.init(init);
    const l0 = (await c.microStep(data[0], 0.01)).loss;
    const l1 = (await c.microStep(data[0], 0.01)).loss;
    expect(l0).not.toBe(l1);
    await Promise.all([a.release(), b.release(), c.release()]);
  });

  it('a non-finite loss throws NonFiniteError and leaves the state as it was; EMA tracks the parameters', async () => {
    const [N, I, O] = [4, 3, 2];
    const { g, loss, params } = regression(N, I, O);
    const step = await TrainStep.compile({ graph: g, loss, params, ema: { decay: 0.75 } });
    step.init({
      w: Tensor.f64([O, I], [1, 2, 3, 4, 5, 6]),
      b: Tensor.f64([O], [0, 0]),
      z: Tensor.f64([O], [0, 0]),
    });
    const [d] = batches(1, N, I, O, 1);
    await step.microStep(d, 0.1);
    const before = step.getState();
    const p0 = [1, 2, 3, 4, 5, 6];
    before.ema
      .get('w')!
      .toArray()
      .forEach((v, i) =>
        expect(v).toBeCloseTo(0.75 * p0[i] + 0.25 * Number(before.params.get('w')!.data[i]), 12),
      );
    const bad = { x: Tensor.f64([N, I], Array(N * I).fill(NaN)), y: d.y };
    await expect(step.microStep(bad, 0.1)).rejects.toThrow(NonFiniteError);
    const after = step.getState();
    expect(after.step).toBe(1);
    expect(after.params.get('w')!.toArray()).toEqual(before.params.get('w')!.toArray());
    expect(after.m.get('w')!.toArray()).toEqual(before.m.get('w')!.toArray());
    await expect(step.microStep(d, NaN)).rejects.toThrow(TrainStepError);
    expect(() => step.setState({ ...after, accumulated: 1 })).toThrow(TrainStepError);
    await step.release();
  });
});

describe('drop path in training graphs (fed draws)', () => {
  it('drops a residual branch per sample, with one draw shared by the vision and text streams (torchscale DropPath)', async () => {
    const model = createModel('beit3_tiny_patch8_32_vqav2', {
      numClasses: 3,
      config: { dropPathRate: 0.5 },
    }).initialize(2);
    const g = new Graph('dp');
    const s = new ParamScope(g, model, { training: true, randomInputs: true });
    const image = g.input('image', 'float32', [2, 3, 32, 32]);
    const text = g.input('text', 'int64', [2, 5]);
    const o = model.beit3.forward(s, { image, textIds: text });
    // torchscale linspace(0, 0.5, 2 layers): layer 0 has rate 0, layer 1 rate 0.5 → 2 draws (attention, FFN)
    const noise = s.randomInputs();
    expect(noise.map((v) => v.shape)).toEqual([
      [2, 1, 1],
      [2, 1, 1],
    ]);
    for (const k of ['v', 't'] as const) {
      g.output(o.layerOutputs[0][k]!, `l0.${k}`);
      g.output(o.layerOutputs[1][k]!, `l1.${k}`);
    }
    const p = await Program.compile(g, { bind: s.bindings(), fuse: false });
    const feeds: Record<string, Tensor> = {
      image: Tensor.f32(
        [2, 3, 32, 32],
        Array.from({ length: 2 * 3072 }, (_, i) => Math.sin(i)),
      ),
      text: Tensor.i64([2, 5], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    };
    // sample 0 drawn below p (dropped), sample 1 above (kept, scaled by 1/(1 − p))
    for (const v of noise) feeds[v.name] = Tensor.f32([2, 1, 1], [0.1, 0.9]);
    const r = await p.run(feeds);
    for (const k of ['v', 't']) {
      const [a, b] = [r[`l0.${k}`].toArray(), r[`l1.${k}`].toArray()];
      const half = a.length / 2;
      expect(b.slice(0, half)).toEqual(a.slice(0, half)); // both branches of layer 1 dropped: identity
      expect(b.slice(half).some((x, i) => Math.abs(x - a[half + i]) > 1e-4)).toBe(true);
    }
    await p.release();
  }, 60_000);
});
