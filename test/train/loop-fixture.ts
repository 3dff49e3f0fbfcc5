/** A tiny classification run for the loop tests: model, synthetic batches, engine, fit options. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arraySource, DataLoader } from '../../src/data/loader.js';
import { Tensor } from '../../src/graph/tensor.js';
import { createModel } from '../../src/models/beit3/registry.js';
import type { Beit3TaskModel } from '../../src/models/beit3/heads/base.js';
import { collateTask } from '../../src/train/data.js';
import { TrainStepEngine } from '../../src/train/engine.js';
import type { FitOptions } from '../../src/train/loop.js';
import { cosineScheduler } from '../../src/train/schedule.js';

export const MODEL = 'beit3_tiny_patch8_32_imageclassification';

export function tempDir(prefix: string): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Seeded synthetic images (class c has a bright band at rows 8c…8c+7) + labels. */
export function syntheticItems(n: number, classes = 3, size = 32): { image: Float32Array; label: number }[] {
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: n }, (_, i) => {
    const label = i % classes;
    const image = new Float32Array(3 * size * size);
    for (let k = 0; k < image.length; k++) {
      const row = Math.floor((k % (size * size)) / size);
      image[k] = 0.3 * r() + (Math.floor(row / 8) === label ? 1 : -0.5);
    }
    return { image, label };
  });
}

export function syntheticLoader(items: { image: Float32Array; label: number }[], batchSize: number, seed: number) {
  return new DataLoader({
    source: arraySource(items),
    shuffle: 'full',
    seed,
    batch: { size: batchSize, dropLast: true, collate: (s) => collateTask('imageclassification', s, { imgSize: 32 }, true) },
  });
}

export interface TinyRun {
  model: Beit3TaskModel;
  engine: TrainStepEngine;
  options: Omit<FitOptions<Record<string, Tensor>>, 'outputDir'>;
}

export async function tinyRun(o: { dropPath?: number; lr?: number; updateFreq?: number; epochs?: number; seed?: number; numClasses?: number } = {}): Promise<TinyRun> {
  const updateFreq = o.updateFreq ?? 2;
  const batchSize = 4;
  const epochs = o.epochs ?? 2;
  const seed = o.seed ?? 7;
  const model = createModel(MODEL, { numClasses: o.numClasses ?? 3, config: { dropPathRate: o.dropPath ?? 0 } });
  const items = syntheticItems(16);
  const spe = Math.floor(items.length / (batchSize * updateFreq));
  const lr = o.lr ?? 2e-3;
  const engine = await TrainStepEngine.create({
    model,
    task: 'imagenet',
    hp: { lr, minLr: 1e-5, epochs, warmupEpochs: 1, warmupSteps: 1, layerDecay: 0.65, weightDecay: 0.05, clipGrad: 3, updateFreq, labelSmoothing: 0.1 },
    batchSize,
    textLen: 8,
    seed,
    threads: 1,
  });
  return {
    model,
    engine,
    options: {
      engine,
      data: syntheticLoader(items, batchSize, seed),
      schedule: cosineScheduler(lr, 1e-5, epochs, spe, { warmupEpochs: 1, warmupSteps: 1 }),
      epochs,
      stepsPerEpoch: spe,
      updateFreq,
      batchSize,
      seed,
      run: { lr, model: MODEL },
      plots: false,
    },
  };
}
