import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawItem } from '../types.js';
import { SourceFormatError } from '../util.js';

/** Brand logos are trademarks: left out unless the build is asked for them. */
const LUCIDE_BRANDS = new Set([
  'chrome',
  'codepen',
  'codesandbox',
  'dribbble',
  'facebook',
  'figma',
  'framer',
  'github',
  'gitlab',
  'instagram',
  'linkedin',
  'pocket',
  'slack',
  'trello',
  'twitch',
  'twitter',
  'youtube',
  'rail-symbol',
]);

const spaced = (name: string) => name.replace(/[-_]+/g, ' ').trim();
const safeKey = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-');

export interface IconReadOptions {
  brands: boolean;
}

export async function readIcons(from: string, opts: IconReadOptions): Promise<RawItem[]> {
  const items: RawItem[] = [];
  // Tabler: outline and filled twins of one name share an identity.
  const tablerDir = join(from, 'tabler-icons');
  const tabler = JSON.parse(await readFile(join(tablerDir, 'icons.json'), 'utf8')) as Record<
    string,
    { name: string; category?: string; tags?: (string | number)[]; styles?: Record<string, unknown> }
  >;
  if (typeof tabler !== 'object') throw new SourceFormatError(`${tablerDir}/icons.json: expected an object`);
  for (const icon of Object.values(tabler)) {
    const isBrand = icon.category === 'Brand' || icon.name.startsWith('brand-');
    if (isBrand && !opts.brands) continue;
    for (const style of ['outline', 'filled']) {
      const file = join(tablerDir, 'icons', style, `${icon.name}.svg`);
      if (!existsSync(file)) continue;
      items.push({
        key: `icon_tabler-${style}_${safeKey(icon.name)}`,
        stream: 'icon',
        source: 'tabler-icons',
        style: `tabler-${style}`,
        identityHints: [`name:${spaced(icon.name)}`],
        captions: [spaced(icon.name)],
        meta: {
          category: icon.category?.toLowerCase() || undefined,
          tags: (icon.tags ?? []).map(String).filter((t) => t.length > 1),
        },
        svg: () => readFile(file, 'utf8'),
      });
    }
  }
  // Material Design Icons: variants (heart, heart-outline) share a baseIconId.
  const mdiDir = join(from, 'mdi-svg');
  const mdi = JSON.parse(await readFile(join(mdiDir, 'meta.json'), 'utf8')) as {
    id: string;
    baseIconId?: string;
    name: string;
    aliases?: string[];
    tags?: string[];
    deprecated?: boolean;
  }[];
  if (!Array.isArray(mdi)) throw new SourceFormatError(`${mdiDir}/meta.json: expected an array`);
  for (const icon of mdi) {
    if (icon.deprecated) continue;
    if ((icon.tags ?? []).includes('Brand / Logo') && !opts.brands) continue;
    const file = join(mdiDir, 'svg', `${icon.name}.svg`);
    if (!existsSync(file)) continue;
    const baseName = icon.name.replace(/-(outline|box-outline|circle-outline)$/, '');
    items.push({
      key: `icon_mdi_${safeKey(icon.name)}`,
      stream: 'icon',
      source: 'mdi-svg',
      style: 'mdi',
      identityHints: [
        `mdi:${icon.baseIconId ?? icon.id}`,
        `name:${spaced(icon.name)}`,
        `name:${spaced(baseName)}`,
      ],
      captions: [...new Set([spaced(icon.name), ...(icon.aliases ?? []).map(spaced)])],
      meta: { category: icon.tags?.[0]?.toLowerCase(), tags: [] },
      svg: () => readFile(file, 'utf8'),
    });
  }
  // Lucide
  const lucideDir = join(from, 'lucide-static');
  const lucide = JSON.parse(await readFile(join(lucideDir, 'tags.json'), 'utf8')) as Record<string, string[]>;
  for (const [name, tags] of Object.entries(lucide)) {
    if (LUCIDE_BRANDS.has(name) && !opts.brands) continue;
    const file = join(lucideDir, 'icons', `${name}.svg`);
    if (!existsSync(file)) continue;
    items.push({
      key: `icon_lucide_${safeKey(name)}`,
      stream: 'icon',
      source: 'lucide-static',
      style: 'lucide',
      identityHints: [`name:${spaced(name)}`],
      captions: [spaced(name)],
      meta: { tags: tags.filter((t) => t.length > 1) },
      svg: () => readFile(file, 'utf8'),
    });
  }
  return items;
}
