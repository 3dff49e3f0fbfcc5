/**
 * The one root of every typed error in beit3. Catch `Beit3Error` to tell "bad input or state,
 * with a message naming the problem" from a bug. Every subclass sets an explicit
 * `override name = '...'`, so the name survives minification in the browser build.
 */
export class Beit3Error extends Error {
  override name = 'Beit3Error';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A worker pool could not start, a worker died, or the pool was used after close(). */
export class WorkerPoolError extends Beit3Error {
  override name = 'WorkerPoolError';
}

/** A file could not be written atomically (the message names the output, not the temp file). */
export class AtomicWriteError extends Beit3Error {
  override name = 'AtomicWriteError';
  constructor(
    readonly path: string,
    /** Why, in words ('it is a directory', 'its folder does not exist', ...). */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot write ${path}: ${reason}`, options);
  }
}

/** The message of an unknown thrown value, for wrapping it into a typed error. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
