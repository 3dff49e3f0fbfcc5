/** The forward calls of a fixture (every `io.calls` entry but decode/beam), run through our graphs. */
import { Graph } from '../../../graph/ir.js';
import { Tensor } from '../../../graph/tensor.js';
import type { Module } from '../../../nn/module.js';
import { ParamScope } from '../../../nn/module.js';
import { Program } from '../../../runtime/index.js';
import { type BEiT3, joinStreams } from '../backbone.js';
import { numVisionTokens } from '../config.js';
import type { Beit3TaskModel, Values } from '../heads/base.js';
import { type FixtureJson, pick, type Recorded } from './fixtures.node.js';

/** Builds, compiles (parameters bound) and runs one graph. */
export async function runGraph(
  root: Module,
  feeds: Record<string, Tensor>,
  build: (s: ParamScope, inputs: Values) => Values,
  opts: { threads?: number; name?: string } = {},
): Promise<Record<string, Tensor>> {
  const g = new Graph(opts.name ?? 'parity');
  const s = new ParamScope(g, root);
  const inputs: Values = {};
  for (const [k, t] of Object.entries(feeds)) inputs[k] = g.input(k, t.dtype, t.shape);
  const outs = build(s, inputs);
  for (const [k, v] of Object.entries(outs)) g.output(v, k);
  const prog = await Program.compile(g, { bind: s.bindings(), threads: opts.threads });
  try {
    return await prog.run(feeds);
  } finally {
    await prog.release();
  }
}

function encoderPaddingMask(batch: number, nv: number, padding?: Tensor, vision = true): Tensor {
  const T = padding ? padding.shape[1] : 0;
  const L = (vision ? nv : 0) + T;
  const out = new Float64Array(batch * L);
  if (padding)
    for (let b = 0; b < batch; b++)
      for (let j = 0; j < T; j++) out[b * L + L - T + j] = Number(padding.data[b * T + j]);
  return Tensor.f64([batch, L], out);
}


/** Forward calls of one fixture: returns (case name → our outputs keyed like the io file's out.*). */
export async function forwardCases(
  name: string,
  root: Module,
  js: FixtureJson,
  io: Recorded,
  threads?: number,
) {
  const results: { case: string; outs: Record<string, Tensor> }[] = [];
  for (const call of js.io.calls) {
    if (call.name === 'decode' || call.name === 'beam') continue;
    const feeds: Record<string, Tensor> = {};
    const rename = (k: string) => (k === 'masked_tokens' ? 'text_ids' : k);
    for (const k of call.inputs)
      feeds[rename(name === 'backbone' ? k.slice(k.indexOf('.') + 1) : k)] = pick(io, `in.${k}`, name);
    const outs: Record<string, Tensor> = {};
    if (name === 'backbone') {
      const bb = root as BEiT3;
      const r = await runGraph(
        bb,
        feeds,
        (s, x) => {
          const o = bb.forward(s, {
            image: x.image,
            textIds: x.tokens,
            textPadding: x.padding_mask,
            visionMaskedPosition: x.vision_masked_position,
          });
          const v: Values = {
            encoder_out: joinStreams(o.out),
            layer_input: joinStreams(o.layerInput),
            encoder_embedding: joinStreams(o.embedding),
          };
          o.layerOutputs.forEach((l, i) => (v[`layer${i}_out`] = joinStreams(l)));
          return v;
        },
        { threads, name: `backbone_${call.name}` },
      );
      const B = (feeds.image ?? feeds.tokens).shape[0];
      r.encoder_padding_mask = encoderPaddingMask(
        B,
        numVisionTokens(bb.cfg),
        feeds.padding_mask,
        !!feeds.image,
      );
      for (const [k, t] of Object.entries(r)) outs[`${call.name}.${k}`] = t;
    } else {
      const model = root as Beit3TaskModel;
      const r = await runGraph(model, feeds, (s, x) => model.forward(s, x), {
        threads,
        name: `${name}_${call.name}`,
      });
      for (const o of call.outputs) {
        const local = o.startsWith(`${call.name}.`) ? o.slice(call.name.length + 1) : o;
        if (r[local]) outs[o] = r[local];
      }
    }
    results.push({ case: call.name, outs });
  }
  return results;
}

