// utf8Lines: strict UTF-8 line splitting for stdin and corpora (the CLI side is in test/cli/tokenize.test.ts).
import { describe, expect, it } from 'vitest';
import { utf8Lines } from '../../src/text/utf8.js';

async function collect(chunks: Uint8Array[]): Promise<[number, string][]> {
  const out: [number, string][] = [];
  async function* src() {
    yield* chunks;
  }
  for await (const l of utf8Lines(src(), (n) => new Error(`line ${n}`))) out.push(l);
  return out;
}

describe('utf8Lines', () => {
  it('splits \\n, \\r\\n and lone \\r, with multi-byte characters cut across chunks', async () => {
    const bytes = Buffer.from('a\r\nb\rcé\n\nd€', 'utf8');
    const chunks = [...bytes].map((b) => Uint8Array.of(b)); // one byte per chunk
    expect(await collect(chunks)).toEqual([
      [1, 'a'],
      [2, 'b'],
      [2, 'cé'],
      [3, ''],
      [4, 'd€'],
    ]);
  });
});
