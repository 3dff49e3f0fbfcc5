// A --model-key that matches nothing falls back to the top level (official behaviour); the
// resulting error must say so and list the top-level keys to choose from.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPth, PthError } from '../../src/io/pth.js';

const PTH = join(import.meta.dirname, '../../fixtures/beit3-ref/retrieval.pth');

describe('pth state dict lookup errors', () => {
  it('names the keys tried and the top-level keys', async () => {
    await expect(loadPth(PTH, { modelKey: 'nope|ema' })).rejects.toThrow(PthError);
    await expect(loadPth(PTH, { modelKey: 'nope|ema' })).rejects.toThrow(
      /none of the keys 'nope\|ema' is in the checkpoint, so its top level was read \(top-level keys: model; pick one with --model-key\)/,
    );
    expect((await loadPth(PTH)).size).toBeGreaterThan(0);
  });
});
