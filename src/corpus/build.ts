import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchSources, sourcePresent } from './fetch.js';
import { groupIdentities, splitOf } from './identity.js';
import { writeFileAtomic as writeAtomic } from '../util/atomic.node.js';
import { createProgressSink, type ProgressCallback } from '../util/progress.js';
import { grayToPng, mapLimit, rasterizeSvg } from './raster.js';
import { writeShards, type ShardSample } from './shards.js';
import { SOURCES } from './sources.js';
import { readEmoji } from './sources/emoji.js';
import { readFashion } from './sources/fashion.js';
import { readCountries, readFlags } from './sources/flags.js';
import { readIcons } from './sources/icons.js';
import { readClipart } from './sources/openclipart.js';
import { readTexts, type TextLine } from './sources/text.js';
import { buildNlvr2 } from './tasks/nlvr2.js';
import { answerVocabulary, buildVqa } from './tasks/vqa.js';
import {
  FASHION_LABELS,
  SPLITS,
  type FashionRecord,
  type ItemMeta,
  type ImageRecord,
  type PairStream,
  type RawItem,
  type Split,
} from './types.js';
import { SourceUnavailableError, jsonl, normalizeText, sha256, unitHash } from './util.js';

/** Every output goes through the one atomic write; folders are created as needed. */
const writeFileAtomic = (path: string, data: string | Uint8Array): Promise<void> => writeAtomic(path, data, { mkdir: true });

export const CORPUS_FORMAT = 'beit3-corpus/1';
/** Bump when rasterization changes, so cached PNGs from an older renderer are not reused. */
const RASTER_VERSION = 'r2';

export interface BuildOptions {
  out: string;
  /** Extracted sources; when absent, `<out>/sources` (fetched there when missing). */
  from?: string;
  size?: number;
  subset?: 'small' | 'full';
  brands?: boolean;
  /** Rebuild even when the manifest says the output is up to date. */
  force?: boolean;
  /** Progress events (default: a bar on a TTY stderr, JSON lines otherwise). */
  progress?: ProgressCallback;
  log?: (msg: string) => void;
}

export interface Manifest {
  format: string;
  buildKey: string;
  options: { size: number; subset: string; brands: boolean };
  sources: { id: string; name: string; version: string; license: string }[];
  counts: {
    streams: Record<string, Record<string, number>>;
    tasks: Record<string, Record<string, number>>;
  };
  files: Record<string, string[]>;
}

/** Item budgets per stream for `--subset small` (a few hundred items, built in seconds). */
const SMALL_BUDGET: Record<PairStream, number> = { emoji: 120, icon: 60, flag: 24, clipart: 30 };
const SMALL_FASHION = { train: 80, test: 30 };
const SMALL_TEXTS = 300;

export async function buildCorpus(opts: BuildOptions): Promise<Manifest> {
  const size = opts.size ?? 64;
  if (!Number.isInteger(size) || size < 8 || size > 1024)
    throw new RangeError(`--size must be an integer in [8, 1024], got ${opts.size}`);
  const subset = opts.subset ?? 'full';
  const brands = opts.brands ?? false;
  const onProgress = opts.progress ?? createProgressSink({ stream: process.stderr });
  const progress = (stage: string, done: number, total: number): void =>
    onProgress({ status: done >= total ? 'done' : 'progress', stage, done, total });
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const out = opts.out;

  // 1. sources
  const from = opts.from ?? join(out, 'sources');
  const missing = SOURCES.filter((s) => !sourcePresent(from, s));
  if (missing.length) {
    if (opts.from) {
      throw new SourceUnavailableError(
        `--from ${from} lacks ${missing.map((s) => s.id).join(', ')}; run 'beit3 corpus fetch --to ${from}' or extract them there (see docs/corpus.md)`,
      );
    }
    await fetchSources(from, { log });
  }
  const versions = await Promise.all(
    SOURCES.map(async (s) => {
      const stamp = join(from, s.id, '.beit3-source.json');
      const v = existsSync(stamp)
        ? (JSON.parse(await readFile(stamp, 'utf8')) as { version: string }).version
        : s.version;
      return { id: s.id, name: s.name, version: v, license: s.license };
    }),
  );
  const buildKey = sha256(
    JSON.stringify({
      CORPUS_FORMAT,
      builder: await builderFingerprint(),
      size,
      subset,
      brands,
      versions,
      sample: existsSync(join(from, 'SAMPLE.md')),
    }),
  );
  const manifestPath = join(out, 'manifest.json');
  if (!opts.force && existsSync(manifestPath)) {
    const old = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    if (old.buildKey === buildKey) {
      log(`corpus in ${out} is up to date`);
      return old;
    }
  }

  // 2. read image-text items
  const countries = await readCountries(from);
  let raw: RawItem[] = [
    ...(await readEmoji(from)),
    ...(await readIcons(from, { brands })),
    ...(await readFlags(from)),
    ...(await readClipart(from, { brands })),
  ];
  for (const it of raw) {
    const c = it.meta.countryCode ? countries.get(it.meta.countryCode) : undefined;
    if (c) {
      it.meta.country = c.name;
      it.meta.continent = c.continent;
    }
  }
  if (subset === 'small') raw = selectSmall(raw);

  // 3. rasterize (cached by SVG content and size, so a rerun or a resumed build skips finished work)
  const cacheDir = join(out, '.work', `raster-${size}`);
  let done = 0;
  const skipped: string[] = [];
  const pngs = await mapLimit(raw, 4, async (it) => {
    const svg = await it.svg();
    const trim = it.stream === 'clipart';
    const cache = join(cacheDir, `${sha256(`${RASTER_VERSION}|${trim}|${svg}`).slice(0, 32)}.png`);
    let png: Buffer;
    if (existsSync(cache))
      png = await readFile(cache); // an empty file records a drawing that cannot be used
    else {
      png = await rasterizeSvg(svg, size, it.key, { trim }).catch((e: Error) => {
        skipped.push(`${it.key}: ${e.message}`);
        return Buffer.alloc(0);
      });
      await writeFileAtomic(cache, png);
    }
    progress('rasterize', ++done, raw.length);
    return png;
  });

  if (skipped.length) log(`skipped ${skipped.length} drawings that do not render (first: ${skipped[0]})`);

  // 4. dedup byte-identical images, merge captions, group identities, split
  const byHash = new Map<string, number[]>();
  pngs.forEach((png, i) => {
    if (!png.length) return;
    const h = sha256(png);
    byHash.set(h, [...(byHash.get(h) ?? []), i]);
  });
  const groups = [...byHash.values()].map((idx) => idx.sort((a, b) => (raw[a]!.key < raw[b]!.key ? -1 : 1)));
  const identities = groupIdentities(groups.map((idx) => idx.flatMap((i) => raw[i]!.identityHints)));
  const images: ImageRecord[] = groups.map((idx, g) => {
    const first = raw[idx[0]!]!;
    const members = idx.map((i) => raw[i]!);
    const credits = [...new Set(members.map((m) => m.credit).filter((c): c is string => !!c))];
    return {
      key: first.key,
      image: `images/${first.key}.png`,
      stream: first.stream,
      sources: [...new Set(members.map((m) => m.source))],
      styles: [...new Set(members.map((m) => m.style))],
      identity: identities[g]!,
      split: splitOf(identities[g]!),
      captions: [...new Set(members.flatMap((m) => m.captions))],
      meta: mergeMeta(members.map((m) => m.meta)),
      ...(credits.length ? { credits } : {}),
      ...(idx.length > 1 ? { merged: members.slice(1).map((m) => m.key) } : {}),
    };
  });
  images.sort((a, b) => (a.key < b.key ? -1 : 1));
  const pngByKey = new Map(groups.map((idx) => [raw[idx[0]!]!.key, pngs[idx[0]!]!]));
  raw = [];
  done = 0;
  for (const im of images) {
    const path = join(out, im.image);
    const png = pngByKey.get(im.key)!;
    if (!existsSync(path) || !png.equals(await readFile(path))) await writeFileAtomic(path, png);
    progress('images', ++done, images.length);
  }

  // 5. Fashion-MNIST: official train/test; a fixed 1/12 of the official train is validation
  const fmn = await readFashion(from);
  const fashion: FashionRecord[] = [];
  const pixelsPer = fmn.train.images.rows * fmn.train.images.cols;
  const fashionSamples: Record<Split, ShardSample[]> = { train: [], val: [], test: [] };
  for (const [official, data] of [
    ['train', fmn.train],
    ['test', fmn.test],
  ] as const) {
    const n = subset === 'small' ? Math.min(SMALL_FASHION[official], data.images.count) : data.images.count;
    const jobs = Array.from({ length: n }, (_, i) => i);
    done = 0;
    const recs = await mapLimit(jobs, 8, async (i) => {
      const key = `fashion_${official}_${String(i).padStart(5, '0')}`;
      const split: Split =
        official === 'test' ? 'test' : unitHash('fashion-val', String(i)) < 1 / 12 ? 'val' : 'train';
      const label = data.labels[i]!;
      const rec: FashionRecord = {
        key,
        image: `images/${key}.png`,
        split,
        label,
        labelName: FASHION_LABELS[label]!,
        index: i,
      };
      const path = join(out, rec.image);
      let png: Buffer;
      const kept = existsSync(path) ? await readFile(path) : undefined;
      // a PNG left by an earlier (possibly interrupted) build is reused when it has the right size
      if (kept && kept.length > 24 && kept.readUInt32BE(16) === size) png = kept;
      else {
        png = await grayToPng(
          data.images.pixels.subarray(i * pixelsPer, (i + 1) * pixelsPer),
          data.images.rows,
          data.images.cols,
          size,
        );
        await writeFileAtomic(path, png);
      }
      progress(`fashion-${official}`, ++done, n);
      return { rec, png };
    });
    for (const { rec, png } of recs) {
      fashion.push(rec);
      fashionSamples[rec.split].push({
        key: rec.key,
        files: { png, cls: Buffer.from(String(rec.label)), json: Buffer.from(JSON.stringify(rec)) },
      });
    }
  }

  // 6. texts: held-out (test) names never enter the text stream
  const testCaptions = new Set(
    images.filter((im) => im.split === 'test').flatMap((im) => im.captions.map(normalizeText)),
  );
  let texts: TextLine[] = (await readTexts(from)).filter(
    (t) => !testCaptions.has(normalizeText(t.text)) && !(t.lemmas ?? []).some((l) => testCaptions.has(l)),
  );
  if (subset === 'small') {
    texts = texts
      .map((t) => ({ t, h: unitHash('text-subset', t.text) }))
      .sort((a, b) => a.h - b.h)
      .slice(0, SMALL_TEXTS)
      .map((x) => x.t);
  }

  // 7. tasks
  const files: Record<string, string[]> = {};
  const taskCounts: Record<string, Record<string, number>> = {};
  const put = async (rel: string, rows: unknown[], task: string, split: string) => {
    await writeFileAtomic(join(out, rel), jsonl(rows));
    (files[task] ??= []).push(rel);
    (taskCounts[task] ??= {})[split] = rows.length;
  };
  const bySplit = (s: Split) => images.filter((im) => im.split === s);
  const fashionBySplit = (s: Split) => fashion.filter((f) => f.split === s);
  const groupOrder = [
    'smileys-emotion',
    'people-body',
    'animals-nature',
    'food-drink',
    'travel-places',
    'activities',
    'objects',
    'symbols',
    'flags',
  ];
  const groupLabels = groupOrder; // fixed 9-way label set, whatever a subset happens to contain
  const vqaAll = Object.fromEntries(
    SPLITS.map((s) => [s, buildVqa(bySplit(s), fashionVqaSlice(fashionBySplit(s), subset, s), s)]),
  ) as Record<Split, ReturnType<typeof buildVqa>>;
  const vocab = answerVocabulary(vqaAll.train);
  const vocabIndex = new Map(vocab.map((a, i) => [a, i]));
  await writeFileAtomic(join(out, 'tasks', 'vqa', 'answers.json'), JSON.stringify(vocab, null, 0) + '\n');
  await writeFileAtomic(
    join(out, 'tasks', 'classification', 'fashion-mnist', 'labels.json'),
    JSON.stringify(FASHION_LABELS) + '\n',
  );
  await writeFileAtomic(
    join(out, 'tasks', 'classification', 'emoji-group', 'labels.json'),
    JSON.stringify(groupLabels) + '\n',
  );
  const nlvrPer = subset === 'small' ? 20 : { train: 2000, val: 300, test: 600 };
  for (const s of SPLITS) {
    const ims = bySplit(s);
    await put(
      `tasks/retrieval/${s}.jsonl`,
      ims.map((im) => ({
        key: im.key,
        image: im.image,
        identity: im.identity,
        stream: im.stream,
        captions: im.captions,
      })),
      'retrieval',
      s,
    );
    await put(
      `tasks/caption/${s}.jsonl`,
      ims.map((im) => ({ key: im.key, image: im.image, references: im.captions })),
      'caption',
      s,
    );
    await put(
      `tasks/vqa/${s}.jsonl`,
      vqaAll[s].map((q) => ({ ...q, answer_id: vocabIndex.get(q.answer) ?? -1 })),
      'vqa',
      s,
    );
    const per = typeof nlvrPer === 'number' ? nlvrPer : nlvrPer[s];
    await put(`tasks/nlvr2/${s}.jsonl`, buildNlvr2(ims, fashionBySplit(s), s, per), 'nlvr2', s);
    await put(
      `tasks/classification/fashion-mnist/${s}.jsonl`,
      fashionBySplit(s).map((f) => ({ key: f.key, image: f.image, label: f.label, label_name: f.labelName })),
      'classification/fashion-mnist',
      s,
    );
    await put(
      `tasks/classification/emoji-group/${s}.jsonl`,
      ims
        .filter((im) => im.meta.group)
        .map((im) => ({
          key: im.key,
          image: im.image,
          label: groupLabels.indexOf(im.meta.group!),
          label_name: im.meta.group,
        })),
      'classification/emoji-group',
      s,
    );
  }

  // 8. pretraining mix (train split only) and WebDataset shards
  const train = bySplit('train');
  const pretrainImages = [
    ...train.map((im) => ({ key: im.key, image: im.image })),
    ...fashionBySplit('train').map((f) => ({ key: f.key, image: f.image })),
  ];
  const pairs = train.flatMap((im) => im.captions.map((text) => ({ key: im.key, image: im.image, text })));
  await put('pretrain/images.jsonl', pretrainImages, 'pretrain/images', 'train');
  await put('pretrain/pairs.jsonl', pairs, 'pretrain/pairs', 'train');
  await writeFileAtomic(
    join(out, 'pretrain', 'texts.txt'),
    texts.map((t) => t.text.replace(/\s+/g, ' ')).join('\n') + '\n',
  );
  (files['pretrain/texts'] ??= []).push('pretrain/texts.txt');
  taskCounts['pretrain/texts'] = { train: texts.length };
  for (const s of SPLITS) {
    const samples: ShardSample[] = bySplit(s).map((im) => ({
      key: im.key,
      files: { png: pngByKey.get(im.key)!, json: Buffer.from(JSON.stringify(im)) },
    }));
    const shardPaths = await writeShards(join(out, 'shards', `pairs-${s}`), samples);
    (files['shards/pairs'] ??= []).push(...shardPaths.map((p) => p.slice(out.length + 1)));
    const fShards = await writeShards(join(out, 'shards', `fashion-mnist-${s}`), fashionSamples[s]);
    (files['shards/fashion-mnist'] ??= []).push(...fShards.map((p) => p.slice(out.length + 1)));
  }
  await writeFileAtomic(join(out, 'images.jsonl'), jsonl(images));

  // 9. manifest
  const streams: Record<string, Record<string, number>> = {};
  for (const im of images) {
    const row = (streams[`pairs/${im.stream}`] ??= { train: 0, val: 0, test: 0 });
    row[im.split]!++;
  }
  streams['images/fashion-mnist'] = Object.fromEntries(SPLITS.map((s) => [s, fashionBySplit(s).length]));
  const textBySource: Record<string, number> = {};
  for (const t of texts) textBySource[t.source] = (textBySource[t.source] ?? 0) + 1;
  for (const [src, n] of Object.entries(textBySource)) streams[`texts/${src}`] = { train: n };
  const manifest: Manifest = {
    format: CORPUS_FORMAT,
    buildKey,
    options: { size, subset, brands },
    sources: versions,
    counts: { streams, tasks: taskCounts },
    files,
  };
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * Metadata of byte-identical images merged into one: a field the members disagree on (say two
 * emoji drawn identically in one style) is dropped, so no question gets a wrong answer; tags are pooled.
 */
export function mergeMeta(metas: readonly ItemMeta[]): ItemMeta {
  const out: ItemMeta = { ...metas[0]!, tags: [...new Set(metas.flatMap((m) => m.tags))] };
  for (const k of [
    'group',
    'subgroup',
    'skinTone',
    'gender',
    'countryCode',
    'country',
    'continent',
    'category',
    'emoji',
  ] as const) {
    if (metas.some((m) => m[k] !== metas[0]![k])) delete out[k];
  }
  return out;
}

let fingerprint: string | undefined;
/** A hash of the corpus code itself, so that an output built by older code is not taken as up to date. */
async function builderFingerprint(): Promise<string> {
  if (fingerprint) return fingerprint;
  const dir = dirname(fileURLToPath(import.meta.url));
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) files.push(join(d, e.name));
    }
  };
  await walk(dir);
  const parts = await Promise.all(files.map(async (f) => `${relative(dir, f)}:${sha256(await readFile(f))}`));
  fingerprint = sha256(parts.join('\n'));
  return fingerprint;
}

/** VQA uses a slice of Fashion-MNIST so that it does not drown the metadata questions. */
function fashionVqaSlice(f: FashionRecord[], subset: string, split: Split): FashionRecord[] {
  if (subset === 'small') return f;
  const cap = { train: 5000, val: 1000, test: 2000 }[split];
  return f.slice(0, cap);
}

/**
 * The small subset: whole identities (never part of one), chosen by a fixed hash, until each
 * stream's item budget is reached.
 */
function selectSmall(items: RawItem[]): RawItem[] {
  const ids = groupIdentities(items.map((it) => it.identityHints));
  const byId = new Map<string, RawItem[]>();
  items.forEach((it, i) => byId.set(ids[i]!, [...(byId.get(ids[i]!) ?? []), it]));
  const order = [...byId.keys()]
    .map((id) => ({ id, h: unitHash('subset-small', id) }))
    .sort((a, b) => a.h - b.h);
  const used: Record<string, number> = {};
  const out: RawItem[] = [];
  for (const { id } of order) {
    const group = byId.get(id)!;
    const stream = group[0]!.stream;
    const budget = SMALL_BUDGET[stream];
    if ((used[stream] ?? 0) >= budget || group.length > budget / 2) continue;
    used[stream] = (used[stream] ?? 0) + group.length;
    out.push(...group);
  }
  return out;
}

/** The printed table: one row per stream or task, one column per split. */
export function countsTable(m: Manifest): string {
  const rows: [string, string, Record<string, number>][] = [
    ...Object.entries(m.counts.streams).map(
      ([k, v]) => ['stream', k, v] as [string, string, Record<string, number>],
    ),
    ...Object.entries(m.counts.tasks).map(
      ([k, v]) => ['task', k, v] as [string, string, Record<string, number>],
    ),
  ];
  const head = ['kind', 'name', 'train', 'val', 'test', 'total'];
  const body = rows.map(([kind, name, v]) => {
    const t = v.train ?? 0;
    const va = v.val ?? 0;
    const te = v.test ?? 0;
    return [
      kind,
      name,
      String(t),
      v.val === undefined ? '-' : String(va),
      v.test === undefined ? '-' : String(te),
      String(t + va + te),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
