// Image search index over a small folder with the tiny e2e retrieval model: results equal the
// exact (brute-force) ranking, re-runs resume (nothing re-embedded), incremental adds / removals,
// unreadable files skipped and reported.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageIndex, SearchIndexError } from '../../src/search/index.js';
import { pipeline, RetrievalPipeline } from '../../src/tasks/index.js';

const E2E = resolve('fixtures/beit3-ref/e2e');
const SRC = resolve('fixtures/images/source');
let dir: string;
let p: RetrievalPipeline;
const model = { weights: [], embedDim: 24, imgSize: 40 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'beit3-search-'));
  mkdirSync(join(dir, 'imgs/sub'), { recursive: true });
  for (const f of ['astronaut.png', 'camera.png', 'chelsea.png', 'rocket.jpg'])
    copyFileSync(join(SRC, f), join(dir, 'imgs', f));
  copyFileSync(join(E2E, 'images/horse.png'), join(dir, 'imgs/sub/horse.png'));
  copyFileSync(join(SRC, 'truncated.jpg'), join(dir, 'imgs/broken.jpg'));
  writeFileSync(join(dir, 'imgs/notes.txt'), 'not an image');
  p = (await pipeline('retrieval', { config: join(E2E, 'config.json') })) as RetrievalPipeline;
});
afterAll(async () => {
  await p.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('ImageIndex', () => {
  it('indexes a folder, skips unreadable files, searches like brute force, resumes and updates incrementally', async () => {
    const out = join(dir, 'index');
    const progress: number[] = [];
    const idx = ImageIndex.openOrCreate(out, join(dir, 'imgs'), model);
    const r1 = await idx.sync(p, { chunk: 2, onProgress: (e) => e.done !== undefined && progress.push(e.done) });
    expect(r1.added).toBe(5);
    expect(r1.failed.map((f) => f.path)).toEqual(['broken.jpg']);
    expect(progress.at(-1)).toBe(6);
    // exact ranking with the pipeline
    const files = idx.meta.files.map((f) => join(dir, 'imgs', f.path));
    const query = 'A cat lying on a blanket.';
    const exact = RetrievalPipeline.scores(await p.embedImages(files), await p.embedTexts([query]));
    const order = Array.from(exact.data as Float32Array)
      .map((s, i) => [s, i] as const)
      .sort((a, b) => b[0] - a[0]);
    const reopened = ImageIndex.open(out);
    const hits = await reopened.searchText(p, query, 3);
    expect(hits.map((h) => h.path)).toEqual(order.slice(0, 3).map(([, i]) => idx.meta.files[i].path));
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(order[i][0], 5));
    // resume: nothing to do
    const r2 = await ImageIndex.openOrCreate(out, join(dir, 'imgs'), model).sync(p);
    expect([r2.added, r2.unchanged, r2.updated]).toEqual([0, 5, 0]);
    expect(r2.failed.map((f) => f.path)).toEqual(['broken.jpg']);
    // incremental: one added, one removed
    copyFileSync(join(SRC, 'logo.png'), join(dir, 'imgs/sub/logo.png'));
    unlinkSync(join(dir, 'imgs/camera.png'));
    const idx3 = ImageIndex.openOrCreate(out, join(dir, 'imgs'), model);
    const r3 = await idx3.sync(p);
    expect([r3.added, r3.removed, r3.unchanged]).toEqual([1, 1, 4]);
    const all = await ImageIndex.open(out).searchText(p, query, 10);
    expect(all.map((h) => h.path).sort()).toEqual([
      'astronaut.png',
      'chelsea.png',
      'rocket.jpg',
      'sub/horse.png',
      'sub/logo.png',
    ]);
  });

  it('refuses a model of another size and a missing index', () => {
    expect(() =>
      ImageIndex.openOrCreate(join(dir, 'index'), join(dir, 'imgs'), { ...model, embedDim: 32 }),
    ).toThrow(SearchIndexError);
    expect(() => ImageIndex.open(join(dir, 'nothing'))).toThrow(/not an image index/);
  });
});
