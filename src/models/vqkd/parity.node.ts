/**
 * `beit3 parity DIR` for folders laid out like fixtures/vqkd-ref (README there): `vqkd.json`
 * (configs), `vqkd.safetensors` / `vqkd.pth` (weights), `vqkd.io.safetensors` (per input set
 * `<set>.input` and every intermediate), `manifests/<registered name>.json` (key → shape of a
 * real tokenizer). Codes must match exactly, features within the fixture's tolerance, and each
 * manifest must equal our module tree for that registered name. Node-only (reads files).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ops } from '../../graph/index.js';
import { Graph } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import { loadSafetensors } from '../../io/safetensors.js';
import { ParamScope } from '../../nn/module.js';
import { Program } from '../../runtime/index.js';
import { Beit3Error } from '../../util/errors.js';
import { gridSize, vqkdConfigFromJson } from './config.js';
import { VQKD } from './model.js';
import { filterVqkdCheckpoint } from './pretrained.js';
import { codeSums, ema } from './quantizer.js';
import { createVqkd, VQKD_REGISTRY } from './registry.js';

export interface VqkdCaseResult {
  fixture: string;
  case: string;
  maxErr: number;
  tol: number;
  ok: boolean;
  worst?: string;
  note?: string;
}

export class VqkdParityError extends Beit3Error {
  override name = 'VqkdParityError';
}

export interface VqkdParityOptions {
  weights?: 'safetensors' | 'pth';
  threads?: number;
}

/** A folder is a VQ-KD fixture set when it holds vqkd.json + vqkd.io.safetensors. */
export function isVqkdFixtureDir(dir: string): boolean {
  return existsSync(join(dir, 'vqkd.json')) && existsSync(join(dir, 'vqkd.io.safetensors'));
}

function maxAbs(a: Tensor, ref: Tensor, what: string): number {
  if (a.shape.join() !== ref.shape.join())
    throw new VqkdParityError(`${what}: shape [${a.shape}] differs from reference [${ref.shape}]`);
  let m = 0;
  for (let i = 0; i < a.size; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(ref.data[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Every intermediate the fixture stores, for one batch of images, on ORT. */
export async function vqkdReferenceOutputs(
  model: VQKD,
  images: Tensor,
  threads?: number,
): Promise<Record<string, Tensor>> {
  const g = new Graph('vqkd_parity');
  const s = new ParamScope(g, model);
  const x = g.input('image', 'float32', images.shape);
  const b = images.shape[0];
  const { nCode, codeDim, decay } = model.cfg;
  const grid = gridSize(model.cfg);
  const e = model.encode(s, x);
  const z = e.zFlat;
  g.output(e.pre, 'preprocessed');
  g.output(e.encoderTokens, 'encoder_patch_tokens');
  g.output(e.features, 'to_quantizer_features');
  g.output(ops.reshape(z, [b, grid * grid, codeDim]), 'l2_normalized_features');
  g.output(e.codes, 'codes');
  g.output(ops.transpose(ops.reshape(e.zqST, [b, grid, grid, codeDim]), [0, 3, 1, 2]), 'quantized');
  g.output(e.loss, 'quant_loss');
  g.output(model.decode(s, e.zqST, b), 'decoder_rec');
  const flatCodes = ops.reshape(e.codes, [-1]);
  g.output(ema(s.get(model.quantize.clusterSize), codeSums(flatCodes, e.zFlat, nCode).bins, decay), 'cluster_size_after');
  const prog = await Program.compile(g, { bind: s.bindings(), threads });
  try {
    return await prog.run({ image: images });
  } finally {
    await prog.release();
  }
}


/** Runs every case of a vqkd-ref–style folder. */
export async function parityVqkdDir(dir: string, opts: VqkdParityOptions = {}): Promise<VqkdCaseResult[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new VqkdParityError(`${dir}: not a folder (give a fixture folder laid out like fixtures/vqkd-ref)`);
  if (!isVqkdFixtureDir(dir))
    throw new VqkdParityError(`${dir}: no vqkd.json + vqkd.io.safetensors (layout of fixtures/vqkd-ref)`);
  const fixture = basename(dir);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(join(dir, 'vqkd.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new VqkdParityError(`${join(dir, 'vqkd.json')}: unreadable (${(err as Error).message})`);
  }
  const model = new VQKD(vqkdConfigFromJson(j));
  const weightsFile = join(dir, opts.weights === 'pth' ? 'vqkd.pth' : 'vqkd.safetensors');
  const raw = await loadCheckpoint(weightsFile, { modelKey: 'model|state_dict' });
  model.loadStateDict(filterVqkdCheckpoint(raw).state);
  const io = await loadSafetensors(join(dir, 'vqkd.io.safetensors'));
  const tol = (j.recommended_tolerances_fp32 as { features?: { max_abs?: number } } | undefined)?.features?.max_abs ?? 1e-4;
  const results: VqkdCaseResult[] = [];
  const sets = [...io.keys()].filter((k) => k.endsWith('.input')).map((k) => k.slice(0, -'.input'.length));
  for (const set of sets.sort()) {
    const out = await vqkdReferenceOutputs(model, io.get(`${set}.input`)!, opts.threads);
    let worst = '';
    let m = 0;
    const codeMismatch: string[] = [];
    for (const [name, t] of Object.entries(out)) {
      const ref = io.get(`${set}.${name}`);
      if (!ref) continue;
      if (name === 'codes') {
        const bad = t.toArray().filter((v, i) => v !== Number(ref.data[i])).length;
        if (bad || t.shape.join() !== ref.shape.join()) codeMismatch.push(`${bad} of ${ref.size} codes differ`);
        continue;
      }
      const d = maxAbs(t, ref, `${fixture}/${set}.${name}`);
      if (d > m || !worst) [m, worst] = [d, name];
    }
    results.push({ fixture, case: `${set}.features`, maxErr: m, tol, ok: m <= tol, worst });
    results.push({
      fixture,
      case: `${set}.codes`,
      maxErr: codeMismatch.length ? 1 : 0,
      tol: 0,
      ok: !codeMismatch.length,
      note: codeMismatch.join('; ') || 'exact',
    });
  }
  const mdir = join(dir, 'manifests');
  if (existsSync(mdir))
    for (const f of readdirSync(mdir).filter((n) => n.endsWith('.json')).sort())
      results.push(manifestCase(fixture, join(mdir, f)));
  return results;
}

/** A manifest `<registered name>.json` (key → shape) against our module tree for that name. */
export function manifestCase(fixture: string, file: string): VqkdCaseResult {
  const name = basename(file, '.json');
  const keys = (JSON.parse(readFileSync(file, 'utf8')) as { keys?: Record<string, number[]> }).keys ?? {};
  if (!VQKD_REGISTRY.has(name))
    return { fixture, case: `manifest ${name}`, maxErr: 1, tol: 0, ok: false, note: 'not a registered name' };
  const ours = createVqkd(name).shapes();
  const diffs: string[] = [];
  for (const [k, shape] of Object.entries(keys)) {
    const o = ours.get(k);
    if (!o) diffs.push(`missing ${k}`);
    else if (o.join() !== shape.join()) diffs.push(`${k}: ours [${o}] vs [${shape}]`);
  }
  for (const k of ours.keys()) if (!(k in keys)) diffs.push(`extra ${k}`);
  return {
    fixture,
    case: `manifest ${name}`,
    maxErr: diffs.length,
    tol: 0,
    ok: diffs.length === 0,
    note: diffs.length ? diffs.slice(0, 5).join('; ') : `${ours.size} keys`,
  };
}
