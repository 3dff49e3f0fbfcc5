import { DataError } from './errors.js';

/**
 * Expands shell-style braces in a shard pattern, as webdataset / braceexpand do:
 * `shard-{000000..000009}.tar` (numeric ranges keep zero padding), `{a,b}` alternatives, nesting.
 * Hand-written: the `brace-expansion` npm package caps range sizes and is not a direct dependency,
 * and the grammar needed here is small.
 */
export function expandBraces(pattern: string): string[] {
  const open = findTopLevelOpen(pattern);
  if (open < 0) return [pattern];
  const close = matchingClose(pattern, open);
  if (close < 0) throw new DataError(`expandBraces: unbalanced '{' in ${JSON.stringify(pattern)}`);
  const head = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  const tails = expandBraces(pattern.slice(close + 1));
  const alternatives = expandBody(body, pattern);
  const out: string[] = [];
  if (alternatives === undefined) {
    // `{x}` without comma or range stays literal, as in bash (its inside may still expand)
    for (const a of expandBraces(body)) for (const t of tails) out.push(`${head}{${a}}${t}`);
    return out;
  }
  for (const alt of alternatives) for (const a of expandBraces(alt)) for (const t of tails) out.push(head + a + t);
  return out;
}

/** Expands a list of patterns (each may contain braces). */
export function expandShardList(patterns: string | readonly string[]): string[] {
  const list = typeof patterns === 'string' ? [patterns] : patterns;
  return list.flatMap((p) => expandBraces(p));
}

function findTopLevelOpen(s: string): number {
  return s.indexOf('{');
}

function matchingClose(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function expandBody(body: string, pattern: string): string[] | undefined {
  const range = /^(-?\d+)\.\.(-?\d+)(?:\.\.(\d+))?$/.exec(body);
  if (range) {
    const [, a, b, stepText] = range;
    const from = Number(a);
    const to = Number(b);
    const step = stepText ? Number(stepText) : 1;
    if (step <= 0) throw new DataError(`expandBraces: step must be positive in ${JSON.stringify(pattern)}`);
    const count = Math.floor(Math.abs(to - from) / step) + 1;
    if (count > 10_000_000) throw new DataError(`expandBraces: range of ${count} items in ${JSON.stringify(pattern)}`);
    // zero padding as bash/braceexpand: width of the longer endpoint when either has a leading zero
    const padded = /^-?0\d/.test(a) || /^-?0\d/.test(b);
    const width = padded ? Math.max(a.length, b.length) : 0;
    const dir = to >= from ? 1 : -1;
    const out: string[] = [];
    for (let i = 0, v = from; i < count; i++, v += dir * step) out.push(String(v).padStart(width, '0'));
    return out;
  }
  const letters = /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(body);
  if (letters) {
    const from = letters[1].charCodeAt(0);
    const to = letters[2].charCodeAt(0);
    const dir = to >= from ? 1 : -1;
    const out: string[] = [];
    for (let c = from; c !== to + dir; c += dir) out.push(String.fromCharCode(c));
    return out;
  }
  // split on top-level commas
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '{') depth++;
    else if (body[i] === '}') depth--;
    else if (body[i] === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts.length === 1 ? undefined : parts;
}
