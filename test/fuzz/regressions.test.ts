/**
 * One test per defect class the fuzzers and the independent CLI probe found (issue 13), asserting
 * the exact typed error, not just "some" error. The inputs that found them are also in fuzz/<target>/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readUnilmIndex } from '../../src/data/readers/unilmIndex.js';
import { readWebDataset } from '../../src/data/readers/webdataset.js';
import { Tensor } from '../../src/graph/tensor.js';
import { parsePth } from '../../src/io/pth.js';
import { loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { ImageIndex } from '../../src/search/index.js';
import { loadTaskConfig } from '../../src/tasks/config.js';
import { Beit3Tokenizer } from '../../src/text/beit3-tokenizer.js';
import { SentencePieceProcessor } from '../../src/text/sentencepiece.js';
import { Beit3Error } from '../../src/util/errors.js';
import { decodeImage } from '../../src/vision/decode.js';
import { evalTransform } from '../../src/vision/transforms.js';
import { intOption } from '../../src/cli/task-options.js';
import { fakeTorchSave, f32Bytes } from '../io/torchsave.js';
import { tarOf } from '../../fuzz/targets/webdataset.js';
import { lyingZip } from '../../fuzz/targets/zip.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-fuzz-regress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const devLink = join(dir, 'dev-link');
symlinkSync('/dev/zero', devLink);

async function typedError(f: () => unknown): Promise<Error> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(Beit3Error);
    return e as Error;
  }
  throw new Error('expected a typed error');
}

describe('inputs that are not regular files are refused, never read without bound', () => {
  it.each([
    ['/dev/zero', /device/],
    [fifo, /FIFO/],
    [devLink, /device/],
  ])('%s as image, config, tokenizer model, index folder file, shard and JSONL', async (p, why) => {
    expect((await typedError(() => decodeImage(p))).message).toMatch(why);
    expect((await typedError(() => loadTaskConfig(p))).message).toMatch(why);
    expect((await typedError(() => SentencePieceProcessor.load(p))).message).toMatch(why);
    expect((await typedError(() => loadSafetensors(p))).message).toMatch(why);
    expect((await typedError(() => readWebDataset(p).next())).message).toMatch(why);
    expect((await typedError(() => readUnilmIndex(p, 'imagenet').next())).message).toMatch(why);
    const idx = join(dir, `idx-${why.source}`);
    mkdirSync(idx, { recursive: true });
    rmSync(join(idx, 'meta.json'), { force: true });
    symlinkSync(p, join(idx, 'meta.json'));
    expect((await typedError(() => ImageIndex.open(idx))).message).toMatch(why);
  });
});

describe('absurd shapes are bounded at every stage', () => {
  it('a 1,000,000 x 1 image decodes, but the shorter-side resize is refused instead of allocating gigabytes', async () => {
    const png = await sharp(Buffer.alloc(1_000_000 * 3, 90), { raw: { width: 1_000_000, height: 1, channels: 3 } }).png().toBuffer();
    const img = await decodeImage(png);
    expect([img.width, img.height]).toEqual([1_000_000, 1]);
    expect(evalTransform('vl', img, 32).shape).toEqual([3, 32, 32]);
    const t0 = performance.now();
    expect((await typedError(() => evalTransform('imagenet', img, 224))).name).toBe('ImageShapeError');
    expect(performance.now() - t0).toBeLessThan(1000);
  });
  it('--max-len 1000000000 and other huge numeric options are refused up front', () => {
    const sp = SentencePieceProcessor.fromBytes(readFileSync('fixtures/sentencepiece/bpe_2k.model'));
    expect(() => new Beit3Tokenizer(sp).segment('hi', 1_000_000_000)).toThrow(/maxLen must be an integer in \[3, 65536\]/);
    expect(() => intOption('--topk', '1000000000000', 1)).toThrow(/must be an integer in \[1, 2147483647\]/);
    expect(() => intOption('--topk', '9007199254740993', 1)).toThrow(/must be an integer/);
    expect(intOption('--topk', '7', 1)).toBe(7);
  });
});

describe('config fields are range-checked before any work', () => {
  const enc = { encoder_layers: 2, encoder_embed_dim: 24, encoder_attention_heads: 3, encoder_ffn_embed_dim: 96, img_size: 40, patch_size: 8, in_chans: 3, vocab_size: 100, max_source_positions: 66, layernorm_eps: 1e-5, multiway: true, subln: true };
  it.each([
    [{ encoder_layers: 1e9 }, /layers must be an integer in \[1, 1024\]/],
    [{ layernorm_eps: -1 }, /layernormEps must be in \(0, 1\)/],
    [{ encoder_embed_dim: 24576, encoder_attention_heads: 3, encoder_ffn_embed_dim: 1 << 20, encoder_layers: 1024 }, /parameters, more than the limit/],
  ])('%j', (over, why) => {
    const p = join(dir, 'cfg.json');
    writeFileSync(p, JSON.stringify({ task: 'retrieval', encoder_config: { ...enc, ...over } }));
    const t0 = performance.now();
    expect(() => loadTaskConfig(p)).toThrow(why);
    expect(performance.now() - t0).toBeLessThan(500);
  });
  it('a labels file with label 1e9 is refused (was a billion-slot sparse array)', () => {
    writeFileSync(join(dir, 'answers.txt'), '{"answer": "yes", "label": 0}\n{"answer": "no", "label": 1000000000}\n');
    const p = join(dir, 'vqa.json');
    writeFileSync(p, JSON.stringify({ task: 'vqav2', model: 'beit3_base_patch16_480_vqav2', labels_file: 'answers.txt' }));
    expect(() => loadTaskConfig(p)).toThrow(/label 1000000000 is not in 0\.\.1/);
  });
  it('num_beams, max_len and topk out of range', () => {
    for (const [k, v] of [['num_beams', 1e9], ['topk', 0.5], ['crop_pct', 2]] as const) {
      const p = join(dir, `${k}.json`);
      writeFileSync(p, JSON.stringify({ task: 'retrieval', encoder_config: enc, [k]: v }));
      expect(() => loadTaskConfig(p)).toThrow(new RegExp(`"${k}" must be`));
    }
  });
});

describe('keys are data', () => {
  it('tensors named __proto__ / constructor round-trip through safetensors and .pth', async () => {
    const m = new Map([
      ['__proto__', new Tensor('float32', [2], new Float32Array([1, 2]))],
      ['constructor', new Tensor('float32', [1], new Float32Array([3]))],
    ]);
    const back = parseSafetensors(serializeSafetensors(m));
    expect([...back.keys()].sort()).toEqual(['__proto__', 'constructor']);
    expect(Array.from(back.get('__proto__')!.data as Float32Array)).toEqual([1, 2]);
    const p = join(dir, 'proto.safetensors');
    await saveSafetensors(p, back);
    expect([...(await loadSafetensors(p)).keys()].sort()).toEqual(['__proto__', 'constructor']);
    const pth = parsePth(fakeTorchSave({ ['__proto__']: { storage: '0', numel: 2, size: [2], stride: [1] } }, { '0': f32Bytes([5, 6]) }));
    expect(Array.from(pth.get('__proto__')!.data as Float32Array)).toEqual([5, 6]);
  });
});

describe('parsers found by the fuzzers', () => {
  it('a tar directory member that declares a size is a ShardError, not a hang (fuzz/webdataset)', async () => {
    const p = join(dir, 'dir.tar');
    writeFileSync(p, tarOf([['a.txt', new TextEncoder().encode('target')]], { type: '5' }));
    const e = await typedError(async () => {
      for await (const s of readWebDataset(p)) void s;
    });
    expect(e.name).toBe('ShardError');
  });
  it('a zip entry whose header understates its size fails fast', () => {
    const zip = lyingZip(new Uint8Array(1 << 24), { deflate: true, size: 16 });
    const t0 = performance.now();
    expect(() => parsePth(zip)).toThrow(/cannot inflate/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
  it('index JSON integers beyond 2^53 are refused (fuzz/unilm-index)', async () => {
    const p = join(dir, 'idx.jsonl');
    writeFileSync(p, '{"image_path": "a.jpg", "text_segment": [9007199254740993, 5], "image_id": 3}\n');
    const e = await typedError(async () => {
      for await (const s of readUnilmIndex(p, 'retrieval')) void s;
    });
    expect(e.message).toMatch(/text_segment"\[0\]: expected an integer/);
  });
});

describe('index folders are checked for consistency', () => {
  const model = { weights: [], embedDim: 4, imgSize: 16 };
  const build = (name: string, n: number) => {
    const d = join(dir, name);
    const idx = ImageIndex.openOrCreate(d, dir, model);
    for (let i = 0; i < n; i++) idx.addVector({ path: `${i}.png`, size: 1, mtimeMs: 1 }, new Float32Array([1, i, 0, 0]).map((x, _, a) => x / Math.hypot(...a)));
    idx.save();
    return d;
  };
  const editMeta = (d: string, f: (m: Record<string, unknown>) => void) => {
    const m = JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8')) as Record<string, unknown>;
    f(m);
    writeFileSync(join(d, 'meta.json'), JSON.stringify(m));
  };
  it('vectors with no file in meta.json: refused, not "(index is empty)"', async () => {
    const d = build('orphans', 3);
    editMeta(d, (m) => (m.files = []));
    expect((await typedError(() => ImageIndex.open(d))).message).toMatch(/holds a vector \(label \d+\) for no file/);
  });
  it('a mistyped meta.json field is a SearchIndexError', async () => {
    const d = build('mistyped', 2);
    editMeta(d, (m) => ((m.files as { label: unknown }[])[0].label = 'x'));
    expect((await typedError(() => ImageIndex.open(d))).name).toBe('SearchIndexError');
    editMeta(d, (m) => ((m.files as unknown[])[0] = null));
    expect((await typedError(() => ImageIndex.open(d))).name).toBe('SearchIndexError');
    editMeta(d, (m) => (m.model = { embedDim: 'x' }));
    expect((await typedError(() => ImageIndex.open(d))).name).toBe('SearchIndexError');
  });
  it('a NaN vector is refused (fuzz/hnsw-index): no answer from non-finite numbers', async () => {
    const d = build('nan', 2);
    const v = readFileSync(join(d, 'vectors.hnsw'));
    // overwrite the first float of a stored vector (exactly 1/hypot) with NaN
    const f = new Float32Array([1 / Math.hypot(1, 0, 0, 0)]);
    const at = v.indexOf(Buffer.from(f.buffer));
    expect(at).toBeGreaterThan(0);
    v.writeFloatLE(NaN, at);
    writeFileSync(join(d, 'vectors.hnsw'), v);
    expect((await typedError(() => ImageIndex.open(d))).message).toMatch(/is not finite/);
  });
});
