import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawItem } from '../types.js';
import { SourceFormatError } from '../util.js';

export interface Country {
  code: string;
  name: string;
  continent?: string;
}

export async function readCountries(from: string): Promise<Map<string, Country>> {
  const path = join(from, 'flag-icons', 'country.json');
  const raw = JSON.parse(await readFile(path, 'utf8')) as {
    code: string;
    name: string;
    continent?: string;
    iso?: boolean;
  }[];
  if (!Array.isArray(raw)) throw new SourceFormatError(`${path}: expected an array of countries`);
  return new Map(
    raw.filter((c) => c.iso).map((c) => [c.code, { code: c.code, name: c.name, continent: c.continent }]),
  );
}

/** Flags of ISO countries in both aspect ratios; one flag in several sources is one identity. */
export async function readFlags(from: string): Promise<RawItem[]> {
  const countries = await readCountries(from);
  const items: RawItem[] = [];
  for (const c of countries.values()) {
    for (const ratio of ['4x3', '1x1']) {
      const file = join(from, 'flag-icons', 'flags', ratio, `${c.code}.svg`);
      if (!existsSync(file)) continue;
      items.push({
        key: `flag_${ratio}_${c.code}`,
        stream: 'flag',
        source: 'flag-icons',
        style: `flag-${ratio}`,
        identityHints: [`flag:${c.code}`],
        captions: [`flag: ${c.name}`, `flag of ${c.name}`],
        meta: { countryCode: c.code, country: c.name, continent: c.continent, tags: [] },
        svg: () => readFile(file, 'utf8'),
      });
    }
  }
  return items;
}
