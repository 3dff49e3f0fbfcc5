/** Byte length of the UTF-8 character starting with byte `c` (SentencePiece's OneCharLen: a stray continuation byte counts 1). */
export function utf8CharLength(c: number): number {
  return c < 0x80 ? 1 : c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const utf8Encode = (s: string): Uint8Array => encoder.encode(s);
export const utf8Decode = (b: Uint8Array): string => decoder.decode(b);

/**
 * Lines of a UTF-8 stream with their 1-based numbers, split like readline (\n, \r\n, lone \r).
 * Unlike readline, invalid UTF-8 is an error naming the line instead of silent U+FFFD text.
 */
export async function* utf8Lines(
  input: AsyncIterable<Uint8Array>,
  invalid: (line: number) => Error,
): AsyncGenerator<[number, string]> {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let lineNo = 0;
  const decode = (bytes: Uint8Array): string[] => {
    lineNo++;
    try {
      return strict.decode(bytes).replace(/\r$/, '').split('\r');
    } catch {
      throw invalid(lineNo);
    }
  };
  let pending: Uint8Array[] = [];
  for await (const chunk of input) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const line = pending.length ? concatBytes([...pending, piece]) : piece;
      pending = [];
      for (const l of decode(line)) yield [lineNo, l];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length) for (const l of decode(concatBytes(pending))) yield [lineNo, l];
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
