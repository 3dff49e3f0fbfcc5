/**
 * The visual tokenizer as a library object: a VQ-KD checkpoint → code ids per image
 * (`VQKD.get_codebook_indices`). `fromCheckpoint` reads the official layout (weights under
 * `model`, else `state_dict`; teacher / scaling / loss keys dropped), recognises the size from the
 * tensors (a registered name when the shapes match one, else inferred) and compiles the
 * encoder + nearest-code search into one ORT program per batch size.
 */
import { Graph } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import { ParamScope, StateDictError } from '../../nn/module.js';
import { Program } from '../../runtime/session.js';
import { Beit3Error } from '../../util/errors.js';
import { centerCrop, resizeShorterSide, toNormalizedTensor } from '../../vision/transforms.js';
import type { RgbImage } from '../../vision/image.js';
import { gridSize, makeVqkdConfig, type VqkdConfig } from './config.js';
import { VQKD } from './model.js';
import { filterVqkdCheckpoint } from './pretrained.js';
import { VQKD_REGISTRY } from './registry.js';

/** The checkpoint is not a VQ-KD tokenizer, or not one this code can build. */
export class TokenizerCheckpointError extends Beit3Error {
  override name = 'TokenizerCheckpointError';
}

export interface VisualTokenizerOptions {
  /** A registered name to build (default: recognised from the tensor shapes). */
  model?: string;
  /** Attention heads when the size is not a registered one (default embed_dim / 64). */
  heads?: number;
  /** .pth lookup keys (default 'model|state_dict', as the official loader). */
  modelKey?: string;
  threads?: number;
}

export interface TokenizeResult {
  /** (B, N) int64 code ids, N = grid², row-major patches. */
  codes: Tensor;
  /** Token grid side. */
  grid: number;
}

function shape(state: ReadonlyMap<string, Tensor>, key: string, where: string): readonly number[] {
  const t = state.get(key);
  if (!t)
    throw new TokenizerCheckpointError(
      `${where}: no "${key}" — not a VQ-KD tokenizer checkpoint (expected encoder.*, decoder.*, quantize.* keys)`,
    );
  return t.shape;
}

/** The config a state dict was saved from: a registered size whose shapes all match, else inferred. */
export function inferVqkdConfig(
  state: ReadonlyMap<string, Tensor>,
  opts: { heads?: number; where?: string } = {},
): { config: VqkdConfig; name?: string } {
  const where = opts.where ?? 'checkpoint';
  for (const e of VQKD_REGISTRY.values()) {
    const shapes = new VQKD(e.config()).shapes();
    if (shapes.size === state.size && [...shapes].every(([k, s]) => state.get(k)?.shape.join() === s.join()))
      return { config: e.config(), name: e.name };
  }
  const [D, , p] = shape(state, 'encoder.patch_embed.proj.weight', where);
  const n = shape(state, 'encoder.pos_embed', where)[1] - 1;
  const [nCode, codeDim] = shape(state, 'quantize.embedding.weight', where);
  const [outDim, Dd] = shape(state, 'decode_task_layer.2.weight', where);
  const count = (prefix: string) => {
    let i = 0;
    while (state.has(`${prefix}.blocks.${i}.attn.qkv.weight`)) i++;
    return i;
  };
  const g = Math.round(Math.sqrt(n));
  if (g * g !== n) throw new TokenizerCheckpointError(`${where}: encoder.pos_embed has ${n} patch rows, not a square grid`);
  const heads = opts.heads ?? (D % 64 === 0 ? D / 64 : undefined);
  if (!heads)
    throw new TokenizerCheckpointError(
      `${where}: embed dim ${D} is not a registered size and not a multiple of 64; give the number of heads`,
    );
  const decoderHeads = opts.heads ?? (Dd % 64 === 0 ? Dd / 64 : heads);
  return {
    config: makeVqkdConfig({
      imgSize: g * p,
      patchSize: p,
      embedDim: D,
      depth: count('encoder'),
      heads,
      decoderDepth: count('decoder'),
      decoderEmbedDim: Dd,
      decoderHeads,
      nCode,
      codeDim,
      decoderOutDim: outDim,
    }),
  };
}

/** The tokenizer's eval transform (beit2 build_vqkd_dataset, is_train=False): Resize(⌊size/crop_pct⌋, bicubic), CenterCrop(size), ToTensor. */
export function vqkdEvalTransform(img: RgbImage, size: number): Tensor {
  const cropPct = size < 384 ? 224 / 256 : 1;
  const resized = resizeShorterSide(img, Math.trunc(size / cropPct), 'bicubic');
  return toNormalizedTensor(centerCrop(resized, size), { mean: [0, 0, 0], std: [1, 1, 1] });
}

export class VisualTokenizer {
  private readonly programs = new Map<number, Promise<Program>>();

  private constructor(
    readonly model: VQKD,
    /** The registered name the checkpoint matched, if any. */
    readonly name: string | undefined,
    private readonly threads?: number,
  ) {}

  /** From a .pth / .safetensors file or an already loaded state dict. */
  static async fromCheckpoint(
    source: string | ReadonlyMap<string, Tensor>,
    opts: VisualTokenizerOptions = {},
  ): Promise<VisualTokenizer> {
    const where = typeof source === 'string' ? source : 'state dict';
    const raw =
      typeof source === 'string'
        ? await loadCheckpoint(source, { modelKey: opts.modelKey ?? 'model|state_dict' })
        : source;
    const { state } = filterVqkdCheckpoint(raw);
    let config: VqkdConfig;
    let name: string | undefined;
    if (opts.model) {
      const e = VQKD_REGISTRY.get(opts.model);
      if (!e) throw new TokenizerCheckpointError(`unknown VQ-KD tokenizer "${opts.model}"; known: ${[...VQKD_REGISTRY.keys()].join(', ')}`);
      [config, name] = [e.config(), e.name];
    } else ({ config, name } = inferVqkdConfig(state, { heads: opts.heads, where }));
    const model = new VQKD(config);
    try {
      model.loadStateDict(state);
    } catch (e) {
      if (e instanceof StateDictError)
        throw new TokenizerCheckpointError(`${where} does not fit ${name ?? 'the inferred VQ-KD size'}: ${e.message}`, { cause: e });
      throw e;
    }
    if (Number(model.quantize.embedding.initted.value?.data[0] ?? 0) === 0)
      throw new TokenizerCheckpointError(
        `${where}: quantize.embedding.initted is 0 — the codebook was never initialised (an untrained model, not a tokenizer)`,
      );
    return new VisualTokenizer(model, name, opts.threads);
  }

  get config(): VqkdConfig {
    return this.model.cfg;
  }

  /** Input side the tokenizer expects. */
  get imgSize(): number {
    return this.model.cfg.encoder.imgSize;
  }

  get grid(): number {
    return gridSize(this.model.cfg);
  }

  private program(batch: number): Promise<Program> {
    let p = this.programs.get(batch);
    if (!p) {
      const g = new Graph(`vqkd_tokenize_b${batch}`);
      const s = new ParamScope(g, this.model);
      const x = g.input('image', 'float32', [batch, 3, this.imgSize, this.imgSize]);
      g.output(this.model.encode(s, x).codes, 'codes');
      p = Program.compile(g, { bind: s.bindings(), threads: this.threads });
      this.programs.set(batch, p);
      p.catch(() => this.programs.delete(batch));
    }
    return p;
  }

  /**
   * Code ids of a batch (B, 3, S, S) in [0, 1] (or 0..255; the official scaling decides per
   * batch), or of decoded 8-bit images (eval transform applied, one batch).
   */
  async encode(images: Tensor | readonly RgbImage[]): Promise<TokenizeResult> {
    let x: Tensor;
    if (images instanceof Tensor) x = images;
    else {
      if (!images.length) throw new TokenizerCheckpointError('encode: no images');
      const per = images.map((im) => vqkdEvalTransform(im, this.imgSize));
      const n = 3 * this.imgSize * this.imgSize;
      const data = new Float32Array(per.length * n);
      per.forEach((t, i) => data.set(t.data as Float32Array, i * n));
      x = new Tensor('float32', [per.length, 3, this.imgSize, this.imgSize], data);
    }
    const S = this.imgSize;
    if (x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[1] !== 3 || x.shape[2] !== S || x.shape[3] !== S)
      throw new TokenizerCheckpointError(
        `encode: images must be float32 (B, 3, ${S}, ${S}), got ${x.dtype}[${x.shape.join(', ')}]`,
      );
    const prog = await this.program(x.shape[0]);
    const out = await prog.run({ image: x });
    return { codes: out.codes, grid: this.grid };
  }

  async release(): Promise<void> {
    for (const p of this.programs.values()) await (await p).release();
    this.programs.clear();
  }
}
