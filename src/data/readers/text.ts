import { createReadStream } from 'node:fs';
import { utf8Lines } from '../../text/utf8.js';
import { DataError, DataFormatError } from '../errors.js';
import { openInputSync } from '../../util/read.node.js';

export interface TextLine {
  text: string;
  /** File the line came from. */
  file: string;
  /** 1-based line number in that file. */
  line: number;
}

export interface TextFileOptions {
  /** Skip lines that are empty or whitespace only (default true). */
  skipEmpty?: boolean;
}

/**
 * Reads text files with one document or sentence per line (the format of sentencepiece
 * training corpora and BEiT-3's monomodal text stream). Streams: files of any size.
 * Line ends (\n, \r\n) are removed; the text is otherwise kept as written. Invalid UTF-8 is a
 * DataFormatError naming the file and line (not silently replaced).
 */
export async function* readTextLines(
  files: string | readonly string[],
  options: TextFileOptions = {},
): AsyncGenerator<TextLine> {
  const skipEmpty = options.skipEmpty ?? true;
  for (const file of typeof files === 'string' ? [files] : files) {
    let fd: number;
    try {
      fd = openInputSync(file, 'text file').fd; // regular files only: a FIFO or device would never end
    } catch (e) {
      throw new DataError(`readTextLines: ${(e as Error).message}`, { cause: e });
    }
    const input = createReadStream(file, { fd });
    try {
      for await (const [line, text] of utf8Lines(
        input,
        (n) => new DataFormatError(file, n, 'invalid UTF-8'),
      )) {
        if (skipEmpty && text.trim() === '') continue;
        yield { text, file, line };
      }
    } finally {
      input.destroy();
    }
  }
}
