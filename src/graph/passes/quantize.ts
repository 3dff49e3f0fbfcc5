/**
 * Dynamic int8 quantization of MatMul weights, as a rewrite of the ONNX message:
 *
 *   MatMul(A, W)  or  MatMul(A, Transpose(W_pt))      (W an fp32 initializer)
 *     →  com.microsoft DynamicQuantizeMatMul(A, W_int8, scale[N], zero_point[N])
 *
 * Weights are quantized per output channel (column of W), symmetric int8; activations are
 * quantized per call by the kernel (uint8, asymmetric), then a u8×s8 GEMM runs on the CPU's
 * VNNI / AVX-512 integer units. Probed on onnxruntime-node 1.30: DynamicQuantizeMatMul and
 * MatMulIntegerToFloat are both registered; the former is one node and what ORT's own Python
 * quantizer emits for dynamic quantization. Activation × activation MatMuls (attention scores)
 * stay float32. Hand-written because ORT's quantizer is Python-only.
 */
import onnxProto from 'onnx-proto';
import { Beit3Error } from '../../util/errors.js';

const { onnx } = onnxProto;

/** The ONNX model cannot be quantized as it is (no graph, or a weight whose data disagrees with its dims). */
export class QuantizeError extends Beit3Error {
  override name = 'QuantizeError';
}
type ModelProto = onnxProto.onnx.IModelProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;

export interface QuantizeStats {
  /** MatMuls rewritten. */
  quantized: number;
  /** MatMuls left in float (activation × activation, or too small). */
  skipped: number;
  /** Bytes of float32 weights before and int8 (+ scales) after. */
  floatBytes: number;
  int8Bytes: number;
}

export interface QuantizeOptions {
  /** Weights with fewer elements stay float32 (default 0: quantize all weight MatMuls). */
  minElements?: number;
  /**
   * Which weight MatMuls become int8 (measured in docs/tasks.md):
   * - 'mixed' (default): the FFN experts (fc1/fc2) of every layer, and the attention q/k/v/out
   *   projections of every layer but the first and the last, the most sensitive ones;
   * - 'ffn': the FFN experts only;
   * - 'layers': every weight MatMul inside the encoder layers;
   * - 'all': every weight MatMul incl. pooler and task heads (these inputs carry the largest
   *   outliers for the kernel's per-tensor activation scale).
   * Heads, pooler and patch embedding stay float32 except with 'all'.
   */
  scope?: QuantizeScope;
  /** Weights (by initializer name = official parameter key) to keep in float32 (on top of `scope`). */
  exclude?: (name: string) => boolean;
  /** Fold a following `Add(bias)` into the kernel's bias input (default true). */
  foldBias?: boolean;
}

export type QuantizeScope = 'mixed' | 'ffn' | 'layers' | 'all';
export const QUANTIZE_SCOPES: readonly QuantizeScope[] = ['mixed', 'ffn', 'layers', 'all'];
const DEFAULT_SCOPE: QuantizeScope = 'mixed';

const FFN_WEIGHT = /\.ffn\.(?:[ABC]\.)?fc[12]\.weight$/;
const LAYER_INDEX = /(?:^|\.)layers\.(\d+)\./;

/** `layers` = [first, last] encoder layer index present in the model. */
function inScope(weightName: string, scope: QuantizeScope, layers: [number, number]): boolean {
  if (scope === 'all') return true;
  if (FFN_WEIGHT.test(weightName)) return true;
  const layer = LAYER_INDEX.exec(weightName);
  if (!layer || scope === 'ffn') return false;
  const i = Number(layer[1]);
  return scope === 'layers' || (i !== layers[0] && i !== layers[1]);
}

function floatData(t: TensorProto): Float32Array | undefined {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) return undefined;
  // The file's dims and data must agree before any index arithmetic trusts them (found by fuzz/onnx-quantize).
  const d = dims(t);
  const n = d.reduce((a, b) => a * b, 1);
  if (!d.every((x) => Number.isSafeInteger(x) && x >= 0) || !Number.isSafeInteger(n))
    throw new QuantizeError(`initializer ${t.name}: invalid dims [${d.join(', ')}]`);
  let out: Float32Array | undefined;
  if (t.rawData && t.rawData.byteLength) {
    const raw = t.rawData;
    if (raw.byteLength !== 4 * n)
      throw new QuantizeError(`initializer ${t.name}: ${raw.byteLength} bytes of data for dims [${d.join(', ')}] (${4 * n} expected)`);
    const copy = new Uint8Array(raw.byteLength);
    copy.set(raw);
    out = new Float32Array(copy.buffer);
  } else if (t.floatData && t.floatData.length) out = Float32Array.from(t.floatData);
  if (out && out.length !== n)
    throw new QuantizeError(`initializer ${t.name}: ${out.length} values for dims [${d.join(', ')}] (${n} expected)`);
  return out;
}

function dims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => Number(d));
}

/** Per-column symmetric int8 of W (K, N) row-major: q[k,n] = round(W[k,n] / s[n]). */
export function quantizePerColumn(
  w: Float32Array,
  K: number,
  N: number,
): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) {
      const a = Math.abs(w[k * N + n]);
      if (a > scale[n]) scale[n] = a;
    }
  for (let n = 0; n < N; n++) scale[n] = scale[n] > 0 ? scale[n] / 127 : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++)
      q[k * N + n] = Math.max(-127, Math.min(127, Math.round(w[k * N + n] / scale[n])));
  return { q, scale };
}

interface Candidate {
  node: NodeProto;
  /** Weight as (K, N) row-major: input channels × output channels. */
  W: Float32Array;
  K: number;
  N: number;
  weightName: string;
  dropNode?: NodeProto;
  dropInits: string[];
}

/**
 * MatMul → Add(bias[N]) becomes the kernel's optional bias input: one pass less over the output
 * (the float graph gets the same from ORT's MatMul+Add fusion).
 */
function foldBias(
  n: NodeProto,
  N: number,
  nodes: NodeProto[],
  inits: Map<string, TensorProto>,
  uses: Map<string, number>,
  dropNodes: Set<NodeProto>,
): void {
  const y = n.output![0];
  if (uses.get(y) !== 1) return;
  const add = nodes.find((m) => m.opType === 'Add' && !m.domain && m.input!.includes(y));
  if (!add || add.input!.length !== 2) return;
  const biasName = add.input![0] === y ? add.input![1] : add.input![0];
  const bias = inits.get(biasName);
  if (!bias || bias.dataType !== onnx.TensorProto.DataType.FLOAT) return;
  const d = dims(bias);
  if (d.length !== 1 || d[0] !== N) return;
  n.input = [...n.input!, biasName];
  n.output = [add.output![0]];
  dropNodes.add(add);
}

/** Rewrites the model in place; returns what was done. */
export function quantizeModelProto(m: ModelProto, opts: QuantizeOptions = {}): QuantizeStats {
  const g = m.graph;
  if (!g) throw new QuantizeError('quantize: model has no graph');
  const inits = new Map<string, TensorProto>();
  for (const t of g.initializer ?? []) inits.set(t.name!, t);
  const nodes = g.node ?? [];
  const producer = new Map<string, NodeProto>();
  const uses = new Map<string, number>();
  for (const n of nodes) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  }
  for (const o of g.output ?? []) uses.set(o.name!, (uses.get(o.name!) ?? 0) + 1);
  const stats: QuantizeStats = { quantized: 0, skipped: 0, floatBytes: 0, int8Bytes: 0 };
  const cands: Candidate[] = [];
  const layerIds = (g.initializer ?? []).flatMap((t) => {
    const m = LAYER_INDEX.exec(t.name ?? '');
    return m ? [Number(m[1])] : [];
  });
  const layerRange: [number, number] = [Math.min(...layerIds), Math.max(...layerIds)];
  for (const n of nodes) {
    if (n.opType !== 'MatMul' || (n.domain && n.domain !== '')) continue;
    const b = n.input![1];
    let W: Float32Array | undefined;
    let weightName = b;
    let K = 0;
    let N = 0;
    const direct = inits.get(b);
    const tr = producer.get(b);
    const c: Omit<Candidate, 'W' | 'K' | 'N' | 'weightName'> = { node: n, dropInits: [] };
    if (direct && dims(direct).length === 2) {
      W = floatData(direct);
      [K, N] = dims(direct);
      if (uses.get(b) === 1) c.dropInits.push(b);
    } else if (tr && tr.opType === 'Transpose' && inits.has(tr.input![0])) {
      const src = inits.get(tr.input![0])!;
      weightName = src.name!;
      const perm = tr.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
      const d = dims(src);
      if (d.length === 2 && (!perm || (perm[0] === 1 && perm[1] === 0))) {
        const pt = floatData(src);
        if (pt) {
          [N, K] = d;
          W = new Float32Array(K * N);
          for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) W[k * N + i] = pt[i * K + k];
          if (uses.get(b) === 1) {
            c.dropNode = tr;
            if (uses.get(src.name!) === 1) c.dropInits.push(src.name!);
          }
        }
      }
    }
    if (
      !W ||
      !inScope(weightName, opts.scope ?? DEFAULT_SCOPE, layerRange) ||
      K * N < (opts.minElements ?? 0) ||
      opts.exclude?.(weightName)
    ) {
      stats.skipped++;
      continue;
    }
    cands.push({ ...c, W, K, N, weightName });
  }
  const dropNodes = new Set<NodeProto>();
  const dropInits = new Set<string>();
  const newInits: TensorProto[] = [];
  for (const { node: n, W, K, N, dropNode, dropInits: di } of cands) {
    if (dropNode) dropNodes.add(dropNode);
    for (const n2 of di) dropInits.add(n2);
    const { q, scale } = quantizePerColumn(W, K, N);
    const base = `${n.input![1]}.q8_${stats.quantized}`;
    newInits.push(
      {
        name: `${base}.weight`,
        dims: [K, N],
        dataType: onnx.TensorProto.DataType.INT8,
        rawData: new Uint8Array(q.buffer),
      },
      {
        name: `${base}.scale`,
        dims: [N],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(scale.buffer),
      },
      {
        name: `${base}.zero_point`,
        dims: [N],
        dataType: onnx.TensorProto.DataType.INT8,
        rawData: new Uint8Array(N),
      },
    );
    n.opType = 'DynamicQuantizeMatMul';
    n.domain = 'com.microsoft';
    n.input = [n.input![0], `${base}.weight`, `${base}.scale`, `${base}.zero_point`];
    if (opts.foldBias ?? true) foldBias(n, N, nodes, inits, uses, dropNodes);
    stats.quantized++;
    stats.floatBytes += 4 * K * N;
    stats.int8Bytes += K * N + 5 * N;
  }
  g.node = nodes.filter((n) => !dropNodes.has(n));
  g.initializer = [...(g.initializer ?? []).filter((t) => !dropInits.has(t.name!)), ...newInits];
  const opsets = m.opsetImport ?? [];
  if (stats.quantized && !opsets.some((o) => o.domain === 'com.microsoft'))
    opsets.push({ domain: 'com.microsoft', version: 1 });
  m.opsetImport = opsets;
  return stats;
}
