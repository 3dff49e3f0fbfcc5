import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, cp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus, countsTable, type Manifest } from '../../src/corpus/build.js';
import { normalizeText } from '../../src/corpus/util.js';
import type { ImageRecord } from '../../src/corpus/types.js';
import { SourceUnavailableError } from '../../src/corpus/util.js';

// The committed offline sample (fixtures/corpus-sample, see its SAMPLE.md) stands in for the
// full sources, so these tests need no network.
const SAMPLE = join(import.meta.dirname, '..', '..', 'fixtures', 'corpus-sample');
const quiet = { progress: () => {}, log: () => {} };

let root: string;
let outA: string;
let manifest: Manifest;
let images: ImageRecord[];

const readJsonl = async <T>(path: string): Promise<T[]> =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '.work') await walk(p);
      } else
        out.set(
          relative(dir, p),
          createHash('sha256')
            .update(await readFile(p))
            .digest('hex'),
        );
    }
  };
  await walk(dir);
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'beit3-corpus-'));
  outA = join(root, 'a');
  manifest = await buildCorpus({ out: outA, from: SAMPLE, subset: 'small', size: 64, ...quiet });
  images = await readJsonl<ImageRecord>(join(outA, 'images.jsonl'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('corpus build (--subset small, offline sample)', () => {
  it('produces every stream and task with train/val/test files and a counts table', () => {
    for (const s of [
      'pairs/emoji',
      'pairs/icon',
      'pairs/flag',
      'pairs/clipart',
      'images/fashion-mnist',
      'texts/wordnet',
    ]) {
      expect(manifest.counts.streams[s], s).toBeDefined();
    }
    for (const t of [
      'retrieval',
      'caption',
      'vqa',
      'nlvr2',
      'classification/fashion-mnist',
      'classification/emoji-group',
    ]) {
      for (const split of ['train', 'val', 'test'])
        expect(manifest.counts.tasks[t]![split], `${t}/${split}`).toBeTypeOf('number');
      expect(manifest.counts.tasks[t]!.train, t).toBeGreaterThan(0);
      expect(manifest.counts.tasks[t]!.test, t).toBeGreaterThan(0);
    }
    const table = countsTable(manifest);
    expect(table).toMatch(/task\s+retrieval\s+\d+\s+\d+\s+\d+\s+\d+/);
    expect(
      manifest.counts.tasks.retrieval!.train +
        manifest.counts.tasks.retrieval!.val +
        manifest.counts.tasks.retrieval!.test,
    ).toBe(images.length);
  });

  it('is deterministic: a second build elsewhere is byte-identical', async () => {
    const outB = join(root, 'b');
    await buildCorpus({ out: outB, from: SAMPLE, subset: 'small', size: 64, ...quiet });
    const [a, b] = await Promise.all([hashTree(outA), hashTree(outB)]);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, h] of a) expect(b.get(k), k).toBe(h);
  });

  it('is idempotent: rebuilding an up-to-date output does nothing', async () => {
    const before = (await stat(join(outA, 'manifest.json'))).mtimeMs;
    const logs: string[] = [];
    const again = await buildCorpus({
      out: outA,
      from: SAMPLE,
      subset: 'small',
      size: 64,
      progress: () => {},
      log: (m) => logs.push(m),
    });
    expect(again.buildKey).toBe(manifest.buildKey);
    expect((await stat(join(outA, 'manifest.json'))).mtimeMs).toBe(before);
    expect(logs.join('\n')).toMatch(/up to date/);
  });

  it('resumes: a build interrupted after rasterizing reuses the cache and ends identical', async () => {
    const outC = join(root, 'c');
    await cp(join(outA, '.work'), join(outC, '.work'), { recursive: true });
    await buildCorpus({ out: outC, from: SAMPLE, subset: 'small', size: 64, ...quiet });
    const [a, c] = await Promise.all([hashTree(outA), hashTree(outC)]);
    expect(c).toEqual(a);
  });

  it('never lets an identity cross splits', async () => {
    const splitOfIdentity = new Map<string, string>();
    for (const im of images) {
      const seen = splitOfIdentity.get(im.identity);
      if (seen) expect(im.split, `${im.key} (${im.identity})`).toBe(seen);
      splitOfIdentity.set(im.identity, im.split);
    }
    // skin tones, man/woman/person and styles of one emoji are one identity
    const running = images.filter((im) => /^emoji_[a-z-]+_1f3c3(-|$)/.test(im.key));
    expect(running.length).toBeGreaterThan(6);
    expect(new Set(running.map((im) => im.identity)).size).toBe(1);
    // one flag in several sources (emoji styles, flag-icons 4x3 and 1x1)
    const france = images.filter((im) => im.meta.countryCode === 'fr');
    expect(new Set(france.flatMap((im) => im.sources)).size).toBeGreaterThan(1);
    expect(new Set(france.map((im) => im.identity))).toEqual(new Set(['flag:fr']));
    // outline / filled twins
    const heart = images.filter((im) => im.key.startsWith('icon_tabler-') && im.key.endsWith('_heart'));
    expect(heart.length).toBe(2);
    expect(heart[0]!.identity).toBe(heart[1]!.identity);
    // every split is used
    expect(new Set(images.map((im) => im.split))).toEqual(new Set(['train', 'val', 'test']));
  });

  it('keeps test captions out of the text stream and the pretraining pairs', async () => {
    const testCaptions = new Set(
      images.filter((im) => im.split === 'test').flatMap((im) => im.captions.map(normalizeText)),
    );
    expect(testCaptions.size).toBeGreaterThan(10);
    const texts = (await readFile(join(outA, 'pretrain', 'texts.txt'), 'utf8')).split('\n').filter(Boolean);
    expect(texts.length).toBeGreaterThan(100);
    for (const t of texts) {
      expect(testCaptions.has(normalizeText(t)), t).toBe(false);
      const lemmas = t.includes(': ') ? t.slice(0, t.indexOf(': ')).split(', ') : [];
      for (const l of lemmas) expect(testCaptions.has(l.toLowerCase()), t).toBe(false);
    }
    const pairs = await readJsonl<{ key: string; text: string }>(join(outA, 'pretrain', 'pairs.jsonl'));
    const trainKeys = new Set(images.filter((im) => im.split === 'train').map((im) => im.key));
    for (const p of pairs) expect(trainKeys.has(p.key), p.key).toBe(true);
  });

  it('deduplicates byte-identical images and merges their captions', async () => {
    const hashes = new Map<string, string>();
    for (const im of images) {
      const h = createHash('sha256')
        .update(await readFile(join(outA, im.image)))
        .digest('hex');
      expect(hashes.get(h), `${im.key} duplicates ${hashes.get(h)}`).toBeUndefined();
      hashes.set(h, im.key);
    }
    // the sample holds the same airplane drawing in two clip-art folders
    const plane = images.find(
      (im) => im.merged?.some((k) => k.includes('airplane')) || (im.key.includes('airplane') && im.merged),
    );
    expect(plane).toBeDefined();
  });

  it('rasterizes SVGs to size x size RGB on white', async () => {
    const heart = images.find((im) => im.key === 'icon_tabler-outline_heart')!;
    const { data, info } = await sharp(join(outA, heart.image)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
    expect([data[0], data[1], data[2]]).toEqual([255, 255, 255]); // corner is white, not black
    expect(Math.min(...data)).toBeLessThan(64); // the stroke is drawn
  });

  it('leaves brand logos out unless asked for', async () => {
    expect(images.some((im) => im.key.includes('github'))).toBe(false);
    const outBrands = join(root, 'brands');
    await buildCorpus({ out: outBrands, from: SAMPLE, subset: 'full', size: 32, brands: true, ...quiet });
    const withBrands = await readJsonl<ImageRecord>(join(outBrands, 'images.jsonl'));
    expect(withBrands.some((im) => im.key.includes('github'))).toBe(true);
  });

  it('builds balanced NLVR2 pairs within one split, and VQA over a fixed train vocabulary', async () => {
    const splitOfKey = new Map(images.map((im) => [im.key, im.split as string]));
    const fashion = await Promise.all(
      ['train', 'val', 'test'].map((s) =>
        readJsonl<{ key: string }>(join(outA, 'tasks/classification/fashion-mnist', `${s}.jsonl`)),
      ),
    );
    ['train', 'val', 'test'].forEach((s, i) => fashion[i]!.forEach((f) => splitOfKey.set(f.key, s)));
    for (const split of ['train', 'val', 'test']) {
      const rows = await readJsonl<{ left_key: string; right_key: string; label: boolean; template: string }>(
        join(outA, 'tasks/nlvr2', `${split}.jsonl`),
      );
      const byTemplate = new Map<string, [number, number]>();
      for (const r of rows) {
        expect(splitOfKey.get(r.left_key), r.left_key).toBe(split);
        expect(splitOfKey.get(r.right_key), r.right_key).toBe(split);
        const c = byTemplate.get(r.template) ?? [0, 0];
        c[r.label ? 0 : 1]++;
        byTemplate.set(r.template, c);
      }
      for (const [t, [yes, no]] of byTemplate) expect(yes, `${split} ${t}`).toBe(no);
    }
    const vocab = JSON.parse(await readFile(join(outA, 'tasks/vqa/answers.json'), 'utf8')) as string[];
    const train = await readJsonl<{
      answer: string;
      answers: string[];
      answer_id: number;
      answer_type: string;
    }>(join(outA, 'tasks/vqa/train.jsonl'));
    for (const q of train) {
      expect(vocab[q.answer_id]).toBe(q.answer);
      expect(q.answers).toHaveLength(10);
    }
    const yes = train.filter((q) => q.answer === 'yes').length;
    expect(yes).toBe(train.filter((q) => q.answer === 'no').length);
    expect(yes).toBeGreaterThan(0);
  });

  it('writes WebDataset shards with one png + json per sample', async () => {
    const shard = join(outA, 'shards', 'pairs-train-000000.tar');
    const names: string[] = [];
    const extract = tar.extract();
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, s, next) => {
        names.push(h.name);
        s.resume();
        s.on('end', next);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      void readFile(shard).then((b) => extract.end(b));
    });
    const keys = new Set(names.map((n) => n.slice(0, n.indexOf('.'))));
    expect(keys.size).toBe(manifest.counts.tasks.retrieval!.train);
    for (const k of keys) expect(names).toEqual(expect.arrayContaining([`${k}.json`, `${k}.png`]));
  });

  it('says which sources are missing from --from', async () => {
    const empty = join(root, 'empty-sources');
    await expect(buildCorpus({ out: join(root, 'x'), from: empty, ...quiet })).rejects.toThrow(
      SourceUnavailableError,
    );
    await expect(buildCorpus({ out: join(root, 'x'), from: empty, ...quiet })).rejects.toThrow(
      /lacks emojibase-data/,
    );
    expect(existsSync(join(root, 'x', 'manifest.json'))).toBe(false);
  });
});
