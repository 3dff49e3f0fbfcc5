import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { RawItem } from '../types.js';

const ROOT = join('usr', 'share', 'openclipart', 'svg');
/** Bigger drawings cost seconds each to rasterize and carry no more signal at 64 px. */
const MAX_BYTES = 200_000;

const decode = (s: string) =>
  s
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** Dublin Core fields from the RDF metadata block that Open Clip Art embeds in each SVG. */
export function clipartMetadata(svg: string): {
  title?: string;
  description?: string;
  keywords: string[];
  creator?: string;
} {
  const work = /<cc:Work[\s\S]*?<\/cc:Work>/.exec(svg)?.[0] ?? '';
  const field = (tag: string) => {
    const m = new RegExp(`<dc:${tag}>([\\s\\S]*?)</dc:${tag}>`).exec(work);
    return m ? m[1]! : undefined;
  };
  const title = /^[^<]*$/.test(field('title') ?? '<') ? decode(field('title')!) : undefined;
  const desc = field('description');
  const description = desc && /^[^<]*$/.test(desc) ? decode(desc) : undefined;
  const subject = field('subject') ?? '';
  const keywords = [...subject.matchAll(/<rdf:li>([^<]*)<\/rdf:li>/g)]
    .map((m) => decode(m[1]!).toLowerCase())
    .filter((k) => k && k !== 'unsorted');
  const creatorBlock = field('creator') ?? '';
  const creator = /<dc:title>([^<]*)<\/dc:title>/.exec(creatorBlock)?.[1];
  return {
    title: title || undefined,
    description: description || undefined,
    keywords,
    creator: creator ? decode(creator) : undefined,
  };
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.name.endsWith('.svg')) out.push(p);
  }
}

/** Titles and descriptions that name a collection or a tool, not the picture. */
const JUNK =
  /sodipodi|inkscape|created with|made with|clipart by|clip art by|part of|collection|icon ?set|theme|submission|various|https?:|^untitled|^drawing|\.svg$/;
/** At most this many drawings share one caption (1,375 near-identical stars would drown the rest). */
const MAX_PER_CAPTION = 20;

/**
 * A name from the file name when the title is a collection name: Debian's files are named
 * "<title>_<author>_01.svg", so tokens with digits and tokens of the author's name are dropped.
 */
export function nameFromFile(file: string, creator: string | undefined): string {
  const stem = basename(file, '.svg').toLowerCase();
  const author = (creator ?? '')
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((t) => t.length >= 2);
  return stem
    .split(/[_\s-]+/)
    .filter((t) => t.length >= 2 && !/\d/.test(t) && !author.some((a) => a.startsWith(t) || t.startsWith(a)))
    .join(' ');
}

export async function readClipart(from: string, opts: { brands: boolean }): Promise<RawItem[]> {
  const root = join(from, 'openclipart-svg', ROOT);
  const files: string[] = [];
  await walk(root, files);
  const found: { file: string; rel: string; category: string; md: ReturnType<typeof clipartMetadata> }[] = [];
  for (const file of files) {
    const rel = relative(root, file);
    const category = rel.split('/')[0]!;
    if (category === 'logos' && !opts.brands) continue;
    if ((await stat(file)).size > MAX_BYTES) continue;
    found.push({ file, rel, category, md: clipartMetadata(await readFile(file, 'utf8')) });
  }
  const norm = (t: string | undefined) =>
    (t ?? '')
      .toLowerCase()
      .replace(/[_\s]+/g, ' ')
      .trim();
  const titleCount = new Map<string, number>();
  for (const f of found) titleCount.set(norm(f.md.title), (titleCount.get(norm(f.md.title)) ?? 0) + 1);
  const perCaption = new Map<string, number>();
  const items: RawItem[] = [];
  for (const { file, rel, category, md } of found) {
    let title = norm(md.title);
    // a title shared by many files, or a junk one, names a collection: use the file name
    if (!title || JUNK.test(title) || (titleCount.get(title) ?? 0) > 3)
      title = nameFromFile(file, md.creator);
    if (title.length < 2) continue;
    const used = perCaption.get(title) ?? 0;
    if (used >= MAX_PER_CAPTION) continue;
    perCaption.set(title, used + 1);
    const captions = [title];
    const desc = norm(md.description);
    if (desc && desc.length <= 100 && desc !== title && !JUNK.test(desc)) captions.push(desc);
    items.push({
      key: `clipart_${rel
        .replace(/\.svg$/, '')
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '_')}`,
      stream: 'clipart',
      source: 'openclipart-svg',
      style: 'openclipart',
      identityHints: [`name:${title}`],
      captions,
      meta: { category, tags: md.keywords },
      credit: md.creator,
      svg: () => readFile(file, 'utf8'),
    });
  }
  return items;
}
