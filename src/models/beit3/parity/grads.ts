/** The official loss and the gradient of every parameter, on ORT, for `<name>.grads.safetensors`. */
import { grad } from '../../../autodiff/index.js';
import { ops } from '../../../graph/index.js';
import { Tensor } from '../../../graph/tensor.js';
import type { Module } from '../../../nn/module.js';
import { type BEiT3, joinStreams } from '../backbone.js';
import type { Beit3TaskModel, Values } from '../heads/base.js';
import { type FixtureJson, pick, type Recorded } from './fixtures.node.js';
import { runGraph } from './forward.js';

/** Loss + gradients of the official loss vs `<name>.grads.safetensors`. */
export async function gradCase(
  name: string,
  root: Module,
  js: FixtureJson,
  io: Recorded,
  refs: Recorded,
  threads?: number,
) {
  const feeds: Record<string, Tensor> = {};
  const prefix = name === 'backbone' ? 'in.grad.' : 'in.';
  for (const [k, t] of io)
    if (k.startsWith(prefix) && (name === 'backbone' || !k.slice(3).includes('.')))
      feeds[k.slice(prefix.length)] = t;
  if (name === 'captioning') {
    feeds.text_ids = feeds.masked_tokens;
    delete feeds.masked_tokens;
  }
  const keys = [...root.namedParameters()].map(([k]) => k);
  let used: string[] = [];
  const r = await runGraph(
    root,
    feeds,
    (s, x) => {
      let out: Values;
      if (name === 'backbone') {
        const o = (root as BEiT3).forward(s, {
          image: x.image,
          textIds: x.tokens,
          textPadding: x.padding_mask,
          visionMaskedPosition: x.vision_masked_position,
        });
        out = { loss: ops.reduceSum(ops.mul(joinStreams(o.out), x.R), [0, 1, 2]) };
      } else out = (root as Beit3TaskModel).loss(s, x);
      const params = s.used();
      used = [...params.keys()];
      const gs = grad(out.loss, [...params.values()]);
      const res: Values = {};
      for (const k of ['loss', 'acc', 'loss_plain_ce', 'loss_drop_worst']) if (out[k]) res[k] = out[k];
      used.forEach((k, i) => (res[`grad.${k}`] = gs[i]));
      return res;
    },
    { threads, name: `${name}_grad` },
  );
  for (const k of keys)
    if (!used.includes(k)) r[`grad.${k}`] = Tensor.zeros('float32', pick(refs, `grad.${k}`, name).shape);
  return r;
}

