import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Suite } from '../report.js';
import { decodeImage } from '../../src/vision/decode.js';
import { PreprocessPool } from '../../src/vision/pool.js';
import { preprocessImage, type PreprocessJob } from '../../src/vision/preprocess.js';
import { resize } from '../../src/vision/resize.js';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'images', 'source');
// photos as a dataset would hold them: a 640×427 JPEG, 451×300 and 512×512 PNGs
const FILES = ['rocket.jpg', 'chelsea.png', 'astronaut.png'].map((f) => join(SOURCE, f));

/** Image decode + official 'vl' eval transform at 224², from files on disk: one thread vs a worker pool. */
export const visionSuite: Suite = {
  name: 'vision',
  async run(ctx) {
    const n = 48;
    const jobs: PreprocessJob[] = Array.from({ length: n }, (_, i) => ({ source: FILES[i % FILES.length], transform: 'vl', size: 224 }));

    const img = await decodeImage(FILES[2]);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) resize(img, 224, 224);
    ctx.report({ name: 'vision.resize_bicubic_512_to_224', value: 10000 / (performance.now() - t0), unit: 'images/s' });

    for (const j of jobs.slice(0, 12)) await preprocessImage(j); // warm up
    const t1 = performance.now();
    for (const j of jobs) await preprocessImage(j);
    const single = (n * 1000) / (performance.now() - t1);
    ctx.report({ name: 'vision.preprocess_vl224.main_thread', value: single, unit: 'images/s', note: 'decode + resize + normalize, sequential' });

    const threads = availableParallelism();
    const pool = new PreprocessPool({ threads });
    try {
      await pool.runBatch(jobs); // start the workers and let their JIT warm up
      const t2 = performance.now();
      for (let i = 0; i < n; i += 16) await pool.runBatch(jobs.slice(i, i + 16));
      const pooled = (n * 1000) / (performance.now() - t2);
      ctx.report({
        name: `vision.preprocess_vl224.pool_${threads}_threads`,
        value: pooled,
        unit: 'images/s',
        note: `batches of 16 as NCHW; ${(pooled / single).toFixed(2)}x main thread`,
      });
    } finally {
      await pool.close();
    }
  },
};
