/**
 * The shipped beit3-mini models (trained here by scripts/recipe-mini.sh, published by
 * scripts/ship-mini.ts): each one, loaded the way a user gets it (no config → the task's shipped
 * model), scored on a fixed held-out slice of the corpus test split (fixtures/mini-heldout) against
 * a floor a little under the value measured when it was shipped — so a regression in any layer
 * (tokenizer, image front end, model, pipelines, metrics) shows.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEval } from '../../src/cli/commands/eval.js';
import { runDemo } from '../../src/cli/commands/demo.js';
import { pipeline } from '../../src/tasks/pipeline.js';
import { SHIPPED_DIR, SHIPPED_MODELS } from '../../src/tasks/shipped.node.js';
import { beit3 } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { Tensor } from '../../src/graph/tensor.js';
import { VisualTokenizer } from '../../src/models/vqkd/tokenizer.js';
import { fixture } from '../support/paths.js';

const HELD = fixture('mini-heldout');
const SHIP = JSON.parse(readFileSync(join(SHIPPED_DIR, 'beit3-mini', 'heldout.json'), 'utf8')) as {
  /** corpus task → primary metric → value measured on the slice when shipped */
  measured: Record<string, Record<string, number>>;
};
/** How far under the shipped value a metric may fall before the test fails (noise-free: same weights, same data). */
const MARGIN = 0.03;

describe('shipped beit3-mini models', () => {
  it('are registered, fp16, and small (≤ 60 MB in all)', () => {
    let bytes = 0;
    for (const m of SHIPPED_MODELS) {
      const cfg = JSON.parse(readFileSync(m.config, 'utf8')) as { weights: string; tokenizer: string };
      const w = join(m.config, '..', cfg.weights);
      bytes += statSync(w).size;
      const header = readFileSync(w).subarray(8, 8 + Number(readFileSync(w).readBigUInt64LE(0))).toString('utf8');
      expect(header).toMatch(/"dtype":"F16"/);
      expect(header).not.toMatch(/"dtype":"F32"/);
    }
    expect(bytes).toBeLessThan(60e6);
  });

  for (const m of SHIPPED_MODELS) {
    it(`${m.name} on the held-out slice (${m.corpusTask}) stays at its shipped score`, async () => {
      // no config: the shipped model of the task is what runs
      const r = await runEval({ task: m.corpusTask, data: HELD, split: 'test', batchSize: '32', progress: false });
      const shipped = SHIP.measured[m.corpusTask];
      expect(Object.keys(shipped).length).toBeGreaterThan(0);
      for (const [metric, value] of Object.entries(shipped)) expect(r.metrics[metric]).toBeGreaterThanOrEqual(value - MARGIN);
    }, 300_000);
  }

  it('pipeline(task) without a config is the shipped model, and takes the shipped name', async () => {
    const rows = readFileSync(join(HELD, 'tasks/vqa/test.jsonl'), 'utf8').trim().split('\n').slice(0, 8).map((l) => JSON.parse(l) as { image: string; question: string });
    const items = rows.map((x) => ({ image: join(HELD, x.image), question: x.question }));
    const a = await pipeline('vqa');
    const b = await pipeline('vqa', { config: 'beit3-mini-vqa' });
    expect((await a.run(items)).map((x) => x.answer)).toEqual((await b.run(items)).map((x) => x.answer));
    await Promise.all([a.dispose(), b.dispose()]);
    await expect(pipeline('vqa', { config: 'beit3-mini-nope' })).rejects.toThrow(/beit3-mini-nope/);
  }, 120_000);

  it('beit3 demo runs every task on the bundled held-out images', async () => {
    const lines = await runDemo({ threads: 2 });
    expect(new Set(lines.map((l) => l.task))).toEqual(new Set(['vqa', 'caption', 'nlvr2', 'retrieval', 'fashion-mnist', 'emoji-group']));
    // a caption may be empty (the model can end it at once); every other task always predicts
    expect(lines.every((l) => l.truth.length > 0 && (l.task === 'caption' || l.prediction.length > 0))).toBe(true);
    for (const l of lines.filter((x) => x.task === 'fashion-mnist' || x.task === 'emoji-group' || x.task === 'retrieval'))
      expect(l.correct).toBe(l.prediction === l.truth);
    // the bundled examples are the first of the slice, not picked for being right: 10 of 19 when shipped
    expect(lines.filter((l) => l.correct).length).toBeGreaterThanOrEqual(9);
  }, 180_000);

  it("the README's first command answers right from the shipped model", () => {
    const q = JSON.parse(readFileSync(join(SHIPPED_DIR, 'beit3-mini', 'heldout.json'), 'utf8')).readme as { image: string; question: string; answer: string };
    const r = beit3(['vqa', q.image, q.question, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0].answer).toBe(q.answer);
    // and it is the command the README shows
    expect(readFileSync(join(SHIPPED_DIR, '..', 'README.md'), 'utf8')).toContain(`npx beit3 vqa ${q.image} '${q.question}'`);
  }, 120_000);

  it('the committed upstream stages restore into a recipe run (FROM=…): fp16 back to fp32, usable, then skipped', async () => {
    const tmp = tempDir('stages-');
    const out = join(tmp, 'run');
    const STAGES = join(SHIPPED_DIR, 'beit3-mini', 'stages');
    const recipe = () =>
      spawnSync('bash', [join(SHIPPED_DIR, '..', 'scripts/recipe-mini.sh'), tmp, out, 'spm', 'teacher', 'vqkd', 'pretrain'], { encoding: 'utf8', env: { ...process.env, FROM: STAGES }, timeout: 120_000 });
    const a = recipe();
    expect(a.status, a.stdout + a.stderr).toBe(0);
    for (const st of ['spm', 'teacher', 'vqkd', 'pretrain']) {
      expect(a.stdout).toContain(`== ${st}: restored from`);
      expect(existsSync(join(out, st, 'DONE'))).toBe(true);
    }
    // the pretrained weights are committed as fp16 and come back as float32 of the same values
    const header = (f: string) => readFileSync(f).subarray(8, 8 + Number(readFileSync(f).readBigUInt64LE(0))).toString('utf8');
    expect(header(join(STAGES, 'pretrain/pretrained.safetensors'))).not.toMatch(/"dtype":"F32"/);
    expect(header(join(out, 'pretrain/pretrained.safetensors'))).not.toMatch(/"dtype":"F16"/);
    const half = await loadCheckpoint(join(STAGES, 'pretrain/pretrained.safetensors'));
    const full = await loadCheckpoint(join(out, 'pretrain/pretrained.safetensors'));
    expect([...full.keys()].sort()).toEqual([...half.keys()].sort());
    for (const [k, t] of half) expect(Array.from(full.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    // the restored visual tokenizer tokenizes
    const vt = await VisualTokenizer.fromCheckpoint(join(out, 'vqkd/tokenizer.safetensors'));
    const S = vt.imgSize;
    const img = new Tensor('float32', [2, 3, S, S], Float32Array.from({ length: 2 * 3 * S * S }, (_, i) => (i % 97) / 97));
    const { codes, grid } = await vt.encode(img);
    expect(codes.shape).toEqual([2, grid * grid]);
    expect(Array.from(codes.data as BigInt64Array).every((c) => c >= 0n && c < BigInt(vt.config.nCode))).toBe(true);
    await vt.release();
    // a rerun finds them done
    const b = recipe();
    expect(b.stdout).toContain('== pretrain: done (skipped)');
  }, 180_000);
});
