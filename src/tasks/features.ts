/**
 * Backbone features: per-layer hidden states (vision, text or fused input) and a simple feature
 * pyramid (ViTDet's "simple feature pyramid" without its learned layers): the last layer's patch
 * tokens as a (B, D, g, g) map, resampled to strides patch/4, patch/2, patch and 2·patch
 * (bilinear up-sampling, 2×2 max-pooling down). Detection / segmentation heads put their own
 * learned layers on top of these maps.
 */
import { Tensor } from '../graph/tensor.js';
import { numVisionTokens } from '../models/beit3/config.js';
import { type ImageInput, Pipeline, type PipelineOptions } from './base.js';
import { TaskInputError } from './errors.js';
import { featuresSpec } from './graphs.js';
import type { LoadedModel } from './model.js';
import type { TaskSession } from './session.js';

export interface FeatureResult {
  /** Final hidden states (B, L, D) (after the final LayerNorm when the model has one). */
  lastHiddenState: Tensor;
  /** Output of every layer (B, L, D), layer 0 first (before the final LayerNorm). */
  hiddenStates: Tensor[];
  /** Vision cls feature (B, D) of the last hidden state (image input only). */
  pooled?: Tensor;
  /** Simple feature pyramid of the last layer's patch map: scales 4, 2, 1, 0.5 → (B, D, h, w) each. */
  pyramid?: Tensor[];
}

export class FeaturesPipeline extends Pipeline {
  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<FeaturesPipeline> {
    return new FeaturesPipeline(loaded, options);
  }

  private session(withImage: boolean, withText: boolean): Promise<TaskSession> {
    return this.compile(featuresSpec(this.loaded.model, this.config, withImage, withText));
  }

  /** Features of images (and optionally one text per image: fused vision-language input). */
  async run(
    images: readonly ImageInput[] | undefined,
    opts: { texts?: readonly string[]; pyramid?: boolean } = {},
  ): Promise<FeatureResult> {
    const texts = opts.texts;
    if (!images?.length && !texts?.length) throw new TaskInputError('features: give images, texts or both');
    if (images?.length && texts?.length && images.length !== texts.length)
      throw new TaskInputError(
        `features: ${images.length} images but ${texts.length} texts (fused input pairs them one to one)`,
      );
    const feeds: Record<string, Tensor> = {};
    if (images?.length) feeds.image = await this.preprocess(images);
    if (texts?.length) {
      const t = (await this.tokenizer()).batch(texts, this.config.textLen);
      feeds.text_ids = t.languageTokens;
      feeds.padding_mask = t.paddingMask;
    }
    const out = await (await this.session(!!feeds.image, !!feeds.text_ids)).run(feeds);
    const hiddenStates = Array.from({ length: this.config.model.layers }, (_, i) => out[`hidden_state.${i}`]);
    const last = out.last_hidden_state;
    const res: FeatureResult = { lastHiddenState: last, hiddenStates };
    if (feeds.image) {
      const [B, L, D] = last.shape;
      const pooled = new Float32Array(B * D);
      for (let b = 0; b < B; b++)
        pooled.set((last.data as Float32Array).subarray(b * L * D, b * L * D + D), b * D);
      res.pooled = new Tensor('float32', [B, D], pooled);
      if (opts.pyramid ?? true)
        res.pyramid = simpleFeaturePyramid(
          patchMap(hiddenStates[hiddenStates.length - 1], numVisionTokens(this.config.model)),
        );
    }
    return res;
  }
}

/** Patch tokens 1..Nv−1 of (B, L, D) → (B, D, g, g). */
export function patchMap(h: Tensor, nv: number): Tensor {
  const [B, L, D] = h.shape;
  const P = nv - 1;
  const g = Math.round(Math.sqrt(P));
  if (g * g !== P || L < nv) throw new TaskInputError(`patchMap: ${P} patches is not a square grid`);
  const src = h.data as Float32Array;
  const out = new Float32Array(B * D * P);
  for (let b = 0; b < B; b++)
    for (let p = 0; p < P; p++)
      for (let d = 0; d < D; d++) out[(b * D + d) * P + p] = src[(b * L + 1 + p) * D + d];
  return new Tensor('float32', [B, D, g, g], out);
}

/** Bilinear resize (align_corners=False, like F.interpolate) of (B, C, H, W). */
export function bilinear(x: Tensor, outH: number, outW: number): Tensor {
  const [B, C, H, W] = x.shape;
  const src = x.data as Float32Array;
  const out = new Float32Array(B * C * outH * outW);
  const coord = (o: number, n: number, on: number) =>
    Math.min(Math.max((o + 0.5) * (n / on) - 0.5, 0), n - 1);
  for (let bc = 0; bc < B * C; bc++)
    for (let oy = 0; oy < outH; oy++) {
      const y = coord(oy, H, outH);
      const y0 = Math.floor(y);
      const y1 = Math.min(y0 + 1, H - 1);
      const fy = y - y0;
      for (let ox = 0; ox < outW; ox++) {
        const xx = coord(ox, W, outW);
        const x0 = Math.floor(xx);
        const x1 = Math.min(x0 + 1, W - 1);
        const fx = xx - x0;
        const o = bc * H * W;
        const top = src[o + y0 * W + x0] * (1 - fx) + src[o + y0 * W + x1] * fx;
        const bot = src[o + y1 * W + x0] * (1 - fx) + src[o + y1 * W + x1] * fx;
        out[(bc * outH + oy) * outW + ox] = top * (1 - fy) + bot * fy;
      }
    }
  return new Tensor('float32', [B, C, outH, outW], out);
}

/** 2×2 max pooling, stride 2 (floor). */
export function maxPool2(x: Tensor): Tensor {
  const [B, C, H, W] = x.shape;
  const h = Math.floor(H / 2);
  const w = Math.floor(W / 2);
  const src = x.data as Float32Array;
  const out = new Float32Array(B * C * h * w);
  for (let bc = 0; bc < B * C; bc++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const o = bc * H * W;
        out[(bc * h + y) * w + xx] = Math.max(
          src[o + 2 * y * W + 2 * xx],
          src[o + 2 * y * W + 2 * xx + 1],
          src[o + (2 * y + 1) * W + 2 * xx],
          src[o + (2 * y + 1) * W + 2 * xx + 1],
        );
      }
  return new Tensor('float32', [B, C, h, w], out);
}

export function simpleFeaturePyramid(map: Tensor): Tensor[] {
  const [, , H, W] = map.shape;
  return [bilinear(map, 4 * H, 4 * W), bilinear(map, 2 * H, 2 * W), map, maxPool2(map)];
}
