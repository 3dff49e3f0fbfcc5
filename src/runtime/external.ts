import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { Graph } from '../graph/ir.js';
import { encodeOnnxModel, type ModelProto, type SerializeOptions, toModelProto } from '../graph/onnx.js';
import type { Tensor } from '../graph/tensor.js';

const { onnx } = onnxProto;

/** Tensors at least this large go to the side file; small ones stay inline. */
const MIN_EXTERNAL_BYTES = 1024;
/** Offsets aligned to 64 KiB so ORT can memory-map the weights on any platform. */
const ALIGN = 65536;

export interface ExternalModel {
  dir: string;
  modelPath: string;
  /** Removes the temporary folder. */
  dispose(): void;
}

/**
 * Writes every initializer of at least MIN_EXTERNAL_BYTES to `fd` (offsets aligned to `align`)
 * and returns the initializer list pointing at them as ONNX external data in file `location`.
 */
export function externalizeInitializers(
  model: ModelProto,
  fd: number,
  location: string,
  align: number,
): onnxProto.onnx.ITensorProto[] {
  let offset = 0;
  return (model.graph?.initializer ?? []).map((t) => {
    const bytes = t.rawData;
    if (!bytes || bytes.byteLength < MIN_EXTERNAL_BYTES) return t;
    const start = Math.ceil(offset / align) * align;
    let written = 0;
    while (written < bytes.byteLength)
      written += writeSync(fd, bytes, written, bytes.byteLength - written, start + written);
    offset = start + bytes.byteLength;
    return {
      ...t,
      rawData: undefined,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(start) },
        { key: 'length', value: String(bytes.byteLength) },
      ],
    };
  });
}

/**
 * Writes a model as `model.onnx` + `weights.bin` (ONNX external data) in a fresh temp folder, so
 * weights beyond protobuf's 2 GB message limit (BEiT-3 large is ~3 GB in float32) can be loaded.
 */
export function writeExternalModelProto(model: ModelProto): ExternalModel {
  const dir = mkdtempSync(join(tmpdir(), 'beit3-ort-'));
  try {
    const fd = openSync(join(dir, 'weights.bin'), 'w');
    try {
      const initializer = externalizeInitializers(model, fd, 'weights.bin', ALIGN);
      const modelPath = join(dir, 'model.onnx');
      writeFileSync(modelPath, encodeOnnxModel({ ...model, graph: { ...model.graph, initializer } }));
      return { dir, modelPath, dispose: () => rmSync(dir, { recursive: true, force: true }) };
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** `writeExternalModelProto` of a graph (initializer bytes are views, not copies). */
export function writeExternalModel(g: Graph, opts: SerializeOptions): ExternalModel {
  return writeExternalModelProto(toModelProto(g, opts));
}

/** Bytes of all initializers a compile would embed (constants + bound inputs). */
export function initializerBytes(g: Graph, bind?: ReadonlyMap<string, Tensor>): number {
  let n = 0;
  for (const t of g.constants.values()) n += t.data.byteLength;
  if (bind) for (const v of g.inputs) n += bind.get(v.name)?.data.byteLength ?? 0;
  return n;
}

/** Serialized size of a ModelProto's inline initializers (bytes). */
export function modelInitializerBytes(m: ModelProto): number {
  let n = 0;
  for (const t of m.graph?.initializer ?? []) n += t.rawData?.byteLength ?? 0;
  return n;
}
