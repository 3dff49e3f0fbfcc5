/**
 * Incremental caption decoding with a key/value cache (CaptioningHandler.eval_batch's call
 * sequence): two compiled programs, `first` (image + [<s>, <mask>]) and `step`
 * ([word, <mask>] against the cache). Batch is symbolic, so beams can be reordered freely.
 */
import { Graph } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { ParamScope } from '../../nn/module.js';
import { Program } from '../../runtime/index.js';
import { headDim } from './config.js';
import type { Beit3ForCaptioning } from './heads/captioning.js';

export interface HostCache {
  key: Tensor;
  value: Tensor;
}

export class CaptionDecoder {
  private constructor(
    readonly model: Beit3ForCaptioning,
    private readonly firstProg: Program,
    private readonly stepProg: Program,
    readonly promptLen: number,
  ) {}

  /** Compiles both programs (weights bound as initializers). `promptLen` text ids in the first call (2 officially). */
  static async create(
    model: Beit3ForCaptioning,
    opts: { promptLen?: number; threads?: number } = {},
  ): Promise<CaptionDecoder> {
    const cfg = model.cfg;
    const n = opts.promptLen ?? 2;
    const L = cfg.layers;
    const g1 = new Graph('caption_first');
    const s1 = new ParamScope(g1, model);
    const img = g1.input('image', 'float32', ['batch', cfg.inChans, cfg.imgSize, cfg.imgSize]);
    const ids1 = g1.input('text_ids', 'int64', ['batch', n]);
    const r1 = model.decodeFirst(s1, img, ids1);
    g1.output(r1.logits, 'logits');
    r1.caches.forEach((c, l) => {
      g1.output(c.key, `cache.layer${l}.key`);
      g1.output(c.value, `cache.layer${l}.value`);
    });
    const g2 = new Graph('caption_step');
    const s2 = new ParamScope(g2, model);
    const ids2 = g2.input('text_ids', 'int64', ['batch', 2]);
    const textLen = g2.input('text_len', 'int64', []);
    const past = Array.from({ length: L }, (_, l) => ({
      key: g2.input(`past.layer${l}.key`, 'float32', ['batch', cfg.heads, 'past', headDim(cfg)]),
      value: g2.input(`past.layer${l}.value`, 'float32', ['batch', cfg.heads, 'past', headDim(cfg)]),
    }));
    const r2 = model.decodeStep(s2, ids2, textLen, past);
    g2.output(r2.logits, 'logits');
    r2.caches.forEach((c, l) => {
      g2.output(c.key, `cache.layer${l}.key`);
      g2.output(c.value, `cache.layer${l}.value`);
    });
    const [p1, p2] = await Promise.all([
      Program.compile(g1, { bind: s1.bindings(), threads: opts.threads }),
      Program.compile(g2, { bind: s2.bindings(), threads: opts.threads }),
    ]);
    return new CaptionDecoder(model, p1, p2, n);
  }

  private collect(out: Record<string, Tensor>): { logits: Tensor; caches: HostCache[] } {
    const caches = Array.from({ length: this.model.cfg.layers }, (_, l) => ({
      key: out[`cache.layer${l}.key`],
      value: out[`cache.layer${l}.value`],
    }));
    return { logits: out.logits, caches };
  }

  /** Step 0: logits (B, n, V) and caches over Nv + n tokens (untrimmed). */
  async first(image: Tensor, textIds: Tensor): Promise<{ logits: Tensor; caches: HostCache[] }> {
    return this.collect(await this.firstProg.run({ image, text_ids: textIds }));
  }

  /** Step k: `textIds` (B, 2) at official `text_len` (positions textLen, textLen + 1). */
  async step(
    textIds: Tensor,
    textLen: number,
    past: HostCache[],
  ): Promise<{ logits: Tensor; caches: HostCache[] }> {
    const feeds: Record<string, Tensor> = { text_ids: textIds, text_len: Tensor.scalar(textLen, 'int64') };
    past.forEach((c, l) => {
      feeds[`past.layer${l}.key`] = c.key;
      feeds[`past.layer${l}.value`] = c.value;
    });
    return this.collect(await this.stepProg.run(feeds));
  }

  async release(): Promise<void> {
    await Promise.all([this.firstProg.release(), this.stepProg.release()]);
  }
}

/** Drops the last `n` cached positions (axis 2) of (B, H, L, d) caches: the `<mask>` entry. */
export function trimCache(caches: HostCache[], n = 1): HostCache[] {
  return caches.map((c) => ({
    key: sliceAxis2(c.key, 0, c.key.shape[2] - n),
    value: sliceAxis2(c.value, 0, c.value.shape[2] - n),
  }));
}

/** Selects batch rows (beam reordering) of every cache. */
export function selectRows(caches: HostCache[], rows: readonly number[]): HostCache[] {
  return caches.map((c) => ({ key: takeRows(c.key, rows), value: takeRows(c.value, rows) }));
}

function sliceAxis2(t: Tensor, a: number, b: number): Tensor {
  const [B, H, L, d] = t.shape;
  const out = new Float32Array(B * H * (b - a) * d);
  const src = t.data as Float32Array;
  for (let i = 0; i < B * H; i++) out.set(src.subarray((i * L + a) * d, (i * L + b) * d), i * (b - a) * d);
  return new Tensor('float32', [B, H, b - a, d], out);
}

export function takeRows(t: Tensor, rows: readonly number[]): Tensor {
  const row = t.data.length / t.shape[0];
  const out = new Float32Array(rows.length * row);
  const src = t.data as Float32Array;
  rows.forEach((r, i) => out.set(src.subarray(r * row, (r + 1) * row), i * row));
  return new Tensor('float32', [rows.length, ...t.shape.slice(1)], out);
}
