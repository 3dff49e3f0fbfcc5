import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import {
  expandBraces,
  scanImageFolder,
  readTextLines,
  readImageTextPairs,
  readUnilmIndex,
  loadUnilmIndex,
  unilmIndexFiles,
  readAnswer2Label,
  writeUnilmIndex,
  pythonJsonDumps,
  readWebDataset,
  decodeWdsSample,
  splitKeyExtension,
  DataFormatError,
  ShardError,
  DataError,
} from '../../src/data/index.js';
import { tempDir, writePng, pngBytes, tarBytes, collect } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

describe('expandBraces', () => {
  it('expands zero-padded numeric ranges, lists and nesting like braceexpand', () => {
    expect(expandBraces('shard-{000000..000003}.tar')).toEqual([
      'shard-000000.tar',
      'shard-000001.tar',
      'shard-000002.tar',
      'shard-000003.tar',
    ]);
    expect(expandBraces('{a,b{1..2}}/x-{9..11}')).toEqual(['a/x-9', 'a/x-10', 'a/x-11', 'b1/x-9', 'b1/x-10', 'b1/x-11', 'b2/x-9', 'b2/x-10', 'b2/x-11']);
    expect(expandBraces('{3..1}')).toEqual(['3', '2', '1']);
    expect(expandBraces('plain.tar')).toEqual(['plain.tar']);
    expect(expandBraces('lit{x}.tar')).toEqual(['lit{x}.tar']);
    expect(() => expandBraces('bad{1..2.tar')).toThrow(DataError);
  });
});

describe('scanImageFolder', () => {
  it('labels class folders in sorted order and walks them recursively with an extension filter', async () => {
    const root = path.join(dir, 'folder');
    await writePng(path.join(root, 'zebra', 'b.png'), 4, 4, [1, 2, 3]);
    await writePng(path.join(root, 'zebra', 'a.PNG'), 4, 4, [1, 2, 3]);
    await writePng(path.join(root, 'Apple', 'sub', 'deep.png'), 4, 4, [1, 2, 3]);
    await writePng(path.join(root, 'Apple', 'top.png'), 4, 4, [1, 2, 3]);
    await writeFile(path.join(root, 'Apple', 'notes.txt'), 'not an image');
    await writeFile(path.join(root, 'stray.png'), 'files at the root are not in a class');
    const f = await scanImageFolder(root);
    // code-point order: uppercase before lowercase, like Python's sorted()
    expect(f.classes).toEqual(['Apple', 'zebra']);
    expect(f.classToIdx).toEqual({ Apple: 0, zebra: 1 });
    // sorted os.walk: directory paths in sorted order ("Apple" < "Apple/sub"), files sorted within
    expect(f.items.map((i) => [i.relativePath, i.label])).toEqual([
      ['Apple/top.png', 0],
      ['Apple/sub/deep.png', 0],
      ['zebra/a.PNG', 1],
      ['zebra/b.png', 1],
    ]);
    expect(path.isAbsolute(f.items[0].path)).toBe(true);

    const flat = await scanImageFolder(root, { classFolders: false });
    expect(flat.items.map((i) => i.relativePath)).toEqual(['stray.png', 'Apple/top.png', 'Apple/sub/deep.png', 'zebra/a.PNG', 'zebra/b.png']);
    expect(flat.items.every((i) => i.label === -1)).toBe(true);
  });

  it('rejects a class without images unless allowed, and a missing root', async () => {
    const root = path.join(dir, 'folder2');
    await writePng(path.join(root, 'cat', 'x.png'), 2, 2, [0, 0, 0]);
    await mkdir(path.join(root, 'dog'), { recursive: true });
    await expect(scanImageFolder(root)).rejects.toThrow(/no image files for class\(es\) dog/);
    expect((await scanImageFolder(root, { allowEmptyClasses: true })).classes).toEqual(['cat', 'dog']);
    await expect(scanImageFolder(path.join(dir, 'nope'))).rejects.toThrow(DataError);
  });
});

describe('readTextLines', () => {
  it('yields non-empty lines with file and 1-based line numbers (CRLF handled)', async () => {
    const a = path.join(dir, 'a.txt');
    const b = path.join(dir, 'b.txt');
    await writeFile(a, 'first sentence\r\n\r\n   \nsecond  one \n');
    await writeFile(b, 'third\nfourth');
    const lines = await collect(readTextLines([a, b]));
    expect(lines.map((l) => [l.text, path.basename(l.file), l.line])).toEqual([
      ['first sentence', 'a.txt', 1],
      ['second  one ', 'a.txt', 4],
      ['third', 'b.txt', 1],
      ['fourth', 'b.txt', 2],
    ]);
    expect((await collect(readTextLines(a, { skipEmpty: false }))).length).toBe(4);
    await expect(collect(readTextLines(path.join(dir, 'missing.txt')))).rejects.toThrow(/missing\.txt/);
  });
});

describe('readImageTextPairs', () => {
  it('reads {image, text|caption} records relative to the file folder', async () => {
    const f = path.join(dir, 'pairs.jsonl');
    await writeFile(
      f,
      [
        JSON.stringify({ image: 'img/0.png', text: 'a cat' }),
        '',
        JSON.stringify({ image: 'img/1.png', caption: 'a dog', source: 'web' }),
        JSON.stringify({ image: '/abs/2.png', caption: ['one', 'two'] }),
      ].join('\n') + '\n',
    );
    const pairs = await collect(readImageTextPairs(f));
    expect(pairs.map((p) => [p.image, p.text, p.line])).toEqual([
      [path.join(dir, 'img/0.png'), 'a cat', 1],
      [path.join(dir, 'img/1.png'), 'a dog', 3],
      ['/abs/2.png', 'one', 4],
      ['/abs/2.png', 'two', 4],
    ]);
    expect(pairs[1].extra).toEqual({ source: 'web' });
  });

  it('names file and line of a malformed record', async () => {
    const f = path.join(dir, 'bad-pairs.jsonl');
    await writeFile(f, `${JSON.stringify({ image: 'a.png', text: 'ok' })}\n{"image": "b.png", "text": \n`);
    const err = await collect(readImageTextPairs(f)).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/bad-pairs\.jsonl:2: invalid JSON/);
    expect(err.line).toBe(2);

    const g = path.join(dir, 'bad-pairs2.jsonl');
    await writeFile(g, `${JSON.stringify({ image: 'a.png' })}\n`);
    await expect(collect(readImageTextPairs(g))).rejects.toThrow(/bad-pairs2\.jsonl:1: missing field "text"/);
    await writeFile(g, `${JSON.stringify({ image: 3, text: 'x' })}\n`);
    await expect(collect(readImageTextPairs(g))).rejects.toThrow(/:1: field "image": expected a string, got number 3/);
    await writeFile(g, `[1, 2]\n`);
    await expect(collect(readImageTextPairs(g))).rejects.toThrow(/:1: expected a JSON object/);
  });
});

describe('unilm index files', () => {
  it('reads every task format as the official builders write it', async () => {
    const write = async (name: string, items: object[]): Promise<string> => {
      const f = path.join(dir, name);
      await writeUnilmIndex(f, items as Record<string, unknown>[]);
      return f;
    };
    const vqa = await write('vqa.test.jsonl', [
      { image_path: 'test2015/COCO_test2015_000000000001.jpg', text_segment: [15, 5916, 352], labels: [], scores: [], qid: 7 },
      { image_path: 'train2014/x.jpg', text_segment: [4, 5], labels: [0, 3], scores: [1.0, 0.3], qid: 8 },
    ]);
    const items = await loadUnilmIndex(vqa, 'vqav2');
    expect(items[1]).toMatchObject({ task: 'vqav2', labels: [0, 3], scores: [1, 0.3], qid: 8, source: { line: 2 } });

    const nlvr = await write('nlvr2.test-P.index.jsonl', [
      { image_path: 'test1/test1-0-0-img0.png', image2_path: 'test1/test1-0-0-img1.png', text_segment: [68, 550], label: 1, identifier: 'test1-0-0-0' },
    ]);
    expect((await loadUnilmIndex(nlvr, 'nlvr2'))[0]).toMatchObject({ image2_path: 'test1/test1-0-0-img1.png', label: 1, identifier: 'test1-0-0-0' });

    const ret = await write('flickr30k.test.jsonl', [{ image_path: 'flickr30k-images/1.jpg', text_segment: [240, 419], image_id: 0 }]);
    expect((await loadUnilmIndex(ret, 'retrieval'))[0].image_id).toBe(0);

    const cap = await write('coco_captioning.test.jsonl', [{ image_path: 'val2014/a.jpg', text_segment: null, image_id: 1000 }]);
    expect((await loadUnilmIndex(cap, 'captioning'))[0]).toMatchObject({ text_segment: null, image_id: 1000 });

    const inet = await write('imagenet.val.index.jsonl', [{ image_path: 'val/animal/horse.png', label: 0 }]);
    expect((await loadUnilmIndex(inet, 'imagenet'))[0]).toMatchObject({ image_path: 'val/animal/horse.png', label: 0 });
  });

  it('writes lines byte-identical to Python json.dumps', async () => {
    expect(pythonJsonDumps({ image_path: 'a/é.jpg', text_segment: [1, 2], scores: [0.3, 1e-7], x: null, t: true })).toBe(
      '{"image_path": "a/\\u00e9.jpg", "text_segment": [1, 2], "scores": [0.3, 1e-07], "x": null, "t": true}',
    );
  });

  it('names file, line and field of malformed index items', async () => {
    const f = path.join(dir, 'bad.index.jsonl');
    await writeFile(f, '{"image_path": "a.jpg", "text_segment": [1, 2], "image_id": 0}\n{"image_path": "b.jpg", "text_segment": [1, "x"], "image_id": 1}\n');
    await expect(collect(readUnilmIndex(f, 'retrieval'))).rejects.toThrow(/bad\.index\.jsonl:2: field "text_segment"\[1\]: expected an integer/);
    await writeFile(f, '{"image_path": "a.jpg", "text_segment": [], "image_id": 0}\n');
    await expect(collect(readUnilmIndex(f, 'retrieval'))).rejects.toThrow(/:1: field "text_segment": empty token list/);
    await writeFile(f, '{"image_path": "a.jpg", "text_segment": [3], "labels": [1], "scores": [], "qid": 1}\n');
    await expect(collect(readUnilmIndex(f, 'vqav2'))).rejects.toThrow(/:1: fields "labels" and "scores": lengths differ/);
    await writeFile(f, '{"image_path": "a.jpg", "image2_path": "b.jpg", "text_segment": [3], "label": 2, "identifier": "x"}\n');
    await expect(collect(readUnilmIndex(f, 'nlvr2'))).rejects.toThrow(/:1: field "label": expected 0 or 1, got 2/);
  });

  it('knows the official index file names per task and split, and reads answer2label.txt', async () => {
    expect(unilmIndexFiles('vqav2', 'train')).toEqual(['vqa.train.jsonl', 'vqa.trainable_val.jsonl']);
    expect(unilmIndexFiles('nlvr2', 'test')).toEqual(['nlvr2.test-P.index.jsonl']);
    expect(unilmIndexFiles('imagenet', 'test')).toEqual(['imagenet.val.index.jsonl']);
    expect(unilmIndexFiles('retrieval', 'val', 'coco_retrieval')).toEqual(['coco_retrieval.val.jsonl']);
    expect(unilmIndexFiles('captioning', 'train', 'nocaps')).toEqual(['coco_captioning.train.jsonl']);
    expect(unilmIndexFiles('captioning', 'val', 'nocaps')).toEqual(['nocaps.val.jsonl']);
    expect(() => unilmIndexFiles('nlvr2', 'test-dev')).toThrow(/not defined for task nlvr2/);

    const a = path.join(dir, 'answer2label.txt');
    await writeFile(a, '{"answer": "yes", "label": 0}\n{"answer": "no", "label": 1}\n');
    expect(await readAnswer2Label(a)).toEqual(['yes', 'no']);
    await writeFile(a, '{"answer": "yes", "label": 0}\n{"answer": "no", "label": 5}\n');
    await expect(readAnswer2Label(a)).rejects.toThrow(/answer2label\.txt:2: field "label": expected 1/);
  });
});

describe('readWebDataset', () => {
  const shardEntries = async (start: number, n: number): Promise<{ name: string; data: Buffer | string }[]> => {
    const entries: { name: string; data: Buffer | string }[] = [];
    for (let i = start; i < start + n; i++) {
      const key = `sample${String(i).padStart(4, '0')}`;
      entries.push({ name: `${key}.png`, data: await pngBytes(3, 2, [i, 0, 0]) });
      entries.push({ name: `${key}.json`, data: JSON.stringify({ id: i }) });
      entries.push({ name: `${key}.txt`, data: `caption ${i}` });
      entries.push({ name: `${key}.cls`, data: String(i % 3) });
    }
    return entries;
  };

  it('groups members by key and decodes the standard fields, over brace-expanded shards', async () => {
    await writeFile(path.join(dir, 'wds-000000.tar'), await tarBytes(await shardEntries(0, 3)));
    await writeFile(path.join(dir, 'wds-000001.tar'), await tarBytes([{ name: 'sub', data: '', type: 'directory' }, ...(await shardEntries(3, 2))]));
    const samples = await collect(readWebDataset(path.join(dir, 'wds-{000000..000001}.tar')));
    expect(samples.map((s) => s.__key__)).toEqual(['sample0000', 'sample0001', 'sample0002', 'sample0003', 'sample0004']);
    expect(Object.keys(samples[0].fields).sort()).toEqual(['cls', 'json', 'png', 'txt']);
    expect(path.basename(samples[4].__url__)).toBe('wds-000001.tar');
    const d = decodeWdsSample(samples[4]);
    expect(d).toMatchObject({ key: 'sample0004', json: { id: 4 }, text: 'caption 4', cls: 1, imageExt: 'png' });
    expect(Buffer.from(d.image!).equals(await pngBytes(3, 2, [4, 0, 0]))).toBe(true);
  });

  it('reads gzipped shards (.tar.gz)', async () => {
    const { gzipSync } = await import('node:zlib');
    const f = path.join(dir, 'z-000.tar.gz');
    await writeFile(f, gzipSync(await tarBytes(await shardEntries(7, 2))));
    const samples = await collect(readWebDataset(f));
    expect(samples.map((s) => decodeWdsSample(s).json)).toEqual([{ id: 7 }, { id: 8 }]);
    await writeFile(f, gzipSync(await tarBytes(await shardEntries(7, 2))).subarray(0, 200));
    await expect(collect(readWebDataset(f))).rejects.toThrow(ShardError);
  });

  it('uses the webdataset key convention (first dot of the base name, lower-case extension)', () => {
    expect(splitKeyExtension('dir.v1/a.b/img001.seg.PNG')).toEqual({ key: 'dir.v1/a.b/img001', ext: 'seg.png' });
    expect(splitKeyExtension('noext')).toBeUndefined();
  });

  it('reports a duplicate field, a corrupt header and a truncated shard by name, or skips them with a warning', async () => {
    const good = await tarBytes(await shardEntries(0, 2));
    const dup = path.join(dir, 'dup.tar');
    await writeFile(dup, await tarBytes([{ name: 'k.txt', data: 'a' }, { name: 'k.txt', data: 'b' }]));
    await expect(collect(readWebDataset(dup))).rejects.toThrow(/dup\.tar: duplicate file k\.txt/);

    const corrupt = path.join(dir, 'corrupt.tar');
    const bad = Buffer.from(good);
    bad.fill(0x41, 0, 300); // first header destroyed
    await writeFile(corrupt, bad);
    const e1 = await collect(readWebDataset(corrupt)).catch((e) => e);
    expect(e1).toBeInstanceOf(ShardError);
    expect(e1.message).toMatch(/corrupt\.tar: corrupt tar header/);

    const truncated = path.join(dir, 'truncated.tar');
    await writeFile(truncated, good.subarray(0, Math.floor(good.length / 2) + 100));
    await expect(collect(readWebDataset(truncated))).rejects.toThrow(/truncated\.tar: truncated tar \(unexpected end of data\)/);
    await expect(collect(readWebDataset(path.join(dir, 'absent.tar')))).rejects.toThrow(/absent\.tar: cannot open/);

    const ok = path.join(dir, 'ok.tar');
    await writeFile(ok, good);
    const warnings: string[] = [];
    const samples = await collect(readWebDataset([truncated, corrupt, ok], { onShardError: 'warn', warn: (m) => warnings.push(m) }));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/skipping the rest of shard .*truncated\.tar/);
    // complete samples before the truncation point are kept; the partial one is dropped; ok.tar fully read
    const fromTruncated = samples.filter((s) => s.__url__ === truncated);
    const fromOk = samples.filter((s) => s.__url__ === ok);
    expect(fromOk.map((s) => s.__key__)).toEqual(['sample0000', 'sample0001']);
    expect(fromTruncated.every((s) => Object.keys(s.fields).length === 4)).toBe(true);
  });

  it('raises DataFormatError naming shard and key for a malformed .json or .cls field', async () => {
    const f = path.join(dir, 'badjson.tar');
    await writeFile(f, await tarBytes([{ name: 'k1.json', data: '{oops' }]));
    const [s] = await collect(readWebDataset(f));
    expect(() => decodeWdsSample(s)).toThrow(/badjson\.tar \[sample k1\]: invalid \.json field/);
    await writeFile(f, await tarBytes([{ name: 'k2.cls', data: 'dog' }]));
    const [t] = await collect(readWebDataset(f));
    expect(() => decodeWdsSample(t)).toThrow(/\[sample k2\]: \.cls field: expected an integer/);
  });
});
