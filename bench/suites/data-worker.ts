// Map function the data bench runs in worker threads: file → decode → vl eval transform (3×S×S float32).
import { decodeImage } from '../../src/vision/decode.js';
import { vlEvalTransform } from '../../src/vision/transforms.js';

export async function decodeVl(file: string, ctx: { options: { size: number } }): Promise<unknown> {
  const t = vlEvalTransform(await decodeImage(file), ctx.options.size);
  return { image: { data: t.data, shape: t.shape, dtype: t.dtype } };
}
