/**
 * Data figures: images/s through the streaming loader (PNG files → decode → official vl eval
 * transform at 224² → NCHW batches), with the map stage in this thread and in worker threads;
 * and samples/s of reading a WebDataset tar shard.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tar from 'tar-stream';
import { DataLoader, arraySource, mapStage, workerMapStage, readWebDataset } from '../../src/data/index.js';
import type { BenchContext, Suite } from '../report.js';
import { decodeVl } from './data-worker.js';

const SIZE = 224;
const N_IMAGES = 48;

async function noisePng(w: number, h: number, seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < raw.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    raw[i] = (s >>> 24) ^ ((i / 3 / w) & 0xff);
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

/** Steady-state images/s: runs `epochs` epochs in one iteration and times all but the first (worker start-up, warm-up). */
async function imagesPerSecond(loader: DataLoader<any>, n: number, epochs = 3): Promise<number> {
  let t0 = 0;
  let count = 0;
  for await (const b of loader.iterate({ epochs })) {
    if (b.epoch === 0) {
      if (b.state.epoch === 1) t0 = performance.now();
      continue;
    }
    count += b.indices.length;
  }
  if (count !== n * (epochs - 1)) throw new Error(`bench: expected ${n * (epochs - 1)} images, got ${count}`);
  return count / ((performance.now() - t0) / 1000);
}

export const dataSuite: Suite = {
  name: 'data',
  async run(ctx: BenchContext): Promise<void> {
    const dir = await mkdtemp(path.join(tmpdir(), 'beit3-bench-data-'));
    try {
      const files: string[] = [];
      for (let i = 0; i < N_IMAGES; i++) {
        const f = path.join(dir, `img${i}.png`);
        await writeFile(f, await noisePng(320, 256, i + 1));
        files.push(f);
      }
      const make = (workers: boolean): DataLoader<any> =>
        new DataLoader({
          source: arraySource(files),
          shuffle: 'full',
          stages: [
            workers
              ? workerMapStage({ module: path.join(import.meta.dirname, 'data-worker.ts'), exportName: 'decodeVl', workers: 2, options: { size: SIZE } })
              : mapStage((f: string, c) => decodeVl(f, { ...c, options: { size: SIZE } }), { concurrency: 2 }),
          ],
          batch: { size: 8 },
        });
      ctx.report({ name: 'data.loader_vl224_inline', value: await imagesPerSecond(make(false), N_IMAGES), unit: 'images/s', note: '320x256 PNG, 2 in flight' });
      ctx.report({ name: 'data.loader_vl224_workers2', value: await imagesPerSecond(make(true), N_IMAGES), unit: 'images/s', note: '2 worker threads, after start-up' });

      const pack = tar.pack();
      const payload = Buffer.alloc(20_000, 7);
      for (let i = 0; i < 2000; i++) {
        pack.entry({ name: `s${i}.jpg` }, payload);
        pack.entry({ name: `s${i}.txt` }, `caption number ${i}`);
      }
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      const shard = path.join(dir, 'shard.tar');
      await writeFile(shard, Buffer.concat(chunks));
      const t0 = performance.now();
      let n = 0;
      for await (const sample of readWebDataset(shard)) n += sample.fields.txt ? 1 : 0;
      ctx.report({ name: 'data.webdataset_read', value: n / ((performance.now() - t0) / 1000), unit: 'samples/s', note: '20 kB image + caption per sample' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
