/**
 * Evaluation of a task model during (or instead of) training, with each task's metric:
 * classification top-1/top-5, retrieval R@1/5/10 in both directions and their mean (the
 * official `average_score`), VQA score, NLVR2 accuracy, captioning BLEU/CIDEr-D of beam-search
 * captions. Inference graphs come from the model (models/beit3: the same forwards and caption
 * decoder the pipelines use) with the parameters as graph INPUTS, so they compile once and every
 * evaluation feeds the live training parameters.
 */
import { Graph, type Value } from '../graph/ir.js';
import { Tensor } from '../graph/tensor.js';
import { captionBeamSearch } from '../models/beit3/beam.js';
import { captionFirstSpec, captionStepSpec, type CaptionPrograms, type SpecRunner } from '../models/beit3/decoder.js';
import type { Beit3TaskModel } from '../models/beit3/heads/base.js';
import type { Beit3ForCaptioning } from '../models/beit3/heads/captioning.js';
import type { Beit3ForRetrieval } from '../models/beit3/heads/retrieval.js';
import type { GraphSpec } from '../models/beit3/spec.js';
import { ParamScope } from '../nn/module.js';
import { Program } from '../runtime/session.js';
import type { Beit3Tokenizer } from '../text/beit3-tokenizer.js';
import { stageReporter } from '../util/progress.js';
import { type StreamOptions, type TaskData, taskLoader } from './data.js';
import type { EvalResult, Evaluator } from './loop.js';
import { TrainDataError } from './loop-errors.js';
import { bleu, ciderD, retrievalRecall, vqaAccuracy } from './metrics/index.js';

/** A compiled spec whose parameters are fed at run time (not bound). */
class FedProgram {
  private constructor(
    readonly program: Program,
    readonly paramNames: string[],
  ) {}

  static async compile(model: Beit3TaskModel, spec: GraphSpec, threads?: number): Promise<FedProgram> {
    const g = new Graph(spec.name);
    const s = new ParamScope(g, model);
    const x: Record<string, Value> = {};
    for (const [k, d] of Object.entries(spec.inputs)) x[k] = g.input(k, d.dtype, d.shape);
    for (const [k, v] of Object.entries(spec.body(s, x))) g.output(v, k);
    return new FedProgram(await Program.compile(g, { threads }), [...s.used().keys()]);
  }

  runner(params: ReadonlyMap<string, Tensor>): SpecRunner {
    const fed: Record<string, Tensor> = {};
    for (const n of this.paramNames) {
      const t = params.get(n);
      if (!t) throw new TrainDataError(`evaluation: no value for parameter ${n}`);
      fed[n] = t;
    }
    return { run: (feeds) => this.program.run({ ...feeds, ...fed }) };
  }

  release(): Promise<void> {
    return this.program.release();
  }
}

export interface TaskEvaluatorOptions extends Omit<StreamOptions, 'seed' | 'randaug' | 'flip'> {
  model: Beit3TaskModel;
  data: TaskData;
  tokenizer?: Beit3Tokenizer;
  /** Captioning beam search (official defaults: 3 beams, length penalty 0.6). */
  numBeams?: number;
  lengthPenalty?: number;
  /** ORT threads of the eval programs. */
  ortThreads?: number;
}

const img = (m: Beit3TaskModel, b = 'batch') => ({ dtype: 'float32' as const, shape: [b, m.cfg.inChans, m.cfg.imgSize, m.cfg.imgSize] });
const txt = (L: number, b = 'batch') => ({ dtype: 'int64' as const, shape: [b, L] });

function argmaxRows(t: Tensor): number[] {
  const [n, c] = t.shape;
  const d = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (d[i * c + j] > d[i * c + best]) best = j;
    return best;
  });
}

/** Rank of each row's `label` logit (0 = top), ties counted against it. */
function rankOf(t: Tensor, i: number, label: number): number {
  const c = t.shape[1];
  const d = t.data as Float32Array;
  const v = d[i * c + label];
  let r = 0;
  for (let j = 0; j < c; j++) if (j !== label && d[i * c + j] >= v) r++;
  return r;
}

/** The evaluator of a task (see the module comment for the metrics). */
export class TaskEvaluator implements Evaluator {
  private programs?: Promise<Record<string, FedProgram>>;
  /** One eval loader (and its worker pool) for every evaluation of the run. */
  private loader?: ReturnType<typeof taskLoader>;

  constructor(readonly o: TaskEvaluatorOptions) {
    if (!o.data.eval.length) throw new TrainDataError(`${o.data.task}: no evaluation items`);
    if (o.data.kind === 'captioning' && !o.data.eval.every((it) => it.references?.length))
      throw new TrainDataError(`${o.data.task}: captioning evaluation needs reference captions (the corpus' caption task has them; unilm index files do not)`);
    if (o.data.kind === 'captioning' && !o.tokenizer) throw new TrainDataError('captioning evaluation needs the tokenizer (--sentencepiece_model)');
  }

  private compile(): Promise<Record<string, FedProgram>> {
    const m = this.o.model;
    const L = this.o.textLen;
    const t = this.o.ortThreads;
    const fwd = (name: string, inputs: GraphSpec['inputs']): GraphSpec => ({ name, inputs, body: (s, x) => ({ logits: m.forward(s, x).logits }) });
    const compile = async (specs: Record<string, GraphSpec>) => {
      const out: Record<string, FedProgram> = {};
      for (const [k, spec] of Object.entries(specs)) out[k] = await FedProgram.compile(m, spec, t);
      return out;
    };
    switch (this.o.data.kind) {
      case 'imageclassification':
        return compile({ model: fwd('eval_classify', { image: img(m) }) });
      case 'vqav2':
        return compile({ model: fwd('eval_vqa', { image: img(m), question: txt(L), padding_mask: txt(L) }) });
      case 'nlvr2':
        return compile({ model: fwd('eval_nlvr2', { image_a: img(m), image_b: img(m), text_description: txt(L), padding_mask: txt(L) }) });
      case 'retrieval': {
        const r = m as Beit3ForRetrieval;
        return compile({
          image: { name: 'eval_retrieval_image', inputs: { image: img(m) }, body: (s, x) => ({ vision_cls: r.encodeImage(s, x.image) }) },
          text: { name: 'eval_retrieval_text', inputs: { text_description: txt(L), padding_mask: txt(L) }, body: (s, x) => ({ language_cls: r.encodeText(s, x.text_description, x.padding_mask) }) },
        });
      }
      case 'captioning': {
        const c = m as Beit3ForCaptioning;
        const nb = this.o.numBeams ?? 3;
        return compile({ first: captionFirstSpec(c), step: captionStepSpec(c, nb, nb * 3) });
      }
    }
  }

  async evaluate(params: Map<string, Tensor>, ctx: Parameters<Evaluator['evaluate']>[1] = { step: 0, epoch: 0 }): Promise<EvalResult> {
    this.programs ??= this.compile();
    const progs = await this.programs;
    const run = Object.fromEntries(Object.entries(progs).map(([k, p]) => [k, p.runner(params)]));
    const { data } = this.o;
    const loader = (this.loader ??= taskLoader(data, 'eval', { ...this.o, seed: 0 }));
    const total = data.eval.length;
    const progress = stageReporter(ctx.onProgress, 'eval', { total, unit: 'items' });
    progress.start();
    let done = 0;
    try {
      switch (data.kind) {
        case 'imageclassification': {
          let top1 = 0;
          let top5 = 0;
          for await (const { batch } of loader.iterate()) {
            const { logits } = await run.model.run({ image: batch.image });
            const labels = batch.label.data as BigInt64Array;
            for (let i = 0; i < labels.length; i++) {
              const r = rankOf(logits, i, Number(labels[i]));
              if (r < 1) top1++;
              if (r < 5) top5++;
            }
            progress.update((done += labels.length));
          }
          return { metrics: { top1: top1 / total, top5: top5 / total }, primary: 'top1' };
        }
        case 'vqav2': {
          let soft = 0;
          const preds: string[] = [];
          const refs: string[][] = [];
          let k = 0;
          for await (const { batch } of loader.iterate()) {
            const { logits } = await run.model.run({ image: batch.image, question: batch.language_tokens, padding_mask: batch.padding_mask });
            const C = logits.shape[1];
            const lab = batch.labels.data as Float32Array;
            argmaxRows(logits).forEach((p, i) => {
              soft += lab[i * C + p]; // official VQAScore: the soft score of the argmax answer
              const it = data.eval[k++];
              if (it.references) {
                preds.push(data.labels?.[p] ?? String(p));
                refs.push(it.references);
              }
            });
            progress.update((done += logits.shape[0]));
          }
          const metrics: Record<string, number> = { vqa_soft_score: soft / total };
          if (refs.length === total) metrics.vqa_score = vqaAccuracy(preds, refs);
          return { metrics, primary: refs.length === total ? 'vqa_score' : 'vqa_soft_score' };
        }
        case 'nlvr2': {
          let correct = 0;
          for await (const { batch } of loader.iterate()) {
            const { logits } = await run.model.run({ image_a: batch.image, image_b: batch.image2, text_description: batch.language_tokens, padding_mask: batch.padding_mask });
            const labels = batch.label.data as BigInt64Array;
            argmaxRows(logits).forEach((p, i) => (correct += p === Number(labels[i]) ? 1 : 0));
            progress.update((done += labels.length));
          }
          return { metrics: { acc: correct / total }, primary: 'acc' };
        }
        case 'retrieval': {
          const imgEmb = new Map<number, Float32Array>();
          const txtEmb: Float32Array[] = [];
          const txtImage: number[] = [];
          for await (const { batch } of loader.iterate()) {
            const ids = [...(batch.image_id.data as BigInt64Array)].map(Number);
            const { language_cls } = await run.text.run({ text_description: batch.language_tokens, padding_mask: batch.padding_mask });
            const D = language_cls.shape[1];
            // encode each image once (the eval split lists one item per caption)
            const need = ids.map((id, i) => (imgEmb.has(id) || ids.indexOf(id) !== i ? -1 : i)).filter((i) => i >= 0);
            if (need.length) {
              const S = batch.image.shape.slice(1);
              const n = S.reduce((a, b) => a * b, 1);
              const sub = new Float32Array(need.length * n);
              need.forEach((i, j) => sub.set((batch.image.data as Float32Array).subarray(i * n, (i + 1) * n), j * n));
              const { vision_cls } = await run.image.run({ image: new Tensor('float32', [need.length, ...S], sub) });
              need.forEach((i, j) => imgEmb.set(ids[i], (vision_cls.data as Float32Array).slice(j * D, (j + 1) * D)));
            }
            ids.forEach((id, i) => {
              txtEmb.push((language_cls.data as Float32Array).slice(i * D, (i + 1) * D));
              txtImage.push(id);
            });
            progress.update((done += ids.length));
          }
          const images = [...imgEmb.keys()];
          const col = new Map(images.map((id, i) => [id, i]));
          const sim = images.map((id) => {
            const a = imgEmb.get(id)!;
            return Float64Array.from(txtEmb, (b) => a.reduce((s, v, d) => s + v * b[d], 0));
          });
          const textsOfImage = images.map(() => [] as number[]);
          txtImage.forEach((id, t) => textsOfImage[col.get(id)!].push(t));
          const r = retrievalRecall(sim, textsOfImage);
          const metrics = {
            tr_r1: r.imageToText.r1,
            tr_r5: r.imageToText.r5,
            tr_r10: r.imageToText.r10,
            ir_r1: r.textToImage.r1,
            ir_r5: r.textToImage.r5,
            ir_r10: r.textToImage.r10,
            average_score: 0,
          };
          metrics.average_score = (metrics.tr_r1 + metrics.tr_r5 + metrics.tr_r10 + metrics.ir_r1 + metrics.ir_r5 + metrics.ir_r10) / 6;
          return { metrics, primary: 'average_score' };
        }
        case 'captioning': {
          const tok = this.o.tokenizer!;
          const programs: CaptionPrograms = { first: async () => run.first, step: async () => run.step };
          const examples: { hypothesis: string; references: string[] }[] = [];
          let k = 0;
          for await (const { batch } of loader.iterate()) {
            const res = await captionBeamSearch(programs, batch.image, {
              maskId: tok.maskId,
              numBeams: this.o.numBeams ?? 3,
              maxLen: this.o.textLen,
              lengthPenalty: this.o.lengthPenalty ?? 0.6,
            });
            for (const r of res) examples.push({ hypothesis: tok.decode(r.decodedIds.filter((i) => i < tok.vocabSize), { skipSpecialTokens: true }), references: data.eval[k++].references! });
            progress.update((done += res.length));
          }
          const b = bleu(examples);
          return {
            metrics: { bleu1: b.bleu[0], bleu2: b.bleu[1], bleu3: b.bleu[2], bleu4: b.bleu[3], cider: ciderD(examples).score },
            primary: 'cider',
          };
        }
      }
    } finally {
      progress.done({ done });
    }
  }

  async release(): Promise<void> {
    await this.loader?.close();
    this.loader = undefined;
    if (!this.programs) return;
    for (const p of Object.values(await this.programs)) await p.release();
  }
}
