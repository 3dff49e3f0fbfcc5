// The task commands through the real CLI entry point: JSON answers equal the official e2e ones,
// bad input exits non-zero with one line, index → search round trip.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const E2E = join(ROOT, 'fixtures/beit3-ref/e2e');
const CONFIG = join(E2E, 'config.json');
const cases = JSON.parse(readFileSync(join(E2E, 'cases.json'), 'utf8'));
const img = (n: string) => join(E2E, cases.images[n].file);
const tmp = tempDir('taskcli-');

function beit3(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('beit3 task commands', () => {
  it('vqa --json answers like the official handler; caption gives the official caption', () => {
    const item = cases.tasks.vqav2.items[1];
    const r = beit3('vqa', img(item.image), item.question, '-c', CONFIG, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0].answer).toBe(item.answer);
    const cap = cases.tasks.captioning.items[0];
    const c = beit3('caption', img(cap.image), '-c', CONFIG, '--json');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)[0].caption).toBe(cap.caption);
  });

  it('bad input: one line on stderr, non-zero exit', () => {
    for (const args of [
      ['vqa', img('chelsea'), 'What?', '--random-weights', '0'], // the shipped model has weights: --random-weights needs --model
      ['vqa', join(tmp, 'missing.png'), 'What?', '-c', CONFIG],
      ['classify', img('chelsea'), '-c', CONFIG, '--topk', 'x'],
      [
        'vqa',
        img('chelsea'),
        'q',
        '-c',
        CONFIG,
        '-w',
        join(E2E, 'backbone.safetensors'),
        join(E2E, 'nlvr2.head.safetensors'),
      ],
      ['search', join(tmp, 'no-index'), 'a cat'],
    ]) {
      const r = beit3(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('beit3:'));
      expect(lines.length, r.stderr).toBe(1);
    }
    expect(beit3('vqa', img('chelsea'), 'What?', '--random-weights', '0').stderr).toMatch(/--random-weights needs --model NAME/);
  });

  it('export with external data, then quantize it; the result loads in onnxruntime-node', async () => {
    const out = join(tmp, 'cls.onnx');
    const e = beit3('export', '--task', 'classify', '-c', CONFIG, '--out', out, '--external', '--json');
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).files).toEqual([out, `${out}.data`, `${out}.meta.json`]);
    const q = beit3('quantize', out, join(tmp, 'cls.q8.onnx'), '--scope', 'all', '--json');
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout).quantized).toBeGreaterThan(0);
    const ort = await import('onnxruntime-node');
    const s = await ort.InferenceSession.create(join(tmp, 'cls.q8.onnx'));
    expect(s.inputNames).toEqual(['image']);
    await s.release();
    expect(beit3('quantize', join(tmp, 'missing.onnx'), join(tmp, 'x.onnx')).code).not.toBe(0);
  });

  it('index a folder then search it', () => {
    const dir = join(tmp, 'imgs');
    mkdirSync(dir);
    for (const n of ['chelsea', 'rocket', 'astronaut', 'horse'])
      copyFileSync(img(n), join(dir, `${n}${img(n).slice(img(n).lastIndexOf('.'))}`));
    const r = beit3('index', dir, '--out', join(tmp, 'idx'), '-c', CONFIG, '--json', '--no-progress');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ size: 4, added: 4 });
    const s = beit3('search', join(tmp, 'idx'), 'a', 'rocket', '-k', '2', '--json');
    expect(s.code, s.stderr).toBe(0);
    const hits = JSON.parse(s.stdout).hits;
    expect(hits).toHaveLength(2);
    expect(hits[0].score).toBeGreaterThanOrEqual(hits[1].score);
  });
});
