/**
 * Reading a fixture folder laid out like fixtures/beit3-ref (README there): which fixtures it
 * holds, each fixture's json, weights and recorded tensors. The only file-system code of the
 * BEiT-3 parity harness (Node-only).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../../../graph/tensor.js';
import { loadCheckpoint } from '../../../io/checkpoint.js';
import { loadSafetensors } from '../../../io/safetensors.js';
import type { Module } from '../../../nn/module.js';
import { Beit3Error } from '../../../util/errors.js';
import { BEiT3 } from '../backbone.js';
import { fromEncoderConfig } from '../config.js';
import type { TaskName } from '../heads/base.js';
import { createTaskModel } from '../registry.js';

export class ParityError extends Beit3Error {
  override name = 'ParityError';
}

export interface ParityOptions {
  /** Weights file: '<name>.safetensors' (default) or '<name>.pth' where present. */
  weights?: 'safetensors' | 'pth';
  /** Also check the official loss and gradients (default true when grads file exists). */
  grads?: boolean;
  /** ORT intra-op threads. */
  threads?: number;
}

export interface FixtureJson {
  class: string;
  encoder_config: Record<string, unknown>;
  num_classes: number | null;
  io: { calls: { name: string; python?: string; inputs: string[]; outputs: string[] }[] };
  tiny_config?: Record<string, number>;
  grads?: {
    loss: number;
    extra_scalars: Record<string, number>;
    params_without_grad_stored_as_zeros: string[];
  };
  observed?: Record<string, unknown>;
  recommended_tolerances_fp32?: {
    outputs?: { max_abs?: number };
    loss?: { rel?: number; max_abs?: number };
    grads?: { per_tensor_rel_l2?: number };
  };
}

/** Recorded tensors by key (`in.*`, `out.*`, `grad.*`). */
export type Recorded = Map<string, Tensor>;

/** index.json of a folder (null when absent); a corrupt one is a ParityError naming it. */
export function readIndexJson(dir: string): Record<string, unknown> | null {
  const idx = join(dir, 'index.json');
  if (!existsSync(idx)) return null;
  try {
    const j = JSON.parse(readFileSync(idx, 'utf8')) as unknown;
    return j && typeof j === 'object' ? (j as Record<string, unknown>) : {};
  } catch (e) {
    throw new ParityError(`${idx}: unreadable (${(e as Error).message})`);
  }
}

/** Fixture names in a folder: index.json's list, else every `<name>.json` with a `<name>.io.safetensors`. */
export function listFixtures(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ParityError(`${dir}: not a folder (give a fixture folder laid out like fixtures/beit3-ref)`);
  const j = readIndexJson(dir);
  if (j && typeof j.fixtures === 'object' && j.fixtures !== null)
    return Object.keys(j.fixtures).filter((n) => existsSync(join(dir, `${n}.io.safetensors`)));
  const found = readdirSync(dir)
    .filter((f) => f.endsWith('.io.safetensors'))
    .map((f) => f.slice(0, -'.io.safetensors'.length))
    .filter((n) => existsSync(join(dir, `${n}.json`)));
  if (!found.length)
    throw new ParityError(
      `${dir}: no fixtures (expected <name>.json + <name>.io.safetensors, laid out like fixtures/beit3-ref)`,
    );
  return found.sort();
}

/** A recorded tensor, or a ParityError naming the fixture and key. */
export function pick(io: Recorded, key: string, fixture: string): Tensor {
  const t = io.get(key);
  if (!t) throw new ParityError(`${fixture}: reference tensor "${key}" missing`);
  return t;
}

/** Builds the fixture's model from its json (bare BEiT3 for `backbone`). */
export function modelForFixture(name: string, js: FixtureJson): Module {
  const cfg = fromEncoderConfig(js.encoder_config);
  if (name === 'backbone') return new BEiT3(cfg, { init: 'torchscale' });
  return createTaskModel(name as TaskName, cfg, js.num_classes ?? undefined);
}

export interface LoadedFixture {
  js: FixtureJson;
  /** The model with the fixture's weights loaded. */
  root: Module;
  io: Recorded;
  usePth: boolean;
  /** `<name>.grads.safetensors`, read only when asked for. */
  grads: () => Promise<Recorded | null>;
}

/** json + model with weights + io tensors of one fixture. */
export async function loadFixture(dir: string, name: string, opts: ParityOptions = {}): Promise<LoadedFixture> {
  const js = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as FixtureJson;
  const root = modelForFixture(name, js);
  const pth = join(dir, `${name}.pth`);
  const usePth = opts.weights === 'pth' && existsSync(pth);
  const wfile = usePth ? pth : join(dir, `${name}.safetensors`);
  if (!existsSync(wfile)) throw new ParityError(`${name}: weights ${wfile} not found`);
  root.loadStateDict(await loadCheckpoint(wfile));
  const io = await loadSafetensors(join(dir, `${name}.io.safetensors`));
  const gfile = join(dir, `${name}.grads.safetensors`);
  return {
    js,
    root,
    io,
    usePth,
    grads: async () => (existsSync(gfile) ? loadSafetensors(gfile) : null),
  };
}
