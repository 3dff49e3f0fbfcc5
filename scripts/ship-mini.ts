/**
 * Publishes a finished `scripts/recipe-mini.sh` run into the repository:
 *   shipped/beit3-mini/<task>/{config.json, model.safetensors (fp16)}, shipped/beit3-mini/tokenizer.model,
 *   shipped/beit3-mini/results.json, shipped/beit3-mini/demo/ (a few held-out test images + demo.json),
 *   fixtures/mini-heldout/ (a fixed slice of the corpus test split, laid out like the corpus, for the
 *   shipped-model tests), and shipped/beit3-mini/stages/ (the outputs of the expensive upstream
 *   stages — spm, teacher, vqkd, pretrain — in fp16 with their logs, so that `FROM=… recipe-mini.sh`
 *   on a fresh machine continues from any of them).
 * Usage: node --import tsx scripts/ship-mini.ts CORPUS RUN
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { toFloat16 } from '../src/io/half.js';
import { corpusTask } from '../src/train/data.js';
import { Rng, shuffleInPlace } from '../src/util/random.js';

const [corpus, run] = process.argv.slice(2);
if (!corpus || !run) throw new Error('usage: ship-mini.ts CORPUS RUN');
const ROOT = join(import.meta.dirname, '..');
const SHIP = join(ROOT, 'shipped/beit3-mini');
const HELD = join(ROOT, 'fixtures/mini-heldout');
const TASKS = ['vqa', 'caption', 'retrieval', 'nlvr2', 'fashion-mnist', 'emoji-group'];
const taskRel = (t: string) => corpusTask(t)!.dir;
type Row = Record<string, unknown>;
const rows = (t: string, split: string): Row[] =>
  readFileSync(join(corpus, 'tasks', taskRel(t), `${split}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);

/** Writes a checkpoint's float32 tensors as fp16 safetensors (the only form weights are committed in). */
async function saveFp16(src: string, dst: string, source: string): Promise<void> {
  const tensors = await loadCheckpoint(src);
  await saveSafetensors(dst, new Map([...tensors].map(([k, v]) => [k, v.dtype === 'float32' ? toFloat16(v) : v])), { format: 'pt', source });
}

// 1. models: fp16 weights, configs with relative paths and no machine-specific fields
rmSync(SHIP, { recursive: true, force: true }); // a rerun replaces every shipped file
mkdirSync(SHIP, { recursive: true });
copyFileSync(join(run, 'spm/beit3-mini.spm'), join(SHIP, 'tokenizer.model'));
for (const t of TASKS) {
  const src = join(run, `ft-${t}`);
  const dst = join(SHIP, t);
  mkdirSync(dst, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  await saveFp16(join(src, 'model.safetensors'), join(dst, 'model.safetensors'), `beit3 recipe mini, ft-${t}`);
  const ft = cfg.finetune as Record<string, unknown> | undefined;
  cfg.weights = 'model.safetensors';
  cfg.tokenizer = '../tokenizer.model';
  cfg.finetune = { task: t, from: 'beit3 recipe mini: MDM-pretrained beit3_mini_patch8_64', step: ft?.step, epoch: ft?.epoch, val: ft?.metrics };
  writeFileSync(join(dst, 'config.json'), JSON.stringify(cfg, null, 1) + '\n');
}
if (existsSync(join(run, 'results.json'))) copyFileSync(join(run, 'results.json'), join(SHIP, 'results.json'));

// 2. held-out slice: fixed, seeded picks from the test split, images copied beside it
rmSync(HELD, { recursive: true, force: true });
const rng = new Rng(2026);
const pick = <T>(xs: T[], n: number): T[] => shuffleInPlace(xs.slice(), rng).slice(0, n);
const images = new Set<string>();
const keep = (r: Row, keys: string[]) => (keys.forEach((k) => images.add(r[k] as string)), r);
const slice: Record<string, Row[]> = {
  retrieval: pick(rows('retrieval', 'test'), 200).map((r) => keep(r, ['image'])),
  caption: pick(rows('caption', 'test'), 100).map((r) => keep(r, ['image'])),
  vqa: pick(rows('vqa', 'test'), 200).map((r) => keep(r, ['image'])),
  nlvr2: pick(rows('nlvr2', 'test'), 100).map((r) => keep(r, ['left', 'right'])),
  'fashion-mnist': pick(rows('fashion-mnist', 'test'), 200).map((r) => keep(r, ['image'])),
  'emoji-group': pick(rows('emoji-group', 'test'), 200).map((r) => keep(r, ['image'])),
};
for (const [t, rs] of Object.entries(slice)) {
  const dir = join(HELD, 'tasks', taskRel(t));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.jsonl'), rs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  for (const side of ['answers.json', 'labels.json']) {
    const f = join(corpus, 'tasks', taskRel(t), side);
    if (existsSync(f)) copyFileSync(f, join(dir, side));
  }
}
for (const im of images) {
  mkdirSync(dirname(join(HELD, im)), { recursive: true });
  copyFileSync(join(corpus, im), join(HELD, im));
}
writeFileSync(
  join(HELD, 'README.md'),
  `# mini-heldout\n\nA fixed slice of the mini-corpus **test** split (\`beit3 corpus build\`, seeded picks by\n\`scripts/ship-mini.ts\`): ${Object.entries(slice).map(([t, r]) => `${t} ${r.length}`).join(', ')} items, ${images.size} images.\nLaid out like the corpus (\`tasks/<task>/test.jsonl\`, image paths relative to this folder), so\n\`beit3 eval --data fixtures/mini-heldout --task <task>\` runs on it. None of it was used in training;\n\`test/tasks/shipped.test.ts\` checks every shipped model on it.\n`,
);

// 3. demo: two examples per task, drawn from the slice
const demoDir = join(SHIP, 'demo');
mkdirSync(demoDir, { recursive: true });
const demoImage = (p: string) => {
  copyFileSync(join(corpus, p), join(demoDir, basename(p)));
  return basename(p);
};
const labelsOf = (t: string) => JSON.parse(readFileSync(join(corpus, 'tasks', taskRel(t), 'labels.json'), 'utf8')) as string[];
const d = (t: string, n: number) => slice[t].slice(0, n);
const demo = {
  vqa: d('vqa', 3).map((r) => ({ image: demoImage(r.image as string), question: r.question, answers: [...new Set(r.answers as string[])] })),
  caption: d('caption', 3).map((r) => ({ image: demoImage(r.image as string), references: r.references })),
  nlvr2: d('nlvr2', 2).map((r) => ({ left: demoImage(r.left as string), right: demoImage(r.right as string), statement: r.statement, label: r.label === 1 || r.label === true })),
  retrieval: d('retrieval', 5).map((r) => ({ image: demoImage(r.image as string), caption: (r.captions as string[])[0] })),
  'fashion-mnist': d('fashion-mnist', 3).map((r) => ({ image: demoImage(r.image as string), label: labelsOf('fashion-mnist')[r.label as number] })),
  'emoji-group': d('emoji-group', 3).map((r) => ({ image: demoImage(r.image as string), label: labelsOf('emoji-group')[r.label as number] })),
};
writeFileSync(join(demoDir, 'demo.json'), JSON.stringify(demo, null, 1) + '\n');
console.log(`shipped → ${SHIP}; held-out slice → ${HELD} (${images.size} images)`);

// 4. the values the shipped-model test guards (measured on the slice, through the shipped path),
//    and the README's first command: a held-out VQA question from the slice the model answers right,
//    an open one (not yes/no) where there is one
const { runEval } = await import('../src/cli/commands/eval.js');
const { pipeline } = await import('../src/tasks/pipeline.js');
const PRIMARY: Record<string, string[]> = {
  vqa: ['vqa_score'],
  caption: ['cider', 'bleu1'],
  retrieval: ['tr_r10', 'ir_r10', 'average_score'],
  nlvr2: ['acc'],
  'fashion-mnist': ['top1'],
  'emoji-group': ['top1'],
};
const measured: Record<string, Record<string, number>> = {};
for (const t of TASKS) {
  const r = await runEval({ task: t, data: HELD, split: 'test', batchSize: '32', progress: false });
  measured[t] = Object.fromEntries(PRIMARY[t].map((k) => [k, Math.round(r.metrics[k] * 1e4) / 1e4]));
  console.log(t, measured[t]);
}
const vqa = await pipeline('vqa');
const cands = slice.vqa.slice(0, 200);
const answers = await vqa.run(cands.map((r) => ({ image: join(HELD, r.image as string), question: r.question as string })));
await vqa.dispose();
const right = (k: number) => answers[k].answer === cands[k].answer;
const open = cands.findIndex((c, k) => right(k) && c.answer !== 'yes' && c.answer !== 'no');
const i = open >= 0 ? open : cands.findIndex((_, k) => right(k));
const readme = i < 0 ? null : { image: `shipped/beit3-mini/demo/${demoImage(cands[i].image as string)}`, question: cands[i].question, answer: answers[i].answer };
writeFileSync(join(SHIP, 'heldout.json'), JSON.stringify({ slice: 'fixtures/mini-heldout', measured, readme }, null, 1) + '\n');
console.log('readme example:', readme);

// 5. the upstream stages a later run continues from (FROM=shipped/beit3-mini/stages in recipe-mini.sh)
const STAGES: Record<string, string[]> = {
  spm: ['beit3-mini.spm'],
  teacher: ['model.safetensors', 'config.json', 'tokenizer.model', 'log.jsonl'],
  vqkd: ['tokenizer.safetensors', 'log.jsonl'],
  pretrain: ['pretrained.safetensors', 'pretrained.config.json', 'log.jsonl'],
};
const times = readFileSync(join(run, 'times.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { stage: string; wall_s: number });
for (const [stage, files] of Object.entries(STAGES)) {
  const dst = join(SHIP, 'stages', stage);
  mkdirSync(dst, { recursive: true });
  for (const f of files)
    if (f.endsWith('.safetensors')) await saveFp16(join(run, stage, f), join(dst, f), `beit3 recipe mini, ${stage}`);
    else copyFileSync(join(run, stage, f), join(dst, f));
  writeFileSync(join(dst, 'stage.json'), JSON.stringify({ stage, wall_s: times.find((t) => t.stage === stage)?.wall_s ?? null, dtype: 'float16' }) + '\n');
}
console.log(`upstream stages → ${join(SHIP, 'stages')}`);
