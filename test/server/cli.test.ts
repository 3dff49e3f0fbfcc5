// `beit3 serve` as a command: starts on a free loopback port, says when it is ready, answers,
// drains and exits 0 on SIGTERM; bad options are one line and a non-zero exit.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServedTasks } from '../../src/server/tasks.js';
import { CONFIG } from './helpers.js';

const ROOT = join(import.meta.dirname, '../..');
const beit3 = ['--import', 'tsx', 'src/cli/main.ts'];

describe('beit3 serve', () => {
  it('serves until SIGTERM, then drains and exits 0', async () => {
    const p = spawn(process.execPath, [...beit3, 'serve', '-c', CONFIG, '-t', 'retrieval', '--port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /beit3 serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
        if (m && err.includes(': ready (')) resolve(m[1]);
      });
      p.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const h = await (await fetch(`${url}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', tasks: ['retrieval'] });
    const r = await fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'a cat' }),
    });
    expect((await r.json()).data[0].embedding).toHaveLength(24);
    const code = await new Promise<number | null>((resolve) => {
      p.once('exit', resolve);
      p.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(err).toContain('SIGTERM, finishing in-flight requests');
  });

  it('without --config or --model serves the shipped model of every task (or of --tasks)', () => {
    const all = resolveServedTasks({});
    expect(all.map((t) => t.config.task).sort()).toEqual(['captioning', 'imageclassification', 'nlvr2', 'retrieval', 'vqav2']);
    for (const t of all) expect(t.config.weights[0]).toMatch(/shipped[/\\]beit3-mini[/\\]/);
    expect(resolveServedTasks({ tasks: ['vqa'] }).map((t) => t.config.modelName)).toEqual(['beit3_mini_patch8_64_vqav2']);
  });

  it('refuses a random-weights run without a model, or bad numbers, with one line', () => {
    for (const [args, msg] of [
      [['serve', '--random-weights', '0'], /--random-weights needs --model NAME/],
      [['serve', '-c', CONFIG, '--max-batch', '0'], /--max-batch must be an integer/],
      [['serve', '-c', CONFIG, '-t', 'nope'], /unknown task "nope"/],
    ] as const) {
      const r = spawnSync(process.execPath, [...beit3, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
