/**
 * The one interface of a gallery of image embeddings, whatever holds it: the hnswlib folder index
 * (search/index.ts, `beit3 index`) and the PostgreSQL/pgvector index (search/pgvector.ts).
 * Methods answer directly (hnswlib, in memory) or with a promise (a database); callers `await`.
 */
import type { ImageEmbedder, IndexedFile, SearchHit } from './index.js';

export type Awaitable<T> = T | Promise<T>;

/** What a text query needs from a model (tasks' RetrievalPipeline has it). */
export type TextEmbedder = Pick<ImageEmbedder, 'embedTexts'>;

export interface GalleryIndex {
  /** Embedding width; every vector added or searched must have it. */
  readonly dim: number;
  /** Number of indexed images. */
  count(): Awaitable<number>;
  /** Adds (or replaces) the vector of one file; `vector` L2-normalized. */
  addVector(file: Omit<IndexedFile, 'label'>, vector: Float32Array): Awaitable<void>;
  /** Drops a file; false when it is not in the index. */
  remove(path: string): Awaitable<boolean>;
  /** Nearest images to a query vector, best first; score = cosine similarity. */
  searchVector(vector: Float32Array, k: number): Awaitable<SearchHit[]>;
  /** Text query → top-k images. */
  searchText(pipeline: TextEmbedder, text: string, k?: number): Promise<SearchHit[]>;
  /** Makes changes durable (a no-op where every change already is). */
  save(): Awaitable<void>;
}

/** searchText for any gallery: embed the query, check its width, search by vector. */
export async function searchByText(
  index: Pick<GalleryIndex, 'dim' | 'searchVector'>,
  pipeline: TextEmbedder,
  text: string,
  k: number,
  error: (message: string) => Error,
): Promise<SearchHit[]> {
  const q = await pipeline.embedTexts([text]);
  if (q.shape[1] !== index.dim)
    throw error(`the model embeds ${q.shape[1]}-d vectors, the index holds ${index.dim}-d`);
  return index.searchVector(q.data as Float32Array, k);
}
