/**
 * An inference graph as data: name, named inputs and a body over the model's parameters.
 * Pipelines compile specs into ORT sessions and `beit3 export` writes the same specs as ONNX
 * files, so an exported model and the in-process pipeline run identical computations.
 */
import { Graph, type Value } from '../../graph/ir.js';
import type { Tensor } from '../../graph/tensor.js';
import { type Module, ParamScope } from '../../nn/module.js';

export interface InputDecl {
  dtype: 'float32' | 'int64';
  shape: (number | string)[];
}

export interface GraphSpec {
  name: string;
  inputs: Record<string, InputDecl>;
  body: (s: ParamScope, x: Record<string, Value>) => Record<string, Value>;
}

/** Builds a spec's graph (symbolic dims as declared); parameters become bound inputs. */
export function buildSpecGraph(model: Module, spec: GraphSpec): { graph: Graph; bind: Map<string, Tensor> } {
  const g = new Graph(spec.name);
  const s = new ParamScope(g, model);
  const x: Record<string, Value> = {};
  for (const [k, d] of Object.entries(spec.inputs)) x[k] = g.input(k, d.dtype, d.shape);
  for (const [k, v] of Object.entries(spec.body(s, x))) g.output(v, k);
  return { graph: g, bind: s.bindings() };
}
