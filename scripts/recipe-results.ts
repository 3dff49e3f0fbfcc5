/**
 * Last stage of `scripts/recipe-mini.sh`: every task on the corpus val and test splits —
 * chance, a trivial baseline, the model fine-tuned from scratch, the pretrained-then-fine-tuned
 * model, and the q8 model's agreement with fp32 — into OUT/results.json (+ a Markdown table on
 * stdout). Usage: node --import tsx scripts/recipe-results.ts CORPUS OUT [--q8-items N] [--val-items N]
 * TASKS="vqa caption" limits the tasks (each task's cell goes to OUT/results/<task>.json, so
 * processes with disjoint TASKS may run side by side); TASKS="" only merges into results.json.
 * Test splits are scored whole; val splits on their first --val-items items (default 2000).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEval } from '../src/cli/commands/eval.js';
import { pipeline } from '../src/tasks/pipeline.js';
import { bleu, ciderD } from '../src/train/metrics/caption.js';
import { retrievalRecall } from '../src/train/metrics/retrieval.js';
import { vqaAccuracy } from '../src/train/metrics/vqa.js';
import { corpusTask } from '../src/train/data.js';
import { Rng } from '../src/util/random.js';
import { RetrievalPipeline } from '../src/tasks/retrieval.js';

type Row = Record<string, unknown>;
type Metrics = Record<string, number>;

const [corpus, out] = process.argv.slice(2);
if (!corpus || !out) throw new Error('usage: recipe-results.ts CORPUS OUT [--q8-items N]');
const q8Arg = process.argv.indexOf('--q8-items');
const Q8_ITEMS = q8Arg > 0 ? Number(process.argv[q8Arg + 1]) : 1000;
const valArg = process.argv.indexOf('--val-items');
const VAL_ITEMS = valArg > 0 ? Number(process.argv[valArg + 1]) : 2000;
const ALL_TASKS = ['fashion-mnist', 'emoji-group', 'retrieval', 'vqa', 'nlvr2', 'caption'];
const TASKS = (process.env.TASKS ?? ALL_TASKS.join(' ')).split(/\s+/).filter(Boolean);
const CELLS = join(out, 'results');

/** A folder like the corpus whose val split is the first VAL_ITEMS items (images linked, not copied). */
function valSlice(t: string): string {
  const dir = join(out, 'val-slice', t);
  rmSync(dir, { recursive: true, force: true });
  const rel = taskDir(t).slice(corpus.length + 1);
  mkdirSync(join(dir, rel), { recursive: true });
  symlinkSync(join(corpus, 'images'), join(dir, 'images'));
  writeFileSync(join(dir, rel, 'val.jsonl'), rows(t, 'val').slice(0, VAL_ITEMS).map((r) => JSON.stringify(r)).join('\n') + '\n');
  for (const f of readdirSync(taskDir(t))) if (f.endsWith('.json')) writeFileSync(join(dir, rel, f), readFileSync(join(taskDir(t), f)));
  return dir;
}

const taskDir = (t: string) => join(corpus, 'tasks', corpusTask(t)!.dir);
const rows = (t: string, split: string): Row[] =>
  readFileSync(join(taskDir(t), `${split}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
const img = (p: unknown) => join(corpus, p as string);
const mostFrequent = <T>(xs: readonly T[]): T => {
  const n = new Map<T, number>();
  for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1])[0][0];
};
const frac = (xs: boolean[]) => xs.filter(Boolean).length / xs.length;

/** Chance and the trivial baseline of one task on one split, with the metric names the evaluator uses. */
function baselines(t: string, split: string, limit?: number): { chance: Metrics; baseline: Metrics; baselineRule: string } {
  const train = rows(t, 'train');
  const ev = rows(t, split).slice(0, limit);
  const rng = new Rng(0);
  if (t === 'fashion-mnist' || t === 'emoji-group' || t === 'nlvr2') {
    // classification and NLVR2 rows both keep their class in "label"
    const labels = ev.map((r) => r.label);
    const classes = new Set(train.map((r) => r.label)).size;
    const top = mostFrequent(train.map((r) => r.label));
    const m = t === 'nlvr2' ? 'acc' : 'top1';
    return { chance: { [m]: 1 / classes }, baseline: { [m]: frac(labels.map((l) => l === top)) }, baselineRule: 'most frequent train label' };
  }
  if (t === 'vqa') {
    const vocab = JSON.parse(readFileSync(join(taskDir(t), 'answers.json'), 'utf8')) as string[];
    const answers = ev.map((r) => r.answers as string[]);
    const top = mostFrequent(train.map((r) => r.answer as string));
    const random = ev.map(() => vocab[rng.int(vocab.length)]);
    return {
      chance: { vqa_score: vqaAccuracy(random, answers) },
      baseline: { vqa_score: vqaAccuracy(ev.map(() => top), answers) },
      baselineRule: `most frequent train answer ("${top}")`,
    };
  }
  if (t === 'caption') {
    const refsTrain = train.flatMap((r) => r.references as string[]);
    const top = mostFrequent(refsTrain);
    const score = (hyp: (i: number) => string): Metrics => {
      const ex = ev.map((r, i) => ({ hypothesis: hyp(i), references: r.references as string[] }));
      const b = bleu(ex);
      return { bleu1: b.bleu[0], bleu2: b.bleu[1], cider: ciderD(ex).score };
    };
    return {
      chance: score(() => refsTrain[rng.int(refsTrain.length)]),
      baseline: score(() => top),
      baselineRule: `most frequent train caption ("${top}")`,
    };
  }
  // retrieval: all captions of an image are its positives (as the evaluator does)
  const texts = ev.flatMap((r) => r.captions as string[]);
  const textsOfImage: number[][] = [];
  let k = 0;
  for (const r of ev) textsOfImage.push((r.captions as string[]).map(() => k++));
  const recall = (sim: Float64Array[]): Metrics => {
    const r = retrievalRecall(sim, textsOfImage);
    const m = { tr_r1: r.imageToText.r1, tr_r5: r.imageToText.r5, tr_r10: r.imageToText.r10, ir_r1: r.textToImage.r1, ir_r5: r.textToImage.r5, ir_r10: r.textToImage.r10 };
    return { ...m, average_score: Object.values(m).reduce((a, b) => a + b, 0) / 6 };
  };
  // text-only prior: a text's frequency among train captions ranks texts (image→text); the number
  // of captions an image has ranks images (text→image); neither looks at a pixel
  const trainFreq = new Map<string, number>();
  for (const r of train) for (const c of r.captions as string[]) trainFreq.set(c, (trainFreq.get(c) ?? 0) + 1);
  const prior = ev.map((r) => Float64Array.from(texts, (c) => (trainFreq.get(c) ?? 0) + 1e-3 * (r.captions as string[]).length));
  const random = ev.map(() => Float64Array.from(texts, () => rng.next()));
  return { chance: recall(random), baseline: recall(prior), baselineRule: 'text-only prior (train caption frequency; captions per image)' };
}

/** Share of the first `n` test items on which the q8 model's prediction equals the fp32 model's. */
async function q8Agreement(t: string, config: string, n: number): Promise<{ agreement: number; items: number }> {
  const ev = rows(t, 'test').slice(0, n);
  const both = async <T>(run: (dtype: 'fp32' | 'q8') => Promise<T[]>) => {
    const [a, b] = [await run('fp32'), await run('q8')];
    return { agreement: frac(a.map((x, i) => JSON.stringify(x) === JSON.stringify(b[i]))), items: a.length };
  };
  if (t === 'fashion-mnist' || t === 'emoji-group')
    return both(async (dtype) => {
      const p = await pipeline('classify', { config, dtype });
      const r = await p.run(ev.map((x) => img(x.image)));
      await p.dispose();
      return r.map((x) => x.topk[0].label);
    });
  if (t === 'vqa')
    return both(async (dtype) => {
      const p = await pipeline('vqa', { config, dtype });
      const r = await p.run(ev.map((x) => ({ image: img(x.image), question: x.question as string })));
      await p.dispose();
      return r.map((x) => x.answer);
    });
  if (t === 'nlvr2')
    return both(async (dtype) => {
      const p = await pipeline('nlvr2', { config, dtype });
      const r = await p.run(ev.map((x) => ({ left: img(x.left), right: img(x.right), statement: x.statement as string })));
      await p.dispose();
      return r.map((x) => x.answer);
    });
  if (t === 'caption')
    return both(async (dtype) => {
      const p = await pipeline('caption', { config, dtype });
      const r = await p.run(ev.map((x) => img(x.image)));
      await p.dispose();
      return r.map((x) => x.caption);
    });
  // retrieval: the top-1 text of every image and the top-1 image of every text
  return both(async (dtype) => {
    const p = await pipeline('retrieval', { config, dtype });
    const texts = ev.flatMap((x) => x.captions as string[]);
    const s = RetrievalPipeline.scores(await p.embedImages(ev.map((x) => img(x.image))), await p.embedTexts(texts));
    await p.dispose();
    const r = RetrievalPipeline.rankings(s);
    return [...r.textRankPerImage.map((x) => x[0]), ...r.imageRankPerText.map((x) => x[0])];
  });
}

const round = (m: Metrics) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4]));

async function main() {
  const results: Record<string, Record<string, unknown>> = {};
  for (const t of TASKS) {
    results[t] = {};
    for (const split of ['val', 'test']) {
      const cell: Record<string, unknown> = {};
      const b = baselines(t, split, split === 'val' ? VAL_ITEMS : undefined);
      cell.chance = round(b.chance);
      cell.baseline = round(b.baseline);
      cell.baseline_rule = b.baselineRule;
      if (split === 'val') cell.val_items_limit = VAL_ITEMS;
      for (const [name, dir] of [['scratch', `scratch-${t}`], ['pretrained', `ft-${t}`]] as const) {
        const config = join(out, dir, 'config.json');
        if (!existsSync(config)) continue;
        // each model's metrics are kept once computed (a rerun, or a second process, reuses them)
        const memo = join(CELLS, `${t}.${split}.${name}.json`);
        const fresh = existsSync(memo) ? undefined : await runEval({ task: t, data: split === 'val' ? valSlice(t) : corpus, split, config, batchSize: '64', progress: false, threads: process.env.THREADS });
        if (fresh) (mkdirSync(CELLS, { recursive: true }), writeFileSync(memo, JSON.stringify({ metrics: round(fresh.metrics), items: fresh.items, primary: fresh.primary })));
        const r = JSON.parse(readFileSync(memo, 'utf8')) as { metrics: Metrics; items: number; primary: string };
        cell[name] = r.metrics;
        cell.items = r.items;
        cell.primary = r.primary;
      }
      if (split === 'test' && existsSync(join(out, `ft-${t}`, 'config.json')) && process.env.SKIP_Q8 !== '1')
        cell.q8 = await q8Agreement(t, join(out, `ft-${t}`, 'config.json'), Q8_ITEMS);
      results[t][split] = cell;
      process.stderr.write(`${t} ${split}: ${JSON.stringify(cell)}\n`);
    }
    mkdirSync(CELLS, { recursive: true });
    writeFileSync(join(CELLS, `${t}.json`), JSON.stringify(results[t], null, 1) + '\n');
  }
  for (const t of ALL_TASKS) if (!results[t] && existsSync(join(CELLS, `${t}.json`))) results[t] = JSON.parse(readFileSync(join(CELLS, `${t}.json`), 'utf8'));
  const times = existsSync(join(out, 'times.jsonl'))
    ? readFileSync(join(out, 'times.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
  const ordered = Object.fromEntries(ALL_TASKS.filter((t) => results[t]).map((t) => [t, results[t]]));
  writeFileSync(join(out, 'results.json'), JSON.stringify({ tasks: ordered, stages: times }, null, 2) + '\n');
  // the README / docs table: test split, primary metric
  const lines = ['| task (test) | metric | chance | baseline | scratch | pretrained | q8 agreement |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const t of ALL_TASKS.filter((x) => results[x])) {
    const c = results[t].test as Record<string, Metrics & Record<string, unknown>>;
    const m = (c.primary as unknown as string) ?? Object.keys(c.chance)[0];
    const f = (x?: Metrics) => (x && m in x ? x[m].toFixed(3) : '—');
    const q = c.q8 as unknown as { agreement: number; items: number } | undefined;
    lines.push(`| ${t} | ${m} | ${f(c.chance)} | ${f(c.baseline)} | ${f(c.scratch)} | ${f(c.pretrained)} | ${q ? `${(100 * q.agreement).toFixed(1)}% of ${q.items}` : '—'} |`);
  }
  console.log(lines.join('\n'));
}

await main();
