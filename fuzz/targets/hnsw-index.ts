import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { ImageIndex } from '../../src/search/index.js';
import { packFiles, writeBundle } from '../lib/bundle.js';
import { expect, newContext, verify, type FuzzTarget } from '../lib/target.js';

function unit(dim: number, seed: number): Float32Array {
  const v = new Float32Array(dim);
  let s = 0;
  for (let i = 0; i < dim; i++) s += (v[i] = Math.sin(seed * 7.1 + i * 1.3)) ** 2;
  for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(s);
  return v;
}

export const target: FuzzTarget = {
  name: 'hnsw-index',
  entry: 'ImageIndex.open (meta.json types, vectors.hnsw structure, files vs vectors), searchVector, save + reopen',
  async run(input, { dir }) {
    const d = join(dir, 'idx');
    writeBundle(d, input);
    const idx = ImageIndex.open(d);
    const { dim, files } = idx.meta;
    if (dim > 4096) return;
    const hits = idx.searchVector(unit(dim, 1), 3);
    // an index that lists files must find them: "(index is empty)" for a non-empty index is a wrong answer
    expect(hits.length === Math.min(3, files.length), `search returned ${hits.length} hits, meta lists ${files.length} files`);
    const paths = new Set(files.map((f) => f.path));
    for (const h of hits) expect(paths.has(h.path) && Number.isFinite(h.score), `hit ${h.path} not in meta.json or score ${h.score}`);
    // a resume saves what it opened: the saved folder must open again to the same listing
    await verify('save + reopen of an accepted index', () => {
      idx.save();
      const again = ImageIndex.open(d);
      expect(JSON.stringify(again.meta.files) === JSON.stringify(files), 'save + reopen changed the file list');
    });
  },
  seeds() {
    const ctx = newContext();
    try {
      const out: Uint8Array[] = [];
      for (const n of [0, 1, 5]) {
        const d = join(ctx.dir, `i${n}`);
        const idx = ImageIndex.openOrCreate(d, ctx.dir, { weights: [], embedDim: 4, imgSize: 16 });
        for (let i = 0; i < n; i++) idx.addVector({ path: `img${i}.png`, size: 10 + i, mtimeMs: 1000 + i }, unit(4, i));
        idx.save();
        const files: Record<string, Uint8Array> = { 'meta.json': readFileSync(join(d, 'meta.json')) };
        if (n) files['vectors.hnsw'] = readFileSync(join(d, 'vectors.hnsw'));
        out.push(packFiles(files));
      }
      return out;
    } finally {
      ctx.dispose();
    }
  },
  hostile: () =>
    fc
      .record({
        version: fc.constantFrom(1, '1', null, 2),
        dim: fc.constantFrom(4, 0, -1, 1e9, '4', 3.5, 2 ** 31),
        files: fc.oneof(
          fc.array(fc.record({ path: fc.oneof(fc.string(), fc.integer()), label: fc.oneof(fc.integer({ min: -1, max: 9 }), fc.string()), size: fc.nat(), mtimeMs: fc.nat() }), { maxLength: 6 }),
          fc.constantFrom(null, {}, 'x'),
        ),
        nextLabel: fc.constantFrom(0, 3, -1, 1e20, 'x'),
        model: fc.constantFrom({ weights: [], embedDim: 4, imgSize: 16 }, null, { embedDim: 'x' }, []),
        root: fc.constantFrom('/tmp', 7, null),
      })
      .map((m) => packFiles({ 'meta.json': JSON.stringify({ ...m, failed: [] }) })),
  dict: ['"version"', '"dim"', '"files"', '"label"', '"path"', '"nextLabel"', '"failed"', '"model"', '"root"', '\0@@vectors.hnsw\n', '\0@@meta.json\n'],
};
