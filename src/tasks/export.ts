/**
 * Writing task models as self-contained ONNX files: named inputs/outputs, weights embedded, or
 * (above `externalThreshold`, default 1 GiB, and always above protobuf's 2 GB message limit)
 * stored as ONNX external data in `<model>.data` beside the model.
 */
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { externalizeInitializers } from '../runtime/external.js';
import { withAtomicFileSync } from '../util/atomic.node.js';
import { OutputWriteError } from './errors.js';
import { taskGraphSpecs } from './graphs.js';
import { buildGraph, type LoadedModel } from './model.js';
import type { QuantizeOptions, QuantizeStats } from '../graph/passes/quantize.js';
import {
  encodeModel,
  modelInitializerBytes,
  type ModelProto,
  type PipelineDType,
  TaskSession,
  writeAtomic,
} from './session.js';

export interface WriteOnnxOptions {
  /** true / false, or 'auto' (default): external data when initializers exceed `externalThreshold`. */
  external?: boolean | 'auto';
  externalThreshold?: number;
}

/** Data-file alignment of exported weights (4 KiB: page-aligned for memory mapping). */
const ALIGN = 4096;

/** Writes the model (atomically); returns the files written. */
export function writeOnnx(model: ModelProto, path: string, opts: WriteOnnxOptions = {}): string[] {
  const threshold = opts.externalThreshold ?? 2 ** 30;
  const external =
    opts.external === true ||
    ((opts.external ?? 'auto') === 'auto' && modelInitializerBytes(model) > threshold);
  if (!external) {
    writeAtomic(path, encodeModel(model));
    return [path];
  }
  const dataName = `${basename(path)}.data`;
  const dataPath = `${path}.data`;
  // the data file is renamed into place last: a model never points at a missing data file
  let wroteModel = false;
  try {
    withAtomicFileSync(dataPath, (fd) => {
      const inits = externalizeInitializers(model, fd, dataName, ALIGN);
      writeAtomic(path, encodeModel({ ...model, graph: { ...model.graph, initializer: inits } }));
      wroteModel = true;
    });
  } catch (e) {
    if (wroteModel) rmSync(path, { force: true }); // a model without its data file is useless
    throw e instanceof OutputWriteError ? e : new OutputWriteError(dataPath, e);
  }
  return [path, dataPath];
}

export interface ExportedGraph {
  role: string;
  path: string;
  inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  outputs: string[];
}

export interface ExportResult {
  files: string[];
  graphs: ExportedGraph[];
  quantized?: QuantizeStats;
  /** `<out>.meta.json`: task settings a runtime needs beside the graphs (labels, text length, generation). */
  metaPath: string;
}

/**
 * Writes every graph of a task's pipeline as ONNX: `out` itself for single-graph tasks, else
 * `<stem>.<role>.onnx` (retrieval: image, text; captioning: first, step), plus `<out>.meta.json`.
 */
export function exportTaskModel(
  loaded: LoadedModel,
  out: string,
  opts: WriteOnnxOptions & { dtype?: PipelineDType; quantize?: QuantizeOptions } = {},
): ExportResult {
  const specs = taskGraphSpecs(loaded.model, loaded.config);
  const roles = Object.keys(specs);
  const stem = out.replace(/\.onnx$/i, '');
  const files: string[] = [];
  const graphs: ExportedGraph[] = [];
  let quantized: QuantizeStats | undefined;
  for (const role of roles) {
    const spec = specs[role];
    const { graph, bind } = buildGraph(spec.name, loaded.model, spec.inputs, spec.body);
    const { proto, stats } = TaskSession.modelProto(graph, bind, opts.dtype, opts.quantize);
    if (stats)
      quantized = quantized
        ? {
            quantized: quantized.quantized + stats.quantized,
            skipped: quantized.skipped + stats.skipped,
            floatBytes: quantized.floatBytes + stats.floatBytes,
            int8Bytes: quantized.int8Bytes + stats.int8Bytes,
          }
        : stats;
    const path = roles.length === 1 ? out : `${stem}.${role}.onnx`;
    files.push(...writeOnnx(proto, path, opts));
    graphs.push({
      role,
      path,
      inputs: Object.entries(spec.inputs).map(([name, d]) => ({ name, dtype: d.dtype, shape: d.shape })),
      outputs: graph.outputs.map((v) => v.name),
    });
  }
  const c = loaded.config;
  const meta = {
    task: c.task,
    model: c.modelName,
    dtype: opts.dtype ?? 'fp32',
    image: { size: c.model.imgSize, transform: c.transform, crop_pct: c.cropPct },
    text: { num_max_bpe_tokens: c.textLen, tokenizer: c.tokenizer },
    labels: c.labels,
    generation: c.task === 'captioning' ? c.generation : undefined,
    graphs: graphs.map((g) => ({ ...g, path: basename(g.path) })),
  };
  const metaPath = `${out}.meta.json`;
  writeAtomic(metaPath, JSON.stringify(meta, null, 1));
  files.push(metaPath);
  return { files, graphs, quantized, metaPath };
}
