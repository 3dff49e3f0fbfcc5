/**
 * The three-stream batch builder. Per sample (inside the data loader's map stages, seeded by the
 * loader's per-sample seed, so batches are resumable and worker-count independent):
 *   image → view (random pretraining view, or the fixed view when targets are cached) + block mask;
 *   text  → segment + masked text row;   pair → both (image mask only with maskPairImage).
 * Per batch (`assembleFeeds`): samples are stacked into the objective's inputs, masked positions
 * become flat row indices, and the visual targets come from the tokenizer (on the fly) or from
 * the cache of fixed-view codes.
 */
import { Tensor } from '../../graph/tensor.js';
import type { RgbImage } from '../../vision/image.js';
import { PretrainError } from './errors.js';
import { fixedView, type ImageView, pretrainView, type PretrainViewOptions } from './augment.js';
import { imageMasker, type MaskedText, maskTextRow, type TextMaskRule, type TextVocab } from './masking.js';
import type { BlockMaskingGenerator } from '../../vision/masking.js';
import { deriveSeed } from '../../util/random.js';

/** What the visual tokenizer must offer (VQ-KD's VisualTokenizer; any frozen code-id extractor). */
export interface VisualTokenizerLike {
  /** Codebook size: the mim_head's output size. */
  readonly vocabSize: number;
  /** (B, 3, H, W) float32 in [0, 1] → int64 (B, P) code ids, row-major patch order. */
  encode(images: Tensor): Promise<Tensor>;
}

export type TargetMode = 'online' | 'cached';

export interface PreparedImage {
  key: string;
  view: ImageView;
  /** (P,) 1 = masked. */
  mask: Uint8Array;
}
export interface PreparedText {
  text: MaskedText;
}
export interface PreparedPair {
  key: string;
  view: ImageView;
  mask?: Uint8Array;
  text: MaskedText;
}

export interface StreamBatches {
  images?: PreparedImage[];
  texts?: PreparedText[];
  pairs?: PreparedPair[];
}

export interface BatchOptions {
  imgSize: number;
  /** Patch grid side (imgSize / patchSize). */
  grid: number;
  imageMaskRatio?: number;
  /** Monomodal text mask ratio (paper 0.15) and pair text mask ratio (paper 0.5). */
  textMaskRatio?: number;
  pairMaskRatio?: number;
  textMaskRule?: TextMaskRule;
  maskPairImage?: boolean;
  /** 'online' (default): random views, targets by the tokenizer every step; 'cached': fixed views, targets computed once per image. */
  targets?: TargetMode;
  view?: PretrainViewOptions;
}

/** Per-sample preparation and per-batch assembly for one configuration. */
export class PretrainBatcher {
  readonly masker: BlockMaskingGenerator;
  private readonly cache = new Map<string, Int32Array>();
  /** Tokenizer calls and images encoded so far (the cost the cached mode saves). */
  readonly stats = { tokenizerCalls: 0, imagesEncoded: 0, cacheHits: 0 };

  constructor(
    readonly opts: BatchOptions,
    readonly vocab: TextVocab,
    readonly tokenizer: VisualTokenizerLike,
  ) {
    this.masker = imageMasker(opts.grid, opts.imageMaskRatio);
  }

  get maskedPerImage(): number {
    return this.masker.numMaskingPatches;
  }

  private view(img: RgbImage, seed: number): ImageView {
    return this.opts.targets === 'cached' ? fixedView(img, this.opts.imgSize) : pretrainView(img, this.opts.imgSize, deriveSeed(seed, 'view'), this.opts.view);
  }

  image(img: RgbImage, key: string, seed: number): PreparedImage {
    return { key, view: this.view(img, seed), mask: this.masker.generate(deriveSeed(seed, 'mask')).mask };
  }

  text(tokens: readonly number[], padding: readonly number[], seed: number): PreparedText {
    return { text: maskTextRow(tokens, padding, this.opts.textMaskRatio ?? 0.15, this.opts.textMaskRule ?? 'bert', this.vocab, deriveSeed(seed, 'text')) };
  }

  pair(img: RgbImage, key: string, tokens: readonly number[], padding: readonly number[], seed: number): PreparedPair {
    return {
      key,
      view: this.view(img, seed),
      mask: this.opts.maskPairImage ? this.masker.generate(deriveSeed(seed, 'mask')).mask : undefined,
      text: maskTextRow(tokens, padding, this.opts.pairMaskRatio ?? 0.5, this.opts.textMaskRule ?? 'bert', this.vocab, deriveSeed(seed, 'text')),
    };
  }

  /** Visual-token ids (B·P) of the views: the tokenizer on the batch, or the per-key cache. */
  async visualTargets(items: readonly { key: string; view: ImageView }[]): Promise<Int32Array> {
    const P = this.opts.grid ** 2;
    const out = new Int32Array(items.length * P);
    const cached = this.opts.targets === 'cached';
    const todo = cached ? items.filter((it) => !this.cache.has(it.key)) : items;
    const unique = cached ? [...new Map(todo.map((it) => [it.key, it])).values()] : todo;
    let codes: Int32Array | undefined;
    if (unique.length) {
      const t = await this.tokenizer.encode(stack(unique.map((it) => it.view.raw)));
      if (t.shape.length !== 2 || t.shape[0] !== unique.length || t.shape[1] !== P)
        throw new PretrainError(`visual tokenizer returned codes [${t.shape}], expected [${unique.length}, ${P}] (its patch grid must match the model's)`);
      codes = Int32Array.from(t.data as ArrayLike<number | bigint>, Number);
      for (const c of codes)
        if (!(c >= 0 && c < this.tokenizer.vocabSize)) throw new PretrainError(`visual tokenizer returned code ${c} outside [0, ${this.tokenizer.vocabSize})`);
      this.stats.tokenizerCalls++;
      this.stats.imagesEncoded += unique.length;
      if (cached) unique.forEach((it, i) => this.cache.set(it.key, codes!.slice(i * P, (i + 1) * P)));
    }
    items.forEach((it, i) => {
      if (cached) {
        if (!todo.includes(it)) this.stats.cacheHits++;
        out.set(this.cache.get(it.key)!, i * P);
      } else out.set(codes!.subarray(i * P, (i + 1) * P), i * P);
    });
    return out;
  }

  /** The objective's feeds for one step (see objective.ts for the names). */
  async assemble(b: StreamBatches): Promise<Record<string, Tensor>> {
    const P = this.opts.grid ** 2;
    const feeds: Record<string, Tensor> = {};
    const visual = async (stream: string, items: { key: string; view: ImageView; mask?: Uint8Array }[], prefix: string) => {
      const codes = await this.visualTargets(items);
      const mask = new Uint8Array(items.length * P);
      const index: number[] = [];
      items.forEach((it, i) => {
        mask.set(it.mask!, i * P);
        it.mask!.forEach((m, p) => m && index.push(i * P + p));
      });
      feeds[`${stream}.vision_mask`] = new Tensor('bool', [items.length, P], mask);
      feeds[`${stream}.${prefix}index`] = Tensor.i64([index.length], index);
      feeds[`${stream}.${prefix}targets`] = Tensor.i64([index.length], index.map((j) => codes[j]));
    };
    const text = (stream: string, rows: MaskedText[]) => {
      const T = rows[0].ids.length;
      if (rows.some((r) => r.ids.length !== T)) throw new PretrainError(`${stream}: text rows of different lengths in one batch`);
      const index: number[] = [];
      const targets: number[] = [];
      rows.forEach((r, i) => {
        r.positions.forEach((p, k) => {
          index.push(i * T + p);
          targets.push(r.targets[k]);
        });
      });
      if (index.length === 0) throw new PretrainError(`${stream}: no token of the batch was masked (texts too short?)`);
      feeds[`${stream}.ids`] = Tensor.i64([rows.length, T], rows.flatMap((r) => r.ids));
      feeds[`${stream}.padding`] = Tensor.i64([rows.length, T], rows.flatMap((r) => r.padding));
      feeds[`${stream}.index`] = Tensor.i64([index.length], index);
      feeds[`${stream}.targets`] = Tensor.i64([targets.length], targets);
    };
    if (b.images?.length) {
      feeds['images.image'] = stack(b.images.map((x) => x.view.input));
      await visual('images', b.images, '');
    }
    if (b.texts?.length) text('texts', b.texts.map((x) => x.text));
    if (b.pairs?.length) {
      feeds['pairs.image'] = stack(b.pairs.map((x) => x.view.input));
      text('pairs', b.pairs.map((x) => x.text));
      if (this.opts.maskPairImage) {
        await visual('pairs', b.pairs, 'vision_');
      }
    }
    return feeds;
  }
}

/** CHW tensors → one NCHW tensor. */
export function stack(items: readonly Tensor[]): Tensor {
  if (!items.length) throw new PretrainError('empty image batch');
  const [c, h, w] = items[0].shape;
  const n = c * h * w;
  const out = new Float32Array(items.length * n);
  items.forEach((t, i) => {
    if (t.shape.join() !== items[0].shape.join()) throw new PretrainError(`image views of different shapes in one batch: [${t.shape}] vs [${items[0].shape}]`);
    out.set(t.data as Float32Array, i * n);
  });
  return new Tensor('float32', [items.length, c, h, w], out);
}
