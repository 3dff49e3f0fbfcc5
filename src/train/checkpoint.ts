/**
 * The training checkpoint: the WHOLE state in one safetensors file, so one atomic rename
 * (temp file, fsync, rename in io/safetensors) moves from one consistent state to the next; a
 * process killed mid-write leaves the previous file untouched. Tensors are stored per group
 * (`params/<name>`, `adamw.m/<name>`, `adamw.v/<name>`, anything a plug-in adds), the scalars
 * (steps, data position, seeds, best metric, run configuration) as JSON in the file's metadata.
 */
import { existsSync } from 'node:fs';
import type { Tensor } from '../graph/tensor.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { messageOf } from '../util/errors.js';
import { CheckpointFormatError, CheckpointMismatchError, ResumeMismatchError } from './loop-errors.js';

export const CHECKPOINT_FORMAT = 'beit3-train-state';
export const CHECKPOINT_VERSION = 1;
const META_KEY = 'beit3.train';

/** Where the data stream continues (the loader's resume state). */
export interface DataPosition {
  epoch: number;
  position: number;
  seed: number;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Optimizer steps done (the next step uses schedule entry `step`). */
  step: number;
  /** Epoch the next micro-batch belongs to. */
  epoch: number;
  data: DataPosition;
  /** The run's base seed (data order, augmentation, masking and in-graph noise derive from it). */
  seed: number;
  /** The settings that shape the trajectory; `--resume` refuses a run whose settings differ. */
  run: Record<string, unknown>;
  best?: { metric: string; value: number; step: number; epoch: number };
  /** Plain-data state of plug-ins (engine counters, EMA settings...). */
  extra?: Record<string, unknown>;
  writtenAt: string;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** Tensor groups: e.g. params, adamw.m, adamw.v. */
  groups: Record<string, Map<string, Tensor>>;
}

/** Writes a checkpoint atomically. */
export async function saveCheckpoint(path: string, ckpt: Checkpoint): Promise<void> {
  const flat = new Map<string, Tensor>();
  for (const [group, tensors] of Object.entries(ckpt.groups)) {
    if (group.includes('/'))
      throw new CheckpointFormatError(path, `group name "${group}" must not contain "/"`);
    for (const [name, t] of tensors) flat.set(`${group}/${name}`, t);
  }
  await saveSafetensors(path, flat, { [META_KEY]: JSON.stringify(ckpt.meta) });
}

/** Reads a checkpoint written by saveCheckpoint; anything else is a CheckpointFormatError. */
export async function loadCheckpointFile(path: string): Promise<Checkpoint> {
  if (!existsSync(path)) throw new CheckpointFormatError(path, 'no such checkpoint file');
  let map;
  try {
    map = await loadSafetensors(path);
  } catch (e) {
    throw new CheckpointFormatError(path, `not a readable safetensors file (${messageOf(e)})`, { cause: e });
  }
  const raw = map.metadata[META_KEY];
  if (!raw)
    throw new CheckpointFormatError(
      path,
      `no "${META_KEY}" metadata: not a beit3 training checkpoint (model weights only?)`,
    );
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new CheckpointFormatError(path, `metadata is not JSON (${messageOf(e)})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT)
    throw new CheckpointFormatError(
      path,
      `format is ${JSON.stringify(meta.format)}, expected ${CHECKPOINT_FORMAT}`,
    );
  if (meta.version !== CHECKPOINT_VERSION)
    throw new CheckpointFormatError(
      path,
      `version ${meta.version} is not supported (this beit3 reads version ${CHECKPOINT_VERSION})`,
    );
  for (const k of ['step', 'epoch', 'seed'] as const)
    if (!Number.isInteger(meta[k]) || meta[k] < 0)
      throw new CheckpointFormatError(
        path,
        `metadata "${k}" must be a non-negative integer, got ${JSON.stringify(meta[k])}`,
      );
  const groups: Record<string, Map<string, Tensor>> = {};
  for (const [key, t] of map) {
    const i = key.indexOf('/');
    if (i < 0) throw new CheckpointFormatError(path, `tensor "${key}" has no group prefix`);
    (groups[key.slice(0, i)] ??= new Map()).set(key.slice(i + 1), t);
  }
  return { meta, groups };
}

/**
 * Checks that `got` has exactly the tensors of `expected` (name → shape), and throws a
 * CheckpointMismatchError listing missing / unexpected keys and shape clashes otherwise.
 * `allowMissing` names keys that may be absent (e.g. a fresh task head when initialising).
 */
export function checkTensorsFit(
  source: string,
  expected: ReadonlyMap<string, readonly number[]>,
  got: ReadonlyMap<string, Tensor>,
  opts: { allowMissing?: (key: string) => boolean; allowUnexpected?: (key: string) => boolean } = {},
): { missing: string[]; unexpected: string[] } {
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  const unexpected = [...got.keys()].filter((k) => !expected.has(k));
  const shapes: string[] = [];
  for (const [k, shape] of expected) {
    const t = got.get(k);
    if (t && t.shape.join() !== shape.join())
      shapes.push(`${k} [${t.shape.join(', ')}] vs model [${shape.join(', ')}]`);
  }
  const badMissing = missing.filter((k) => !opts.allowMissing?.(k));
  const badUnexpected = unexpected.filter((k) => !opts.allowUnexpected?.(k));
  if (badMissing.length || badUnexpected.length || shapes.length)
    throw new CheckpointMismatchError(source, badMissing, badUnexpected, shapes);
  return { missing, unexpected };
}

/** Settings that may change between a run and its resumption (they do not shape the trajectory). */
export const RESUMABLE_SETTINGS: ReadonlySet<string> = new Set([
  'threads',
  'output',
  'resume',
  'eval_only',
  'progress',
  'max_steps',
  'json',
  'init',
]);

/** Throws ResumeMismatchError naming every setting of `now` that differs from `saved`. */
export function checkSameRun(
  path: string,
  saved: Record<string, unknown>,
  now: Record<string, unknown>,
  ignore: ReadonlySet<string> = RESUMABLE_SETTINGS,
): void {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])]
    .filter((k) => !ignore.has(k))
    .sort();
  const differences = keys
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((key) => ({ key, saved: saved[key], now: now[key] }));
  if (differences.length) throw new ResumeMismatchError(path, differences);
}
