// A `beit3 export`ed task model (its `<model>.meta.json` + ONNX graphs) run by onnxruntime-web:
// WASM (threads when the page is cross-origin isolated) or WebGPU where the browser has it.
// Only the build a backend needs is imported: `onnxruntime-web/wasm` (plain SIMD+threads WASM),
// or `onnxruntime-web/webgpu` (the larger JSEP WASM) when WebGPU is asked for and present; the
// bundle puts each in its own chunk, loaded on first use.
import type * as Ort from 'onnxruntime-web';
import type { Tensor } from '../graph/tensor.js';
import { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import { fetchCached, fetchJson } from './cache.js';
import { WebError } from './errors.js';
import { preprocessBatch, type ImageSettings, type Pixels } from './image.js';
import { dots, rows, sigmoid, softmax, topk } from './post.js';

/** What `exportTaskModel` writes beside the graphs (src/tasks/export.ts). */
export interface ExportMeta {
  task: string;
  model: string;
  dtype: string;
  image: ImageSettings;
  text: { num_max_bpe_tokens: number; tokenizer?: string };
  labels?: string[];
  graphs: {
    role: string;
    path: string;
    inputs: { name: string; dtype: string; shape: (number | string)[] }[];
    outputs: string[];
  }[];
}

export interface WebModelOptions {
  /** URL of the SentencePiece model; default: the meta's tokenizer file name beside the meta. */
  tokenizerUrl?: string;
  /** 'wasm' (default) or 'webgpu' (falls back to wasm when the browser has no WebGPU). */
  backend?: Backend;
  /** Cache API bucket, or false for no caching. */
  cache?: string | false;
}

export interface Scored {
  index: number;
  label: string;
  score: number;
  logit: number;
}

type OrtModule = typeof Ort;
export type Backend = 'wasm' | 'webgpu';

const settings: { wasmPaths?: string; numThreads?: number } = {};
const loaded = new Map<Backend, Promise<OrtModule>>();

/** The WASM thread count ORT gets: 1 unless the page is cross-origin isolated (threads need SharedArrayBuffer). */
export function wasmThreads(requested?: number): number {
  const iso = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return iso ? Math.max(1, requested ?? Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1)) : 1;
}

/**
 * Where onnxruntime-web finds its .wasm files, and how many threads it uses. Call before the first
 * model loads: ORT reads these when its WASM starts (once per backend build).
 */
export function configureOrt(opts: { wasmPaths?: string; numThreads?: number }): { numThreads: number } {
  if (opts.wasmPaths !== undefined) settings.wasmPaths = opts.wasmPaths;
  if (opts.numThreads !== undefined) settings.numThreads = opts.numThreads;
  return { numThreads: wasmThreads(settings.numThreads) };
}

/** The onnxruntime-web build for a backend, configured by `configureOrt`. */
export function loadOrt(backend: Backend): Promise<OrtModule> {
  let p = loaded.get(backend);
  if (!p) {
    p = (backend === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')).then(
      (m) => {
        const ort = (
          (m as { default?: OrtModule }).default?.InferenceSession ? (m as { default: OrtModule }).default : m
        ) as OrtModule;
        if (settings.wasmPaths) ort.env.wasm.wasmPaths = settings.wasmPaths;
        ort.env.wasm.numThreads = wasmThreads(settings.numThreads);
        return ort;
      },
    );
    loaded.set(backend, p);
  }
  return p;
}

export class WebTaskModel {
  private constructor(
    readonly meta: ExportMeta,
    private readonly ort: OrtModule,
    private readonly sessions: Map<string, Ort.InferenceSession>,
    private readonly tok: Beit3Tokenizer | undefined,
    readonly backend: string,
  ) {}

  /** Loads the meta, every graph and the tokenizer (when the task reads text). */
  static async load(metaUrl: string, opts: WebModelOptions = {}): Promise<WebTaskModel> {
    const base = new URL(metaUrl, globalThis.location?.href);
    const meta = await fetchJson<ExportMeta>(base.href, opts.cache);
    if (!meta || !Array.isArray(meta.graphs) || !meta.image)
      throw new WebError(`${metaUrl} is not a beit3 export meta file (no graphs/image)`);
    const gpu = opts.backend === 'webgpu' && typeof navigator !== 'undefined' && 'gpu' in navigator;
    const providers = gpu ? ['webgpu', 'wasm'] : ['wasm'];
    const ort = await loadOrt(gpu ? 'webgpu' : 'wasm');
    const sessions = new Map<string, Ort.InferenceSession>();
    for (const g of meta.graphs) {
      const bytes = await fetchCached(new URL(g.path, base).href, opts.cache);
      sessions.set(g.role, await ort.InferenceSession.create(bytes, { executionProviders: providers }));
    }
    const needsText = meta.graphs.some((g) => g.inputs.some((i) => i.dtype === 'int64'));
    let tok: Beit3Tokenizer | undefined;
    if (needsText) {
      const name = opts.tokenizerUrl ?? meta.text.tokenizer?.split(/[\\/]/).pop();
      if (!name)
        throw new WebError(`${metaUrl}: the task reads text but no tokenizer is named; pass tokenizerUrl`);
      tok = Beit3Tokenizer.fromBytes(await fetchCached(new URL(name, base).href, opts.cache), name);
    }
    return new WebTaskModel(meta, ort, sessions, tok, gpu ? 'webgpu' : 'wasm');
  }

  get task(): string {
    return this.meta.task;
  }

  tokenizer(): Beit3Tokenizer {
    if (!this.tok) throw new WebError(`task ${this.meta.task} has no tokenizer`);
    return this.tok;
  }

  private session(role: string): Ort.InferenceSession {
    const s =
      this.sessions.get(role) ?? (this.sessions.size === 1 ? [...this.sessions.values()][0] : undefined);
    if (!s)
      throw new WebError(
        `task ${this.meta.task} has no '${role}' graph (has ${[...this.sessions.keys()].join(', ')})`,
      );
    return s;
  }

  /** Runs one graph on named tensors; returns its outputs as float32 buffers. */
  async run(role: string, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
    const toOrt = (t: Tensor) =>
      new this.ort.Tensor(t.dtype as 'float32' | 'int64', t.data as Float32Array, t.shape);
    const out = await this.session(role).run(
      Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])),
    );
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  }

  preprocess(images: readonly Pixels[]): Tensor {
    return preprocessBatch(images, this.meta.image);
  }

  private text(texts: readonly string[]) {
    if (!texts.length) throw new WebError('no texts given');
    return this.tokenizer().batch(texts, this.meta.text.num_max_bpe_tokens);
  }

  private label(i: number): string {
    return this.meta.labels?.[i] ?? String(i);
  }

  /** Image classification: softmax top-k per image, and the raw logits. */
  async classify(images: readonly Pixels[], k = 5): Promise<{ topk: Scored[]; logits: Float32Array }[]> {
    const { logits } = await this.run('model', { image: this.preprocess(images) });
    return rows(logits, images.length).map((l) => {
      const p = softmax(l);
      return {
        logits: l,
        topk: topk(l, k).map((c) => ({ index: c, label: this.label(c), score: p[c], logit: l[c] })),
      };
    });
  }

  /** VQA: answer scores are sigmoids (the heads are trained with BCE per answer). */
  async vqa(
    items: readonly { image: Pixels; question: string }[],
    k = 5,
  ): Promise<(Scored & { answer: string; topk: Scored[] })[]> {
    const t = this.text(items.map((i) => i.question));
    const { logits } = await this.run('model', {
      image: this.preprocess(items.map((i) => i.image)),
      question: t.languageTokens,
      padding_mask: t.paddingMask,
    });
    return rows(logits, items.length).map((l) => {
      const top = topk(l, k).map((c) => ({
        index: c,
        label: this.label(c),
        score: sigmoid(l[c]),
        logit: l[c],
      }));
      return { ...top[0], answer: top[0].label, topk: top };
    });
  }

  /** Retrieval image features (L2-normalized), one row per image. */
  async embedImages(images: readonly Pixels[]): Promise<Float32Array[]> {
    const { vision_cls } = await this.run('image', { image: this.preprocess(images) });
    return rows(vision_cls, images.length);
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    const t = this.text(texts);
    const { language_cls } = await this.run('text', {
      text_description: t.languageTokens,
      padding_mask: t.paddingMask,
    });
    return rows(language_cls, texts.length);
  }

  /** Gallery search: the k gallery items whose embeddings score highest against the query text. */
  async search(query: string, gallery: readonly { id: string; embedding: Float32Array }[], k = 5) {
    const [q] = await this.embedTexts([query]);
    const s = dots(
      q,
      gallery.map((g) => g.embedding),
    );
    return topk(s, k).map((i) => ({ id: gallery[i].id, score: s[i] }));
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
    this.sessions.clear();
  }
}
