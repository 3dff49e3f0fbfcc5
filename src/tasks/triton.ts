/**
 * `beit3 export --triton DIR`: a Triton Inference Server model repository, one model per task
 * graph (retrieval: image + text; captioning: first + step), laid out as Triton documents it
 * (docs/user_guide/model_repository.md, model_configuration.md):
 *   DIR/<model>/config.pbtxt        ModelConfig in protobuf text format: platform onnxruntime_onnx
 *                                   (backend onnxruntime), max_batch_size, dynamic_batching, and
 *                                   inputs/outputs whose dims omit the batch dimension
 *   DIR/<model>/1/model.onnx        version 1 under the ONNX backend's default file name; external
 *                                   data (if any) beside it, named by the model's `location` fields
 *   DIR/<task>.meta.json            labels, text length, tokenizer: what a client needs beside the
 *                                   tensors (Triton only loads sub-folders, so a file is ignored)
 * Shapes and dtypes are read back from the written ONNX, so each config says what its file holds.
 * The whole repository is built in a temp folder beside DIR and renamed into place: a failed or
 * interrupted export leaves no half-written repository for a polling Triton to load.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { tempPathFor, trackTempFile } from '../util/atomic.node.js';
import { exportTaskModel, type WriteOnnxOptions } from './export.js';
import type { LoadedModel } from './model.js';
import type { PipelineDType } from './session.js';
import { writeAtomic } from './session.js';
import type { QuantizeOptions, QuantizeStats } from '../graph/passes/quantize.js';
import { TaskError } from './errors.js';

const { onnx } = onnxProto;

/** The repository cannot be written (target not empty, bad setting, an ONNX type Triton lacks). */
export class TritonRepositoryError extends TaskError {
  override name = 'TritonRepositoryError';
}

/** ONNX TensorProto.DataType → Triton data_type (model_config.proto DataType). */
const TRITON_DTYPE: Record<number, string> = {
  1: 'TYPE_FP32',
  2: 'TYPE_UINT8',
  3: 'TYPE_INT8',
  4: 'TYPE_UINT16',
  5: 'TYPE_INT16',
  6: 'TYPE_INT32',
  7: 'TYPE_INT64',
  8: 'TYPE_STRING',
  9: 'TYPE_BOOL',
  10: 'TYPE_FP16',
  11: 'TYPE_FP64',
  12: 'TYPE_UINT32',
  13: 'TYPE_UINT64',
  16: 'TYPE_BF16',
};

export interface TritonTensor {
  name: string;
  dataType: string;
  /** Without the batch dimension when the model is batched; -1 where the size varies. */
  dims: number[];
  /**
   * No dims left (a scalar, or a batched [batch] tensor once the batch is dropped): Triton needs
   * non-empty dims, so it is written as dims [1] with `reshape: { shape: [ ] }` (model_configuration.md, Reshape).
   */
  scalar?: boolean;
}

export interface TritonSignature {
  /** Every input and output leads with the same variable batch dimension (Triton may batch). */
  batched: boolean;
  inputs: TritonTensor[];
  outputs: TritonTensor[];
}

export interface TritonModel {
  name: string;
  role: string;
  dir: string;
  modelPath: string;
  files: string[];
  maxBatchSize: number;
  inputs: TritonTensor[];
  outputs: TritonTensor[];
}

export interface TritonResult {
  repo: string;
  models: TritonModel[];
  metaPath: string;
  quantized?: QuantizeStats;
}

export interface TritonOptions extends WriteOnnxOptions {
  dtype?: PipelineDType;
  quantize?: QuantizeOptions;
  /** Triton `max_batch_size` of the batchable graphs (default 8). */
  maxBatchSize?: number;
  /** `dynamic_batching.max_queue_delay_microseconds` (default 100). */
  maxQueueDelayUs?: number;
  /** Model name prefix (default: the task name). */
  name?: string;
  /** Replace an existing non-empty DIR (default: refuse). */
  force?: boolean;
}

type Dim = { dimValue?: unknown; dimParam?: string | null };
const fixed = (d: Dim): number | undefined =>
  d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : undefined;

/**
 * Triton's view of an ONNX model's inputs/outputs. Batched (max_batch_size > 0) only when every
 * input leads with one shared symbolic dimension and every output leads with a variable one:
 * Triton's dynamic batcher concatenates requests along dim 0, which is only right for such graphs
 * (the captioning step graph, with a scalar `text_len` and beam rows gathered across the batch, is not).
 */
export function tritonSignature(bytes: Uint8Array): TritonSignature {
  const m = onnx.ModelProto.decode(bytes);
  const inits = new Set((m.graph?.initializer ?? []).map((t) => t.name));
  const read = (vs: onnxProto.onnx.IValueInfoProto[]) =>
    vs
      .filter((v) => !inits.has(v.name))
      .map((v) => {
        const t = v.type?.tensorType;
        const dataType = TRITON_DTYPE[t?.elemType ?? 0];
        if (!dataType)
          throw new TritonRepositoryError(`tensor '${v.name}': ONNX element type ${t?.elemType} has no Triton data type`);
        return { name: String(v.name), dataType, shape: (t?.shape?.dim ?? []) as Dim[] };
      });
  const ins = read(m.graph?.input ?? []);
  const outs = read(m.graph?.output ?? []);
  const lead = ins.map((i) => (i.shape.length && fixed(i.shape[0]) === undefined ? i.shape[0].dimParam : undefined));
  const batched =
    ins.length > 0 &&
    lead.every((p) => p && p === lead[0]) &&
    outs.every((o) => o.shape.length > 0 && fixed(o.shape[0]) === undefined);
  const tensor = (x: { name: string; dataType: string; shape: Dim[] }): TritonTensor => {
    const dims = x.shape.map((d) => fixed(d) ?? -1).slice(batched ? 1 : 0);
    return dims.length ? { name: x.name, dataType: x.dataType, dims } : { name: x.name, dataType: x.dataType, dims: [1], scalar: true };
  };
  return { batched, inputs: ins.map(tensor), outputs: outs.map(tensor) };
}

const tensorText = (t: TritonTensor) =>
  [
    '  {',
    `    name: ${JSON.stringify(t.name)}`,
    `    data_type: ${t.dataType}`,
    `    dims: [ ${t.dims.join(', ')} ]`,
    ...(t.scalar ? ['    reshape: { shape: [ ] }'] : []),
    '  }',
  ].join('\n');

/**
 * config.pbtxt (Triton ModelConfig, protobuf text format). No preferred_batch_size (Triton's
 * guidance: only where a size is known to be faster) and no instance_group (Triton's default:
 * one instance per visible GPU, else on CPU), so the same repository serves on either.
 */
export function tritonConfig(name: string, sig: TritonSignature, maxBatchSize: number, delayUs: number): string {
  return [
    `name: ${JSON.stringify(name)}`,
    'platform: "onnxruntime_onnx"',
    'backend: "onnxruntime"',
    `max_batch_size: ${sig.batched ? maxBatchSize : 0}`,
    `input [\n${sig.inputs.map(tensorText).join(',\n')}\n]`,
    `output [\n${sig.outputs.map(tensorText).join(',\n')}\n]`,
    ...(sig.batched ? [`dynamic_batching {\n  max_queue_delay_microseconds: ${delayUs}\n}`] : []),
    '',
  ].join('\n');
}

/** Checks DIR before any work: absent, an empty folder, or (with force) a folder to replace. */
function checkTarget(repo: string, force: boolean): boolean {
  if (!existsSync(repo)) return false;
  if (!statSync(repo).isDirectory()) throw new TritonRepositoryError(`${repo}: exists and is not a folder`);
  if (readdirSync(repo).length && !force)
    throw new TritonRepositoryError(`${repo}: folder exists and is not empty (use --force to replace it)`);
  return true;
}

/** Writes every graph of the task as a Triton model; DIR appears complete or not at all. */
export function exportTriton(loaded: LoadedModel, repoArg: string, opts: TritonOptions = {}): TritonResult {
  const maxBatch = opts.maxBatchSize ?? 8;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65536)
    throw new TritonRepositoryError(`max batch size must be an integer in [1, 65536], got ${maxBatch}`);
  const delay = opts.maxQueueDelayUs ?? 100;
  if (!Number.isInteger(delay) || delay < 0)
    throw new TritonRepositoryError(`max queue delay must be a non-negative integer (µs), got ${delay}`);
  const repo = resolve(repoArg);
  const exists = checkTarget(repo, opts.force ?? false);
  const prefix = (opts.name ?? loaded.config.task).replace(/[^A-Za-z0-9_.-]/g, '_');
  try {
    mkdirSync(dirname(repo), { recursive: true });
  } catch (e) {
    throw new TritonRepositoryError(`cannot create ${dirname(repo)}: ${(e as Error).message}`, { cause: e });
  }
  const staging = tempPathFor(repo);
  const untrack = trackTempFile(staging); // removed on SIGINT/SIGTERM
  try {
    const work = join(staging, '.export');
    mkdirSync(work, { recursive: true });
    const r = exportTaskModel(loaded, join(work, `${prefix}.onnx`), opts);
    const models = r.graphs.map((g) => {
      const name = r.graphs.length === 1 ? prefix : `${prefix}_${g.role}`;
      const version = join(staging, name, '1');
      mkdirSync(version, { recursive: true });
      renameSync(g.path, join(version, 'model.onnx'));
      const rel = [join(name, '1', 'model.onnx')];
      // the data file keeps its name: the model's `location` fields point at it, relative to the model
      const data = r.files.find((f) => f === `${g.path}.data`);
      if (data) {
        renameSync(data, join(version, basename(data)));
        rel.push(join(name, '1', basename(data)));
      }
      const sig = tritonSignature(readFileSync(join(version, 'model.onnx')));
      writeAtomic(join(staging, name, 'config.pbtxt'), tritonConfig(name, sig, maxBatch, delay));
      rel.push(join(name, 'config.pbtxt'));
      return { name, role: g.role, rel, sig };
    });
    renameSync(r.metaPath, join(staging, `${prefix}.meta.json`));
    rmSync(work, { recursive: true, force: true });
    // swap in: an existing (empty or --force) DIR is moved aside first, restored if the rename fails
    const old = exists ? tempPathFor(repo) : undefined;
    const untrackOld = old ? trackTempFile(old) : undefined;
    if (old) renameSync(repo, old);
    try {
      renameSync(staging, repo);
    } catch (e) {
      if (old) renameSync(old, repo);
      throw e;
    }
    if (old) rmSync(old, { recursive: true, force: true });
    untrackOld?.();
    return {
      repo,
      metaPath: join(repo, `${prefix}.meta.json`),
      quantized: r.quantized,
      models: models.map((m) => ({
        name: m.name,
        role: m.role,
        dir: join(repo, m.name),
        modelPath: join(repo, m.rel[0]),
        files: m.rel.map((f) => join(repo, f)),
        maxBatchSize: m.sig.batched ? maxBatch : 0,
        inputs: m.sig.inputs,
        outputs: m.sig.outputs,
      })),
    };
  } catch (e) {
    if (e instanceof TaskError) throw e;
    throw new TritonRepositoryError(`cannot write Triton repository ${repo}: ${(e as Error).message}`, { cause: e });
  } finally {
    rmSync(staging, { recursive: true, force: true });
    untrack();
  }
}
