// Library callers that bypass the CLI's option checks still get typed errors for bad input.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ImageClassificationPipeline,
  pipeline,
  TaskConfigError,
  TaskInputError,
  topkIndices,
} from '../../src/tasks/index.js';

const CONFIG = resolve('fixtures/beit3-ref/e2e/config.json');
const IMAGE = join(resolve('fixtures/images/source'), 'chelsea.png');
let cls: ImageClassificationPipeline;
beforeAll(async () => {
  cls = (await pipeline('imageclassification', { config: CONFIG })) as ImageClassificationPipeline;
});
afterAll(async () => cls.dispose());

describe('task library input checks', () => {
  it('topk must be a positive integer (0 / NaN / 1.5 used to return silently empty or odd lists)', async () => {
    for (const topk of [0, -1, Number.NaN, 1.5])
      await expect(cls.run([IMAGE], { topk })).rejects.toThrow(
        new TaskInputError(`topk must be an integer ≥ 1, got ${topk}`),
      );
    expect(topkIndices([0.1, 0.9, 0.5], 2)).toEqual([1, 2]);
    expect((await cls.run([IMAGE], { topk: 2 }))[0].topk).toHaveLength(2);
  });

  it('a null or numeric image is a TaskInputError, not a TypeError', async () => {
    for (const bad of [null, 5] as unknown as string[])
      await expect(cls.run([bad])).rejects.toThrow(
        /image must be a path, encoded bytes, an RgbImage or a \[3, 40, 40\] tensor/,
      );
  });

  it('pipeline() without a config names the missing option', async () => {
    await expect(pipeline('vqa', {} as never)).rejects.toThrow(TaskConfigError);
    await expect(pipeline('vqa', {} as never)).rejects.toThrow(/options\.config must be a config file path/);
  });
});
