import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawItem } from '../types.js';
import { SourceFormatError } from '../util.js';
import { iconifySvg, loadIconifySet, type IconifySet } from './iconify.js';

export const EMOJI_STYLES = [
  { id: 'iconify-noto', style: 'noto' },
  { id: 'iconify-twemoji', style: 'twemoji' },
  { id: 'iconify-fluent-emoji-flat', style: 'fluent-flat' },
  { id: 'iconify-fluent-emoji-high-contrast', style: 'fluent-high-contrast' },
] as const;

interface EmojibaseEntry {
  label: string;
  hexcode: string;
  emoji: string;
  tags?: string[];
  group?: number;
  subgroup?: number;
  tone?: number | number[];
  skins?: EmojibaseEntry[];
}
interface DatasourceEntry {
  name: string | null;
  unified: string;
  short_names?: string[];
}

const TONES = new Set(['1f3fb', '1f3fc', '1f3fd', '1f3fe', '1f3ff']);

/** Codepoints lowercased, without the FE0F variation selector: how Iconify's chars.json keys emoji. */
export function normalizeHex(hex: string): string {
  return hex
    .toLowerCase()
    .split('-')
    .filter((c) => c !== 'fe0f')
    .join('-');
}

/**
 * The identity of an emoji: skin tones dropped, man/woman variants mapped onto the person form,
 * regional-indicator flags mapped onto the country code shared with flag-icons.
 */
export function emojiIdentity(hex: string): string {
  let cps = normalizeHex(hex).split('-');
  if (cps.length === 2 && cps.every((c) => parseInt(c, 16) >= 0x1f1e6 && parseInt(c, 16) <= 0x1f1ff)) {
    return 'flag:' + cps.map((c) => String.fromCharCode(97 + parseInt(c, 16) - 0x1f1e6)).join('');
  }
  cps = cps.filter((c) => !TONES.has(c));
  // "<base> ZWJ male/female sign" -> base
  if (cps.length >= 3 && cps[cps.length - 2] === '200d' && (cps.at(-1) === '2640' || cps.at(-1) === '2642')) {
    cps = cps.slice(0, -2);
  }
  // man / woman + ZWJ + X -> person + ZWJ + X; lone man / woman -> person
  if ((cps[0] === '1f468' || cps[0] === '1f469') && (cps.length === 1 || cps[1] === '200d')) cps[0] = '1f9d1';
  return 'emoji:' + cps.join('-');
}

function genderOf(label: string): 'man' | 'woman' | 'person' | undefined {
  const m = /^(man|woman|person)\b/.exec(label);
  return m ? (m[1] as 'man' | 'woman' | 'person') : undefined;
}

export interface EmojiReadOptions {
  groups: Record<string, string>;
  subgroups: Record<string, string>;
}

/** Emoji image-text items: one per (emoji, style) where the style draws that emoji. */
export async function readEmoji(from: string): Promise<RawItem[]> {
  const dataPath = join(from, 'emojibase-data', 'en', 'data.json');
  const data = JSON.parse(await readFile(dataPath, 'utf8')) as EmojibaseEntry[];
  if (!Array.isArray(data)) throw new SourceFormatError(`${dataPath}: expected a JSON array of emoji`);
  const meta = JSON.parse(await readFile(join(from, 'emojibase-data', 'meta', 'groups.json'), 'utf8')) as {
    groups: Record<string, string>;
    subgroups: Record<string, string>;
  };
  const ds = JSON.parse(
    await readFile(join(from, 'emoji-datasource', 'emoji.json'), 'utf8'),
  ) as DatasourceEntry[];
  const dsByHex = new Map(ds.map((d) => [normalizeHex(d.unified), d]));
  const sets: { style: string; source: string; set: IconifySet }[] = [];
  for (const s of EMOJI_STYLES)
    sets.push({ style: s.style, source: s.id, set: await loadIconifySet(join(from, s.id)) });

  const items: RawItem[] = [];
  const flat: { e: EmojibaseEntry; base?: EmojibaseEntry }[] = [];
  for (const e of data) {
    flat.push({ e });
    for (const s of e.skins ?? []) flat.push({ e: s, base: e });
  }
  for (const { e, base } of flat) {
    if (e.group === undefined || meta.groups[e.group] === 'component') continue; // swatches, hair parts
    const hex = normalizeHex(e.hexcode);
    const d = dsByHex.get(hex);
    const captions = [e.label];
    if (d?.name) captions.push(d.name.toLowerCase());
    for (const sn of d?.short_names ?? []) captions.push(sn.replace(/_/g, ' '));
    const uniqueCaptions = [...new Set(captions.map((c) => c.trim()).filter(Boolean))];
    const tone =
      typeof e.tone === 'number' ? e.tone : Array.isArray(e.tone) ? undefined : e.skins ? 0 : undefined;
    const identity = emojiIdentity(e.hexcode);
    for (const { style, source, set } of sets) {
      const name = set.chars.get(hex);
      if (!name) continue;
      const body = iconifySvg(set, name);
      if (!body) continue;
      items.push({
        key: `emoji_${style}_${hex}`,
        stream: identity.startsWith('flag:') ? 'flag' : 'emoji',
        source,
        style,
        identityHints: [identity],
        captions: uniqueCaptions,
        meta: {
          group: meta.groups[e.group],
          subgroup: e.subgroup !== undefined ? meta.subgroups[e.subgroup] : undefined,
          skinTone: tone,
          gender: genderOf(e.label),
          countryCode: identity.startsWith('flag:') ? identity.slice(5) : undefined,
          tags: [...new Set(e.tags ?? base?.tags ?? [])],
          emoji: e.emoji,
        },
        svg: async () => body,
      });
    }
  }
  return items;
}
