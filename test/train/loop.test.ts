import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadCheckpointFile } from '../../src/train/checkpoint.js';
import { fit, LAST_CHECKPOINT, LOG_FILE, type StepEngine } from '../../src/train/loop.js';
import { NonFiniteLossError, TrainConfigError } from '../../src/train/loop-errors.js';
import { readTrainLog } from '../../src/train/log.js';
import { tempDir, tinyRun } from './loop-fixture.js';

describe('fit(): the one training loop', () => {
  it('steps the schedule per optimizer step, accumulates update_freq micro-batches, logs, checkpoints, evaluates and plots', async () => {
    const t = tempDir('beit3-loop-');
    try {
      const run = await tinyRun({ updateFreq: 2, epochs: 2 });
      const evals: number[] = [];
      let published = 0;
      const r = await fit({
        ...run.options,
        outputDir: t.dir,
        plots: true,
        evaluator: {
          evaluate: async (params, ctx) => {
            evals.push(ctx.step);
            // a real metric of the live parameters: the head's weight norm (changes as training goes)
            const w = params.get('head.weight')!.data as Float32Array;
            return { metrics: { head_norm: Math.hypot(...w) }, primary: 'head_norm' };
          },
        },
        publish: async () => {
          published++;
        },
      });
      expect(r.stopped).toBe('finished');
      expect(r.steps).toBe(4); // 16 items / (4 × 2) = 2 steps per epoch, 2 epochs
      expect(r.losses).toHaveLength(8);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(evals).toEqual([2, 4]);
      expect(published).toBeGreaterThanOrEqual(1);
      const log = readTrainLog(join(t.dir, LOG_FILE));
      const steps = log.filter((x) => x.type === 'step');
      expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
      // the official schedule: warmup 1 step from 0, then cosine from the peak
      expect(steps.map((s) => (s.type === 'step' ? s.lr : NaN))).toEqual(run.options.schedule);
      for (const s of steps) if (s.type === 'step') {
        expect(s.losses).toHaveLength(2);
        expect(s.loss).toBeCloseTo((s.losses[0] + s.losses[1]) / 2, 12);
        expect(s.grad_norm).toBeGreaterThan(0);
        expect(s.samples).toBe(8);
        expect(s.terms.clip_coef).toBeGreaterThan(0);
        expect(s.terms.clip_coef).toBeLessThanOrEqual(1);
      }
      // step 0 has lr 0: the parameters did not move, but the AdamW moments did
      const ck = await loadCheckpointFile(join(t.dir, LAST_CHECKPOINT));
      expect(ck.meta.step).toBe(4);
      expect(ck.meta.data).toEqual({ epoch: 2, position: 0, seed: 7 });
      expect(ck.groups['adamw.m'].size).toBeGreaterThan(0);
      expect(existsSync(join(t.dir, 'checkpoint-best.safetensors'))).toBe(true);
      for (const f of ['loss.svg', 'loss.png', 'lr.svg', 'lr.png', 'metric.svg', 'metric.png']) expect(existsSync(join(t.dir, f))).toBe(true);
      expect(readFileSync(join(t.dir, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
      expect(readFileSync(join(t.dir, 'lr.png')).subarray(1, 4).toString()).toBe('PNG');
      await run.engine.release();
    } finally {
      t.done();
    }
  }, 120_000);

  it('a non-finite loss stops with NonFiniteLossError and keeps the last good checkpoint', async () => {
    const t = tempDir('beit3-loop-nan-');
    try {
      const run = await tinyRun({ updateFreq: 1, epochs: 1 });
      // poison the 3rd micro-batch: its image has a NaN, so its loss is NaN
      let n = 0;
      const data = {
        iterate: (o: Parameters<typeof run.options.data.iterate>[0]) =>
          (async function* () {
            for await (const b of run.options.data.iterate(o)) {
              if (n++ === 2) (b.batch.image.data as Float32Array)[5] = Number.NaN;
              yield b;
            }
          })(),
      };
      const err = await fit({ ...run.options, data, outputDir: t.dir, checkpointEverySteps: 1 }).catch((e) => e);
      expect(err).toBeInstanceOf(NonFiniteLossError);
      expect((err as NonFiniteLossError).step).toBe(2);
      expect((err as Error).message).toMatch(/non-finite loss at optimizer step 2/);
      const ck = await loadCheckpointFile(join(t.dir, LAST_CHECKPOINT));
      expect(ck.meta.step).toBe(2);
      for (const [, v] of ck.groups.params) expect((v.data as Float32Array).every(Number.isFinite)).toBe(true);
      await run.engine.release();
    } finally {
      t.done();
    }
  }, 120_000);

  it('refuses bad settings and an output folder holding another run', async () => {
    const t = tempDir('beit3-loop-bad-');
    try {
      const fake: StepEngine<unknown> = {
        micro: async () => ({ loss: 1, gradNorm: 1 }),
        exportState: () => ({ groups: { params: new Map([['w', Tensor.f32([1], [0])]]) } }),
        importState: () => {},
        params: () => new Map(),
      };
      const data = { iterate: async function* () {} };
      const base = { engine: fake, data, schedule: [0, 1], epochs: 1, stepsPerEpoch: 2, updateFreq: 1, batchSize: 1, seed: 0 };
      await expect(fit({ ...base, updateFreq: 0 })).rejects.toThrow(TrainConfigError);
      await expect(fit({ ...base, schedule: [0] })).rejects.toThrow(/schedule has 1 values, the run needs 2/);
      await expect(fit({ ...base })).rejects.toThrow(/epoch 0 ran out of batches after 0 micro-batches; it needs 2/);
      const items = { iterate: async function* () { for (let i = 0; i < 2; i++) yield { batch: i, state: { epoch: 0, position: i + 1, seed: 0 }, epoch: 0 }; } };
      await fit({ ...base, data: items, outputDir: t.dir, plots: false });
      await expect(fit({ ...base, data: items, outputDir: t.dir })).rejects.toThrow(/exists: pass --resume/);
    } finally {
      t.done();
    }
  });
});
