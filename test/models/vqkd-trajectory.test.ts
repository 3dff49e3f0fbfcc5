/**
 * The official VQ-KD training trajectory (fixtures/train-ref/vqkd.*, README §5–8): five steps of
 * engine_for_vqkd.train_one_epoch with the stand-in CLIP teacher, reproduced through THE loop
 * (train/loop.ts fit) with the VQ-KD engine: losses, grad norms, codes, codebook and usage EMA,
 * every parameter after every step and the final AdamW moments, within the README's tolerances.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Graph } from '../../src/graph/ir.js';
import { loadSafetensors, type TensorMap } from '../../src/io/safetensors.js';
import { ClipTeacher, VQKD, vqkdConfigFromJson } from '../../src/models/vqkd/index.js';
import { ParamScope } from '../../src/nn/module.js';
import { Program } from '../../src/runtime/session.js';
import type { DataPosition } from '../../src/train/checkpoint.js';
import { type BatchStream, fit } from '../../src/train/loop.js';
import { codebookUsageEvaluator, type VqkdBatch, VqkdEngine, vqkdGroups, vqkdSchedule } from '../../src/train/vqkd.js';

const REF = join(import.meta.dirname, '../../fixtures/vqkd-ref');
const TRAJ = join(import.meta.dirname, '../../fixtures/train-ref');

interface TrajJson {
  hyperparameters: { weight_decay: number; opt_betas: [number, number]; opt_eps: number; min_lr: number; warmup_epochs: number; warmup_steps: number; epochs: number };
  effective_lr: number;
  model: { teacher: { config: { heads: number } } };
  param_groups: { name: string; lr_scale: number; weight_decay: number; params: string[] }[];
  schedule: { lr_schedule_values: number[]; num_training_steps_per_epoch: number };
  steps: { total_loss: number; rec_loss: number; quant_loss: number; grad_norm: number; codes_used: number }[];
  train_one_epoch_return: { Unused_code: number };
}

const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** The recorded batches in order: epoch e holds batches e·spe … (e+1)·spe − 1. */
function streamOf(batches: VqkdBatch[], spe: number): BatchStream<VqkdBatch> {
  return {
    async *iterate({ state }) {
      const epoch = state?.epoch ?? 0;
      for (let i = state?.position ?? 0; i < spe; i++)
        yield { batch: batches[epoch * spe + i], state: { epoch, position: i + 1, seed: 0 } as DataPosition, epoch };
    },
  };
}

describe('VQ-KD training reproduces the official trajectory (fixtures/train-ref/vqkd.*)', () => {
  let j: TrajJson;
  let t: TensorMap;
  let teacher: ClipTeacher;
  let model: VQKD;
  let K = 0; // optimizer steps of the run (one batch each)
  let B = 0;

  beforeAll(async () => {
    j = JSON.parse(readFileSync(join(TRAJ, 'vqkd.trajectory.json'), 'utf8')) as TrajJson;
    t = await loadSafetensors(join(TRAJ, 'vqkd.trajectory.safetensors'));
    teacher = ClipTeacher.fromState(t, { heads: j.model.teacher.config.heads });
    K = j.steps.length;
    B = t.get('batch0.image')!.shape[0];
    model = new VQKD(vqkdConfigFromJson(JSON.parse(readFileSync(join(REF, 'vqkd.json'), 'utf8'))));
    model.loadStateDict(await loadSafetensors(join(REF, 'vqkd.safetensors')));
  });

  it('the stand-in CLIP teacher gives the stored targets', async () => {
    const g = new Graph('teacher');
    const x = g.input('x', 'float32', t.get('batch0.image')!.shape);
    const s = new ParamScope(g, teacher.module);
    const pre = model.preprocess(x);
    g.output(teacher.targets(s, pre), 'target');
    const prog = await Program.compile(g, { bind: s.bindings(), threads: 1 });
    for (let i = 0; i < K; i++) {
      const out = await prog.run({ x: t.get(`batch${i}.image`)! });
      expect(maxAbs(out.target.data as Float32Array, t.get(`batch${i}.teacher_target`)!.data as Float32Array)).toBeLessThan(1e-5);
    }
    await prog.release();
  });

  it('groups and schedule are the official ones', () => {
    const groups = vqkdGroups(model, j.hyperparameters.weight_decay);
    expect(groups.map((g) => ({ name: g.name, lr_scale: g.lrScale, weight_decay: g.weightDecay, params: g.params }))).toEqual(
      j.param_groups.map((g) => ({ name: g.name, lr_scale: g.lr_scale, weight_decay: g.weight_decay, params: g.params })),
    );
    const hp = j.hyperparameters;
    const lrs = vqkdSchedule(
      { lr: j.effective_lr, minLr: hp.min_lr, epochs: hp.epochs, warmupEpochs: hp.warmup_epochs, warmupSteps: hp.warmup_steps },
      j.schedule.num_training_steps_per_epoch,
    );
    expect(lrs).toEqual(j.schedule.lr_schedule_values);
  });

  it('five steps through the loop: losses, grad norms, codes, codebook, cluster_size, parameters, moments', async () => {
    const hp = j.hyperparameters;
    const engine = await VqkdEngine.create({
      model,
      teacher,
      batchSize: B,
      stepsPerEpoch: j.schedule.num_training_steps_per_epoch,
      hp: { weightDecay: hp.weight_decay, optBetas: hp.opt_betas, optEps: hp.opt_eps, clipGrad: null },
      seed: 0,
      threads: 1,
    });
    const batches = Array.from({ length: K }, (_, i) => ({ image: t.get(`batch${i}.image`)! }));
    const checks: string[] = [];
    const fail = (m: string) => checks.push(m);
    let k = 0;
    let compared = 0;
    const worst = { loss: 0, gradNorm: 0, paramRel: 0, codebook: 0, clusterSize: 0 };
    const evaluator = codebookUsageEvaluator(engine);
    let usage: Record<string, number> = {};
    const r = await fit({
      engine,
      data: streamOf(batches, j.schedule.num_training_steps_per_epoch),
      schedule: j.schedule.lr_schedule_values,
      epochs: hp.epochs,
      stepsPerEpoch: j.schedule.num_training_steps_per_epoch,
      updateFreq: 1,
      batchSize: B,
      seed: 0,
      evaluator: {
        async evaluate(p, c) {
          const e = await evaluator.evaluate(p, c);
          usage = e.metrics;
          return e;
        },
      },
      onStep: (rec) => {
        const ref = j.steps[k];
        const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
        worst.loss = Math.max(worst.loss, rel(rec.loss, ref.total_loss));
        worst.gradNorm = Math.max(worst.gradNorm, rel(rec.grad_norm!, ref.grad_norm));
        if (rel(rec.loss, ref.total_loss) > 1e-5) fail(`step ${k} total loss ${rec.loss} vs ${ref.total_loss}`);
        if (rel(rec.terms.rec_loss, ref.rec_loss) > 1e-5) fail(`step ${k} rec loss ${rec.terms.rec_loss} vs ${ref.rec_loss}`);
        if (rel(rec.terms.quant_loss, ref.quant_loss) > 1e-5) fail(`step ${k} quant loss ${rec.terms.quant_loss} vs ${ref.quant_loss}`);
        if (rel(rec.grad_norm!, ref.grad_norm) > 1e-4) fail(`step ${k} grad norm ${rec.grad_norm} vs ${ref.grad_norm}`);
        const codes = engine.codes!.toArray();
        if (codes.join() !== t.get(`batch${k}.codes`)!.toArray().join()) fail(`step ${k}: codes differ`);
        const state = engine.stateDict();
        for (const [name, ref2] of t) {
          if (!name.startsWith(`step${k}.`)) continue;
          const key = name.slice(`step${k}.`.length);
          const ours = state.get(key);
          if (!ours) {
            fail(`step ${k}: no ${key}`);
            continue;
          }
          const a = ours.data as Float32Array;
          const b = ref2.data as Float32Array;
          compared++;
          if (key === 'quantize.embedding.weight') worst.codebook = Math.max(worst.codebook, maxAbs(a, b));
          else if (key === 'quantize.cluster_size') worst.clusterSize = Math.max(worst.clusterSize, maxAbs(a, b));
          else worst.paramRel = Math.max(worst.paramRel, relL2(a, b));
          if (key === 'quantize.embedding.weight') {
            if (maxAbs(a, b) > 1e-5) fail(`step ${k} codebook max abs ${maxAbs(a, b)}`);
          } else if (key === 'quantize.cluster_size') {
            if (maxAbs(a, b) > 1e-6) fail(`step ${k} cluster_size max abs ${maxAbs(a, b)}`);
          } else if (relL2(a, b) > 5e-5 || maxAbs(a, b) > 1e-5)
            fail(`step ${k} ${key}: rel L2 ${relL2(a, b)}, max abs ${maxAbs(a, b)}`);
        }
        k++;
      },
    });
    expect(checks).toEqual([]);
    expect(r.steps).toBe(K);
    // Every stored tensor of every step was compared (the state_dict minus teacher/scaling).
    expect(compared).toBe(K * [...t.keys()].filter((n) => n.startsWith('step0.')).length);
    console.log('vqkd trajectory worst gaps', worst);
    // Step 0 has lr 0: the parameters are the start weights, bit for bit (checked above within tolerance).
    const st = engine.step.getState();
    for (const [name, ref] of t) {
      const m = /^adam\.(exp_avg|exp_avg_sq)\.(.*)$/.exec(name);
      if (!m) continue;
      const ours = (m[1] === 'exp_avg' ? st.m : st.v).get(m[2]);
      expect(ours, name).toBeDefined();
      expect(relL2(ours!.data as Float32Array, ref.data as Float32Array), name).toBeLessThan(1e-3);
    }
    // Usage logged per epoch: the official Unused_code (zeros of cluster_size) and our histogram.
    expect(usage.unused_cluster_size).toBe(j.train_one_epoch_return.Unused_code);
    expect(usage.unused_codes).toBe(j.train_one_epoch_return.Unused_code);
    expect(usage.perplexity).toBeGreaterThan(1);
    expect(usage.perplexity).toBeLessThanOrEqual(usage.codes_used);
    await engine.release();
  });
});
