import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { readJsonl } from '../../src/data/readers/jsonl.js';
import { readTextLines } from '../../src/data/readers/text.js';
import { expect, type FuzzTarget } from '../lib/target.js';

export const target: FuzzTarget = {
  name: 'jsonl',
  entry: 'readJsonl and readTextLines (streamed, strict UTF-8, file:line errors)',
  async run(input, { dir }) {
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, input);
    let lines = 0;
    try {
      for await (const l of readTextLines(path)) {
        expect(typeof l.text === 'string', 'text line');
        lines++;
      }
    } finally {
      for await (const l of readJsonl(path)) expect(l.line >= 1, 'line numbers start at 1');
    }
    void lines;
  },
  seeds: () => [
    new TextEncoder().encode('{"a": 1}\n\n{"b": [1, 2, {"c": "\\u00e9"}]}\n'),
    new TextEncoder().encode('"x"\r\n[1,2]\r\nnull\n'),
  ],
  hostile: () =>
    fc.oneof(
      fc.integer({ min: 1, max: 100000 }).map((n) => new TextEncoder().encode(`${'['.repeat(n)}${']'.repeat(n)}\n`)),
      fc.integer({ min: 1, max: 1 << 20 }).map((n) => new TextEncoder().encode(`"${'a'.repeat(n)}"`)),
      fc.uint8Array({ maxLength: 200 }),
    ),
  dict: ['\n', '\r\n', '{', '}', '[', ']', '"', '\\u', '\xc3', '\xff', '\xed\xa0\x80', '1e999', '__proto__'],
};
