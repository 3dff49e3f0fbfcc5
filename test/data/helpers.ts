import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tar from 'tar-stream';

/** A fresh temp folder; remove with the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'beit3-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small solid-colour RGB PNG (colour encodes an id so tests can tell images apart). */
export async function pngBytes(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

export async function writePng(file: string, width: number, height: number, rgb: [number, number, number]): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await pngBytes(width, height, rgb));
  return file;
}

/** Builds a tar archive in memory with tar-stream. */
export async function tarBytes(entries: { name: string; data: Buffer | string; type?: 'file' | 'directory' }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name }, e.data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
