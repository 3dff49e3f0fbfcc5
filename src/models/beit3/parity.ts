/**
 * Parity against reference fixtures laid out like fixtures/beit3-ref (README there): for every
 * fixture `<name>.json` + weights + `<name>.io.safetensors` (+ `<name>.grads.safetensors`), run
 * every recorded call through our graphs on ONNX Runtime and report the max error per case.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { grad } from '../../autodiff/index.js';
import { Graph } from '../../graph/ir.js';
import { ops } from '../../graph/index.js';
import { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import { loadSafetensors } from '../../io/safetensors.js';
import type { Module } from '../../nn/module.js';
import { ParamScope } from '../../nn/module.js';
import { Program } from '../../runtime/index.js';
import { BEiT3, joinStreams } from './backbone.js';
import { fromEncoderConfig, numVisionTokens } from './config.js';
import { captionBeamSearch } from './beam.js';
import { CaptionDecoder, pastFeeds } from './decoder.js';
import type { Beit3TaskModel, TaskName, Values } from './heads/base.js';
import type { Beit3ForCaptioning } from './heads/captioning.js';
import { createTaskModel } from './registry.js';
import { Beit3Error } from '../../util/errors.js';

export interface CaseResult {
  fixture: string;
  case: string;
  /** Max |ours − ref| over the case's tensors (grads: worst element-wise excess ratio, see note). */
  maxErr: number;
  tol: number;
  ok: boolean;
  /** Tensor with the largest error. */
  worst?: string;
  note?: string;
}

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

interface FixtureJson {
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

/** Fixture names in a folder: index.json's list, else every `<name>.json` with a `<name>.io.safetensors`. */
export function listFixtures(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ParityError(`${dir}: not a folder (give a fixture folder laid out like fixtures/beit3-ref)`);
  const idx = join(dir, 'index.json');
  if (existsSync(idx)) {
    let j: { fixtures?: Record<string, unknown> } | null;
    try {
      j = JSON.parse(readFileSync(idx, 'utf8')) as typeof j;
    } catch (e) {
      throw new ParityError(`${idx}: unreadable (${(e as Error).message})`);
    }
    if (j && typeof j.fixtures === 'object' && j.fixtures !== null)
      return Object.keys(j.fixtures).filter((n) => existsSync(join(dir, `${n}.io.safetensors`)));
  }
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

function toNumbers(t: Tensor): Float64Array {
  const out = new Float64Array(t.size);
  for (let i = 0; i < t.size; i++) out[i] = Number(t.data[i]);
  return out;
}

function maxAbsDiff(a: Tensor, ref: Tensor, what: string): number {
  if (a.shape.length !== ref.shape.length || a.shape.some((d, i) => d !== ref.shape[i]))
    throw new ParityError(`${what}: shape [${a.shape}] differs from reference [${ref.shape}]`);
  const x = toNumbers(a);
  const y = toNumbers(ref);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Builds, compiles (parameters bound) and runs one graph. */
export async function runGraph(
  root: Module,
  feeds: Record<string, Tensor>,
  build: (s: ParamScope, inputs: Values) => Values,
  opts: { threads?: number; name?: string } = {},
): Promise<Record<string, Tensor>> {
  const g = new Graph(opts.name ?? 'parity');
  const s = new ParamScope(g, root);
  const inputs: Values = {};
  for (const [k, t] of Object.entries(feeds)) inputs[k] = g.input(k, t.dtype, t.shape);
  const outs = build(s, inputs);
  for (const [k, v] of Object.entries(outs)) g.output(v, k);
  const prog = await Program.compile(g, { bind: s.bindings(), threads: opts.threads });
  try {
    return await prog.run(feeds);
  } finally {
    await prog.release();
  }
}

function encoderPaddingMask(batch: number, nv: number, padding?: Tensor, vision = true): Tensor {
  const T = padding ? padding.shape[1] : 0;
  const L = (vision ? nv : 0) + T;
  const out = new Float64Array(batch * L);
  if (padding)
    for (let b = 0; b < batch; b++)
      for (let j = 0; j < T; j++) out[b * L + L - T + j] = Number(padding.data[b * T + j]);
  return Tensor.f64([batch, L], out);
}

function pick(io: Map<string, Tensor>, key: string, fixture: string): Tensor {
  const t = io.get(key);
  if (!t) throw new ParityError(`${fixture}: reference tensor "${key}" missing`);
  return t;
}

/** Forward calls of one fixture: returns (case name → our outputs keyed like the io file's out.*). */
async function forwardCases(
  name: string,
  root: Module,
  js: FixtureJson,
  io: Map<string, Tensor>,
  threads?: number,
) {
  const results: { case: string; outs: Record<string, Tensor> }[] = [];
  for (const call of js.io.calls) {
    if (call.name === 'decode' || call.name === 'beam') continue;
    const feeds: Record<string, Tensor> = {};
    const rename = (k: string) => (k === 'masked_tokens' ? 'text_ids' : k);
    for (const k of call.inputs)
      feeds[rename(name === 'backbone' ? k.slice(k.indexOf('.') + 1) : k)] = pick(io, `in.${k}`, name);
    const outs: Record<string, Tensor> = {};
    if (name === 'backbone') {
      const bb = root as BEiT3;
      const r = await runGraph(
        bb,
        feeds,
        (s, x) => {
          const o = bb.forward(s, {
            image: x.image,
            textIds: x.tokens,
            textPadding: x.padding_mask,
            visionMaskedPosition: x.vision_masked_position,
          });
          const v: Values = {
            encoder_out: joinStreams(o.out),
            layer_input: joinStreams(o.layerInput),
            encoder_embedding: joinStreams(o.embedding),
          };
          o.layerOutputs.forEach((l, i) => (v[`layer${i}_out`] = joinStreams(l)));
          return v;
        },
        { threads, name: `backbone_${call.name}` },
      );
      const B = (feeds.image ?? feeds.tokens).shape[0];
      r.encoder_padding_mask = encoderPaddingMask(
        B,
        numVisionTokens(bb.cfg),
        feeds.padding_mask,
        !!feeds.image,
      );
      for (const [k, t] of Object.entries(r)) outs[`${call.name}.${k}`] = t;
    } else {
      const model = root as Beit3TaskModel;
      const r = await runGraph(model, feeds, (s, x) => model.forward(s, x), {
        threads,
        name: `${name}_${call.name}`,
      });
      for (const o of call.outputs) {
        const local = o.startsWith(`${call.name}.`) ? o.slice(call.name.length + 1) : o;
        if (r[local]) outs[o] = r[local];
      }
    }
    results.push({ case: call.name, outs });
  }
  return results;
}

async function decodeCase(
  model: Beit3ForCaptioning,
  io: Map<string, Tensor>,
  beam: { maskId: number; numBeams: number; maxLen: number; lengthPenalty: number } | undefined,
  threads?: number,
): Promise<Record<string, Tensor>> {
  const dec = new CaptionDecoder(model, { threads, allLogits: true });
  try {
    const outs: Record<string, Tensor> = {};
    const image = pick(io, 'in.decode.image', 'captioning');
    const first = await (
      await dec.first()
    ).run({ image, text_ids: pick(io, 'out.decode.step0.input_ids', 'captioning') });
    outs['decode.step0.logits'] = first.all_logits;
    // the reference stores the cache after the trim of its last (<mask>) entry
    for (let l = 0; l < model.cfg.layers; l++) {
      outs[`decode.step0.cache.layer${l}.prev_key`] = dropLastPosition(first[`cache.layer${l}.key`]);
      outs[`decode.step0.cache.layer${l}.prev_value`] = dropLastPosition(first[`cache.layer${l}.value`]);
    }
    // forced words, one beam: the step graph with src = identity, beam scores 0
    const B = image.shape[0];
    const step = await dec.step(1, 1);
    let past = pastFeeds(first);
    for (let k = 1; io.has(`out.decode.step${k}.logits`); k++) {
      const r = await step.run({
        text_ids: pick(io, `out.decode.step${k}.input_ids`, 'captioning'),
        text_len: Tensor.scalar(2 + k, 'int64'),
        src: Tensor.i64(
          [B],
          Array.from({ length: B }, (_, i) => i),
        ),
        beam_scores: Tensor.f32([B]),
        ...past,
      });
      outs[`decode.step${k}.logits`] = r.all_logits;
      past = pastFeeds(r);
    }
    if (beam) {
      const ref = pick(io, 'out.beam.token_ids', 'captioning');
      const r = await captionBeamSearch(dec, image, beam);
      // batch_decode(skip_special_tokens=True): drop 0,1,2,3 and <mask>; right-pad with -1.
      const special = new Set([0, 1, 2, 3, beam.maskId]);
      const W = ref.shape[1];
      const rows = r.map((x) => x.decodedIds.filter((t) => !special.has(t)));
      outs['beam.token_ids'] = Tensor.i64(
        [rows.length, W],
        rows.flatMap((row) => [...row, ...Array(W).fill(-1)].slice(0, W)),
      );
    }
    return outs;
  } finally {
    await dec.release();
  }
}

/** (B, H, L, d) → (B, H, L − 1, d). */
function dropLastPosition(t: Tensor): Tensor {
  const [B, H, L, d] = t.shape;
  const out = new Float32Array(B * H * (L - 1) * d);
  const src = t.data as Float32Array;
  for (let i = 0; i < B * H; i++) out.set(src.subarray(i * L * d, (i * L + L - 1) * d), i * (L - 1) * d);
  return new Tensor('float32', [B, H, L - 1, d], out);
}

/** Loss + gradients of the official loss vs `<name>.grads.safetensors`. */
async function gradCase(
  name: string,
  root: Module,
  js: FixtureJson,
  io: Map<string, Tensor>,
  refs: Map<string, Tensor>,
  threads?: number,
) {
  const feeds: Record<string, Tensor> = {};
  const prefix = name === 'backbone' ? 'in.grad.' : 'in.';
  for (const [k, t] of io)
    if (k.startsWith(prefix) && (name === 'backbone' || !k.slice(3).includes('.')))
      feeds[k.slice(prefix.length)] = t;
  if (name === 'captioning') {
    feeds.text_ids = feeds.masked_tokens;
    delete feeds.masked_tokens;
  }
  const keys = [...root.namedParameters()].map(([k]) => k);
  let used: string[] = [];
  const r = await runGraph(
    root,
    feeds,
    (s, x) => {
      let out: Values;
      if (name === 'backbone') {
        const o = (root as BEiT3).forward(s, {
          image: x.image,
          textIds: x.tokens,
          textPadding: x.padding_mask,
          visionMaskedPosition: x.vision_masked_position,
        });
        out = { loss: ops.reduceSum(ops.mul(joinStreams(o.out), x.R), [0, 1, 2]) };
      } else out = (root as Beit3TaskModel).loss(s, x);
      const params = s.used();
      used = [...params.keys()];
      const gs = grad(out.loss, [...params.values()]);
      const res: Values = {};
      for (const k of ['loss', 'acc', 'loss_plain_ce', 'loss_drop_worst']) if (out[k]) res[k] = out[k];
      used.forEach((k, i) => (res[`grad.${k}`] = gs[i]));
      return res;
    },
    { threads, name: `${name}_grad` },
  );
  for (const k of keys)
    if (!used.includes(k)) r[`grad.${k}`] = Tensor.zeros('float32', pick(refs, `grad.${k}`, name).shape);
  return r;
}

function gradCompare(
  ours: Record<string, Tensor>,
  refs: Map<string, Tensor>,
  js: FixtureJson,
  fixture: string,
): CaseResult {
  const zeroKey = Object.keys(js.observed ?? {}).find((k) =>
    k.startsWith('grads_that_are_mathematically_zero'),
  );
  const mathZero = new Set(
    Object.keys((zeroKey ? (js.observed![zeroKey] as Record<string, number>) : {}) ?? {}),
  );
  const relTol = js.recommended_tolerances_fp32?.grads?.per_tensor_rel_l2 ?? 1e-3;
  let worst = 0;
  let worstKey = '';
  const notes: string[] = [];
  for (const [k, ref] of refs) {
    if (!k.startsWith('grad.')) continue;
    const g = ours[k];
    if (!g) throw new ParityError(`${fixture}: no gradient computed for ${k}`);
    const a = toNumbers(g);
    const b = toNumbers(ref);
    let num = 0;
    let den = 0;
    let ratio = 0; // element-wise: |g−ref| / (1e-5 + 1e-3|ref|) must be ≤ 1
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - b[i];
      num += d * d;
      den += b[i] * b[i];
      const r = Math.abs(d) / (1e-5 + (mathZero.has(k.slice(5)) ? 0 : 1e-3 * Math.abs(b[i])));
      if (!(r <= ratio)) ratio = Number.isNaN(r) ? Infinity : r;
    }
    const rel = den > 0 ? Math.sqrt(num / den) / relTol : 0;
    const score = mathZero.has(k.slice(5)) || den === 0 ? ratio : Math.max(ratio, rel);
    if (score > worst) {
      worst = score;
      worstKey = k;
    }
  }
  if (worst > 1) notes.push(`worst ${worstKey}`);
  return {
    fixture,
    case: 'grads',
    maxErr: worst,
    tol: 1,
    ok: worst <= 1,
    worst: worstKey,
    note: 'score = max(elementwise |g−ref|/(1e-5+1e-3|ref|), relL2/1e-3); ≤ 1 passes',
  };
}

/** Beam settings from the recorded python call (fallback: the json's tiny_config; <mask> = vocab − 1). */
function beamSettings(python: string, js: FixtureJson) {
  const num = (re: RegExp) => {
    const m = re.exec(python);
    return m ? Number(m[1]) : undefined;
  };
  const vocab = Number(js.encoder_config.vocab_size);
  return {
    numBeams: num(/num_beams=(\d+)/) ?? js.tiny_config?.num_beams ?? 3,
    maxLen: num(/num_max_bpe_tokens=(\d+)/) ?? js.tiny_config?.beam_max_len ?? 64,
    lengthPenalty: num(/length_penalty=([\d.]+)/) ?? 0.6,
    maskId: num(/mask=(\d+)/) ?? vocab - 1,
  };
}

/** Builds the fixture's model from its json (bare BEiT3 for `backbone`). */
export function modelForFixture(name: string, js: FixtureJson): Module {
  const cfg = fromEncoderConfig(js.encoder_config);
  if (name === 'backbone') return new BEiT3(cfg, { init: 'torchscale' });
  return createTaskModel(name as TaskName, cfg, js.num_classes ?? undefined);
}

export async function parityFixture(
  dir: string,
  name: string,
  opts: ParityOptions = {},
): Promise<CaseResult[]> {
  const js = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as FixtureJson;
  const root = modelForFixture(name, js);
  const pth = join(dir, `${name}.pth`);
  const usePth = opts.weights === 'pth' && existsSync(pth);
  const wfile = usePth ? pth : join(dir, `${name}.safetensors`);
  if (!existsSync(wfile)) throw new ParityError(`${name}: weights ${wfile} not found`);
  root.loadStateDict(await loadCheckpoint(wfile));
  const io = await loadSafetensors(join(dir, `${name}.io.safetensors`));
  const tol = js.recommended_tolerances_fp32?.outputs?.max_abs ?? 1e-4;
  const results: CaseResult[] = [];
  const compare = (caseName: string, outs: Record<string, Tensor>, expected: string[]) => {
    let m = 0;
    let worst = '';
    for (const o of expected) {
      const ref = pick(io, `out.${o}`, name);
      const ours = outs[o];
      if (!ours) throw new ParityError(`${name}/${caseName}: output ${o} was not produced`);
      const e = maxAbsDiff(ours, ref, `${name}/${o}`);
      if (e >= m) {
        m = e;
        worst = o;
      }
    }
    results.push({
      fixture: name,
      case: caseName,
      maxErr: m,
      tol,
      ok: m <= tol,
      worst,
      note: `weights ${usePth ? '.pth' : '.safetensors'}`,
    });
  };
  for (const c of await forwardCases(name, root, js, io, opts.threads)) {
    const call = js.io.calls.find((x) => x.name === c.case)!;
    compare(c.case, c.outs, call.outputs);
  }
  const decode = js.io.calls.find((c) => c.name === 'decode');
  const beamCall = js.io.calls.find((c) => c.name === 'beam');
  if (decode && name === 'captioning') {
    const beam = beamCall ? beamSettings(beamCall.python ?? '', js) : undefined;
    const outs = await decodeCase(root as Beit3ForCaptioning, io, beam, opts.threads);
    compare(
      'decode',
      outs,
      decode.outputs.filter((o) => !o.endsWith('input_ids')),
    );
    if (beamCall) {
      const before = results.length;
      compare('beam', outs, beamCall.outputs);
      results[before].tol = 0; // integer ids: exact
      results[before].ok = results[before].maxErr === 0;
    }
  }
  const gfile = join(dir, `${name}.grads.safetensors`);
  if ((opts.grads ?? true) && existsSync(gfile) && js.grads) {
    const refs = await loadSafetensors(gfile);
    const ours = await gradCase(name, root, js, io, refs, opts.threads);
    const lossTol = js.recommended_tolerances_fp32?.loss?.rel ?? 1e-5;
    const scalars: [string, string][] = [
      ['loss', 'loss'],
      ...Object.keys(js.grads.extra_scalars).map(
        (k) => [k, k === 'loss_drop_worst_step12001' ? 'loss_drop_worst' : k] as [string, string],
      ),
    ];
    let worst = 0;
    let wk = '';
    for (const [refKey, ourKey] of scalars) {
      const ref = refs.get(refKey);
      if (!ref || !ours[ourKey]) continue;
      const rv = Number(ref.data[0]);
      const e = Math.abs(Number(ours[ourKey].data[0]) - rv) / Math.max(Math.abs(rv), 1);
      if (e >= worst) {
        worst = e;
        wk = refKey;
      }
    }
    results.push({
      fixture: name,
      case: 'loss',
      maxErr: worst,
      tol: lossTol,
      ok: worst <= lossTol,
      worst: wk,
      note: 'relative (abs below 1)',
    });
    results.push(gradCompare(ours, refs, js, name));
  }
  return results;
}

/** Every fixture of a folder. */
export async function parityDir(dir: string, opts: ParityOptions = {}): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const name of listFixtures(dir)) out.push(...(await parityFixture(dir, name, opts)));
  return out;
}
