// The pgvector gallery index on PGlite (embedded Postgres + pgvector, the same SQL a real server
// runs): top-k equals the exact cosine ranking and the hnswlib index on the same vectors, a
// file-backed database keeps the gallery across reopen, and bad input gets typed errors.
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageIndex, SearchIndexError } from '../../src/search/index.js';
import type { GalleryIndex } from '../../src/search/gallery.js';
import { PgVectorIndex, PgVectorIndexError } from '../../src/search/pgvector.js';
import { Beit3Error } from '../../src/util/errors.js';
import { Rng } from '../../src/util/random.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('beit3-pgvector-');
const DIM = 24;
const N = 300;
const dataDir = join(tmp, 'pgdata');

function unitVectors(n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const v = Float32Array.from({ length: DIM }, () => rng.uniform(-1, 1));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}
const gallery = unitVectors(N, 1);
const queries = unitVectors(20, 2);
const path = (i: number) => `img/${String(i).padStart(4, '0')}.jpg`;
const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
/** Exact ranking by brute force. */
const exact = (q: Float32Array, k: number) =>
  gallery
    .map((g, i) => ({ path: path(i), score: cos(q, g) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);

let db: PGlite;
let pg: PgVectorIndex;
let hnsw: ImageIndex;

beforeAll(async () => {
  hnsw = ImageIndex.openOrCreate(join(tmp, 'hnsw'), join(tmp, 'root'), { weights: [], embedDim: DIM, imgSize: 40 });
  gallery.forEach((v, i) => hnsw.addVector({ path: path(i), size: i, mtimeMs: 1000 + i }, v));
  db = await PGlite.create({ dataDir, extensions: { vector } });
  pg = await PgVectorIndex.open(db, { dim: DIM, root: join(tmp, 'root') });
  // the gallery goes in through the hnswlib index's vectors: the copy path a `beit3 index` folder takes
  expect(await pg.copyFrom(hnsw, 128)).toBe(N);
}, 120_000);
afterAll(async () => {
  if (!db.closed) await db.close();
});

describe('PgVectorIndex', () => {
  it('top-k equals the exact cosine ranking and the hnswlib index (both behind GalleryIndex)', async () => {
    expect(await pg.count()).toBe(N);
    const indexes: GalleryIndex[] = [pg, hnsw];
    const compare = async (k: number) => {
      for (const q of queries) {
        const want = exact(q, k);
        for (const idx of indexes) {
          const got = await idx.searchVector(q, k);
          expect(got.map((h) => h.path)).toEqual(want.map((h) => h.path));
          got.forEach((h, i) => expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-5));
          expect(got[0].file).toBe(join(tmp, 'root', want[0].path));
        }
      }
    };
    // on 300 rows the planner may prefer an exact scan; then with the HNSW index forced
    for (const k of [1, 10, 150]) await compare(k);
    await db.query('SET enable_seqscan = off');
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT path FROM beit3_gallery ORDER BY embedding <=> $1::vector LIMIT 5`,
      [`[${queries[0].join(',')}]`],
    );
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Scan using beit3_gallery_embedding_hnsw/);
    for (const k of [1, 10, 150]) await compare(k);
    await db.query('RESET enable_seqscan');
  });

  it('searchText embeds the query with the model and checks its width', async () => {
    const embedder = {
      embedTexts: async (t: readonly string[]) => ({ shape: [t.length, DIM], data: queries[3] }),
    } as unknown as Parameters<PgVectorIndex['searchText']>[0];
    expect((await pg.searchText(embedder, 'a cat', 3)).map((h) => h.path)).toEqual(exact(queries[3], 3).map((h) => h.path));
    const wide = { embedTexts: async () => ({ shape: [1, 32], data: new Float32Array(32) }) } as unknown as typeof embedder;
    await expect(pg.searchText(wide, 'a cat')).rejects.toThrow(/model embeds 32-d vectors, the index holds 24-d/);
  });

  it('adds replace by path, removes report whether the path was there', async () => {
    const t = await PgVectorIndex.open(db, { table: 'edits', dim: DIM, index: 'none' }); // exact scans only
    const idx = await db.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'edits'");
    expect(idx.rows.map((r) => r.indexname)).toEqual(['edits_pkey']);
    await t.addVectors(gallery.slice(0, 5).map((v, i) => ({ file: { path: path(i), size: 1, mtimeMs: 2 }, vector: v })));
    await t.addVector({ path: path(0), size: 3, mtimeMs: 4 }, gallery[7]); // replaces 0's vector
    expect(await t.count()).toBe(5);
    expect((await t.searchVector(gallery[7], 1))[0].path).toBe(path(0));
    expect(await t.remove(path(1))).toBe(true);
    expect(await t.remove(path(1))).toBe(false);
    expect(await t.count()).toBe(4);
    await PgVectorIndex.destroy(db, 'edits');
    await expect(PgVectorIndex.open(db, { table: 'edits' })).rejects.toThrow(/does not exist; give dim/);
  });

  it('bad input: typed errors, nothing written', async () => {
    const errors: unknown[] = [];
    const grab = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(await grab(() => PgVectorIndex.open(db, { dim: 32 }))).toMatch(/holds 24-d vectors, asked for 32-d/);
    expect(await grab(() => PgVectorIndex.open(db, { root: '/elsewhere' }))).toMatch(/is for folder/);
    expect(await grab(() => PgVectorIndex.open(db, { table: 'x; DROP TABLE beit3_gallery', dim: 3 }))).toMatch(/table name/);
    expect(await grab(() => PgVectorIndex.open(db, { table: 'big', dim: 4096 }))).toMatch(/\[1, 2000\]/);
    expect(await grab(() => PgVectorIndex.open(db, { table: 'neg', dim: 0 }))).toMatch(/dim must be/);
    expect(await grab(() => pg.searchVector(new Float32Array(DIM + 1), 3))).toBe('query has 25 dims, index has 24');
    expect(await grab(() => pg.searchVector(queries[0], 0))).toMatch(/k must be an integer/);
    expect(await grab(() => pg.searchVector(new Float32Array(DIM).fill(NaN), 3))).toBe('query is not finite');
    expect(await grab(() => pg.addVector({ path: '', size: 0, mtimeMs: 0 }, gallery[0]))).toMatch(/non-empty path/);
    expect(await grab(() => pg.addVector({ path: 'a.jpg', size: 0, mtimeMs: 0 }, new Float32Array(3)))).toBe(
      'vector of a.jpg has 3 dims, index has 24',
    );
    const twice = [0, 0].map(() => ({ file: { path: 'dup.jpg', size: 0, mtimeMs: 0 }, vector: gallery[0] }));
    expect(await grab(() => pg.addVectors(twice))).toMatch(/given twice/);
    // the database's own refusal (a corrupt table) comes back typed, with the statement named
    await db.query('CREATE TABLE broken (x int)');
    await db.query("INSERT INTO beit3_galleries VALUES ('broken', 3, '', '{}')");
    expect(await grab(() => PgVectorIndex.open(db, { table: 'broken' }))).toMatch(/column embedding is missing, expected vector\(3\)/);
    expect(errors).toHaveLength(12);
    for (const e of errors) {
      expect(e).toBeInstanceOf(PgVectorIndexError);
      expect(e).toBeInstanceOf(SearchIndexError);
      expect(e).toBeInstanceOf(Beit3Error);
    }
    expect(await pg.count()).toBe(N);
    const tables = await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.rows.map((r) => r.tablename)).toEqual(['beit3_galleries', 'beit3_gallery', 'broken']);
  });

  it('a file-backed database keeps the gallery across close and reopen', async () => {
    const before = await pg.searchVector(queries[5], 10);
    await pg.remove(path(0));
    await db.close();
    db = await PGlite.create({ dataDir, extensions: { vector } });
    const again = await PgVectorIndex.open(db); // dim and root come from the database
    expect(again.dim).toBe(DIM);
    expect(again.root).toBe(join(tmp, 'root'));
    expect(await again.count()).toBe(N - 1);
    const hits = await again.searchVector(queries[5], 10);
    const kept = before.filter((h) => h.path !== path(0)); // same hits, labels and scores as before closing
    expect(hits).toHaveLength(10);
    expect(hits.slice(0, kept.length)).toEqual(kept);
    expect((await again.searchVector(gallery[0], 1))[0].path).not.toBe(path(0));
  }, 120_000);
});
