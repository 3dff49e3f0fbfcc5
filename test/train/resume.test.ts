import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fit, LAST_CHECKPOINT, LOG_FILE } from '../../src/train/loop.js';
import { CheckpointMismatchError, ResumeMismatchError } from '../../src/train/loop-errors.js';
import { readTrainLog } from '../../src/train/log.js';
import { loadCheckpointFile } from '../../src/train/checkpoint.js';
import { tempDir, tinyRun } from './loop-fixture.js';

describe('--resume', () => {
  it('continues with exactly the losses of an uninterrupted run (drop path noise, AdamW moments, data order, mid-epoch stop)', async () => {
    const a = tempDir('beit3-resume-a-');
    const b = tempDir('beit3-resume-b-');
    try {
      // uninterrupted: 3 epochs × 2 steps × update_freq 2, stochastic depth on
      const full = await tinyRun({ dropPath: 0.2, epochs: 3 });
      const ra = await fit({ ...full.options, outputDir: a.dir });
      await full.engine.release();
      expect(ra.losses).toHaveLength(12);

      // stop after step 3 (mid-epoch 1), then a fresh process-like start: new model, new engine, resume
      const first = await tinyRun({ dropPath: 0.2, epochs: 3 });
      const r1 = await fit({ ...first.options, outputDir: b.dir, maxSteps: 3 });
      await first.engine.release();
      expect(r1.stopped).toBe('max_steps');
      expect(r1.losses).toEqual(ra.losses.slice(0, 6));
      const ck = await loadCheckpointFile(join(b.dir, LAST_CHECKPOINT));
      expect(ck.meta.step).toBe(3);
      expect(ck.meta.data.epoch).toBe(1);
      expect(ck.meta.data.position).toBe(8); // 2 micro-batches of 4 into epoch 1

      const second = await tinyRun({ dropPath: 0.2, epochs: 3 });
      const r2 = await fit({ ...second.options, outputDir: b.dir, resume: true });
      await second.engine.release();
      expect(r2.stopped).toBe('finished');
      expect(r2.losses).toEqual(ra.losses.slice(6)); // bit-for-bit, every later loss
      // the resumed log reads like the uninterrupted one
      const la = readTrainLog(join(a.dir, LOG_FILE)).filter((r) => r.type === 'step').map((r) => (r.type === 'step' ? [r.step, r.losses, r.lr, r.grad_norm] : []));
      const lb = readTrainLog(join(b.dir, LOG_FILE)).filter((r) => r.type === 'step').map((r) => (r.type === 'step' ? [r.step, r.losses, r.lr, r.grad_norm] : []));
      expect(lb).toEqual(la);
      // the final parameters agree too
      const pa = (await loadCheckpointFile(join(a.dir, LAST_CHECKPOINT))).groups.params;
      const pb = (await loadCheckpointFile(join(b.dir, LAST_CHECKPOINT))).groups.params;
      for (const [k, t] of pa) expect(pb.get(k)!.data).toEqual(t.data);
    } finally {
      a.done();
      b.done();
    }
  }, 180_000);

  it('a resume folder from another configuration is a ResumeMismatchError naming the difference', async () => {
    const t = tempDir('beit3-resume-cfg-');
    try {
      const first = await tinyRun({ epochs: 1 });
      await fit({ ...first.options, outputDir: t.dir, maxSteps: 1 });
      await first.engine.release();
      const other = await tinyRun({ epochs: 1, lr: 1e-3 });
      const err = await fit({ ...other.options, outputDir: t.dir, resume: true }).catch((e) => e);
      await other.engine.release();
      expect(err).toBeInstanceOf(ResumeMismatchError);
      expect((err as Error).message).toMatch(/lr was 0\.002, now 0\.001/);
      expect((err as ResumeMismatchError).differences.map((d) => d.key)).toEqual(['lr']);
    } finally {
      t.done();
    }
  }, 120_000);

  it('a checkpoint that does not fit the model is a CheckpointMismatchError listing the keys', async () => {
    const t = tempDir('beit3-resume-fit-');
    try {
      const first = await tinyRun({ epochs: 1 });
      await fit({ ...first.options, outputDir: t.dir, maxSteps: 1 });
      await first.engine.release();
      const other = await tinyRun({ epochs: 1, numClasses: 5 }); // another head size
      const err = await fit({ ...other.options, outputDir: t.dir, resume: true }).catch((e) => e);
      await other.engine.release();
      expect(err).toBeInstanceOf(CheckpointMismatchError);
      expect((err as Error).message).toMatch(/shape mismatches: head\.weight \[3, 32\] vs model \[5, 32\]/);
    } finally {
      t.done();
    }
  }, 120_000);
});
