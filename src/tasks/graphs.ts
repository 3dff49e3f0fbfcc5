/**
 * The inference graphs of every task, as specs (name, named inputs, body). Pipelines compile
 * them into ORT sessions; `beit3 export` writes the same graphs as ONNX files, so an exported
 * model and the in-process pipeline run identical computations.
 */
import { ops } from '../graph/index.js';
import type { Value } from '../graph/ir.js';
import { joinStreams } from '../models/beit3/backbone.js';
import { headDim } from '../models/beit3/config.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import type { Beit3ForCaptioning } from '../models/beit3/heads/captioning.js';
import type { Beit3ForRetrieval } from '../models/beit3/heads/retrieval.js';
import type { ParamScope } from '../nn/module.js';
import type { TaskConfig } from './config.js';

export interface InputDecl {
  dtype: 'float32' | 'int64';
  shape: (number | string)[];
}

export interface GraphSpec {
  name: string;
  inputs: Record<string, InputDecl>;
  body: (s: ParamScope, x: Record<string, Value>) => Record<string, Value>;
}

const image = (c: TaskConfig, batch = 'batch'): InputDecl => ({
  dtype: 'float32',
  shape: [batch, c.model.inChans, c.model.imgSize, c.model.imgSize],
});
const text = (c: TaskConfig, batch = 'batch'): InputDecl => ({ dtype: 'int64', shape: [batch, c.textLen] });

export function classifySpec(m: Beit3TaskModel, c: TaskConfig): GraphSpec {
  return { name: 'classify', inputs: { image: image(c) }, body: (s, x) => m.forward(s, x) };
}

export function vqaSpec(m: Beit3TaskModel, c: TaskConfig): GraphSpec {
  return {
    name: 'vqa',
    inputs: { image: image(c), question: text(c), padding_mask: text(c) },
    body: (s, x) => m.forward(s, x),
  };
}

export function nlvr2Spec(m: Beit3TaskModel, c: TaskConfig): GraphSpec {
  return {
    name: 'nlvr2',
    inputs: { image_a: image(c), image_b: image(c), text_description: text(c), padding_mask: text(c) },
    body: (s, x) => m.forward(s, x),
  };
}

export function retrievalImageSpec(m: Beit3ForRetrieval, c: TaskConfig): GraphSpec {
  return {
    name: 'retrieval_image',
    inputs: { image: image(c) },
    body: (s, x) => ({ vision_cls: m.encodeImage(s, x.image) }),
  };
}

export function retrievalTextSpec(m: Beit3ForRetrieval, c: TaskConfig): GraphSpec {
  return {
    name: 'retrieval_text',
    inputs: { text_description: text(c), padding_mask: text(c) },
    body: (s, x) => ({ language_cls: m.encodeText(s, x.text_description, x.padding_mask) }),
  };
}

/** Captioning step 0: image + [<s>, <mask>] → logits / log-probs at the mask, untrimmed caches. */
export function captionFirstSpec(m: Beit3ForCaptioning, c: TaskConfig): GraphSpec {
  return {
    name: 'caption_first',
    inputs: { image: image(c), text_ids: { dtype: 'int64', shape: ['batch', 2] } },
    body: (s, x) => {
      const r = m.decodeFirst(s, x.image, x.text_ids);
      const logits = ops.squeeze(ops.slice(r.logits, [1], [2], [1]), [1]);
      const out: Record<string, Value> = { logits, logprobs: ops.logSoftmax(logits, -1) };
      r.caches.forEach(
        (kv, l) => ((out[`cache.layer${l}.key`] = kv.key), (out[`cache.layer${l}.value`] = kv.value)),
      );
      return out;
    },
  };
}

/**
 * Captioning step k: caches of the previous call reordered by `src` (beam source rows) with their
 * <mask> entry dropped, one decoding step, running beam scores added, top-k over beams × vocab.
 */
export function captionStepSpec(
  m: Beit3ForCaptioning,
  c: TaskConfig,
  numBeams: number,
  k: number,
): GraphSpec {
  const cfg = c.model;
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
      const lp = ops.logSoftmax(ops.squeeze(ops.slice(r.logits, [1], [2], [1]), [1]), -1);
      const scores = ops.reshape(ops.add(lp, ops.unsqueeze(x.beam_scores, [1])), [-1, numBeams * V]);
      const [vals, idx] = ops.topK(scores, k, -1);
      const out: Record<string, Value> = { next_scores: vals, next_words: idx };
      r.caches.forEach(
        (kv, l) => ((out[`cache.layer${l}.key`] = kv.key), (out[`cache.layer${l}.value`] = kv.value)),
      );
      return out;
    },
  };
}

/** Backbone features for image and/or text input: final and per-layer hidden states. */
export function featuresSpec(
  m: Beit3TaskModel,
  c: TaskConfig,
  withImage = true,
  withText = false,
): GraphSpec {
  const inputs: Record<string, InputDecl> = {};
  if (withImage) inputs.image = image(c);
  if (withText) {
    inputs.text_ids = text(c);
    inputs.padding_mask = text(c);
  }
  return {
    name: `features_${withImage ? 'v' : ''}${withText ? 't' : ''}`,
    inputs,
    body: (s, x) => {
      const r = m.beit3.forward(s, { image: x.image, textIds: x.text_ids, textPadding: x.padding_mask });
      const out: Record<string, Value> = { last_hidden_state: joinStreams(r.out) };
      r.layerOutputs.forEach((st, i) => (out[`hidden_state.${i}`] = joinStreams(st)));
      return out;
    },
  };
}

/** Every graph a task's pipeline uses, keyed by role (what `beit3 export` writes). */
export function taskGraphSpecs(m: Beit3TaskModel, c: TaskConfig): Record<string, GraphSpec> {
  switch (c.task) {
    case 'imageclassification':
      return { model: classifySpec(m, c) };
    case 'vqav2':
      return { model: vqaSpec(m, c) };
    case 'nlvr2':
      return { model: nlvr2Spec(m, c) };
    case 'retrieval':
      return {
        image: retrievalImageSpec(m as Beit3ForRetrieval, c),
        text: retrievalTextSpec(m as Beit3ForRetrieval, c),
      };
    case 'captioning': {
      const g = c.generation;
      return {
        first: captionFirstSpec(m as Beit3ForCaptioning, c),
        step: captionStepSpec(m as Beit3ForCaptioning, c, g.numBeams, g.numBeams * g.topnPerBeam),
      };
    }
    case 'backbone':
      return { model: featuresSpec(m, c) };
  }
}
