/**
 * The gallery index in PostgreSQL with pgvector: the same GalleryIndex as the hnswlib folder
 * index, in plain SQL over any client with `query(sql, params) → {rows}` — a `pg` Client, or
 * PGlite (embedded Postgres in WASM, used by the tests) — so the SQL the tests run is what a real
 * server runs.
 *
 * Layout: one table per gallery (`path` primary key, `label`, `size`, `mtime_ms`,
 * `embedding vector(dim)`) with an HNSW index on cosine distance (`vector_cosine_ops`), queried
 * with `ORDER BY embedding <=> $1 LIMIT k` (score = 1 − cosine distance, as in the hnswlib index);
 * plus one row per gallery in `beit3_galleries` (dim, image root, model identity).
 *
 * Use one connection (pg.Client, PGlite, or a client checked out of a pg.Pool): `hnsw.ef_search`
 * (how many candidates HNSW keeps; pgvector returns at most that many rows) is a session setting.
 */
import { join } from 'node:path';
import { type GalleryIndex, searchByText, type TextEmbedder } from './gallery.js';
import { type IndexedFile, type IndexMeta, SearchIndexError, type SearchHit } from './index.js';

/** The one call this module needs from a PostgreSQL client (pg.Client and PGlite both have it). */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** Bad input to the pgvector index, or the database refused a statement (cause attached). */
export class PgVectorIndexError extends SearchIndexError {
  override name = 'PgVectorIndexError';
}

export interface PgVectorOptions {
  /** Table name (default `beit3_gallery`): lower-case letters, digits, `_`. */
  table?: string;
  /** Embedding width; required to create a gallery, checked against an existing one. */
  dim?: number;
  /** Root folder the stored paths are relative to (SearchHit.file = root/path). */
  root?: string;
  /** Model identity, stored with the gallery (as in the hnswlib index's meta.json). */
  model?: IndexMeta['model'];
  /** `hnsw` (default; approximate, fast) or `none` (exact sequential scan). */
  index?: 'hnsw' | 'none';
  /** HNSW candidate list per query (default 100; raised to k when k is larger). */
  efSearch?: number;
}

/** pgvector's HNSW index handles `vector` columns up to 2000 dimensions. */
const MAX_HNSW_DIM = 2000;
const MAX_K = 10_000;
const IDENT = /^[a-z_][a-z0-9_]{0,47}$/;

const literal = (v: Float32Array) => `[${v.join(',')}]`;

export class PgVectorIndex implements GalleryIndex {
  private ef: number;

  private constructor(
    private readonly db: SqlClient,
    readonly table: string,
    readonly dim: number,
    readonly root: string,
    private readonly efSearch: number,
  ) {
    this.ef = -1;
  }

  /**
   * Opens the gallery `table`, creating the extension, table and index when absent. An existing
   * gallery keeps its dim and root; asking for another dim is an error (vectors of another model
   * are not comparable).
   */
  static async open(db: SqlClient, opts: PgVectorOptions = {}): Promise<PgVectorIndex> {
    const table = opts.table ?? 'beit3_gallery';
    if (!IDENT.test(table))
      throw new PgVectorIndexError(`table name ${JSON.stringify(table)}: use 1-48 lower-case letters, digits or _ (not starting with a digit)`);
    if (opts.dim !== undefined && !(Number.isInteger(opts.dim) && opts.dim >= 1 && opts.dim <= MAX_HNSW_DIM))
      throw new PgVectorIndexError(`dim must be an integer in [1, ${MAX_HNSW_DIM}] (pgvector's HNSW limit), got ${opts.dim}`);
    const ef = opts.efSearch ?? 100;
    if (!(Number.isInteger(ef) && ef >= 1 && ef <= 1000))
      throw new PgVectorIndexError(`efSearch must be an integer in [1, 1000] (pgvector's range), got ${ef}`);
    if (opts.index !== undefined && opts.index !== 'hnsw' && opts.index !== 'none')
      throw new PgVectorIndexError(`index must be 'hnsw' or 'none', got ${JSON.stringify(opts.index)}`);
    const run = sql(db);
    await run('CREATE EXTENSION IF NOT EXISTS vector');
    await run(
      'CREATE TABLE IF NOT EXISTS beit3_galleries (name text PRIMARY KEY, dim integer NOT NULL, root text NOT NULL, model jsonb NOT NULL)',
    );
    const found = (await run('SELECT dim, root FROM beit3_galleries WHERE name = $1', [table]))[0];
    let dim: number;
    let root: string;
    if (found) {
      dim = Number(found.dim);
      root = String(found.root);
      if (opts.dim !== undefined && opts.dim !== dim)
        throw new PgVectorIndexError(`gallery ${table} holds ${dim}-d vectors, asked for ${opts.dim}-d (use another table)`);
      if (opts.root !== undefined && opts.root !== root)
        throw new PgVectorIndexError(`gallery ${table} is for folder ${root}, not ${opts.root}`);
    } else {
      if (opts.dim === undefined) throw new PgVectorIndexError(`gallery ${table} does not exist; give dim to create it`);
      dim = opts.dim;
      root = opts.root ?? '';
      await run(
        `CREATE TABLE IF NOT EXISTS ${table} (label bigint GENERATED ALWAYS AS IDENTITY, path text PRIMARY KEY, size bigint NOT NULL, mtime_ms double precision NOT NULL, embedding vector(${dim}) NOT NULL)`,
      );
      if ((opts.index ?? 'hnsw') === 'hnsw')
        await run(`CREATE INDEX IF NOT EXISTS ${table}_embedding_hnsw ON ${table} USING hnsw (embedding vector_cosine_ops)`);
      await run('INSERT INTO beit3_galleries (name, dim, root, model) VALUES ($1, $2, $3, $4)', [
        table,
        dim,
        root,
        JSON.stringify(opts.model ?? { weights: [], embedDim: dim }),
      ]);
    }
    // the column is the ground truth: a table altered by hand must not be searched with wrong widths
    const col = (
      await run(
        "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'",
        [table],
      )
    )[0];
    if (!col || col.type !== `vector(${dim})`)
      throw new PgVectorIndexError(`gallery ${table}: column embedding is ${col ? String(col.type) : 'missing'}, expected vector(${dim})`);
    return new PgVectorIndex(db, table, dim, root, ef);
  }

  /** Copies every vector of another gallery (e.g. an hnswlib folder built by `beit3 index`). */
  async copyFrom(source: { vectors(): Iterable<{ file: IndexedFile; vector: Float32Array }> }, batch = 500): Promise<number> {
    let part: { file: Omit<IndexedFile, 'label'>; vector: Float32Array }[] = [];
    let n = 0;
    for (const { file, vector } of source.vectors()) {
      part.push({ file: { path: file.path, size: file.size, mtimeMs: file.mtimeMs }, vector });
      if (part.length === batch) {
        n += await this.addVectors(part);
        part = [];
      }
    }
    return n + (await this.addVectors(part));
  }

  async count(): Promise<number> {
    return Number((await sql(this.db)(`SELECT count(*)::float8 AS n FROM ${this.table}`))[0].n);
  }

  async addVector(file: Omit<IndexedFile, 'label'>, vector: Float32Array): Promise<void> {
    await this.addVectors([{ file, vector }]);
  }

  /** Adds (or replaces, by path) many vectors in one statement; returns how many. */
  async addVectors(items: readonly { file: Omit<IndexedFile, 'label'>; vector: Float32Array }[]): Promise<number> {
    if (!items.length) return 0;
    const paths = new Set<string>();
    for (const { file, vector } of items) {
      if (typeof file?.path !== 'string' || !file.path) throw new PgVectorIndexError('every file needs a non-empty path');
      if (paths.has(file.path)) throw new PgVectorIndexError(`${file.path} is given twice`);
      paths.add(file.path);
      this.checkVector(vector, `vector of ${file.path}`);
      for (const k of ['size', 'mtimeMs'] as const)
        if (!Number.isFinite(file[k] ?? 0)) throw new PgVectorIndexError(`${file.path}: ${k} must be a finite number`);
    }
    // one JSON parameter for the whole batch: portable across clients (array parameters of a
    // custom type are serialized differently by pg and PGlite)
    const rows = items.map((i) => ({ p: i.file.path, s: Math.trunc(i.file.size ?? 0), m: i.file.mtimeMs ?? 0, e: literal(i.vector) }));
    await sql(this.db)(
      `INSERT INTO ${this.table} (path, size, mtime_ms, embedding)
       SELECT p, s, m, e::vector FROM jsonb_to_recordset($1::jsonb) AS x(p text, s bigint, m float8, e text)
       ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, embedding = EXCLUDED.embedding`,
      [JSON.stringify(rows)],
    );
    return items.length;
  }

  async remove(path: string): Promise<boolean> {
    if (typeof path !== 'string') throw new PgVectorIndexError('path must be a string');
    return (await sql(this.db)(`DELETE FROM ${this.table} WHERE path = $1 RETURNING path`, [path])).length > 0;
  }

  async searchVector(vector: Float32Array, k: number): Promise<SearchHit[]> {
    this.checkVector(vector, 'query');
    if (!(Number.isInteger(k) && k >= 1 && k <= MAX_K))
      throw new PgVectorIndexError(`k must be an integer in [1, ${MAX_K}], got ${k}`);
    const run = sql(this.db);
    const ef = Math.min(1000, Math.max(this.efSearch, k));
    if (ef !== this.ef) {
      await run(`SET hnsw.ef_search = ${ef}`);
      this.ef = ef;
    }
    const rows = await run(
      `SELECT path, label::float8 AS label, 1 - (embedding <=> $1::vector) AS score
       FROM ${this.table} ORDER BY embedding <=> $1::vector LIMIT ${k}`,
      [literal(vector)],
    );
    return rows.map((r) => ({
      path: String(r.path),
      file: join(this.root, String(r.path)),
      score: Number(r.score),
      label: Number(r.label),
    }));
  }

  searchText(pipeline: TextEmbedder, text: string, k = 5): Promise<SearchHit[]> {
    return searchByText(this, pipeline, text, k, (m) => new PgVectorIndexError(m));
  }

  /** Every statement commits on its own: nothing to flush. */
  save(): void {}

  /** Drops the gallery's table and its registry row. */
  static async destroy(db: SqlClient, table = 'beit3_gallery'): Promise<void> {
    if (!IDENT.test(table)) throw new PgVectorIndexError(`bad table name ${JSON.stringify(table)}`);
    const run = sql(db);
    await run(`DROP TABLE IF EXISTS ${table}`);
    await run('DELETE FROM beit3_galleries WHERE name = $1', [table]).catch(() => undefined);
  }

  private checkVector(v: Float32Array, what: string): void {
    if (!(v instanceof Float32Array)) throw new PgVectorIndexError(`${what} must be a Float32Array`);
    if (v.length !== this.dim) throw new PgVectorIndexError(`${what} has ${v.length} dims, index has ${this.dim}`);
    // pgvector rejects NaN/Infinity too, but with a less specific message
    if (!v.every(Number.isFinite)) throw new PgVectorIndexError(`${what} is not finite`);
  }
}

/** Runs one statement; a database error becomes a PgVectorIndexError naming the statement. */
function sql(db: SqlClient) {
  return async (text: string, params?: unknown[]): Promise<Record<string, unknown>[]> => {
    try {
      return (await db.query(text, params)).rows;
    } catch (e) {
      const head = text.replace(/\s+/g, ' ').slice(0, 60);
      const why = String((e as Error).message).slice(0, 200);
      throw new PgVectorIndexError(`database refused "${head}…": ${why}`, { cause: e });
    }
  };
}
