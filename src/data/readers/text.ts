import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DataError } from '../errors.js';

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
 * Line ends (\n, \r\n) are removed; the text is otherwise kept as written.
 */
export async function* readTextLines(files: string | readonly string[], options: TextFileOptions = {}): AsyncGenerator<TextLine> {
  const skipEmpty = options.skipEmpty ?? true;
  for (const file of typeof files === 'string' ? [files] : files) {
    const input = createReadStream(file, { encoding: 'utf8' });
    const opened = new Promise<void>((resolve, reject) => {
      input.once('open', () => resolve());
      input.once('error', (e) => reject(new DataError(`readTextLines: cannot read ${file}: ${e.message}`)));
    });
    await opened;
    const rl = createInterface({ input, crlfDelay: Infinity });
    let line = 0;
    try {
      for await (const text of rl) {
        line++;
        if (skipEmpty && text.trim() === '') continue;
        yield { text, file, line };
      }
    } finally {
      rl.close();
      input.destroy();
    }
  }
}
