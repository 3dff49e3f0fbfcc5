/**
 * `beit3 export --triton DIR`: a Triton Inference Server model repository, one model per task
 * graph (retrieval: image + text; captioning: first + step), laid out as Triton documents it:
 *   DIR/<model>/config.pbtxt        platform onnxruntime_onnx, max_batch_size, dynamic_batching,
 *                                   inputs/outputs whose dims omit the batch (-1 = variable)
 *   DIR/<model>/1/model.onnx        version 1; external data (if any) beside it, named as the
 *                                   model's `location` fields say (relative to the model file)
 * Shapes and dtypes are read back from the written ONNX, so the config says what the file holds.
 */
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { writeAtomic } from './session.js';
import { exportTaskModel, type ExportResult, type WriteOnnxOptions } from './export.js';
import type { LoadedModel } from './model.js';
import type { PipelineDType } from './session.js';
import type { QuantizeOptions } from '../graph/passes/quantize.js';
import { OutputWriteError } from './errors.js';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType → Triton data_type (model_config.proto). */
const TRITON_DTYPE: Record<number, string> = {
  1: 'TYPE_FP32',
  2: 'TYPE_UINT8',
  3: 'TYPE_INT8',
  5: 'TYPE_INT16',
  6: 'TYPE_INT32',
  7: 'TYPE_INT64',
  9: 'TYPE_BOOL',
  10: 'TYPE_FP16',
  11: 'TYPE_FP64',
};

export interface TritonTensor {
  name: string;
  dataType: string;
  /** without the batch dimension; -1 where the size varies */
  dims: number[];
}

export interface TritonModel {
  name: string;
  dir: string;
  modelPath: string;
  files: string[];
  inputs: TritonTensor[];
  outputs: TritonTensor[];
}

export interface TritonOptions extends WriteOnnxOptions {
  dtype?: PipelineDType;
  quantize?: QuantizeOptions;
  /** Triton `max_batch_size` (default 8). */
  maxBatchSize?: number;
  /** `dynamic_batching.max_queue_delay_microseconds` (default 1000). */
  maxQueueDelayUs?: number;
  /** Model name prefix (default: the task name). */
  name?: string;
}

/** The inputs/outputs of an ONNX model, batch (first) dimension dropped. */
export function onnxSignature(bytes: Uint8Array): { inputs: TritonTensor[]; outputs: TritonTensor[] } {
  const m = onnx.ModelProto.decode(bytes);
  const inits = new Set((m.graph?.initializer ?? []).map((t) => t.name));
  const sig = (vs: onnxProto.onnx.IValueInfoProto[]) =>
    vs
      .filter((v) => !inits.has(v.name))
      .map((v) => {
        const t = v.type?.tensorType;
        const dims = (t?.shape?.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1));
        const dataType = TRITON_DTYPE[t?.elemType ?? 0];
        if (!dataType) throw new OutputWriteError(String(v.name), new Error(`ONNX element type ${t?.elemType} has no Triton type`));
        return { name: String(v.name), dataType, dims: dims.slice(1) };
      });
  return { inputs: sig(m.graph?.input ?? []), outputs: sig(m.graph?.output ?? []) };
}

const tensorText = (t: TritonTensor) =>
  `  {\n    name: "${t.name}"\n    data_type: ${t.dataType}\n    dims: [ ${t.dims.join(', ')} ]\n  }`;

/** config.pbtxt (protobuf text format of Triton's ModelConfig). */
export function tritonConfig(name: string, sig: { inputs: TritonTensor[]; outputs: TritonTensor[] }, maxBatchSize: number, delayUs: number): string {
  const preferred = [...new Set([1, 2, 4, 8, 16, 32, 64].filter((b) => b <= maxBatchSize).concat(maxBatchSize))];
  return [
    `name: "${name}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${maxBatchSize}`,
    `input [\n${sig.inputs.map(tensorText).join(',\n')}\n]`,
    `output [\n${sig.outputs.map(tensorText).join(',\n')}\n]`,
    `dynamic_batching {\n  preferred_batch_size: [ ${preferred.join(', ')} ]\n  max_queue_delay_microseconds: ${delayUs}\n}`,
    'instance_group [\n  {\n    count: 1\n    kind: KIND_CPU\n  }\n]',
    '',
  ].join('\n');
}

/** Writes every graph of the task as a Triton model under `repo`; returns the models written. */
export function exportTriton(loaded: LoadedModel, repo: string, opts: TritonOptions = {}): { models: TritonModel[]; export: ExportResult } {
  const maxBatch = opts.maxBatchSize ?? 8;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65536)
    throw new OutputWriteError(repo, new Error(`max batch size must be an integer in [1, 65536], got ${maxBatch}`));
  const prefix = (opts.name ?? loaded.config.task).replace(/[^A-Za-z0-9_.-]/g, '_');
  const staging = join(repo, `.staging-${prefix}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const r = exportTaskModel(loaded, join(staging, `${prefix}.onnx`), opts);
    const models = r.graphs.map((g) => {
      const name = r.graphs.length === 1 ? prefix : `${prefix}_${g.role}`;
      const dir = join(repo, name);
      const version = join(dir, '1');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(version, { recursive: true });
      const modelPath = join(version, 'model.onnx');
      const files = [modelPath];
      renameSync(g.path, modelPath);
      // external data keeps its file name: the model's `location` fields point at it by that name
      const data = r.files.find((f) => f === `${g.path}.data`);
      if (data) {
        renameSync(data, join(version, basename(data)));
        files.push(join(version, basename(data)));
      }
      const sig = onnxSignature(readFileSync(modelPath));
      writeAtomic(join(dir, 'config.pbtxt'), tritonConfig(name, sig, maxBatch, opts.maxQueueDelayUs ?? 1000));
      files.push(join(dir, 'config.pbtxt'));
      return { name, dir, modelPath, files, ...sig };
    });
    // the meta (labels, text length, tokenizer) is what a Triton client needs beside the tensors
    renameSync(r.metaPath, join(repo, `${prefix}.meta.json`));
    return { models, export: r };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
