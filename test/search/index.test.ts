// Image search index over a small folder with the tiny e2e retrieval model: results equal the
// exact (brute-force) ranking, re-runs resume (nothing re-embedded), incremental adds / removals,
// unreadable files skipped and reported.
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageIndex, SearchIndexError } from '../../src/search/index.js';
import { pipeline, RetrievalPipeline } from '../../src/tasks/index.js';
import { fixture } from '../support/paths.js';

const E2E = fixture('beit3-ref/e2e');
const SRC = fixture('images/source');
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
    const r1 = await idx.sync(p, {
      chunk: 2,
      onProgress: (e) => e.done !== undefined && progress.push(e.done),
    });
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

describe('ImageIndex rejects a damaged index folder', () => {
  // A damaged index folder is reported as a SearchIndexError naming the file, never a raw
  // hnswlib error or a TypeError deep inside search.
  let dir: string;
  const model = { weights: [], embedDim: 4, imgSize: 40 };

  /** A fresh 3-vector index folder. */
  function build(name: string): string {
    const out = join(dir, name);
    const idx = ImageIndex.openOrCreate(out, dir, model);
    for (let i = 0; i < 3; i++) {
      const v = new Float32Array(4);
      v[i] = 1;
      idx.addVector({ path: `${i}.png`, size: 1, mtimeMs: 1 }, v);
    }
    idx.save();
    return out;
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'beit3-corrupt-index-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('ImageIndex.open on a corrupt folder', () => {
    it('opens and searches the intact index', () => {
      const hits = ImageIndex.open(build('ok')).searchVector(new Float32Array([0, 1, 0, 0]), 1);
      expect(hits.map((h) => h.path)).toEqual(['1.png']);
    });

    it('names vectors.hnsw when it is truncated or overwritten with garbage', () => {
      const out = build('vectors');
      const vec = join(out, 'vectors.hnsw');
      const bytes = readFileSync(vec);
      for (const damaged of [
        bytes.subarray(0, 100),
        bytes.subarray(0, bytes.length - 8),
        new Uint8Array(bytes.length).fill(0xa5),
      ]) {
        writeFileSync(vec, damaged);
        expect(() => ImageIndex.open(out)).toThrow(SearchIndexError);
        expect(() => ImageIndex.open(out)).toThrow(/vectors\.hnsw: corrupt or truncated/);
      }
    });

    it('names the meta.json field that has the wrong type', () => {
      const out = build('meta');
      const metaPath = join(out, 'meta.json');
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ dim: 'abc' }, /"dim" must be a positive integer, got "abc"/],
        [{ root: 5 }, /"root" must be a string/],
        [{ files: [{ path: 1 }] }, /"files" entry .* needs a string "path"/],
        [{ nextLabel: null }, /"nextLabel"/],
      ];
      for (const [patch, message] of cases) {
        writeFileSync(metaPath, JSON.stringify({ ...meta, ...patch }));
        expect(() => ImageIndex.open(out)).toThrow(SearchIndexError);
        expect(() => ImageIndex.open(out)).toThrow(message);
      }
    });

    it('reports a meta.json listing more files than vectors.hnsw holds', () => {
      const out = build('sync');
      const metaPath = join(out, 'meta.json');
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { files: unknown[]; nextLabel: number };
      // a consistent label (the next free one), so only the vector count disagrees
      meta.files.push({ path: 'x.png', size: 1, mtimeMs: 1, label: meta.nextLabel });
      meta.nextLabel += 1;
      writeFileSync(metaPath, JSON.stringify(meta));
      expect(() => ImageIndex.open(out)).toThrow(SearchIndexError);
      expect(() => ImageIndex.open(out)).toThrow(/holds 3 vectors but meta.json lists 4 files/);
    });

    it('openOrCreate on an --out that is a file names it', () => {
      const file = join(dir, 'not-a-folder');
      writeFileSync(file, 'x');
      expect(() => ImageIndex.openOrCreate(file, dir, model)).toThrow(SearchIndexError);
      expect(() => ImageIndex.openOrCreate(file, dir, model)).toThrow(`${file}: exists and is not a folder`);
    });

    it('survives any 32-bit word of vectors.hnsw overwritten (hnswlib segfaulted on bad header fields and links)', () => {
      const out = join(dir, 'fuzz');
      const idx = ImageIndex.openOrCreate(out, dir, model);
      for (let i = 0; i < 60; i++) {
        const v = new Float32Array([Math.sin(i), Math.cos(i), Math.sin(2 * i), 1]);
        idx.addVector({ path: `${i}.png`, size: 1, mtimeMs: 1 }, v);
      }
      idx.save();
      const vec = join(out, 'vectors.hnsw');
      const good = readFileSync(vec);
      const words = [0x7fffffff, 0xffffffff, 1, 0];
      let refused = 0;
      for (let o = 0; o + 4 <= good.length; o += 4) {
        const bad = Buffer.from(good);
        bad.writeUInt32LE(words[(o / 4) % words.length], o);
        writeFileSync(vec, bad);
        try {
          ImageIndex.open(out).searchVector(new Float32Array([0, 1, 0, 0]), 5);
        } catch (e) {
          expect(e).toBeInstanceOf(SearchIndexError);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(10);
    });
  });
});
