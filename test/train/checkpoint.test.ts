import { spawn } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, checkTensorsFit, loadCheckpointFile, saveCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';
import { fit, LAST_CHECKPOINT } from '../../src/train/loop.js';
import { CheckpointFormatError, CheckpointMismatchError } from '../../src/train/loop-errors.js';
import { createModel } from '../../src/models/beit3/registry.js';
import { loadInit } from '../../src/train/recipe.js';
import { MODEL, tempDir, tinyRun } from './loop-fixture.js';

const CHILD = join(import.meta.dirname, 'kill-child.ts');

/** Runs the child and SIGKILLs it once a stdout line matches `when` (after `delayMs`). */
function killWhen(args: string[], when: RegExp, delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let err = '';
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (!armed && when.test(line)) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(lines) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

const meta = (step: number): Checkpoint['meta'] => ({
  format: CHECKPOINT_FORMAT,
  version: CHECKPOINT_VERSION,
  step,
  epoch: 0,
  data: { epoch: 0, position: 4, seed: 1 },
  seed: 1,
  run: { lr: 1e-3 },
  writtenAt: 'x',
});

describe('training checkpoints', () => {
  it('round-trip every tensor group and the metadata', async () => {
    const t = tempDir('beit3-ck-');
    try {
      const p = join(t.dir, 'c.safetensors');
      const ck: Checkpoint = {
        meta: { ...meta(3), best: { metric: 'acc', value: 0.5, step: 2, epoch: 0 }, extra: { microStep: 6, lr: null } },
        groups: { params: new Map([['a.weight', Tensor.f32([2, 2], [1, 2, 3, 4])]]), 'adamw.m': new Map([['a.weight', Tensor.f32([2, 2], [5, 6, 7, 8])]]), extra: new Map() },
      };
      await saveCheckpoint(p, ck);
      const back = await loadCheckpointFile(p);
      expect(back.meta).toEqual(ck.meta);
      expect([...back.groups.params.get('a.weight')!.data]).toEqual([1, 2, 3, 4]);
      expect([...back.groups['adamw.m'].get('a.weight')!.data]).toEqual([5, 6, 7, 8]);
    } finally {
      t.done();
    }
  });

  it('refuse what is not a training checkpoint, with typed errors', async () => {
    const t = tempDir('beit3-ck-bad-');
    try {
      await expect(loadCheckpointFile(join(t.dir, 'none.safetensors'))).rejects.toThrow(/no such checkpoint file/);
      writeFileSync(join(t.dir, 'junk.safetensors'), 'not a safetensors file at all');
      await expect(loadCheckpointFile(join(t.dir, 'junk.safetensors'))).rejects.toThrow(CheckpointFormatError);
      await saveSafetensors(join(t.dir, 'weights.safetensors'), new Map([['w', Tensor.f32([1], [1])]]));
      await expect(loadCheckpointFile(join(t.dir, 'weights.safetensors'))).rejects.toThrow(/not a beit3 training checkpoint/);
      await saveSafetensors(join(t.dir, 'v9.safetensors'), new Map([['params/w', Tensor.f32([1], [1])]]), { 'beit3.train': JSON.stringify({ ...meta(1), version: 9 }) });
      await expect(loadCheckpointFile(join(t.dir, 'v9.safetensors'))).rejects.toThrow(/version 9 is not supported/);
    } finally {
      t.done();
    }
  });

  it('checkTensorsFit lists missing and unexpected keys and shape clashes', () => {
    const expected = new Map<string, readonly number[]>([['a', [2]], ['b', [3]], ['head.weight', [4, 2]]]);
    const got = new Map([['a', Tensor.f32([2], [0, 0])], ['b', Tensor.f32([4], [0, 0, 0, 0])], ['extra', Tensor.f32([1], [0])]]);
    try {
      checkTensorsFit('ck.pth', expected, got);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CheckpointMismatchError);
      expect((e as CheckpointMismatchError).missing).toEqual(['head.weight']);
      expect((e as CheckpointMismatchError).unexpected).toEqual(['extra']);
      expect((e as Error).message).toMatch(/1 missing keys: head\.weight; 1 unexpected keys: extra; 1 shape mismatches: b \[4\] vs model \[3\]/);
    }
    // a fresh head may be missing when initialising from a backbone checkpoint
    const ok = new Map([['a', Tensor.f32([2], [0, 0])], ['b', Tensor.f32([3], [0, 0, 0])]]);
    expect(checkTensorsFit('ck', expected, ok, { allowMissing: (k) => k.startsWith('head.') }).missing).toEqual(['head.weight']);
  });

  it('--init: backbone keys must fit, a fresh head may be missing, other heads are ignored', async () => {
    const t = tempDir('beit3-ck-init-');
    try {
      const src = createModel(MODEL, { numClasses: 3 });
      const backbone = new Map([...src.stateDict()].filter(([k]) => k.startsWith('beit3.')));
      backbone.set('mlm_head.weight', Tensor.f32([2, 2], [0, 0, 0, 0])); // another task's head
      const ok = join(t.dir, 'backbone.safetensors');
      await saveSafetensors(ok, backbone);
      const dst = createModel(MODEL, { numClasses: 5 });
      const notes = await loadInit(dst, ok);
      expect(notes.join('\n')).toMatch(/initialised fresh \(not in the checkpoint\): fc_norm\.weight, fc_norm\.bias, head\.weight, head\.bias/);
      expect(notes.join('\n')).toMatch(/ignored \(other heads\): mlm_head\.weight/);
      expect(dst.stateDict().get('beit3.vision_embed.proj.weight')!.data).toEqual(backbone.get('beit3.vision_embed.proj.weight')!.data);
      // a backbone of another width does not fit: typed error listing the keys
      const wide = createModel('beit3_tiny_patch8_32_imageclassification', { numClasses: 3, config: { embedDim: 48, heads: 4 } });
      const bad = join(t.dir, 'wide.safetensors');
      await saveSafetensors(bad, new Map([...wide.stateDict()].filter(([k]) => k.startsWith('beit3.') && !k.includes('layers.1'))));
      const err = await loadInit(createModel(MODEL, { numClasses: 3 }), bad).catch((e) => e);
      expect(err).toBeInstanceOf(CheckpointMismatchError);
      expect((err as Error).message).toMatch(/missing keys: beit3\.encoder\.layers\.1\./);
      expect((err as Error).message).toMatch(/shape mismatches: beit3\./);
    } finally {
      t.done();
    }
  });

  it('a process SIGKILLed while writing a checkpoint leaves the previous one loadable', async () => {
    const t = tempDir('beit3-ck-kill-');
    try {
      const p = join(t.dir, 'c.safetensors');
      let tornWrites = 0;
      for (const delay of [0, 10]) {
        for (const f of readdirSync(t.dir)) if (f.endsWith('.tmp')) rmSync(join(t.dir, f));
        const lines = await killWhen(['write', p], /^writing 3$/, delay);
        // a temp file left behind = the kill landed inside a write
        if (readdirSync(t.dir).some((f) => f.startsWith('.c.safetensors') && f.endsWith('.tmp'))) tornWrites++;
        const ck = await loadCheckpointFile(p);
        const wrote = lines.filter((l) => l.startsWith('wrote')).length;
        expect(ck.meta.step).toBeGreaterThanOrEqual(2);
        expect(ck.meta.step).toBeLessThanOrEqual(wrote + 1);
        // consistent: every value is the step the metadata names
        const w = ck.groups.params.get('w')!.data as Float32Array;
        expect(w[0]).toBe(ck.meta.step);
        expect(w[w.length - 1]).toBe(ck.meta.step);
      }
      expect(tornWrites).toBeGreaterThan(0);
    } finally {
      t.done();
    }
  }, 120_000);

  it('a process SIGKILLed during training leaves checkpoint-last loadable and resumable', async () => {
    const t = tempDir('beit3-ck-killtrain-');
    try {
      await killWhen(['train', t.dir], /^step 4$/, 30);
      const ck = await loadCheckpointFile(join(t.dir, LAST_CHECKPOINT));
      expect(ck.meta.step).toBeGreaterThanOrEqual(4);
      // resume it for two more steps
      const run = await tinyRun({ epochs: 50 });
      const r = await fit({ ...run.options, outputDir: t.dir, resume: true, maxSteps: ck.meta.step + 2 });
      await run.engine.release();
      expect(r.steps).toBe(ck.meta.step + 2);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      // SIGKILL leaves a temp file at most; it never replaces the checkpoint
      expect(readdirSync(t.dir).filter((f) => f.endsWith('.safetensors'))).toEqual([LAST_CHECKPOINT]);
    } finally {
      t.done();
    }
  }, 120_000);
});
