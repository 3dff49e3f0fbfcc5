// `beit3 pretrain` as a user runs it: corpus folder in, resumable state + log + plots + the released
// pretrained layout out; bad flags are one-line CliErrors.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePth } from '../../src/io/pth.js';
import { tempDir } from '../data/helpers.js';
import { writeSyntheticCorpus } from './pretrain-synthetic.js';

const ROOT = join(import.meta.dirname, '../..');
const SPM = join(ROOT, 'fixtures/sentencepiece/unigram_8k.model');
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeSyntheticCorpus(dir, 12);
});
afterAll(() => cleanup());

function beit3(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const base = (out: string) => [
  'pretrain', '--corpus', dir, '--model', 'beit3_tiny_patch8_32_pretraining', '--vocab-size', '8002', '--text-tokenizer', SPM,
  '--text-len', '12', '--images-batch', '3', '--texts-batch', '2', '--pairs-batch', '2', '--steps', '3', '--warmup-steps', '1',
  '--visual-tokenizer', 'patch-colour:2', '--targets', 'cached', '--output', join(dir, out),
];

describe('beit3 pretrain', () => {
  it('runs on a corpus folder and publishes pretrained.pth (beit3.* + mlm_head + mim_head) with its config', () => {
    const r = beit3(...base('run'), '--json', '--variant', 'shared', '--vl-expert-layers', '1');
    expect(r.stderr).not.toMatch(/beit3: /);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.steps).toBe(3);
    expect(summary.stopped).toBe('finished');
    for (const k of ['mim.loss', 'mim.acc', 'mlm_text.loss', 'mlm_text.acc', 'mlm_pair.loss', 'mlm_pair.acc']) expect(summary.terms[k], k).toBeTypeOf('number');
    const state = parsePth(readFileSync(join(dir, 'run', 'pretrained.pth')), {});
    expect(state.get('mim_head.weight')!.shape).toEqual([8, 32]);
    expect(state.get('mlm_head.weight')!.shape).toEqual([8002, 32]);
    expect(state.has('beit3.encoder.layers.1.ffn.C.fc1.weight')).toBe(true);
    const cfg = JSON.parse(readFileSync(join(dir, 'run', 'pretrained.config.json'), 'utf8'));
    expect(cfg).toMatchObject({ variant: 'shared', vl_expert_layers: 1, vocab_size: 8002, pretrain_steps: 3, visual_vocab_size: 8 });
    for (const f of ['checkpoint-last.safetensors', 'log.jsonl', 'loss.svg']) expect(existsSync(join(dir, 'run', f)), f).toBe(true);
  }, 400_000);

  it('bad flags and missing sources are one-line errors with exit code 2', () => {
    const bad = beit3(...base('bad'), '--text-mask-rule', 'random');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^beit3: CliError: --text-mask-rule must be one of bert, mask/);
    const nosrc = beit3(...base('bad2').filter((a, i, all) => a !== '--corpus' && all[i - 1] !== '--corpus'));
    expect(nosrc.code).toBe(2);
    expect(nosrc.stderr).toMatch(/stream 'images' has no source/);
  }, 400_000);
});
