import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
import { tempDir } from '../support/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DIR = join(ROOT, 'fixtures/beit3-ref');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

const tmp = tempDir('parity-');

describe('beit3 CLI: info and parity', () => {
  it('info --json prints config and the parameter breakdown', async () => {
    const r = await run(['info', 'beit3_base_patch16_224_nlvr2', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.name).toBe('beit3_base_patch16_224_nlvr2');
    expect(j.config.encoder_embed_dim).toBe(768);
    expect(j.params.total).toBe(225719810);
    expect(
      j.params.vision_experts +
        j.params.language_experts +
        j.params.embeddings +
        j.params.output_norm +
        j.params.heads,
    ).toBe(j.params.total);
  }, 30_000);

  it('info of pretrained names counts the MLM/MIM heads as the published checkpoints and the paper do', async () => {
    // Published sizes: base 276M, large 746M (README of the fixtures, section 9); paper: giant 1.9B.
    const published: [string, number][] = [
      ['beit3_base_patch16_224', 276e6],
      ['beit3_large_patch16_224', 746e6],
      ['beit3_giant_patch14_224', 1.9e9],
    ];
    for (const [name, size] of published) {
      const j = JSON.parse((await run(['info', name, '--json'])).stdout);
      expect(Math.abs(j.params.total_with_pretraining_heads - size) / size, name).toBeLessThan(0.03);
    }
    const g = JSON.parse((await run(['info', 'beit3_giant_patch14_224', '--json'])).stdout).params;
    expect(Math.round(g.vision_experts / 1e6)).toBe(693); // paper: 692M FFN matrices (+ biases, LN)
    expect(Math.round(g.vl_experts / 1e6)).toBe(52);
    expect(Math.round(g.shared_attention / 1e6)).toBe(318); // paper: 317M
  }, 60_000);

  it('info --list names the shipped models beside the registry; info of a shipped name describes its architecture', async () => {
    const list = JSON.parse((await run(['info', '--list', '--json'])).stdout) as { shipped: { name: string; task: string }[]; registry: string[] };
    expect(list.shipped.map((m) => m.name)).toContain('beit3-mini-vqa');
    expect(list.registry).toContain('beit3_base_patch16_224_nlvr2');
    const j = JSON.parse((await run(['info', 'beit3-mini-vqa', '--json'])).stdout);
    const cfg = JSON.parse(readFileSync(join(ROOT, 'shipped/beit3-mini/vqa/config.json'), 'utf8'));
    expect(j).toMatchObject({ shipped: 'beit3-mini-vqa', name: cfg.model, task: 'vqav2', num_classes: cfg.num_classes });
  }, 30_000);

  it('info with an unknown name exits non-zero with suggestions', async () => {
    const r = await run(['info', 'beit3_large_patch16_224_nlvr']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown model "beit3_large_patch16_224_nlvr".*beit3_large_patch16_224_nlvr2/);
  }, 30_000);

  it('parity passes on a fixture and fails (exit 1) when a reference is perturbed', async () => {
    const ok = await run(['parity', DIR, '--only', 'nlvr2']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok +nlvr2\/forward +max err/m);
    expect(ok.stdout).toMatch(/^ok +nlvr2\/grads/m);

    for (const f of ['nlvr2.json', 'nlvr2.safetensors', 'nlvr2.grads.safetensors'])
      copyFileSync(join(DIR, f), join(tmp, f));
    writeFileSync(join(tmp, 'index.json'), JSON.stringify({ fixtures: { nlvr2: {} } }));
    const io = await loadSafetensors(join(DIR, 'nlvr2.io.safetensors'));
    const logits = io.get('out.logits')!;
    const bumped = Float32Array.from(logits.data as Float32Array);
    bumped[1] += 1e-3;
    io.set('out.logits', new Tensor('float32', logits.shape, bumped));
    await saveSafetensors(join(tmp, 'nlvr2.io.safetensors'), io);
    const bad = await run(['parity', tmp, '--no-grads']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL nlvr2\/forward +max err 1\.00e-3/m);
  }, 60_000);
});
