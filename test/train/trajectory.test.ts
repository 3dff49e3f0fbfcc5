/**
 * Golden trajectories (llm.c-style) of the official fine-tuning loop, fixtures/train-ref: for
 * each task, the 8 micro-steps (update_freq 2, 4 AdamW steps) of run_beit3_finetuning.py on the
 * tiny models, checked per micro-step and per optimizer step at the README §8 tolerances.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  listTrajectoryTasks,
  trajectoryCases,
  TrajectoryError,
  trainRefParity,
} from '../../src/train/parity.node.js';

const DIR = join(import.meta.dirname, '../../fixtures/train-ref');
const CASES = [
  'schedule',
  'param_groups',
  'lr_table',
  'grad_none_set',
  'loss',
  'grad_norm',
  'grads',
  'params',
  'lr0_identity',
  'adam',
];

describe('official fine-tuning trajectories (fixtures/train-ref)', () => {
  it('lists the five BEiT-3 tasks of index.json', () => {
    expect(listTrajectoryTasks(DIR).sort()).toEqual([
      'coco_captioning',
      'coco_retrieval',
      'imagenet',
      'nlvr2',
      'vqav2',
    ]);
  });

  for (const task of ['imagenet', 'vqav2', 'nlvr2', 'coco_retrieval', 'coco_captioning']) {
    it(`${task}: losses, acc, grad norms, lr/wd tables, gradients, every parameter after every step and the final AdamW state`, async () => {
      const results = await trajectoryCases(DIR, task, { threads: 1 });
      const names = results.map((r) => r.case);
      for (const c of CASES) expect(names).toContain(c);
      if (task === 'nlvr2' || task === 'coco_captioning') expect(names).toContain('acc');
      const failed = results
        .filter((r) => !r.ok)
        .map((r) => `${r.case}: ${r.maxErr} > ${r.tol} (${r.worst})`);
      expect(failed).toEqual([]);
    }, 120_000);
  }

  const tmp = mkdtempSync(join(tmpdir(), 'train-ref-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('fails when one rule is wrong: clipping at 0.5 instead of the run`s 3.0 changes the parameters and moments, not the schedule or groups', async () => {
    const dir = join(tmp, 'clip');
    cpSync(DIR, dir, { recursive: true });
    cpSync(join(DIR, '../beit3-ref'), join(tmp, 'beit3-ref'), { recursive: true });
    const p = join(dir, 'imagenet.trajectory.json');
    const js = JSON.parse(readFileSync(p, 'utf8'));
    js.hyperparameters.clip_grad = 0.5;
    writeFileSync(p, JSON.stringify(js));
    const r = await trainRefParity(dir, { only: ['imagenet'], threads: 1 });
    const byCase = Object.fromEntries(r.map((c) => [c.case, c.ok]));
    expect(byCase.schedule && byCase.param_groups && byCase.lr_table).toBe(true);
    expect(byCase.params).toBe(false);
    expect(byCase.adam).toBe(false);
    await expect(trainRefParity(dir, { only: ['nosuchtask'] })).rejects.toThrow(TrajectoryError);
  }, 120_000);
});
