import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SourceFormatError } from '../util.js';

interface IconifyIcon {
  body: string;
  width?: number;
  height?: number;
  left?: number;
  top?: number;
}
interface IconifyJson {
  prefix: string;
  icons: Record<string, IconifyIcon>;
  aliases?: Record<string, { parent: string; hFlip?: boolean; vFlip?: boolean; rotate?: number }>;
  width?: number;
  height?: number;
}
export interface IconifySet {
  json: IconifyJson;
  /** normalized codepoints (lowercase, no fe0f) -> icon name */
  chars: Map<string, string>;
}

export async function loadIconifySet(dir: string): Promise<IconifySet> {
  const path = join(dir, 'icons.json');
  const json = JSON.parse(await readFile(path, 'utf8')) as IconifyJson;
  if (!json || typeof json.icons !== 'object')
    throw new SourceFormatError(`${path}: not an Iconify JSON icon set`);
  const rawChars = JSON.parse(await readFile(join(dir, 'chars.json'), 'utf8')) as Record<string, string>;
  const chars = new Map<string, string>();
  for (const [hex, name] of Object.entries(rawChars)) {
    const k = hex
      .toLowerCase()
      .split('-')
      .filter((c) => c !== 'fe0f')
      .join('-');
    if (!chars.has(k)) chars.set(k, name);
  }
  return { json, chars };
}

/** Standalone SVG for an icon; aliases with flips or rotations are skipped (undefined). */
export function iconifySvg(set: IconifySet, name: string): string | undefined {
  let icon = set.json.icons[name];
  if (!icon) {
    const alias = set.json.aliases?.[name];
    if (!alias || alias.hFlip || alias.vFlip || alias.rotate) return undefined;
    icon = set.json.icons[alias.parent];
    if (!icon) return undefined;
  }
  const w = icon.width ?? set.json.width ?? 16;
  const h = icon.height ?? set.json.height ?? 16;
  const left = icon.left ?? 0;
  const top = icon.top ?? 0;
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h}" viewBox="${left} ${top} ${w} ${h}">${icon.body}</svg>`;
}
