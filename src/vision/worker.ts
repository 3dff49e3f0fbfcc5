import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { preprocessImage, type PreprocessJob } from './preprocess.js';

/** Worker side of PreprocessPool: one job at a time, results transferred (not copied) back. */

// The pool already runs one job per worker thread; keep libvips from spawning its own threads too.
sharp.concurrency(1);

interface Request {
  id: number;
  job: PreprocessJob;
}

parentPort!.on('message', async ({ id, job }: Request) => {
  try {
    const t = await preprocessImage(job);
    const data = t.data as Float32Array;
    parentPort!.postMessage({ id, shape: t.shape, data }, [data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id, error: { name: err.name, message: err.message, source: (err as { source?: string }).source } });
  }
});
