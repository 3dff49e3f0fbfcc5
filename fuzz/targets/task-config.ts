import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { loadTaskConfig, type TaskConfig } from '../../src/tasks/config.js';
import { packFiles, writeBundle } from '../lib/bundle.js';
import { expect, verify, type FuzzTarget } from '../lib/target.js';


/** What "validated up front" means for a resolved config: every number finite and in its documented range. */
export function checkResolved(c: TaskConfig): void {
  const m = c.model;
  const int = (v: number, lo: number, hi: number, what: string) =>
    expect(Number.isInteger(v) && v >= lo && v <= hi, `${what} = ${v} accepted (outside [${lo}, ${hi}])`);
  int(m.layers, 1, 1024, 'layers');
  int(m.embedDim, 1, 65536, 'embedDim');
  int(m.heads, 1, Math.min(1024, m.embedDim), 'heads');
  int(m.ffnDim, 1, 1 << 20, 'ffnDim');
  int(m.vocabSize, 1, 1 << 24, 'vocabSize');
  int(m.imgSize, 1, 8192, 'imgSize');
  int(m.patchSize, 1, m.imgSize, 'patchSize');
  int(m.maxSourcePositions, 1, 1 << 20, 'maxSourcePositions');
  expect(Number.isFinite(m.layernormEps) && m.layernormEps > 0 && m.layernormEps < 1, `layernormEps = ${m.layernormEps} accepted`);
  expect(m.dropPathRate >= 0 && m.dropPathRate < 1, `dropPathRate = ${m.dropPathRate} accepted`);
  int(c.textLen, 3, 1 << 20, 'textLen');
  int(c.generation.numBeams, 1, 1024, 'num_beams');
  int(c.generation.maxLen, 3, Math.max(c.textLen, m.maxSourcePositions - 2), 'max_len');
  int(c.generation.topnPerBeam, 1, 1024, 'topn_per_beam');
  expect(Number.isFinite(c.generation.lengthPenalty), 'length_penalty finite');
  expect(c.cropPct > 0 && c.cropPct <= 1, `crop_pct = ${c.cropPct} accepted`);
  int(c.topk, 1, 1 << 20, 'topk');
  if (c.numClasses !== undefined) int(c.numClasses, 1, 1 << 24, 'num_classes');
}

export const target: FuzzTarget = {
  name: 'task-config',
  entry: 'loadTaskConfig (config.json + labels file): types and numeric ranges checked up front',
  run(input, { dir }) {
    const names = writeBundle(dir, input);
    // the task asked for: the bundle's `task` file (as --task), else none
    const task = names.includes('task') ? readFileSync(join(dir, 'task'), 'utf8').trim() || undefined : undefined;
    const c = loadTaskConfig(join(dir, names.includes('config.json') ? 'config.json' : (names[0] ?? 'config.json')), { task });
    return verify('accepted config', () => checkResolved(c));
  },
  seeds() {
    const e2e = JSON.parse(readFileSync('fixtures/beit3-ref/e2e/config.json', 'utf8')) as { tasks: Record<string, unknown> };
    const vqa = { task: 'vqav2', ...(e2e.tasks.vqav2 as object) };
    return [
      packFiles({ 'config.json': JSON.stringify(vqa) }),
      packFiles({ 'config.json': JSON.stringify({ task: 'imageclassification', model: 'beit3_base_patch16_224_in1k', labels_file: 'labels.txt', topk: 3 }), 'labels.txt': 'cat\ndog\n' }),
      packFiles({ 'config.json': JSON.stringify({ tasks: { captioning: e2e.tasks.captioning, retrieval: e2e.tasks.retrieval }, tokenizer: 'sp.model' }), task: 'captioning' }),
    ];
  },
  hostile: () =>
    fc
      .record({
        key: fc.constantFrom('encoder_layers', 'encoder_embed_dim', 'encoder_attention_heads', 'encoder_ffn_embed_dim', 'layernorm_eps', 'vocab_size', 'img_size', 'patch_size', 'max_source_positions', 'drop_path_rate'),
        value: fc.constantFrom(1e9, -1, 0, 0.5, 1e308, -0, 2 ** 31, 2 ** 53, 1e-300),
        top: fc.constantFrom('num_beams', 'max_len', 'topk', 'crop_pct', 'num_classes', 'num_max_bpe_tokens', 'length_penalty', 'TOPN_PER_BEAM'),
        topValue: fc.constantFrom(1e9, -1, 0, 0.5, 2 ** 53, 1e308),
      })
      .map((r) => {
        const enc = { encoder_layers: 2, encoder_embed_dim: 24, encoder_attention_heads: 3, encoder_ffn_embed_dim: 96, img_size: 40, patch_size: 8, in_chans: 3, vocab_size: 100, max_source_positions: 66, layernorm_eps: 1e-5, multiway: true, subln: true, normalize_output: true, [r.key]: r.value };
        return packFiles({ 'config.json': JSON.stringify({ task: 'retrieval', encoder_config: enc, [r.top]: r.topValue }) });
      }),
  dict: ['\0@@task\nvqav2', '"encoder_layers"', '"layernorm_eps"', '"num_beams"', '"max_len"', '"tasks"', '"labels_file"', '"label2ans"', '"weights"', '1e9', '-1', '1e308', '\0@@labels.txt\n'],
};
