import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, ImageDecodeError } from '../../src/vision/decode.js';
import { PreprocessPool } from '../../src/vision/pool.js';
import { preprocessImage } from '../../src/vision/preprocess.js';
import { transformImage } from '../../src/vision/transformImage.js';
import { IMAGES } from './helpers.js';

const files = ['astronaut.png', 'chelsea.png', 'rocket.jpg', 'camera.png', 'no_time_for_that_tiny.gif'].map((f) => join(IMAGES, 'source', f));

describe('PreprocessPool (worker threads)', () => {
  const pool = new PreprocessPool({ threads: 2 });
  afterAll(() => pool.close());

  it('gives the same tensors as the main thread, batched NCHW in job order', async () => {
    const jobs = files.map((source) => ({ source, transform: 'vl' as const, size: 40 }));
    const batch = await pool.runBatch(jobs);
    expect(batch.shape).toEqual([files.length, 3, 40, 40]);
    for (let i = 0; i < jobs.length; i++) {
      const t = await preprocessImage(jobs[i]);
      expect((batch.data as Float32Array).subarray(i * 4800, (i + 1) * 4800)).toEqual(t.data);
    }
    const im = await pool.run({ source: files[1], transform: 'imagenet', size: 40 });
    expect(im.data).toEqual((await preprocessImage({ source: files[1], transform: 'imagenet', size: 40 })).data);
  }, 30000);

  it('transform() of a decoded image matches transformImage on the main thread; a tiny maxDecodes still completes', async () => {
    const img = await decodeImage(files[3]);
    const spec = { transform: 'imagenet' as const, size: 40 };
    const expected = transformImage(img, spec);
    const got = await pool.transform({ ...img, data: img.data.slice() }, spec);
    expect(got.data).toEqual(expected.data);
    const narrow = new PreprocessPool({ threads: 1, maxDecodes: 1 });
    try {
      const b = await narrow.runBatch(files.map((source) => ({ source, transform: 'vl' as const, size: 8 })));
      expect(b.shape).toEqual([files.length, 3, 8, 8]);
    } finally {
      await narrow.close();
    }
  }, 30000);

  it('seeded training transforms are reproducible across threads', async () => {
    const job = { source: files[2], transform: 'vl-train' as const, size: 32, seed: 77, randaug: true };
    const [a, b] = await Promise.all([pool.run(job), pool.run(job)]);
    expect(a.data).toEqual(b.data);
    expect(a.data).toEqual((await preprocessImage(job)).data);
  }, 30000);

  it('decode errors come back typed and name the file; the pool keeps working', async () => {
    const bad = join(IMAGES, 'source', 'truncated.jpg');
    const err = await pool.run({ source: bad, transform: 'vl', size: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as Error).message).toMatch(/truncated\.jpg/);
    await expect(pool.run({ source: files[0], transform: 'vl-train', size: 16 })).rejects.toThrow(/seed/);
    expect((await pool.run({ source: files[0], transform: 'vl', size: 16 })).shape).toEqual([3, 16, 16]);
  }, 30000);
});
