import onnxProto from 'onnx-proto';
import { ONNX_DTYPE } from './dtype.js';
import type { Attr, Graph, Value } from './ir.js';
import type { Tensor } from './tensor.js';

const { onnx } = onnxProto;

export const OPSET = 17;

export interface SerializeOptions {
  /** Inputs (by name) to embed as initializers instead, e.g. weights for inference. */
  bind?: ReadonlyMap<string, Tensor>;
  /** Producer name recorded in the model. */
  producer?: string;
  /** Emit registered fused forms (ORT contrib kernels) in place of primitive chains. Dead nodes are always dropped. */
  fuse?: boolean;
}

/** Initializer bytes are a view of the tensor's data (no copy); see runtime/external.ts for external data. */
function tensorProto(name: string, t: Tensor): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.shape], dataType: ONNX_DTYPE[t.dtype], rawData: bytes };
}

function valueInfo(v: Value, name = v.name): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attrProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: T.INTS, ints: [...a.ints] };
  if ('floats' in a) return { name, type: T.FLOATS, floats: [...a.floats] };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: T.TENSOR, t: tensorProto(name, a.t) };
}

/** Builds the ONNX GraphProto/ModelProto message for a graph. */
export function toModelProto(g: Graph, opts: SerializeOptions = {}): onnxProto.onnx.IModelProto {
  const bind = opts.bind ?? new Map();
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  for (const [v, t] of g.constants) initializer.push(tensorProto(v.name, t));
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (const v of g.inputs) {
    const t = bind.get(v.name);
    if (t) initializer.push(tensorProto(v.name, t));
    else inputs.push(valueInfo(v));
  }
  let nodes: onnxProto.onnx.INodeProto[] = g.nodes.map((n, k) => {
    const fused = opts.fuse && n.outputs.length === 1 ? g.fusions.get(n.outputs[0]) : undefined;
    const [op, domain, ins, attrs] = fused
      ? [fused.op, fused.domain, fused.inputs, fused.attrs ?? {}]
      : [n.op, n.domain, n.inputs, n.attrs];
    return {
      name: `${op}_${k}`,
      opType: op,
      domain,
      input: ins.map((x) => (x ? x.name : '')),
      output: n.outputs.map((x) => x.name),
      attribute: Object.entries(attrs).map(([k2, a]) => attrProto(k2, a)),
    };
  });
  {
    // Drop nodes (and initializers) that no graph output depends on: ORT runs dead nodes (a
    // training graph's backward leaves some, e.g. cancelled transposes), so they would cost time.
    const live = new Set(g.outputs.map((v) => v.name));
    const kept: onnxProto.onnx.INodeProto[] = [];
    for (let k = nodes.length - 1; k >= 0; k--) {
      if (!nodes[k].output!.some((o) => live.has(o))) continue;
      kept.push(nodes[k]);
      for (const i of nodes[k].input!) if (i) live.add(i);
    }
    nodes = kept.reverse();
    const used = initializer.filter((t) => live.has(t.name!));
    initializer.length = 0;
    initializer.push(...used);
  }
  const usesMs = nodes.some((n) => n.domain === 'com.microsoft');
  return {
    irVersion: 8,
    producerName: opts.producer ?? 'beit3',
    opsetImport: [
      { domain: '', version: OPSET },
      ...(usesMs ? [{ domain: 'com.microsoft', version: 1 }] : []),
    ],
    graph: {
      name: g.name,
      node: nodes,
      input: inputs,
      output: g.outputs.map((v) => valueInfo(v)),
      initializer,
    },
  };
}

/** An ONNX ModelProto message (e.g. from `toModelProto`, possibly rewritten). */
export type ModelProto = onnxProto.onnx.IModelProto;

/** Encodes a ModelProto message to protobuf bytes. */
export function encodeOnnxModel(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}

/** Serializes a graph to ONNX protobuf bytes. */
export function serialize(g: Graph, opts: SerializeOptions = {}): Uint8Array {
  return encodeOnnxModel(toModelProto(g, opts));
}
