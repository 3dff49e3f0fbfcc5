/**
 * The one bounded read of beit3's input files. Every reader of a file a user names (images,
 * configs, tokenizer models, index folders, checkpoints, ONNX models, data files) opens it here:
 * - only regular files are read: a FIFO, a device node (`/dev/zero`), a socket or a folder is
 *   refused up front with an InputFileError naming it, also behind a symlink (the check is an
 *   fstat of the opened descriptor, so nothing can swap the file in between);
 * - FIFOs are opened non-blocking, so refusing one never waits for a writer;
 * - whole-file reads stop at `maxBytes` (the documented limit of that kind of input), so a file
 *   that is larger, or grows while it is read, is refused instead of filling memory.
 * Streaming and random-access readers (JSONL, tar shards, .pth, safetensors) take the descriptor
 * from `openInputSync` / `openInput`, which do the same checks without a size bound.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Beit3Error } from './errors.js';

/** An input file that cannot be read: missing, not a regular file, or over its size limit. */
export class InputFileError extends Beit3Error {
  override name = 'InputFileError';
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason}`, options);
  }
}

/** Documented size limits of whole-file reads (bytes). */
export const READ_LIMITS = {
  /** task config.json, labels files, index meta.json */
  json: 64 * 2 ** 20,
  /** SentencePiece .model */
  tokenizerModel: 256 * 2 ** 20,
  /** one encoded image */
  image: 256 * 2 ** 20,
  /** an ONNX model or external data file (protobuf's own limit is 2 GiB) */
  onnx: 2 ** 31 - 1,
} as const;

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function kind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'is a directory, not a file';
  if (st.isFIFO()) return 'is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

function openError(path: string, what: string, e: unknown): InputFileError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'not found'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : code === 'ELOOP'
            ? 'too many levels of symbolic links'
            : code === 'ENAMETOOLONG'
              ? 'file name too long'
              : (e as Error).message;
  return new InputFileError(path, `cannot read ${what}: ${why}`, { cause: e });
}

/** Opens a regular file for reading (synchronous); returns its descriptor and size. */
export function openInputSync(path: string, what = 'file'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, what, e);
  }
  try {
    const st = fstatSync(fd);
    const bad = kind(st);
    if (bad) throw new InputFileError(path, `cannot read ${what}: it ${bad}`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e instanceof InputFileError ? e : openError(path, what, e);
  }
}

/** Opens a regular file for reading; the caller closes the handle (e.g. `handle.createReadStream()`). */
export async function openInput(path: string, what = 'file'): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, what, e);
  }
  try {
    const st = await handle.stat();
    const bad = kind(st);
    if (bad) throw new InputFileError(path, `cannot read ${what}: it ${bad}`);
    return { handle, size: st.size };
  } catch (e) {
    await handle.close();
    throw e instanceof InputFileError ? e : openError(path, what, e);
  }
}

function tooLarge(path: string, what: string, maxBytes: number): InputFileError {
  return new InputFileError(path, `${what} is larger than the limit of ${maxBytes} bytes`);
}

/** Reads a whole regular file of at most `maxBytes` bytes (synchronous). */
export function readFileBoundedSync(path: string, maxBytes: number, what = 'file'): Buffer {
  const { fd, size } = openInputSync(path, what);
  try {
    if (size > maxBytes) throw tooLarge(path, what, maxBytes);
    // read to EOF rather than trusting the size: /proc-style files report 0 and files can grow
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(size - total, 0) + 1, 1 << 24, maxBytes - total + 1));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw tooLarge(path, what, maxBytes);
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (e) {
    throw e instanceof InputFileError ? e : new InputFileError(path, `cannot read ${what}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole regular file of at most `maxBytes` bytes. */
export async function readFileBounded(path: string, maxBytes: number, what = 'file'): Promise<Buffer> {
  const { handle, size } = await openInput(path, what);
  try {
    if (size > maxBytes) throw tooLarge(path, what, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(size - total, 0) + 1, 1 << 24, maxBytes - total + 1));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, what, maxBytes);
      chunks.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (e) {
    throw e instanceof InputFileError ? e : new InputFileError(path, `cannot read ${what}: ${(e as Error).message}`, { cause: e });
  } finally {
    await handle.close();
  }
}
