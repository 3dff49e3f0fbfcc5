/**
 * Parity against official training trajectories laid out like fixtures/train-ref (README
 * there): for every BEiT-3 task listed in index.json (`beit3.tasks`), rebuild the run from its
 * `<task>.trajectory.json` — model from the sibling beit3-ref fixture, hyperparameters, schedule
 * and groups from the json, micro-batches from the safetensors — run every micro-step through
 * our compiled train step and compare, one case per quantity: schedule, param groups, lr / wd
 * tables, losses, acc, grad norms, accumulated gradients, parameters after every step, final
 * AdamW moments, and which parameters have gradients / optimizer state.
 * Node-only (reads the folder).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Tensor } from '../graph/tensor.js';
import { loadSafetensors } from '../io/safetensors.js';
import { type Beit3Config, fromEncoderConfig, makeConfig } from '../models/beit3/config.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import { type CaseResult, maxAbsDiff, toNumbers } from '../models/beit3/parity/index.node.js';
import { createTaskModel } from '../models/beit3/registry.js';
import { Beit3Error } from '../util/errors.js';
import { compileFinetune, type FinetuneHyperparameters, finetuneSchedule } from './finetune.js';
import { type FinetuneTask, TASK_MODEL } from './objectives.js';
import type { ParamGroup } from './param-groups.js';

export type { CaseResult } from '../models/beit3/parity/index.node.js';

export class TrajectoryError extends Beit3Error {
  override name = 'TrajectoryError';
}

/** The train-ref README §8 recommendations for a float32 re-implementation. */
export const TRAJECTORY_TOLERANCES = {
  lossRel: 1e-5,
  accAbs: 1e-6,
  gradNormRel: 1e-4,
  tableRel: 1e-12,
  gradRelL2: 1e-3,
  paramRelL2: 5e-5,
  paramAbs: 1e-5,
  /** k_proj biases whose gradient is mathematically zero but float32 noise (README §8 exception). */
  noiseAbs: 1e-3,
  momentRelL2: 1e-3,
};

export interface TrajectoryOptions {
  threads?: number;
  /** Run only these tasks (default: every BEiT-3 task of index.json). */
  only?: string[];
}

interface TrajectoryJson {
  task: string;
  model: { weights_file: string; tiny_config?: Record<string, number>; drop_path_rate?: number };
  hyperparameters: Record<string, unknown>;
  micro_batches: { count: number; batch_size: number; keys: string[] };
  schedule: { num_training_steps_per_epoch: number; lr_schedule_values: number[] };
  param_groups: { name: string; lr_scale: number; weight_decay: number; params: string[] }[];
  params_without_grad?: string[];
  adam?: { step: number; params_without_state?: string[] };
  fp32_vs_fp64?: { params_with_mathematically_zero_gradient?: Record<string, string[]> };
}

function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new TrajectoryError(`${path}: not found`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new TrajectoryError(`${path}: unreadable JSON (${(e as Error).message})`);
  }
}

/** The index.json of a train-ref folder, or null when `dir` is not one (no `beit3.tasks`). */
export function readTrainRefIndex(
  dir: string,
): { beit3: { tasks: Record<string, { model: string; files: string[] }> } } | null {
  const p = join(dir, 'index.json');
  if (!existsSync(p)) return null;
  const j = readJson<Record<string, unknown>>(p);
  const b = j.beit3 as { tasks?: unknown } | undefined;
  return b && typeof b.tasks === 'object' && b.tasks !== null ? (j as never) : null;
}

/** BEiT-3 tasks of a train-ref folder whose files are present. */
export function listTrajectoryTasks(dir: string): string[] {
  const idx = readTrainRefIndex(dir);
  if (!idx)
    throw new TrajectoryError(
      `${dir}: no index.json with beit3.tasks (expected a folder laid out like fixtures/train-ref)`,
    );
  return Object.entries(idx.beit3.tasks)
    .filter(([, t]) => (t.files ?? []).every((f) => existsSync(join(dir, f))))
    .map(([n]) => n);
}

const num = (hp: Record<string, unknown>, k: string, d?: number): number => {
  const v = hp[k] ?? d;
  if (typeof v !== 'number')
    throw new TrajectoryError(`hyperparameters.${k} must be a number, got ${JSON.stringify(v)}`);
  return v;
};

/** The run's official flags as FinetuneHyperparameters. */
export function hyperparametersOf(js: TrajectoryJson): FinetuneHyperparameters & { batchSize: number } {
  const hp = js.hyperparameters;
  const betas = hp.opt_betas as [number, number] | null | undefined;
  return {
    lr: num(hp, 'lr'),
    minLr: num(hp, 'min_lr'),
    epochs: num(hp, 'epochs'),
    warmupEpochs: num(hp, 'warmup_epochs', 0),
    warmupSteps: num(hp, 'warmup_steps', -1),
    layerDecay: num(hp, 'layer_decay', 0.9),
    taskHeadLrWeight: num(hp, 'task_head_lr_weight', 0),
    weightDecay: num(hp, 'weight_decay'),
    optBetas: betas ? [betas[0], betas[1]] : undefined,
    optEps: (hp.opt_eps as number | null | undefined) ?? undefined,
    clipGrad: (hp.clip_grad as number | null | undefined) ?? null,
    updateFreq: num(hp, 'update_freq', 1),
    labelSmoothing: num(hp, 'label_smoothing', 0.1),
    dropWorstRatio: num(hp, 'drop_worst_ratio', 0.2),
    dropWorstAfter: num(hp, 'drop_worst_after', 12000),
    batchSize: num(hp, 'batch_size'),
  };
}

/**
 * The task model with the run's start weights: `<weights_file>` in the folder or in a sibling
 * `beit3-ref/` (its `<model>.json` gives the official EncoderConfig; else the json's tiny_config).
 */
async function startModel(dir: string, task: FinetuneTask, js: TrajectoryJson): Promise<Beit3TaskModel> {
  const file = js.model.weights_file;
  const candidates = [join(dir, file), join(dirname(dir), 'beit3-ref', file)];
  const weights = candidates.find((p) => existsSync(p));
  if (!weights)
    throw new TrajectoryError(
      `${task}: start weights ${file} not found (looked in ${candidates.join(', ')})`,
    );
  const refJson = join(dirname(weights), `${TASK_MODEL[task]}.json`);
  const state = await loadSafetensors(weights);
  const dropPath = js.model.drop_path_rate ?? num(js.hyperparameters, 'drop_path', 0);
  let cfg: Beit3Config;
  let classes: number | undefined;
  if (existsSync(refJson)) {
    const ref = readJson<{ encoder_config: Record<string, unknown>; num_classes?: number | null }>(refJson);
    cfg = { ...fromEncoderConfig(ref.encoder_config), dropPathRate: dropPath };
    classes = ref.num_classes ?? undefined;
  } else {
    const t = js.model.tiny_config;
    if (!t)
      throw new TrajectoryError(`${task}: no ${refJson} and no model.tiny_config to build the model from`);
    cfg = makeConfig('tiny', t.img_size, t.patch_size, {
      inChans: t.in_chans,
      embedDim: t.embed_dim,
      heads: t.heads,
      layers: t.layers,
      ffnDim: t.ffn,
      vocabSize: t.vocab_size,
      maxSourcePositions: t.max_source_positions,
      normalizeOutput: !(task === 'imagenet' || task === 'vqav2'),
      dropPathRate: dropPath,
    });
    const head = state.get('head.weight') ?? state.get('head.3.weight') ?? state.get('head.dense2.weight');
    classes = head?.shape[0];
  }
  const model = createTaskModel(TASK_MODEL[task], cfg, classes);
  model.loadStateDict(state);
  return model;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

/** ‖a − b‖ / ‖b‖ (‖b‖ = 0: max |a|). */
function relL2(a: Tensor, b: Tensor, what: string): number {
  maxAbsDiff(a, b, what); // shape check
  const x = toNumbers(a);
  const y = toNumbers(b);
  let num2 = 0;
  let den = 0;
  let amax = 0;
  for (let i = 0; i < x.length; i++) {
    num2 += (x[i] - y[i]) ** 2;
    den += y[i] ** 2;
    amax = Math.max(amax, Math.abs(x[i]));
  }
  if (Number.isNaN(num2)) return Infinity;
  return den > 0 ? Math.sqrt(num2 / den) : amax;
}

/** Worst-case collector: the score is err / tol, ≤ 1 passes. */
class Worst {
  score = 0;
  err = 0;
  tol = 1;
  where = '';
  add(err: number, tol: number, where: string): void {
    const s = Number.isNaN(err) ? Infinity : err / tol;
    if (s >= this.score) [this.score, this.err, this.tol, this.where] = [s, err, tol, where];
  }
  result(fixture: string, name: string, note?: string): CaseResult {
    return {
      fixture,
      case: name,
      maxErr: this.err,
      tol: this.tol,
      ok: this.score <= 1,
      worst: this.where,
      note,
    };
  }
}

function groupsCase(
  task: string,
  ours: readonly ParamGroup[],
  ref: TrajectoryJson['param_groups'],
): CaseResult {
  const w = new Worst();
  const problems: string[] = [];
  if (ours.map((g) => g.name).join() !== ref.map((g) => g.name).join())
    problems.push(`group order ${ours.map((g) => g.name).join(',')} ≠ ${ref.map((g) => g.name).join(',')}`);
  for (const r of ref) {
    const o = ours.find((g) => g.name === r.name);
    if (!o) continue;
    if (o.params.join() !== r.params.join()) problems.push(`${r.name}: parameters differ`);
    w.add(rel(o.lrScale, r.lr_scale), TRAJECTORY_TOLERANCES.tableRel, `${r.name}.lr_scale`);
    w.add(Math.abs(o.weightDecay - r.weight_decay), TRAJECTORY_TOLERANCES.tableRel, `${r.name}.weight_decay`);
  }
  const res = w.result(task, 'param_groups');
  if (problems.length)
    Object.assign(res, { ok: false, maxErr: Infinity, worst: problems[0], note: problems.join('; ') });
  return res;
}

/** Every case of one task's trajectory. */
export async function trajectoryCases(
  dir: string,
  task: string,
  opts: TrajectoryOptions = {},
): Promise<CaseResult[]> {
  if (!(task in TASK_MODEL))
    throw new TrajectoryError(
      `${task}: not a BEiT-3 fine-tuning task (${Object.keys(TASK_MODEL).join(', ')})`,
    );
  const t = task as FinetuneTask;
  const js = readJson<TrajectoryJson>(join(dir, `${task}.trajectory.json`));
  const ref = await loadSafetensors(join(dir, `${task}.trajectory.safetensors`));
  const get = (k: string): Tensor => {
    const v = ref.get(k);
    if (!v) throw new TrajectoryError(`${task}: reference tensor "${k}" missing`);
    return v;
  };
  const T = TRAJECTORY_TOLERANCES;
  const hp = hyperparametersOf(js);
  const uf = hp.updateFreq ?? 1;
  const M = js.micro_batches.count;
  const K = Math.ceil(M / uf);
  const out: CaseResult[] = [];

  const model = await startModel(dir, t, js);
  const start = new Map([...model.stateDict()].map(([k, v]) => [k, v]));
  const text = ref.get('batch0.language_tokens');
  const ft = await compileFinetune(model, t, hp, {
    batchSize: hp.batchSize,
    textLen: text ? text.shape[1] : undefined,
    compile: { threads: opts.threads },
    exposeGrads: true,
  });
  try {
    // schedule, groups, lr / wd tables
    const schedule = finetuneSchedule(hp, js.schedule.num_training_steps_per_epoch);
    const ws = new Worst();
    const refSched = js.schedule.lr_schedule_values;
    if (schedule.length !== refSched.length)
      ws.add(Infinity, T.tableRel, `length ${schedule.length} ≠ ${refSched.length}`);
    else
      schedule.forEach((v, i) =>
        ws.add(Math.abs(v - refSched[i]) / Math.max(Math.abs(refSched[i]), 1e-300), T.tableRel, `[${i}]`),
      );
    out.push(ws.result(task, 'schedule'));
    out.push(groupsCase(task, ft.groups, js.param_groups));
    const lrRef = get('lr');
    const wdRef = get('weight_decay');
    const G = ft.groups.length;
    const wt = new Worst();
    for (let k = 0; k < K; k++)
      ft.groups.forEach((g, j) => {
        const l = Number(lrRef.data[k * G + j]);
        const wd = Number(wdRef.data[k * G + j]);
        wt.add(
          Math.abs(schedule[k] * g.lrScale - l) / Math.max(Math.abs(l), 1e-300),
          T.tableRel,
          `lr[${k}][${g.name}]`,
        );
        wt.add(
          Math.abs(g.weightDecay - wd) / Math.max(Math.abs(wd), 1e-300),
          T.tableRel,
          `weight_decay[${k}][${g.name}]`,
        );
      });
    if (lrRef.shape[1] !== G) wt.add(Infinity, T.tableRel, `${lrRef.shape[1]} reference groups, ${G} ours`);
    out.push(wt.result(task, 'lr_table'));

    // parameters with gradients = all − params_without_grad
    const used = new Set(ft.step.paramNames);
    const noGrad = new Set(js.params_without_grad ?? []);
    const gradSet = [...start.keys()].filter((k) => used.has(k) === noGrad.has(k));
    out.push({
      fixture: task,
      case: 'grad_none_set',
      maxErr: gradSet.length,
      tol: 0,
      ok: gradSet.length === 0,
      worst: gradSet[0],
      note: 'parameters whose grad-None status differs from the official run',
    });

    // the trajectory
    const zeroGroups = js.fp32_vs_fp64?.params_with_mathematically_zero_gradient ?? {};
    const noise = new Set(
      Object.entries(zeroGroups)
        .filter(([k]) => k.startsWith('rounding_noise'))
        .flatMap(([, v]) => v),
    );
    ft.step.init(start);
    const keys = js.micro_batches.keys;
    const gsRef = ref.get('global_step');
    const lossRef = get('loss');
    const accRef = ref.get('acc');
    const normRef = get('grad_norm');
    const [wl, wa, wn, wg, wp] = [new Worst(), new Worst(), new Worst(), new Worst(), new Worst()];
    let step0Same = 0;
    let gradsSeen = 0;
    for (let i = 0; i < M; i++) {
      const batch: Record<string, Tensor> = {};
      for (const k of keys) batch[k] = get(`batch${i}.${k}`);
      const globalStep = gsRef ? Number(gsRef.data[i]) : Math.floor(i / uf);
      const k = Math.floor(i / uf);
      const r = await ft.step.microStep(ft.objective.feeds(batch, { globalStep }), schedule[k]);
      wl.add(rel(r.loss, Number(lossRef.data[i])), T.lossRel, `micro ${i}`);
      if (accRef && r.outputs.acc)
        wa.add(Math.abs(Number(r.outputs.acc.data[0]) - Number(accRef.data[i])), T.accAbs, `micro ${i}`);
      if (!r.update) continue;
      wn.add(rel(r.gradNorm!, Number(normRef.data[k])), T.gradNormRel, `step ${k}`);
      if (r.grads)
        for (const [n, g] of r.grads) {
          const refG = ref.get(`grad${k}.${n}`);
          if (!refG) continue;
          gradsSeen++;
          if (noise.has(n)) wg.add(maxAbsDiff(g, refG, n), T.noiseAbs, `grad${k}.${n}`);
          else wg.add(relL2(g, refG, n), T.gradRelL2, `grad${k}.${n}`);
        }
      const now = ft.step.params();
      for (const [n, p] of now) {
        const refP = get(`step${k}.${n}`);
        if (noise.has(n)) {
          wp.add(maxAbsDiff(p, refP, n), T.noiseAbs, `step${k}.${n}`);
          continue;
        }
        wp.add(relL2(p, refP, n), T.paramRelL2, `step${k}.${n} (rel L2)`);
        wp.add(maxAbsDiff(p, refP, n), T.paramAbs, `step${k}.${n} (abs)`);
        if (schedule[k] === 0) step0Same += maxAbsDiff(p, start.get(n)!, n) === 0 ? 0 : 1;
      }
    }
    out.push(wl.result(task, 'loss', 'relative, per micro-step'));
    if (accRef) out.push(wa.result(task, 'acc', 'absolute, per micro-step'));
    out.push(wn.result(task, 'grad_norm', 'relative, pre-clip, per optimizer step'));
    const gradsStored = [...ref.keys()].filter((k) => /^grad\d+\./.test(k)).length;
    if (gradsSeen !== gradsStored)
      wg.add(Infinity, T.gradRelL2, `${gradsSeen} of ${gradsStored} stored gradients compared`);
    out.push(wg.result(task, 'grads', 'accumulated pre-clip gradients, rel L2 per tensor'));
    out.push(wp.result(task, 'params', 'after every optimizer step: rel L2 and abs per tensor'));
    out.push({
      fixture: task,
      case: 'lr0_identity',
      maxErr: step0Same,
      tol: 0,
      ok: step0Same === 0,
      note: 'parameters changed by an optimizer step with lr 0',
    });
    // final AdamW state
    const st = ft.step.getState({ live: true });
    const wm = new Worst();
    const noState = new Set(js.adam?.params_without_state ?? []);
    for (const n of start.keys()) {
      const has = st.m.has(n);
      if (has === noState.has(n))
        wm.add(Infinity, T.momentRelL2, `${n}: state ${has ? 'present' : 'absent'}`);
      if (!has) continue;
      for (const [ours, key] of [
        [st.m.get(n)!, `adam.exp_avg.${n}`],
        [st.v.get(n)!, `adam.exp_avg_sq.${n}`],
      ] as const) {
        const r = get(key);
        if (noise.has(n)) wm.add(maxAbsDiff(ours, r, key), T.noiseAbs, key);
        else wm.add(relL2(ours, r, key), T.momentRelL2, key);
      }
    }
    if (js.adam && js.adam.step !== st.step)
      wm.add(Infinity, T.momentRelL2, `AdamW step ${st.step} ≠ ${js.adam.step}`);
    out.push(wm.result(task, 'adam', 'final exp_avg / exp_avg_sq, rel L2 per tensor'));
  } finally {
    await ft.step.release();
  }
  return out;
}

/**
 * Runners for the other trajectories a train-ref folder may hold, by their index.json key
 * (e.g. `vqkd`): the module that trains that model registers its runner here.
 */
export const TRAJECTORY_RUNNERS: {
  key: string;
  run(dir: string, opts: TrajectoryOptions): Promise<CaseResult[]>;
}[] = [];

/** Every BEiT-3 task of a train-ref folder (`only`: task names), then the registered other runs. */
export async function trainRefParity(dir: string, opts: TrajectoryOptions = {}): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  const tasks = listTrajectoryTasks(dir);
  const index = readJson<Record<string, unknown>>(join(dir, 'index.json'));
  const known = [...tasks, ...TRAJECTORY_RUNNERS.map((r) => r.key).filter((k) => index[k] !== undefined)];
  const unknown = (opts.only ?? []).filter((n) => !known.includes(n));
  if (unknown.length)
    throw new TrajectoryError(
      `${dir}: no trajectory ${unknown.join(', ')} (this folder has ${known.join(', ')})`,
    );
  for (const task of opts.only ? opts.only.filter((t) => tasks.includes(t)) : tasks)
    out.push(...(await trajectoryCases(dir, task, opts)));
  for (const r of TRAJECTORY_RUNNERS)
    if (index[r.key] !== undefined && (!opts.only || opts.only.includes(r.key)))
      out.push(...(await r.run(dir, opts)));
  return out;
}

/** The fixture-kind row `beit3 parity DIR` dispatches train-ref folders to. */
export const TRAIN_REF_KIND = {
  kind: 'train-ref',
  layout:
    'index.json {beit3: {tasks}}, <task>.trajectory.json, <task>.trajectory.safetensors (+ ../beit3-ref weights)',
  detect: (_dir: string, index: Record<string, unknown> | null): boolean => {
    const b = index?.beit3 as { tasks?: unknown } | undefined;
    return !!b && typeof b.tasks === 'object' && b.tasks !== null;
  },
  run: (dir: string, opts: { only?: string[]; threads?: number }): Promise<CaseResult[]> =>
    trainRefParity(dir, opts),
};
