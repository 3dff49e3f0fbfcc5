import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cosineScheduler, linspace, ScheduleError } from '../../src/train/schedule.js';

/** Expected values from numpy running the official cosine_scheduler (scripts/make-schedule-cases.py). */
const CASES = JSON.parse(readFileSync(join(import.meta.dirname, 'schedule-cases.json'), 'utf8')) as {
  args: [number, number, number, number];
  kw: {
    warmup_epochs?: number;
    warmup_steps?: number;
    start_warmup_value?: number;
    sched_type?: 'cos' | 'linear';
  };
  expected: number[];
}[];

describe('cosineScheduler (unilm utils.cosine_scheduler)', () => {
  it.each(CASES.map((c) => [JSON.stringify([...c.args, c.kw]), c] as const))(
    '%s matches numpy to 1e-12',
    (_, c) => {
      const got = cosineScheduler(...c.args, {
        warmupEpochs: c.kw.warmup_epochs,
        warmupSteps: c.kw.warmup_steps,
        startWarmupValue: c.kw.start_warmup_value,
        schedType: c.kw.sched_type,
      });
      expect(got.length).toBe(c.expected.length);
      got.forEach((v, i) =>
        expect(Math.abs(v - c.expected[i])).toBeLessThanOrEqual(1e-12 * Math.abs(c.expected[i])),
      );
    },
  );

  it('keeps the official quirks: lr 0 at step 0, the peak twice, warmup_steps overriding warmup_epochs', () => {
    const s = cosineScheduler(1, 0, 1, 6, { warmupEpochs: 1, warmupSteps: 3 });
    expect(s.slice(0, 4)).toEqual([0, 0.5, 1, 1]);
    expect(s[5]).toBeGreaterThan(0); // the cosine never reaches min_lr
  });

  it('refuses what the official assertion refuses, with a typed error', () => {
    expect(() => cosineScheduler(1e-3, 0, 1, 4, { warmupSteps: 2 })).toThrow(ScheduleError); // warmup_epochs 0
    expect(() => cosineScheduler(1e-3, 0, 1, 4, { warmupEpochs: 2 })).toThrow(/longer than the run/);
    expect(() => cosineScheduler(1e-3, 0, 1.5, 4)).toThrow(ScheduleError);
    expect(() => cosineScheduler(NaN, 0, 1, 4)).toThrow(ScheduleError);
  });

  it('linspace follows numpy (endpoint exact, num 0 and 1)', () => {
    expect(linspace(0, 1, 0)).toEqual([]);
    expect(linspace(3, 7, 1)).toEqual([3]);
    expect(linspace(0, 0.3, 4)[3]).toBe(0.3);
    expect(linspace(2, 2, 3)).toEqual([2, 2, 2]);
  });
});
