// VQ-KD training end to end on an image folder: the recipe over THE loop (k-means init from a
// fresh model, usage logged per epoch, resume identical to an uninterrupted run), the published
// tokenizer loading into `VisualTokenizer`, and `beit3 visual-tokenizer-train` flags and errors.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisualTokenizer } from '../../src/models/vqkd/tokenizer.js';
import { runVqkdTraining, VQKD_TRAIN_DEFAULTS, type VqkdTrainSettings } from '../../src/train/vqkd-recipe.js';
import { decodeImage } from '../../src/vision/decode.js';

const ROOT = join(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'beit3-vqkd-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const images = join(tmp, 'images');

const settings = (output: string, extra: Partial<VqkdTrainSettings> = {}): VqkdTrainSettings => ({
  ...VQKD_TRAIN_DEFAULTS,
  model: 'vqkd_tiny',
  teacher: 'random:16',
  data: images,
  output,
  epochs: 2,
  batch_size: 4,
  warmup_epochs: 1,
  lr: 0.064,
  weight_decay: 0.05,
  seed: 1,
  threads: 1,
  ...extra,
});

describe('VQ-KD tokenizer training (recipe + loop)', () => {
  beforeAll(() => {
    mkdirSync(join(images, 'sub'), { recursive: true });
    const pngs = readdirSync(join(ROOT, 'fixtures/images/kinds')).filter((f) => f.endsWith('.rgb.png')).slice(0, 12);
    pngs.forEach((f, i) => copyFileSync(join(ROOT, 'fixtures/images/kinds', f), join(images, i % 3 ? '' : 'sub', f)));
  });

  it('trains from scratch (k-means codebook), logs usage each epoch, resumes exactly, publishes a loadable tokenizer', async () => {
    const events: { stage: string; metrics?: Record<string, number> }[] = [];
    const a = await runVqkdTraining(settings(join(tmp, 'a')), { onProgress: (e) => events.push(e) });
    const usageEvents = events.filter((e) => e.stage === 'codebook-usage');
    expect(usageEvents).toHaveLength(2);
    expect(a.stepsPerEpoch).toBe(3);
    expect(a.steps).toBe(6);
    const evals = a.log.evals();
    expect(evals).toHaveLength(2);
    expect(usageEvents.map((e) => e.metrics)).toEqual(evals.map((e) => e.metrics));
    for (const e of evals) {
      expect(e.metrics.codes_used + e.metrics.unused_codes).toBe(64);
      expect(e.metrics.perplexity).toBeGreaterThan(1);
    }
    const losses = a.log.steps().map((r) => r.loss);
    expect(losses.every(Number.isFinite)).toBe(true);

    const b1 = await runVqkdTraining(settings(join(tmp, 'b'), { max_steps: 4 }));
    expect(b1.stopped).toBe('max_steps');
    const b2 = await runVqkdTraining(settings(join(tmp, 'b'), { resume: true }));
    expect(b2.steps).toBe(6);
    expect(b2.log.steps().map((r) => r.loss)).toEqual(losses);
    expect(b2.log.evals().at(-1)!.metrics).toEqual(evals.at(-1)!.metrics);

    const tok = await VisualTokenizer.fromCheckpoint(a.tokenizer, { threads: 1 });
    expect(tok.name).toBe('vqkd_tiny');
    const img = await decodeImage(join(images, readdirSync(images).find((f) => f.endsWith('.png'))!));
    const { codes } = await tok.encode([img]);
    expect(codes.shape).toEqual([1, 16]);
    await tok.release();
  });

  it('beit3 visual-tokenizer-train: typed one-line errors for bad flags', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'visual-tokenizer-train', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
    const r = cli('--model', 'vqkd_tiny', '--data', images, '--output', join(tmp, 'c'), '--teacher', 'random', '--batch_size', 'x');
    expect(r.stderr).toMatch(/^beit3: CliError: --batch_size must be an integer, got 'x'\n$/m);
    expect(r.status).toBe(2);
  });
});
