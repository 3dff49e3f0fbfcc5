/**
 * Writing task models as self-contained ONNX files: named inputs/outputs, weights embedded, or
 * (above `externalThreshold`, default 1 GiB, and always above protobuf's 2 GB message limit)
 * stored as ONNX external data in `<model>.data` beside the model.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import { encodeModel, initializerBytes, type ModelProto, writeAtomic } from './session.js';

const { onnx } = onnxProto;

export interface WriteOnnxOptions {
  /** true / false, or 'auto' (default): external data when initializers exceed `externalThreshold`. */
  external?: boolean | 'auto';
  externalThreshold?: number;
}

const ALIGN = 4096;
const MIN_EXTERNAL = 1024;

/** Writes the model (atomically); returns the files written. */
export function writeOnnx(model: ModelProto, path: string, opts: WriteOnnxOptions = {}): string[] {
  const threshold = opts.externalThreshold ?? 2 ** 30;
  const external = opts.external === true || ((opts.external ?? 'auto') === 'auto' && initializerBytes(model) > threshold);
  if (!external) {
    writeAtomic(path, encodeModel(model));
    return [path];
  }
  const dataName = `${basename(path)}.data`;
  const dataPath = `${path}.data`;
  const tmpData = `${dataPath}.${process.pid}.tmp`;
  const fd = openSync(tmpData, 'w');
  let offset = 0;
  const inits = (model.graph?.initializer ?? []).map((t) => {
    const raw = t.rawData;
    if (!raw || raw.byteLength < MIN_EXTERNAL) return t;
    const start = Math.ceil(offset / ALIGN) * ALIGN;
    let done = 0;
    while (done < raw.byteLength) done += writeSync(fd, raw, done, raw.byteLength - done, start + done);
    offset = start + raw.byteLength;
    return {
      ...t,
      rawData: undefined,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(start) },
        { key: 'length', value: String(raw.byteLength) },
      ],
    };
  });
  closeSync(fd);
  try {
    writeAtomic(path, encodeModel({ ...model, graph: { ...model.graph, initializer: inits } }));
    renameSync(tmpData, dataPath);
  } catch (e) {
    rmSync(tmpData, { force: true });
    throw e;
  }
  return [path, dataPath];
}
