import * as path from 'node:path';
import { readJsonl, FieldReader } from './jsonl.js';

export interface ImageTextPair {
  /** Image path resolved against the root (absolute unless the root is relative). */
  image: string;
  /** The image path as written in the file. */
  imagePath: string;
  text: string;
  /** Remaining fields of the record, untouched. */
  extra: Record<string, unknown>;
  file: string;
  line: number;
}

export interface PairFileOptions {
  /** Folder image paths are relative to. Default: the JSONL file's folder. */
  root?: string;
}

/**
 * Reads image–text pairs from JSONL: `{"image": path, "text": "..."}` or `{"image": path, "caption": "..."}`.
 * A `caption`/`text` given as an array of strings yields one pair per string (COCO-style captions).
 */
export async function* readImageTextPairs(file: string, options: PairFileOptions = {}): AsyncGenerator<ImageTextPair> {
  const root = options.root ?? path.dirname(file);
  for await (const l of readJsonl(file)) {
    const r = FieldReader.of(l);
    const imagePath = r.nonEmptyString('image');
    const textKey: string = r.has('text') ? 'text' : r.has('caption') ? 'caption' : r.fail('missing field "text" (or "caption")');
    const raw = r.record[textKey];
    const texts = Array.isArray(raw) ? raw : [raw];
    if (texts.length === 0) r.fail(`field "${textKey}": empty array`);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') r.fail(`field "${textKey}"${Array.isArray(raw) ? `[${i}]` : ''}: expected a string, got ${typeof t}`);
    });
    const extra = { ...r.record };
    delete extra.image;
    delete extra[textKey];
    for (const text of texts as string[]) {
      yield { image: path.resolve(root, imagePath), imagePath, text, extra, file: l.file, line: l.line };
    }
  }
}
