/**
 * The masked data modeling objective as one training graph over three streams (BEiT-3 §2.2):
 *  - images: block-masked patches → `mim_head` → visual-token ids (VQ-KD codes);
 *  - texts: masked tokens → `mlm_head` → SentencePiece ids;
 *  - pairs: masked text tokens, image visible → `mlm_head` (with `maskPairImage`, the pair's
 *    masked patches → `mim_head` as a fourth term).
 * loss = Σ_stream weight · mean cross entropy over the stream's masked tokens. Each term and its
 * masked-token accuracy are extra outputs (`<term>.loss`, `<term>.acc`).
 *
 * Masked positions and targets arrive already gathered by the host (flat row indices into the
 * (B·L, D) hidden states and their ids), so the heads run only on masked rows and no NonZero
 * appears in the graph. Image streams mask an exact count per image, so their sizes are static;
 * text counts vary per batch and use symbolic dims.
 */
import { Graph, type Value } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';
import { numPatches } from '../../models/beit3/config.js';
import type { Beit3ForPretraining } from '../../models/beit3/heads/pretraining.js';
import { ParamScope } from '../../nn/module.js';
import { PretrainError } from './errors.js';

export type StreamName = 'images' | 'texts' | 'pairs';
export const STREAM_NAMES: readonly StreamName[] = ['images', 'texts', 'pairs'];

/** Loss terms (a stream may give two: pairs with masked images). */
export type TermName = 'mim' | 'mlm_text' | 'mlm_pair' | 'mim_pair';

export interface ObjectiveShapes {
  /** Per-stream batch sizes; 0 leaves the stream out of the graph. */
  batch: Record<StreamName, number>;
  /** Text length (tokens incl. <s>/</s> and padding) of monomodal texts and of pair texts. */
  textLen: number;
  pairTextLen?: number;
  /** Masked patches per image (exact; 40% of the grid by default). */
  imageMasked: number;
}

export interface ObjectiveOptions {
  /** Per-stream loss weights (default 1 each; the paper sums the three terms). */
  weights?: Partial<Record<StreamName, number>>;
  /** Also mask the pair's image and predict its visual tokens (default false). */
  maskPairImage?: boolean;
  /** Training-mode forward: drop path active (default true). */
  training?: boolean;
}

export interface Objective {
  graph: Graph;
  loss: Value;
  /** Parameter inputs in the model's named_parameters() order (only those the graph uses). */
  params: Value[];
  /** Extra outputs: `<term>.loss`, `<term>.acc` per term. */
  outputs: Record<string, Value>;
  terms: TermName[];
  /** Drop-path U[0,1) inputs (ParamScope randomInputs): TrainStep draws them from its seed per micro-batch. */
  noise: Value[];
}

/**
 * Mean CE of (N, V) logits against (N,) int64 targets, and the accuracy of their argmax. Picks
 * log p_y with GatherElements instead of graph/functional's one-hot product: a one-hot over the
 * 64010-id vocabulary would materialise N × V floats per stream for nothing.
 */
export function maskedCrossEntropy(logits: Value, targets: Value): { loss: Value; acc: Value } {
  const logp = ops.logSoftmax(logits, -1);
  const picked = ops.gatherElements(logp, ops.unsqueeze(targets, [1]), 1);
  const loss = ops.neg(ops.reduceMean(picked, [0, 1]));
  const acc = ops.reduceMean(ops.cast(ops.equal(ops.argMax(logits, -1), targets), logits.dtype), [0]);
  return { loss, acc };
}

/** Builds the three-stream MDM loss graph for `model` (parameters become graph inputs by key). */
export function buildObjective(model: Beit3ForPretraining, shapes: ObjectiveShapes, opts: ObjectiveOptions = {}): Objective {
  const cfg = model.cfg;
  const P = numPatches(cfg);
  const D = cfg.embedDim;
  const { batch } = shapes;
  for (const s of STREAM_NAMES)
    if (!Number.isInteger(batch[s]) || batch[s] < 0) throw new PretrainError(`batch size of stream "${s}" must be an integer ≥ 0, got ${batch[s]}`);
  if (STREAM_NAMES.every((s) => batch[s] === 0)) throw new PretrainError('every stream has batch size 0: nothing to train');
  if (!Number.isInteger(shapes.imageMasked) || shapes.imageMasked < 1 || shapes.imageMasked > P)
    throw new PretrainError(`masked patches per image must be in [1, ${P}], got ${shapes.imageMasked}`);
  const pairLen = shapes.pairTextLen ?? shapes.textLen;
  for (const [k, T] of [['textLen', shapes.textLen], ['pairTextLen', pairLen]] as const)
    if (!Number.isInteger(T) || T < 2 || T + 2 > cfg.maxSourcePositions)
      throw new PretrainError(`${k} ${T} must be in [2, ${cfg.maxSourcePositions - 2}] (max_source_positions − 2)`);

  const g = new Graph('pretrain');
  const s = new ParamScope(g, model, { training: opts.training ?? true, randomInputs: true });
  const w = (k: StreamName) => opts.weights?.[k] ?? 1;
  const image = (b: number, n: string) => g.input(`${n}.image`, 'float32', [b, cfg.inChans, cfg.imgSize, cfg.imgSize]);
  const ids = (b: number, T: number, n: string) => g.input(`${n}.ids`, 'int64', [b, T]);
  const padding = (b: number, T: number, n: string) => g.input(`${n}.padding`, 'int64', [b, T]);
  const gathered = (n: string, prefix: string, count: number | string) => ({
    index: g.input(`${n}.${prefix}index`, 'int64', [count]),
    targets: g.input(`${n}.${prefix}targets`, 'int64', [count]),
  });
  const rows = (h: Value, index: Value, from = 0, to?: number): Value => {
    const x = from || to !== undefined ? ops.slice(h, [from], [to ?? (h.shape[1] as number)], [1]) : h;
    return ops.gather(ops.reshape(x, [-1, D]), index, 0);
  };

  const outputs: Record<string, Value> = {};
  const terms: TermName[] = [];
  const weighted: Value[] = [];
  const addTerm = (t: TermName, head: 'mlm' | 'mim', hidden: Value, tg: Value, weight: number) => {
    const logits = (head === 'mlm' ? model.mlmHead : model.mimHead).forward(s, hidden);
    const { loss, acc } = maskedCrossEntropy(logits, tg);
    outputs[`${t}.loss`] = loss;
    outputs[`${t}.acc`] = acc;
    terms.push(t);
    weighted.push(weight === 1 ? loss : ops.mul(loss, weight));
  };

  if (batch.images > 0) {
    const B = batch.images;
    const mask = g.input('images.vision_mask', 'bool', [B, P]);
    const { index, targets } = gathered('images', '', B * shapes.imageMasked);
    const r = model.beit3.forward(s, { image: image(B, 'images'), visionMaskedPosition: mask });
    addTerm('mim', 'mim', rows(r.out.v!, index, 1, P + 1), targets, w('images'));
  }
  if (batch.texts > 0) {
    const B = batch.texts;
    const T = shapes.textLen;
    const { index, targets } = gathered('texts', '', 'n_text');
    const r = model.beit3.forward(s, { textIds: ids(B, T, 'texts'), textPadding: padding(B, T, 'texts') });
    addTerm('mlm_text', 'mlm', rows(r.out.t!, index), targets, w('texts'));
  }
  if (batch.pairs > 0) {
    const B = batch.pairs;
    const T = pairLen;
    const { index, targets } = gathered('pairs', '', 'n_pair');
    const vis = opts.maskPairImage
      ? { mask: g.input('pairs.vision_mask', 'bool', [B, P]), ...gathered('pairs', 'vision_', B * shapes.imageMasked) }
      : undefined;
    const r = model.beit3.forward(s, {
      image: image(B, 'pairs'),
      visionMaskedPosition: vis?.mask,
      textIds: ids(B, T, 'pairs'),
      textPadding: padding(B, T, 'pairs'),
    });
    addTerm('mlm_pair', 'mlm', rows(r.out.t!, index), targets, w('pairs'));
    if (vis) addTerm('mim_pair', 'mim', rows(r.out.v!, vis.index, 1, P + 1), vis.targets, w('pairs'));
  }
  const loss = weighted.reduce((a, b) => ops.add(a, b));
  const noise = s.randomInputs();
  const used = s.used();
  const params = [...model.namedParameters()].map(([k]) => used.get(k)).filter((v): v is Value => v !== undefined);
  return { graph: g, loss, params, outputs, terms, noise };
}
