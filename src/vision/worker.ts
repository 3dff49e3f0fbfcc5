import { parentPort } from 'node:worker_threads';
import type { RgbImage } from './image.js';
import { transformImage, type TransformSpec } from './transformImage.js';

/**
 * Worker side of PreprocessPool: runs the (pure JS) transform of one decoded image at a time and
 * transfers the Float32Array back. Decoding stays on the main thread's libuv pool (sharp is async),
 * so this bundle never loads sharp.
 */

interface Request {
  id: number;
  img: RgbImage;
  spec: TransformSpec;
}

parentPort!.on('message', ({ id, img, spec }: Request) => {
  try {
    const t = transformImage(img, spec);
    const data = t.data as Float32Array;
    parentPort!.postMessage({ id, shape: t.shape, data }, [data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id, error: { name: err.name, message: err.message } });
  }
});
