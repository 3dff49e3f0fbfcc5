/**
 * The two programs of caption decoding (unilm CaptioningHandler.eval_batch's call sequence), as
 * graph specs over a Beit3ForCaptioning. `first`: image + [<s>, <mask>] → logits / log-probs at
 * the mask and every layer's key/value cache. `step`: reorders the previous caches by beam source
 * row and drops their <mask> entry (Gather + Slice inside ORT, no host copies), runs one
 * [word, <mask>] step, adds the running beam scores and takes the top-k over (beams × vocab), so
 * the host loop (beam.ts) only does the beam bookkeeping.
 *
 * The task pipeline compiles these specs (and `beit3 export` writes them); `CaptionDecoder`
 * compiles them directly with the runtime, e.g. for the parity check.
 */
import { ops } from '../../graph/index.js';
import type { Value } from '../../graph/ir.js';
import type { Tensor } from '../../graph/tensor.js';
import { Program } from '../../runtime/index.js';
import { headDim } from './config.js';
import type { Beit3ForCaptioning } from './heads/captioning.js';
import { buildSpecGraph, type GraphSpec, type InputDecl } from './spec.js';

export interface CaptionSpecOptions {
  /** Also output `all_logits` (rows, 2, V): the model's logits at both text positions. */
  allLogits?: boolean;
}

/** Logits at the <mask> (text index 1) of (rows, 2, V) logits → (rows, V). */
const atMask = (logits: Value): Value => ops.squeeze(ops.slice(logits, [1], [2], [1]), [1]);

function withCaches(
  out: Record<string, Value>,
  caches: { key: Value; value: Value }[],
): Record<string, Value> {
  caches.forEach(
    (kv, l) => ((out[`cache.layer${l}.key`] = kv.key), (out[`cache.layer${l}.value`] = kv.value)),
  );
  return out;
}

/** Captioning step 0: image + [<s>, <mask>] → logits / log-probs at the mask, untrimmed caches. */
export function captionFirstSpec(m: Beit3ForCaptioning, opts: CaptionSpecOptions = {}): GraphSpec {
  const c = m.cfg;
  return {
    name: 'caption_first',
    inputs: {
      image: { dtype: 'float32', shape: ['batch', c.inChans, c.imgSize, c.imgSize] },
      text_ids: { dtype: 'int64', shape: ['batch', 2] },
    },
    body: (s, x) => {
      const r = m.decodeFirst(s, x.image, x.text_ids);
      const logits = atMask(r.logits);
      const out = withCaches({ logits, logprobs: ops.logSoftmax(logits, -1) }, r.caches);
      if (opts.allLogits) out.all_logits = r.logits;
      return out;
    },
  };
}

/**
 * Captioning step k: caches of the previous call reordered by `src` (beam source rows) with their
 * <mask> entry dropped, one decoding step at `text_len`, running beam scores added, top-k over
 * beams × vocab (`next_words` = beam · V + word).
 */
export function captionStepSpec(
  m: Beit3ForCaptioning,
  numBeams: number,
  k: number,
  opts: CaptionSpecOptions = {},
): GraphSpec {
  const cfg = m.cfg;
  const V = cfg.vocabSize;
  const inputs: Record<string, InputDecl> = {
    text_ids: { dtype: 'int64', shape: ['rows', 2] },
    text_len: { dtype: 'int64', shape: [] },
    src: { dtype: 'int64', shape: ['rows'] },
    beam_scores: { dtype: 'float32', shape: ['rows'] },
  };
  for (let l = 0; l < cfg.layers; l++)
    for (const kv of ['key', 'value'])
      inputs[`past.layer${l}.${kv}`] = {
        dtype: 'float32',
        shape: ['prev_rows', cfg.heads, 'past', headDim(cfg)],
      };
  return {
    name: `caption_step_b${numBeams}`,
    inputs,
    body: (s, x) => {
      const past = Array.from({ length: cfg.layers }, (_, l) => ({
        key: ops.slice(ops.gather(x[`past.layer${l}.key`], x.src, 0), [0], [-1], [2]),
        value: ops.slice(ops.gather(x[`past.layer${l}.value`], x.src, 0), [0], [-1], [2]),
      }));
      const r = m.decodeStep(s, x.text_ids, x.text_len, past);
      const lp = ops.logSoftmax(atMask(r.logits), -1);
      const scores = ops.reshape(ops.add(lp, ops.unsqueeze(x.beam_scores, [1])), [-1, numBeams * V]);
      const [vals, idx] = ops.topK(scores, k, -1);
      const out = withCaches({ next_scores: vals, next_words: idx }, r.caches);
      if (opts.allLogits) out.all_logits = r.logits;
      return out;
    },
  };
}

/** Something that runs a compiled spec: a runtime Program, or a task pipeline's session. */
export interface SpecRunner {
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

/** The compiled programs beam search needs: `first`, and `step` for (numBeams, k). */
export interface CaptionPrograms {
  first(): Promise<SpecRunner>;
  step(numBeams: number, k: number): Promise<SpecRunner>;
}

/** The `cache.*` outputs of a call, renamed to the next step's `past.*` inputs. */
export function pastFeeds(out: Record<string, Tensor>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(out)) if (k.startsWith('cache.')) feeds[`past.${k.slice(6)}`] = v;
  return feeds;
}

/** Compiles the caption specs with the runtime (weights bound as initializers), on demand. */
export class CaptionDecoder implements CaptionPrograms {
  private firstProg?: Promise<Program>;
  private readonly steps = new Map<string, Promise<Program>>();

  constructor(
    readonly model: Beit3ForCaptioning,
    readonly options: CaptionSpecOptions & { threads?: number } = {},
  ) {}

  private compile(spec: GraphSpec): Promise<Program> {
    const { graph, bind } = buildSpecGraph(this.model, spec);
    return Program.compile(graph, { bind, threads: this.options.threads });
  }

  first(): Promise<Program> {
    this.firstProg ??= this.compile(captionFirstSpec(this.model, this.options));
    return this.firstProg;
  }

  step(numBeams: number, k: number): Promise<Program> {
    const key = `${numBeams}/${k}`;
    let p = this.steps.get(key);
    if (!p) this.steps.set(key, (p = this.compile(captionStepSpec(this.model, numBeams, k, this.options))));
    return p;
  }

  async release(): Promise<void> {
    const progs = await Promise.all([...(this.firstProg ? [this.firstProg] : []), ...this.steps.values()]);
    await Promise.all(progs.map((p) => p.release()));
  }
}
