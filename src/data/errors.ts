import { Beit3Error } from '../util/errors.js';
/** Base class of every error the data layer throws. */
export class DataError extends Beit3Error {
  override name = 'DataError';
}

/** A record in a file is malformed; the message names the file and the 1-based line. */
export class DataFormatError extends DataError {
  override name = 'DataFormatError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${problem}`);
  }
}

/** A WebDataset tar shard could not be read (corrupt header, truncated data, duplicate field). */
export class ShardError extends DataError {
  override name = 'ShardError';
  constructor(
    readonly shard: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${shard}: ${problem}`, options);
  }
}

/** A map stage failed on one sample; names the sample (key or index) and wraps the cause. */
export class SampleError extends DataError {
  override name = 'SampleError';
  constructor(
    readonly sample: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`sample ${sample}: ${problem}`, options);
  }
}

/** A map worker thread died or the pool was closed: fatal whatever the stage's error policy (the one util/ class). */
export { WorkerPoolError } from '../util/errors.js';

/** Short description of an unknown thrown value. */
export function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
