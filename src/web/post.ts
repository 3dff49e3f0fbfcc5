// Post-processing of raw logits, as the Node pipelines do it (src/tasks/base.ts holds the Node
// versions; that module imports the sharp decoder, so the browser build cannot reach it).

/** Indices of the k largest values, ties by lower index (Python's stable sort). */
export function topk(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, values.length)));
}

export function softmax(values: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) m = Math.max(m, values[i]);
  const e = Array.from(values, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Rows of a row-major (n, d) buffer. */
export function rows(data: Float32Array, n: number): Float32Array[] {
  const d = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

/** Dot products of one query with every gallery vector (features are L2-normalized: cosine). */
export function dots(query: Float32Array, gallery: readonly Float32Array[]): number[] {
  return gallery.map((g) => {
    let s = 0;
    for (let k = 0; k < g.length; k++) s += g[k] * query[k];
    return s;
  });
}
