/**
 * `beit3 demo`: every shipped beit3-mini model on a few bundled images the models never saw in
 * training (corpus test split), each prediction printed beside the truth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { pipeline } from '../../tasks/pipeline.js';
import { RetrievalPipeline } from '../../tasks/retrieval.js';
import { SHIPPED_DIR, shippedModel, present } from '../../tasks/shipped.node.js';
import { CliError } from '../errors.js';
import { intOption } from '../task-options.js';

export const DEMO_FILE = join(SHIPPED_DIR, 'beit3-mini', 'demo', 'demo.json');

/** demo.json: the held-out examples, image paths relative to the file. */
export interface DemoSet {
  vqa: { image: string; question: string; answers: string[] }[];
  caption: { image: string; references: string[] }[];
  nlvr2: { left: string; right: string; statement: string; label: boolean }[];
  retrieval: { image: string; caption: string }[];
  'fashion-mnist': { image: string; label: string }[];
  'emoji-group': { image: string; label: string }[];
}

export interface DemoLine {
  task: string;
  input: string;
  prediction: string;
  truth: string;
  correct: boolean;
}

const norm = (s: string) => s.trim().toLowerCase();

/** Runs every shipped model on the demo set; one line per example. */
export async function runDemo(o: { threads?: number; dtype?: 'fp32' | 'q8' } = {}): Promise<DemoLine[]> {
  if (!existsSync(DEMO_FILE)) throw new CliError(`${DEMO_FILE} is missing (an incomplete install or checkout?)`);
  const set = JSON.parse(readFileSync(DEMO_FILE, 'utf8')) as DemoSet;
  const at = (p: string) => join(dirname(DEMO_FILE), p);
  const base = { threads: o.threads, dtype: o.dtype ?? 'fp32' };
  const cfg = (name: string) => present(shippedModel(name)!).config;
  const lines: DemoLine[] = [];

  const vqa = await pipeline('vqa', { ...base, config: cfg('beit3-mini-vqa') });
  const va = await vqa.run(set.vqa.map((x) => ({ image: at(x.image), question: x.question })));
  await vqa.dispose();
  set.vqa.forEach((x, i) =>
    lines.push({ task: 'vqa', input: `${x.image}: ${x.question}`, prediction: va[i].answer, truth: x.answers[0], correct: x.answers.map(norm).includes(norm(va[i].answer)) }),
  );

  const cap = await pipeline('caption', { ...base, config: cfg('beit3-mini-caption') });
  const ca = await cap.run(set.caption.map((x) => at(x.image)));
  await cap.dispose();
  set.caption.forEach((x, i) =>
    lines.push({ task: 'caption', input: x.image, prediction: ca[i].caption, truth: x.references.join(' | '), correct: x.references.map(norm).includes(norm(ca[i].caption)) }),
  );

  const nl = await pipeline('nlvr2', { ...base, config: cfg('beit3-mini-nlvr2') });
  const na = await nl.run(set.nlvr2.map((x) => ({ left: at(x.left), right: at(x.right), statement: x.statement })));
  await nl.dispose();
  set.nlvr2.forEach((x, i) =>
    lines.push({ task: 'nlvr2', input: `${x.left} + ${x.right}: ${x.statement}`, prediction: String(na[i].answer), truth: String(x.label), correct: na[i].answer === x.label }),
  );

  // retrieval: each caption against all demo images (text → image top-1)
  const ret = await pipeline('retrieval', { ...base, config: cfg('beit3-mini-retrieval') });
  const s = RetrievalPipeline.scores(await ret.embedImages(set.retrieval.map((x) => at(x.image))), await ret.embedTexts(set.retrieval.map((x) => x.caption)));
  await ret.dispose();
  const { imageRankPerText } = RetrievalPipeline.rankings(s);
  set.retrieval.forEach((x, i) => {
    const best = set.retrieval[imageRankPerText[i][0]].image;
    lines.push({ task: 'retrieval', input: `"${x.caption}" among ${set.retrieval.length} images`, prediction: best, truth: x.image, correct: best === x.image });
  });

  for (const t of ['fashion-mnist', 'emoji-group'] as const) {
    const cl = await pipeline('classify', { ...base, config: cfg(`beit3-mini-${t}`) });
    const r = await cl.run(set[t].map((x) => at(x.image)));
    await cl.dispose();
    set[t].forEach((x, i) => lines.push({ task: t, input: x.image, prediction: r[i].topk[0].label, truth: x.label, correct: r[i].topk[0].label === x.label }));
  }
  return lines;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run every shipped beit3-mini model on bundled held-out images and print each prediction beside the truth')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--dtype <dtype>', 'fp32 | q8', 'fp32')
    .option('--json', 'one JSON line per example')
    .action(async (o: { threads?: string; dtype: string; json?: boolean }) => {
      if (o.dtype !== 'fp32' && o.dtype !== 'q8') throw new CliError(`--dtype must be fp32 or q8, got '${o.dtype}'`);
      const lines = await runDemo({ threads: intOption('--threads', o.threads, 1), dtype: o.dtype });
      if (o.json) {
        for (const l of lines) process.stdout.write(JSON.stringify(l) + '\n');
        return;
      }
      let task = '';
      for (const l of lines) {
        if (l.task !== task) process.stdout.write(`\n${(task = l.task)}\n`);
        process.stdout.write(`  ${l.correct ? '✓' : '✗'} ${l.input}\n      predicted: ${l.prediction}\n      truth:     ${l.truth}\n`);
      }
      const right = lines.filter((l) => l.correct).length;
      process.stdout.write(`\n${right}/${lines.length} right (held-out images from the corpus test split; docs/recipe.md has the full test-split numbers)\n`);
    });
}
