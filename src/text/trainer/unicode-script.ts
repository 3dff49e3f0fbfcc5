// Unicode script of a code point, as the SentencePiece trainer uses it to keep pieces within one script
// (Hiragana/Katakana/ー count as Han; digits and punctuation are Common). JS regex script properties
// carry the Unicode Scripts.txt data, so no table is needed here.
const SCRIPTS = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Nko',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Georgian',
  'Hangul',
  'Ethiopic',
  'Cherokee',
  'Canadian_Aboriginal',
  'Ogham',
  'Runic',
  'Khmer',
  'Mongolian',
  'Han',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Yi',
  'Tagalog',
  'Javanese',
  'Balinese',
  'Sundanese',
  'Tifinagh',
  'Vai',
  'Coptic',
  'Glagolitic',
  'Gothic',
  'Inherited',
] as const;

const matchers = SCRIPTS.map((name) => [name, new RegExp(`^\\p{Script=${name}}$`, 'u')] as const);
const cache = new Map<number, string>();

export function scriptOf(cp: number): string {
  if (cp < 0x80) {
    return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) ? 'Latin' : 'Common';
  }
  if (cp === 0x30fc) return 'Han';
  let s = cache.get(cp);
  if (s === undefined) {
    const ch = String.fromCodePoint(cp);
    s = 'Common';
    for (const [name, re] of matchers) {
      if (re.test(ch)) {
        s = name === 'Hiragana' || name === 'Katakana' ? 'Han' : name;
        break;
      }
    }
    cache.set(cp, s);
  }
  return s;
}
