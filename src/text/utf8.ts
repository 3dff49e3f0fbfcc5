/** Byte length of the UTF-8 character starting with byte `c` (SentencePiece's OneCharLen: a stray continuation byte counts 1). */
export function utf8CharLength(c: number): number {
  return c < 0x80 ? 1 : c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const utf8Encode = (s: string): Uint8Array => encoder.encode(s);
export const utf8Decode = (b: Uint8Array): string => decoder.decode(b);
