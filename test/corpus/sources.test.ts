import { describe, expect, it } from 'vitest';
import { mergeMeta } from '../../src/corpus/build.js';
import { groupIdentities, splitOf } from '../../src/corpus/identity.js';
import { withViewBox } from '../../src/corpus/raster.js';
import { emojiIdentity, normalizeHex } from '../../src/corpus/sources/emoji.js';
import { parseIdxImages, parseIdxLabels } from '../../src/corpus/sources/fashion.js';
import { clipartMetadata, nameFromFile } from '../../src/corpus/sources/openclipart.js';
import { paragraphs, parseWordnetLine } from '../../src/corpus/sources/text.js';
import { SourceFormatError } from '../../src/corpus/util.js';

describe('emoji identities', () => {
  it('drops skin tones and maps man/woman onto person', () => {
    const person = emojiIdentity('1F3C3');
    expect(emojiIdentity('1F3C3-1F3FD')).toBe(person);
    expect(emojiIdentity('1F3C3-200D-2642-FE0F')).toBe(person);
    expect(emojiIdentity('1F3C3-1F3FF-200D-2640-FE0F')).toBe(person);
    // man technologist / woman technologist / technologist
    expect(emojiIdentity('1F468-200D-1F4BB')).toBe(emojiIdentity('1F9D1-200D-1F4BB'));
    expect(emojiIdentity('1F469-1F3FB-200D-1F4BB')).toBe(emojiIdentity('1F9D1-200D-1F4BB'));
    expect(emojiIdentity('1F468')).toBe(emojiIdentity('1F469'));
    expect(emojiIdentity('1F600')).not.toBe(person);
  });

  it('names regional-indicator flags by country code, shared with flag-icons', () => {
    expect(emojiIdentity('1F1EB-1F1F7')).toBe('flag:fr');
    expect(emojiIdentity('1F1EF-1F1F5')).toBe('flag:jp');
    expect(normalizeHex('2764-FE0F')).toBe('2764');
  });
});

describe('identity grouping and splits', () => {
  it('joins items sharing any hint, names the group by its smallest hint whatever the order', () => {
    const hints = [['b', 'x'], ['c'], ['x', 'a'], ['d', 'c']];
    expect(groupIdentities(hints)).toEqual(['a', 'c', 'a', 'c']);
    expect(groupIdentities([...hints].reverse())).toEqual(['c', 'a', 'c', 'a']);
  });

  it('splits by a fixed hash close to 70/10/20', () => {
    const counts = { train: 0, val: 0, test: 0 };
    for (let i = 0; i < 20000; i++) counts[splitOf(`id-${i}`)]++;
    expect(counts.train / 20000).toBeCloseTo(0.7, 1);
    expect(counts.val / 20000).toBeCloseTo(0.1, 1);
    expect(counts.test / 20000).toBeCloseTo(0.2, 1);
    expect(splitOf('emoji:1f3c3')).toBe(splitOf('emoji:1f3c3'));
  });

  it('drops metadata the merged duplicates disagree on and pools their tags', () => {
    const m = mergeMeta([
      { group: 'people-body', skinTone: 1, tags: ['run'] },
      { group: 'people-body', skinTone: 2, tags: ['race'] },
    ]);
    expect(m.group).toBe('people-body');
    expect(m.skinTone).toBeUndefined();
    expect(m.tags).toEqual(['run', 'race']);
  });
});

describe('source parsers', () => {
  it('reads WordNet data lines (lemmas, gloss) and skips the licence header', () => {
    const line =
      '02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 | a member of the genus Canis; "the dog barked all night"  ';
    expect(parseWordnetLine(line)).toEqual({
      source: 'wordnet',
      text: 'dog, domestic dog, Canis familiaris: a member of the genus Canis; "the dog barked all night"',
      lemmas: ['dog', 'domestic dog', 'canis familiaris'],
    });
    expect(parseWordnetLine('  1 This software and database is being provided')).toBeUndefined();
  });

  it('cuts books into paragraphs and long ones at sentence ends', () => {
    const p = paragraphs(
      'Call me Ishmael. Some years ago, never mind how long.\n\nx\n\n' + 'A b c d e. '.repeat(30),
      10,
      100,
    );
    expect(p[0]).toBe('Call me Ishmael. Some years ago, never mind how long.');
    expect(p.slice(1).every((x) => x.length <= 100 && x.endsWith('.'))).toBe(true);
  });

  it('reads clip-art Dublin Core metadata and falls back to the file name without the author', () => {
    const svg = `<svg><metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>Red &amp; Blue</dc:title><dc:description></dc:description>
      <dc:subject><rdf:Bag><rdf:li>unsorted</rdf:li><rdf:li>Ball</rdf:li></rdf:Bag></dc:subject>
      <dc:creator><cc:Agent><dc:title>Jane Roe</dc:title></cc:Agent></dc:creator></cc:Work></rdf:RDF></metadata></svg>`;
    expect(clipartMetadata(svg)).toEqual({
      title: 'Red & Blue',
      description: undefined,
      keywords: ['ball'],
      creator: 'Jane Roe',
    });
    expect(nameFromFile('/x/baby-tux_jane_ro_01.svg', 'Jane Roe')).toBe('baby tux');
    expect(nameFromFile('/x/star_05pt02step.svg', undefined)).toBe('star');
  });

  it('adds the viewBox a page size in mm implies, and leaves SVGs with one alone', () => {
    const out = withViewBox('<svg width="210mm" height="297mm"><path d="M0 0"/></svg>');
    expect(out).toMatch(/^<svg viewBox="0 0 793\.701 1122\.520" width="210mm"/);
    const kept = '<svg viewBox="0 0 24 24" width="24"></svg>';
    expect(withViewBox(kept)).toBe(kept);
  });

  it('checks IDX headers against the file size', () => {
    const ok = new Uint8Array(16 + 2 * 2 * 2);
    new DataView(ok.buffer).setUint32(0, 0x803);
    new DataView(ok.buffer).setUint32(4, 2);
    new DataView(ok.buffer).setUint32(8, 2);
    new DataView(ok.buffer).setUint32(12, 2);
    expect(parseIdxImages(ok, 'ok').count).toBe(2);
    expect(() => parseIdxImages(ok.subarray(0, 20), 'short')).toThrow(SourceFormatError);
    expect(() => parseIdxLabels(ok, 'img-as-labels')).toThrow(/magic/);
  });
});
