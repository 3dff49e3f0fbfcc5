/**
 * The inference graphs of every task, as specs (name, named inputs, body). Pipelines compile
 * them into ORT sessions; `beit3 export` writes the same graphs as ONNX files, so an exported
 * model and the in-process pipeline run identical computations. The captioning graphs belong to
 * the model's decoder (models/beit3/decoder.ts), which its beam search and the parity check share.
 */
import type { Value } from '../graph/ir.js';
import { joinStreams } from '../models/beit3/backbone.js';
import { captionFirstSpec, captionStepSpec } from '../models/beit3/decoder.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import type { Beit3ForCaptioning } from '../models/beit3/heads/captioning.js';
import type { Beit3ForRetrieval } from '../models/beit3/heads/retrieval.js';
import type { GraphSpec, InputDecl } from '../models/beit3/spec.js';
import type { TaskConfig } from './config.js';

export type { GraphSpec, InputDecl };
export { captionFirstSpec, captionStepSpec };

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
        first: captionFirstSpec(m as Beit3ForCaptioning),
        step: captionStepSpec(m as Beit3ForCaptioning, g.numBeams, g.numBeams * g.topnPerBeam),
      };
    }
    case 'backbone':
      return { model: featuresSpec(m, c) };
  }
}
