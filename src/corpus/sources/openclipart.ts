import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
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

export async function readClipart(from: string, opts: { brands: boolean }): Promise<RawItem[]> {
  const root = join(from, 'openclipart-svg', ROOT);
  const files: string[] = [];
  await walk(root, files);
  const items: RawItem[] = [];
  for (const file of files) {
    const rel = relative(root, file);
    const category = rel.split('/')[0]!;
    if (category === 'logos' && !opts.brands) continue;
    if ((await stat(file)).size > MAX_BYTES) continue;
    const svg = await readFile(file, 'utf8');
    const md = clipartMetadata(svg);
    const title = md.title?.toLowerCase().replace(/[_]+/g, ' ').trim();
    if (!title || title.length < 2 || /\.svg$|^untitled|^drawing/.test(title)) continue;
    const captions = [title];
    if (md.description && md.description.length <= 100 && md.description.toLowerCase() !== title) {
      captions.push(md.description.toLowerCase());
    }
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
