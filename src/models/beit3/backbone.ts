/**
 * torchscale BEiT3: vision/text embeddings, multiway position embeddings, the Multiway
 * Transformer encoder with sub-LN. Parameter names equal the official state_dict keys.
 *
 * Tokens travel as two streams (vision (B, Nv, D) and text (B, T, D)) instead of one sequence
 * split at `multiway_split_position`: each expert runs only on its own stream, so no per-layer
 * split/concat copies of the hidden states; the streams meet only where attention mixes them
 * (keys/values are concatenated, each stream's queries attend to all keys).
 */
import * as F from '../../graph/functional.js';
import type { Value } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';
import { Tensor } from '../../graph/tensor.js';
import { Inits } from '../../nn/init.js';
import { DropPath, Embedding, LayerNorm, Linear, ModuleList, Multiway } from '../../nn/layers.js';
import { Module, type Parameter, type ParamScope } from '../../nn/module.js';
import { type Beit3Config, headDim, numPatches, numVisionTokens } from './config.js';

/** Hidden states by modality; either may be absent (vision-only / text-only input). */
export interface Streams {
  v?: Value;
  t?: Value;
}
export type StreamName = keyof Streams;
const STREAMS: StreamName[] = ['v', 't'];

/** Key/value cache of one layer, (B, H, L, d) like torchscale's incremental_state. */
export interface KVCache {
  key: Value;
  value: Value;
}

/** The concatenated sequence (vision first), i.e. the official `encoder_out` layout. */
export function joinStreams(st: Streams): Value {
  if (st.v && st.t) return ops.concat([st.v, st.t], 1);
  const x = st.v ?? st.t;
  if (!x) throw new Error('joinStreams: no stream');
  return x;
}

class PatchProjection extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(inChans: number, dim: number, patch: number) {
    super();
    // PyTorch Conv2d default init: kaiming_uniform(a=√5) → U(±1/√fan_in) for weight and bias.
    const bound = 1 / Math.sqrt(inChans * patch * patch);
    this.weight = this.addParameter('weight', [dim, inChans, patch, patch], Inits.uniform(bound));
    this.bias = this.addParameter('bias', [dim], Inits.uniform(bound));
  }
}

/** `vision_embed`: Conv2d patchify (as reshape + matmul), mask token, cls token. */
export class VisionEmbedding extends Module {
  readonly maskToken: Parameter;
  readonly clsToken: Parameter;
  readonly proj: PatchProjection;
  constructor(readonly cfg: Beit3Config) {
    super();
    this.maskToken = this.addParameter('mask_token', [1, 1, cfg.embedDim], Inits.zeros);
    this.clsToken = this.addParameter('cls_token', [1, 1, cfg.embedDim], Inits.zeros);
    this.proj = this.addModule('proj', new PatchProjection(cfg.inChans, cfg.embedDim, cfg.patchSize));
  }

  /** image (B, C, H, W) → (B, 1 + P, D); `masked` (B, P) bool/int replaces patches by mask_token. */
  forward(s: ParamScope, image: Value, masked?: Value): Value {
    const { patchSize: p, inChans: c, embedDim: d } = this.cfg;
    const [b, , h, w] = image.shape;
    if (h !== this.cfg.imgSize || w !== this.cfg.imgSize)
      throw new Error(
        `VisionEmbedding: image must be ${c}×${this.cfg.imgSize}×${this.cfg.imgSize}, got [${image.shape.join(', ')}]`,
      );
    const g = this.cfg.imgSize / p;
    // Conv2d(kernel = stride = p) ≡ patches (row-major y, x) flattened as (c, ky, kx) times Wᵀ.
    let x = ops.reshape(image, [b, c, g, p, g, p]);
    x = ops.transpose(x, [0, 2, 4, 1, 3, 5]);
    x = ops.reshape(x, [b, g * g, c * p * p]);
    const wmat = ops.reshape(s.get(this.proj.weight), [d, c * p * p]);
    x = F.linear(x, wmat, s.get(this.proj.bias));
    if (masked) {
      const wgt = ops.unsqueeze(ops.cast(masked, 'float32'), [2]);
      x = ops.add(ops.mul(x, ops.sub(1, wgt)), ops.mul(s.get(this.maskToken), wgt));
    }
    const cls = F.expandBatch(s.get(this.clsToken), x);
    return ops.concat([cls, x], 1);
  }
}

class PositionTables extends Module {
  readonly A: Embedding;
  readonly B: Embedding;
  constructor(cfg: Beit3Config) {
    super();
    // fairseq-style positions start at 2: rows 0 and 1 are never used.
    this.A = this.addModule('A', new Embedding(numVisionTokens(cfg) + 2, cfg.embedDim));
    this.B = this.addModule('B', new Embedding(cfg.maxSourcePositions, cfg.embedDim));
  }
}

/** One FFN expert: fc2(ffn_layernorm(gelu(fc1(x)))) (sub-LN on the hidden layer). */
export class FeedForward extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly ffnLayernorm: LayerNorm;
  constructor(cfg: Beit3Config) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(cfg.embedDim, cfg.ffnDim));
    this.fc2 = this.addModule('fc2', new Linear(cfg.ffnDim, cfg.embedDim));
    this.ffnLayernorm = this.addModule('ffn_layernorm', new LayerNorm(cfg.ffnDim, cfg.layernormEps));
  }
  forward(s: ParamScope, x: Value): Value {
    return this.fc2.forward(s, this.ffnLayernorm.forward(s, F.gelu(this.fc1.forward(s, x))));
  }
}

type Expert<M extends Module> = M | Multiway<M>;
function route<M extends Module>(m: Expert<M>, stream: StreamName, fused = false): M {
  if (!(m instanceof Multiway)) return m;
  if (fused && m.C) return m.C;
  return stream === 'v' ? m.A : m.B;
}

/** torchscale MultiheadAttention with sub-LN (`inner_attn_ln`) before out_proj. */
export class SelfAttention extends Module {
  readonly kProj: Expert<Linear>;
  readonly vProj: Expert<Linear>;
  readonly qProj: Expert<Linear>;
  readonly outProj: Expert<Linear>;
  readonly innerAttnLn: Expert<LayerNorm>;
  constructor(readonly cfg: Beit3Config) {
    super();
    const D = cfg.embedDim;
    const mw = <M extends Module>(make: () => M): Expert<M> =>
      cfg.variant === 'decoupled' ? new Multiway(make) : make();
    this.kProj = this.addModule(
      'k_proj',
      mw(() => new Linear(D, D)),
    );
    this.vProj = this.addModule(
      'v_proj',
      mw(() => new Linear(D, D)),
    );
    this.qProj = this.addModule(
      'q_proj',
      mw(() => new Linear(D, D)),
    );
    this.outProj = this.addModule(
      'out_proj',
      mw(() => new Linear(D, D)),
    );
    this.innerAttnLn = this.addModule(
      'inner_attn_ln',
      mw(() => new LayerNorm(D, cfg.layernormEps)),
    );
  }
}

/** Inputs that shape attention, shared by all layers of one call. */
export interface AttentionInputs {
  /** Additive (B, 1, 1, Lk) key bias (−inf on padded keys). */
  keyBias?: Value;
  /** Additive per-query-stream bias, broadcasting to (B, H, Lq_stream, Lk) (attn_mask rows). */
  rowBias?: Streams;
  /** int32 (B, Lk), 1 = attend, 0 = padded key: the fused kernel's form of keyBias. */
  keyKeep?: Value;
}

export class EncoderLayer extends Module {
  readonly selfAttn: SelfAttention;
  readonly selfAttnLayerNorm: Expert<LayerNorm>;
  readonly ffn: Multiway<FeedForward>;
  readonly finalLayerNorm: Multiway<LayerNorm>;
  private readonly drop: DropPath;
  constructor(
    readonly cfg: Beit3Config,
    readonly hasVLExpert: boolean,
    /** Stochastic depth rate of this layer (torchscale: linspace(0, drop_path_rate, layers)). */
    readonly dropPath = 0,
  ) {
    super();
    const D = cfg.embedDim;
    this.drop = new DropPath(dropPath);
    this.selfAttn = this.addModule('self_attn', new SelfAttention(cfg));
    this.selfAttnLayerNorm = this.addModule(
      'self_attn_layer_norm',
      cfg.variant === 'decoupled'
        ? new Multiway(() => new LayerNorm(D, cfg.layernormEps))
        : new LayerNorm(D, cfg.layernormEps),
    );
    this.ffn = this.addModule('ffn', new Multiway(() => new FeedForward(cfg), hasVLExpert));
    this.finalLayerNorm = this.addModule(
      'final_layer_norm',
      new Multiway(() => new LayerNorm(D, cfg.layernormEps), hasVLExpert),
    );
  }

  /** Applies one drop-path draw (shared by the streams of this branch) to a stream. */
  private static dropPathBranch(branch: Value, keep: Value | null): Value {
    return keep ? ops.mul(branch, keep) : branch;
  }

  forward(s: ParamScope, x: Streams, att: AttentionInputs, past?: KVCache): { out: Streams; cache: KVCache } {
    const { heads } = this.cfg;
    const scale = headDim(this.cfg) ** -0.5;
    const a = this.selfAttn;
    const present = STREAMS.filter((n) => x[n]);
    const fused = present.length === 2;
    const q: Streams = {};
    const keys: Value[] = past ? [past.key] : [];
    const values: Value[] = past ? [past.value] : [];
    for (const n of present) {
      const h = route(this.selfAttnLayerNorm, n).forward(s, x[n]!);
      q[n] = F.splitHeads(ops.mul(route(a.qProj, n).forward(s, h), scale), heads);
      keys.push(F.splitHeads(route(a.kProj, n).forward(s, h), heads));
      values.push(F.splitHeads(route(a.vProj, n).forward(s, h), heads));
    }
    const K = keys.length === 1 ? keys[0] : ops.concat(keys, 2);
    const V = values.length === 1 ? values[0] : ops.concat(values, 2);
    const fusedKV = past ? undefined : { k: kvFlat(keys), v: kvFlat(values) };
    const out: Streams = {};
    // torchscale's DropPath sees the whole sequence: one per-sample draw per branch for both streams.
    const keepAttn = this.drop.keep(s, x[present[0]]!);
    const keepFfn = this.drop.keep(s, x[present[0]]!);
    for (const n of present) {
      // The fused kernel's inputs must precede the chain it replaces in node order.
      const fusion = fusedKV
        ? F.attentionFusion(F.mergeHeads(q[n]!), fusedKV.k, fusedKV.v, heads, {
            keep: att.keyKeep,
            bias: att.rowBias?.[n],
            scale: 1, // q is already scaled
          })
        : null;
      let o = F.mergeHeads(F.attention(q[n]!, K, V, [att.rowBias?.[n], att.keyBias]));
      if (fusion) o.graph.fusions.set(o, fusion);
      o = route(a.innerAttnLn, n).forward(s, o);
      const y = ops.add(x[n]!, EncoderLayer.dropPathBranch(route(a.outProj, n).forward(s, o), keepAttn));
      const f = route(this.ffn, n, fused).forward(s, route(this.finalLayerNorm, n, fused).forward(s, y));
      out[n] = ops.add(y, EncoderLayer.dropPathBranch(f, keepFfn));
    }
    return { out, cache: { key: K, value: V } };
  }
}

/** (B, H, L, d) head-split parts → one (B, ΣL, D) tensor (input layout of the fused kernel). */
function kvFlat(parts: Value[]): Value {
  const flat = parts.map((p) => F.mergeHeads(p));
  return flat.length === 1 ? flat[0] : ops.concat(flat, 1);
}

export class Encoder extends Module {
  readonly embedPositions: PositionTables;
  readonly layers: EncoderLayer[] = [];
  readonly layerNorm: Multiway<LayerNorm> | undefined;
  constructor(readonly cfg: Beit3Config) {
    super();
    this.embedPositions = this.addModule('embed_positions', new PositionTables(cfg));
    const list = this.addModule('layers', new ModuleList());
    for (let i = 0; i < cfg.layers; i++)
      this.layers.push(
        list.push(
          new EncoderLayer(
            cfg,
            cfg.variant === 'shared' && i >= cfg.layers - cfg.vlExpertLayers,
            cfg.layers > 1 ? (cfg.dropPathRate * i) / (cfg.layers - 1) : 0,
          ),
        ),
      );
    this.layerNorm = cfg.normalizeOutput
      ? this.addModule('layer_norm', new Multiway(() => new LayerNorm(cfg.embedDim, cfg.layernormEps)))
      : undefined;
  }
}

export interface BackboneInputs {
  /** (B, C, H, W) float32. */
  image?: Value;
  /** (B, T) int64 token ids. */
  textIds?: Value;
  /** (B, T) int64/bool, non-zero = padding. Ignored when `past` is given (as in torchscale). */
  textPadding?: Value;
  /** (B, P) bool/int: patches replaced by the mask token. */
  visionMaskedPosition?: Value;
  /** Official `attn_mask`: (Lq, Lk) int/bool, 1 = blocked (rows: vision then text queries). */
  attnMask?: Value;
  /** Additive per-stream attention bias (alternative to attnMask, e.g. built as constants). */
  attnBias?: Streams;
  /** Explicit text position rows (int64, (T,) or (1, T)); default 2..T+1. */
  textPositions?: Value;
  /** Per-layer key/value cache from earlier decoding steps. */
  past?: KVCache[];
}

export interface BackboneOutputs {
  /** Final hidden states per stream (after the multiway LayerNorm when normalizeOutput). */
  out: Streams;
  /** Token embeddings without positions (official `encoder_embedding`). */
  embedding: Streams;
  /** Input of layer 0 (embedding + positions, padding zeroed). */
  layerInput: Streams;
  /** Output of every layer (before the final LayerNorm). */
  layerOutputs: Streams[];
  /** Keys/values of every layer over all tokens of this call (after `past`). */
  caches: KVCache[];
  /** Official multiway_split_position: −1 vision only, 0 text only, Nv both. */
  splitPosition: number;
}

/** torchscale `BEiT3`: keys `text_embed.*`, `vision_embed.*`, `encoder.*`. */
export class BEiT3 extends Module {
  readonly textEmbed: Embedding;
  readonly visionEmbed: VisionEmbedding;
  readonly encoder: Encoder;
  /**
   * `init: 'wrapper'` (default): the init every registered model gets from BEiT3Wrapper (all
   * Linears trunc_normal(0.02), LayerNorms 1/0). `'torchscale'`: the bare torchscale BEiT3 init
   * (xavier q/k/v with gain 1/√2, xavier out_proj with bias 0, PyTorch-default fc1/fc2, then the
   * Magneto sub-LN scaling: fc1, fc2, out_proj, v_proj divided by √log(2·layers)).
   */
  constructor(
    readonly cfg: Beit3Config,
    opts: { init?: 'wrapper' | 'torchscale' } = {},
  ) {
    super();
    // torchscale TextEmbedding init: normal(0, D^-0.5).
    this.textEmbed = this.addModule(
      'text_embed',
      new Embedding(cfg.vocabSize, cfg.embedDim, Inits.normal(cfg.embedDim ** -0.5)),
    );
    this.visionEmbed = this.addModule('vision_embed', new VisionEmbedding(cfg));
    this.encoder = this.addModule('encoder', new Encoder(cfg));
    if (opts.init === 'torchscale') this.useTorchscaleInit();
  }

  private useTorchscaleInit(): void {
    const sublnScale = 1 / Math.sqrt(Math.log(this.cfg.layers * 2));
    const xavier = (p: Parameter, gain: number) => gain * Math.sqrt(6 / (p.shape[0] + p.shape[1]));
    for (const [name, p] of this.encoder.namedParameters('encoder.')) {
      if (!/\.layers\.\d+\./.test(name)) continue;
      const isWeight = name.endsWith('.weight');
      if (/\.self_attn\.(q|k|v)_proj\./.test(name))
        p.init = isWeight
          ? Inits.uniform(xavier(p, Math.SQRT1_2))
          : Inits.uniform(1 / Math.sqrt(this.cfg.embedDim));
      else if (/\.self_attn\.out_proj\./.test(name))
        p.init = isWeight ? Inits.uniform(xavier(p, 1)) : Inits.zeros;
      else if (/\.fc[12]\./.test(name)) {
        const fanIn = /\.fc1\./.test(name) ? this.cfg.embedDim : this.cfg.ffnDim;
        p.init = Inits.uniform(1 / Math.sqrt(fanIn));
      }
      if (/\.(fc1|fc2|out_proj|v_proj)\./.test(name)) p.initScale = sublnScale;
    }
  }

  forward(s: ParamScope, inp: BackboneInputs): BackboneOutputs {
    const cfg = this.cfg;
    const nv = numVisionTokens(cfg);
    if (!inp.image && !inp.textIds) throw new Error('BEiT3.forward: needs an image, text ids, or both');
    const embedding: Streams = {};
    const x: Streams = {};
    const pos = this.encoder.embedPositions;
    if (inp.image) {
      const e = this.visionEmbed.forward(s, inp.image, inp.visionMaskedPosition);
      embedding.v = e;
      x.v = ops.add(e, ops.slice(s.get(pos.A.weight), [2], [2 + nv], [0]));
    }
    if (inp.textIds) {
      const T = inp.textIds.shape[1];
      const e = this.textEmbed.forward(s, inp.textIds);
      embedding.t = e;
      let p: Value;
      if (inp.textPositions) p = pos.B.lookup(s.get(pos.B.weight), inp.textPositions);
      else {
        if (typeof T !== 'number')
          throw new Error('BEiT3.forward: text length must be static (or pass textPositions)');
        if (T + 2 > cfg.maxSourcePositions)
          throw new Error(
            `BEiT3.forward: ${T} text tokens exceed max_source_positions − 2 = ${cfg.maxSourcePositions - 2}`,
          );
        p = ops.slice(s.get(pos.B.weight), [2], [2 + T], [0]);
      }
      let t = ops.add(e, p);
      if (inp.textPadding)
        t = ops.mul(t, ops.sub(1, ops.unsqueeze(ops.cast(inp.textPadding, 'float32'), [2])));
      x.t = t;
    }
    const att: AttentionInputs = {};
    if (inp.textPadding && inp.textIds && !inp.past) {
      const bias = F.keyPaddingBias(inp.textPadding); // (B,1,1,T)
      att.keyBias = x.v ? F.padLastLeft(bias, nv) : bias;
      const padded = ops.cast(
        ops.not(
          ops.equal(ops.cast(inp.textPadding, 'int32'), ops.lift(0, ops.cast(inp.textPadding, 'int32'))),
        ),
        'int32',
      );
      att.keyKeep = ops.sub(1, x.v ? F.padLastLeft(padded, nv) : padded);
    }
    att.rowBias = inp.attnBias ?? (inp.attnMask ? maskToRowBias(inp.attnMask, x) : undefined);

    const layerOutputs: Streams[] = [];
    const caches: KVCache[] = [];
    let h: Streams = x;
    this.encoder.layers.forEach((layer, i) => {
      const r = layer.forward(s, h, att, inp.past?.[i]);
      h = r.out;
      layerOutputs.push(h);
      caches.push(r.cache);
    });
    let out = h;
    if (this.encoder.layerNorm) {
      const ln = this.encoder.layerNorm;
      out = {};
      for (const n of STREAMS) if (h[n]) out[n] = route(ln, n).forward(s, h[n]!);
    }
    return {
      out,
      embedding,
      layerInput: x,
      layerOutputs,
      caches,
      splitPosition: x.v && x.t ? nv : x.v ? -1 : 0,
    };
  }
}

/** Official int attn_mask (1 = blocked) → additive −1e8 row blocks per query stream. */
export function maskToRowBias(mask: Value, x: Streams): Streams {
  const bias = ops.mul(ops.cast(mask, 'float32'), -1e8);
  const rows = bias.shape[0];
  const out: Streams = {};
  const nv = x.v ? (x.v.shape[1] as number) : 0;
  if (x.v) out.v = ops.slice(bias, [0], [nv], [0]);
  if (x.t) {
    const T = x.t.shape[1] as number;
    out.t =
      typeof rows === 'number'
        ? ops.slice(bias, [rows - T], [rows], [0])
        : ops.slice(bias, [-T], [2 ** 62], [0]);
  }
  return out;
}

/** Additive bias constant from a (rows, cols) 0/1 "blocked" predicate. */
export function blockedBias(
  g: Value['graph'],
  rows: number,
  cols: number,
  blocked: (i: number, j: number) => boolean,
): Value {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j] = blocked(i, j) ? -1e8 : 0;
  return g.constant(new Tensor('float32', [rows, cols], data), 'attn_bias');
}

export { numPatches };
