import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import preprocessMap from '../../src/vision/worker.js';
import { preprocessImage } from '../../src/vision/preprocess.js';
import { IMAGES } from './helpers.js';

describe('vision/worker.ts default export (data-layer worker map function)', () => {
  const source = join(IMAGES, 'source', 'chelsea.png');
  it('uses ctx.seed for training jobs without a seed, and the job seed otherwise', async () => {
    const a = await preprocessMap({ source, transform: 'vl-train', size: 24 }, { seed: 9 });
    const b = await preprocessImage({ source, transform: 'vl-train', size: 24, seed: 9 });
    expect(a.shape).toEqual([3, 24, 24]);
    expect(a.data).toEqual(b.data);
    const c = await preprocessMap({ source, transform: 'vl-train', size: 24, seed: 3 }, { seed: 9 });
    expect(c.data).toEqual((await preprocessImage({ source, transform: 'vl-train', size: 24, seed: 3 })).data);
    await expect(preprocessMap({ source, transform: 'vl-train', size: 24 })).rejects.toThrow(/seed/);
  });
});
