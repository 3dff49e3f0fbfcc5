// The library tokenizer (VisualTokenizer) and `beit3 visual-tokenize` on the vqkd-ref checkpoint.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { inferVqkdConfig, TokenizerCheckpointError, VisualTokenizer, vqkdEvalTransform } from '../../src/models/vqkd/index.js';
import { decodeImage } from '../../src/vision/decode.js';

const ROOT = join(import.meta.dirname, '../..');
const REF = join(ROOT, 'fixtures/vqkd-ref');
const IMAGES = ['fixtures/images/kinds/gif-trns-gif.rgb.png', 'fixtures/images/kinds/rgba16-png.rgb.png'];

describe('VisualTokenizer', () => {
  it('fromCheckpoint(.pth) recognises the size and gives the official codes', async () => {
    const tok = await VisualTokenizer.fromCheckpoint(join(REF, 'vqkd.pth'), { threads: 1 });
    expect(tok.name).toBe('vqkd_tiny');
    expect([tok.imgSize, tok.grid]).toEqual([32, 4]);
    const io = await loadSafetensors(join(REF, 'vqkd.io.safetensors'));
    for (const set of ['img01', 'img255']) {
      const { codes } = await tok.encode(io.get(`${set}.input`)!);
      expect(codes.shape).toEqual([2, 16]);
      expect(codes.toArray()).toEqual(io.get(`${set}.codes`)!.toArray());
    }
    await tok.release();
  });

  it('encodes decoded images through the eval transform (Resize ⌊S/0.875⌋ bicubic, CenterCrop, ToTensor)', async () => {
    const tok = await VisualTokenizer.fromCheckpoint(join(REF, 'vqkd.safetensors'), { threads: 1 });
    const imgs = await Promise.all(IMAGES.map((f) => decodeImage(join(ROOT, f))));
    const x = vqkdEvalTransform(imgs[0], 32);
    expect(x.shape).toEqual([3, 32, 32]);
    expect(Math.max(...(x.data as Float32Array))).toBeLessThanOrEqual(1);
    const a = await tok.encode(imgs);
    const b = await tok.encode(new Tensor('float32', [1, 3, 32, 32], x.data));
    expect(a.codes.toArray().slice(0, 16)).toEqual(b.codes.toArray());
    await tok.release();
  });

  it('typed errors for checkpoints that do not fit', async () => {
    const state = await loadSafetensors(join(REF, 'vqkd.safetensors'));
    await expect(VisualTokenizer.fromCheckpoint(join(ROOT, 'fixtures/beit3-ref/imageclassification.safetensors'))).rejects.toThrow(
      /no "encoder\.patch_embed\.proj\.weight" — not a VQ-KD tokenizer checkpoint/,
    );
    await expect(VisualTokenizer.fromCheckpoint(state, { model: 'vqkd_encoder_base_decoder_3x768x12_clip' })).rejects.toThrow(
      /does not fit vqkd_encoder_base_decoder_3x768x12_clip: .*encoder\.pos_embed expected \[1, 197, 768\] got \[1, 17, 32\]/,
    );
    const fresh = new Map(state);
    fresh.set('quantize.embedding.initted', Tensor.f32([1], [0]));
    const err = await VisualTokenizer.fromCheckpoint(fresh).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenizerCheckpointError);
    expect(String(err)).toMatch(/initted is 0/);
    // A size that is not registered is inferred from the shapes (heads from the caller).
    const odd = new Map(state);
    odd.delete('decoder.blocks.2.attn.qkv.weight');
    for (const k of [...odd.keys()]) if (k.startsWith('decoder.blocks.2.')) odd.delete(k);
    const { config, name } = inferVqkdConfig(odd, { heads: 4 });
    expect(name).toBeUndefined();
    expect([config.encoder.depth, config.decoder.depth, config.nCode, config.codeDim, config.decoderOutDim]).toEqual([2, 2, 64, 8, 16]);
    expect(() => inferVqkdConfig(odd)).toThrow(/not a multiple of 64; give the number of heads/);
  });
});

describe('beit3 visual-tokenize', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'visual-tokenize', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });

  it('prints the code grid per image (text and --json) equal to the library', async () => {
    const r = cli(...IMAGES, '--tokenizer', 'fixtures/vqkd-ref/vqkd.pth', '--json', '--threads', '1');
    expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { image: string; grid: number; codes: number[][] });
    const tok = await VisualTokenizer.fromCheckpoint(join(REF, 'vqkd.pth'), { threads: 1 });
    const { codes } = await tok.encode(await Promise.all(IMAGES.map((f) => decodeImage(join(ROOT, f)))));
    await tok.release();
    expect(rows.map((x) => x.image)).toEqual(IMAGES);
    expect(rows.map((x) => x.codes.flat()).flat()).toEqual(codes.toArray());
    const t = cli(IMAGES[0], '--tokenizer', 'fixtures/vqkd-ref/vqkd.safetensors', '--threads', '1');
    expect(t.stdout.split('\n')[0]).toBe(`${IMAGES[0]} (4×4)`);
    expect(t.stdout.split('\n')[1].trim().split(/\s+/).map(Number)).toEqual(rows[0].codes[0]);
  });

  it('bad input: one line, non-zero exit', () => {
    const a = cli(IMAGES[0]);
    expect(a.stderr).toMatch(/^beit3: CliError: visual-tokenize: --tokenizer CKPT is required\n$/m);
    expect(a.status).toBe(2);
  });
});
