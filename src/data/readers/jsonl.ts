import { createReadStream } from 'node:fs';
import { utf8Lines } from '../../text/utf8.js';
import { DataError, DataFormatError } from '../errors.js';
import { openInputSync } from '../../util/read.node.js';

export interface JsonlLine<T = unknown> {
  value: T;
  file: string;
  /** 1-based line number. */
  line: number;
}

/** Streams a JSON Lines file; blank lines are skipped, a malformed line (bad JSON or UTF-8) throws DataFormatError(file, line). */
export async function* readJsonl(file: string): AsyncGenerator<JsonlLine> {
  let fd: number;
  try {
    fd = openInputSync(file, 'JSONL file').fd; // regular files only: a FIFO or device would never end
  } catch (e) {
    throw new DataError(`readJsonl: ${(e as Error).message}`, { cause: e });
  }
  const input = createReadStream(file, { fd });
  try {
    for await (const [line, text] of utf8Lines(input, (n) => new DataFormatError(file, n, 'invalid UTF-8'))) {
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new DataFormatError(file, line, `invalid JSON (${(e as Error).message})`);
      }
      yield { value, file, line };
    }
  } finally {
    input.destroy();
  }
}

/** Reads a whole JSONL file into memory. */
export async function loadJsonl(file: string): Promise<JsonlLine[]> {
  const out: JsonlLine[] = [];
  for await (const l of readJsonl(file)) out.push(l);
  return out;
}

/** Small field validators that produce DataFormatError naming file, line and field. */
export class FieldReader {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly record: Record<string, unknown>,
  ) {}

  static of(l: JsonlLine): FieldReader {
    if (typeof l.value !== 'object' || l.value === null || Array.isArray(l.value))
      throw new DataFormatError(l.file, l.line, `expected a JSON object, got ${describeValue(l.value)}`);
    return new FieldReader(l.file, l.line, l.value as Record<string, unknown>);
  }

  fail(problem: string): never {
    throw new DataFormatError(this.file, this.line, problem);
  }

  has(key: string): boolean {
    return key in this.record;
  }

  string(key: string): string {
    const v = this.record[key];
    if (typeof v !== 'string') this.fail(`field "${key}": expected a string, got ${describeValue(v)}`);
    return v;
  }

  nonEmptyString(key: string): string {
    const v = this.string(key);
    if (v.length === 0) this.fail(`field "${key}": empty string`);
    return v;
  }

  int(key: string): number {
    const v = this.record[key];
    // safe integers only: 1e300 or 2^53+1 pass Number.isInteger but are not the number written (found by fuzz/unilm-index)
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(`field "${key}": expected an integer (at most 2^53-1 in size), got ${describeValue(v)}`);
    return v;
  }

  number(key: string): number {
    const v = this.record[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`field "${key}": expected a number, got ${describeValue(v)}`);
    return v;
  }

  intArray(key: string): number[] {
    const v = this.record[key];
    if (!Array.isArray(v)) this.fail(`field "${key}": expected an array of integers, got ${describeValue(v)}`);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x)) this.fail(`field "${key}"[${i}]: expected an integer (at most 2^53-1 in size), got ${describeValue(x)}`);
    });
    return v as number[];
  }

  numberArray(key: string): number[] {
    const v = this.record[key];
    if (!Array.isArray(v)) this.fail(`field "${key}": expected an array of numbers, got ${describeValue(v)}`);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) this.fail(`field "${key}"[${i}]: expected a number, got ${describeValue(x)}`);
    });
    return v as number[];
  }

  /** Token ids: a non-empty array of non-negative integers. */
  tokenIds(key: string): number[] {
    const ids = this.intArray(key);
    if (ids.length === 0) this.fail(`field "${key}": empty token list (the official loader rejects it too)`);
    ids.forEach((x, i) => {
      if (x < 0) this.fail(`field "${key}"[${i}]: negative token id ${x}`);
    });
    return ids;
  }
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
