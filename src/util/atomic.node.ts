/**
 * The one atomic write of beit3: data goes to a temp file in the output's folder, is fsynced and
 * renamed over the output, so readers see the old file or the new one, never half of one.
 * - one temp-name format: `.<name>.<pid>-<n>.tmp` beside `<name>`;
 * - the temp file is removed on error and on SIGINT/SIGTERM (handlers exist only while a write is
 *   in flight: a library must not change how its host reacts to signals the rest of the time);
 * - a SIGKILLed run leaves its temp behind; the next write of the same output removes temps whose
 *   pid is no longer running;
 * - an existing output that is not a regular file (folder, FIFO, device node, socket) is refused,
 *   so `--out /dev/sda` or a FIFO never gets renamed over; a symlink to a regular file is
 *   followed (its target is replaced);
 * - an existing output keeps its permission bits.
 * Hand-written rather than write-file-atomic: that package does not refuse special files, does
 * not clean after SIGKILL and has no streaming form, which safetensors and tar shards need.
 */
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AtomicWriteError, Beit3Error, messageOf } from './errors.js';

export { AtomicWriteError };

// ---- temp files removed on signals --------------------------------------------------------

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const p of live) rmSync(p, { force: true, recursive: true });
  live.clear();
  uninstall();
  // Nobody else listens: behave as if we had not been here (default action: terminate).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
}
function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Removes `path` if the process gets SIGINT/SIGTERM before the returned function is called. */
export function trackTempFile(path: string): () => void {
  if (live.size === 0) install();
  live.add(path);
  return () => {
    if (live.delete(path) && live.size === 0) uninstall();
  };
}

// ---- temp names and stale temps -----------------------------------------------------------

let counter = 0;
const TEMP_RE = /^\.(.+)\.(\d+)-\d+\.tmp$/;

/** The temp path a write of `path` uses (unique per process and call: two writers may race on one path). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${counter++}.tmp`);
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Per folder (listed once per process): output name -> temps left by dead processes. */
const staleByDir = new Map<string, Map<string, string[]>>();

function staleTemps(dir: string): Map<string, string[]> {
  let m = staleByDir.get(dir);
  if (m) return m;
  m = new Map();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // folder missing or unreadable: nothing to clean; the write itself reports real problems
  }
  for (const n of names) {
    const hit = TEMP_RE.exec(n);
    if (!hit || pidAlive(Number(hit[2]))) continue;
    const list = m.get(hit[1]) ?? [];
    list.push(join(dir, n));
    m.set(hit[1], list);
  }
  staleByDir.set(dir, m);
  return m;
}

/** Removes the temps a killed earlier run left for `path` (only files in our temp-name format). */
export function removeStaleTemps(path: string): void {
  const byName = staleTemps(dirname(path));
  const list = byName.get(basename(path));
  if (!list) return;
  byName.delete(basename(path));
  for (const p of list) rmSync(p, { force: true });
}

// ---- checks -------------------------------------------------------------------------------

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ENOTDIR') return 'a component of the path is not a folder';
  if (code === 'ENOENT') return 'its folder does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOSPC') return 'no space left on the device';
  if (code === 'EROFS') return 'read-only file system';
  return messageOf(e);
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'it is a directory';
  if (st.isFIFO()) return 'it is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'it is a device node, not a regular file';
  if (st.isSocket()) return 'it is a socket, not a regular file';
  return 'it is not a regular file';
}

class RefusedTarget extends Beit3Error {
  override name = 'RefusedTarget';
}

/** The file to replace (symlinks followed) and the mode to keep; throws for special files. */
function targetSync(path: string): { target: string; mode?: number } {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { target: path };
    throw e;
  }
  if (st.isSymbolicLink()) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return { target: path }; // dangling link: replace the link itself
    }
    return targetSync(real);
  }
  if (!st.isFile()) throw new RefusedTarget(kindOf(st));
  return { target: path, mode: st.mode & 0o7777 };
}

function fail(path: string, e: unknown): AtomicWriteError {
  if (e instanceof AtomicWriteError) return e;
  return new AtomicWriteError(path, e instanceof RefusedTarget ? e.message : why(e), { cause: e });
}

/**
 * mkdir -p that gives up: Node's `mkdir(dir, { recursive: true })` loops forever on ENOENT
 * under /proc (e.g. /proc/nope), so create one level at a time and fail on the second ENOENT.
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
      return;
    }
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    await ensureDir(dirname(dir));
    await mkdir(dir).catch((e2: NodeJS.ErrnoException) => {
      if (e2.code !== 'EEXIST') throw e2;
    });
  }
}

function syncDirSync(dir: string): void {
  // makes the rename durable; best effort (not every file system allows fsync on a folder)
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* ignore */
  }
}

// ---- writes -------------------------------------------------------------------------------

export interface AtomicWriteOptions {
  /** Create missing parent folders first (default false). */
  mkdir?: boolean;
}

/** File-system errors name the output; anything else a writer threw passes through as is. */
function rethrow(path: string, e: unknown): never {
  if (e instanceof Beit3Error || typeof (e as NodeJS.ErrnoException)?.code !== 'string') throw e;
  throw fail(path, e);
}

/**
 * Synchronous streaming form: `write` gets a file descriptor on the temp file (write to it, do
 * not close it); then the temp is fsynced and renamed over `path`. On any throw the temp is
 * removed and `path` is untouched.
 */
export function withAtomicFileSync<T>(path: string, write: (fd: number, tempPath: string) => T, opts: AtomicWriteOptions = {}): T {
  let out: string;
  let mode: number | undefined;
  try {
    if (opts.mkdir) mkdirSyncSafe(dirname(path));
    ({ target: out, mode } = targetSync(path));
    removeStaleTemps(out);
  } catch (e) {
    throw fail(path, e);
  }
  const tmp = tempPathFor(out);
  let fd: number | undefined;
  try {
    try {
      fd = openSync(tmp, 'wx');
    } catch (e) {
      throw fail(path, e);
    }
    const result = write(fd, tmp);
    try {
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      if (mode !== undefined) chmodSync(tmp, mode);
      renameSync(tmp, out);
    } catch (e) {
      throw fail(path, e);
    }
    syncDirSync(dirname(out));
    return result;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    rethrow(path, e);
  }
}

/** Writes `data` to `path` atomically (synchronous form); failures are AtomicWriteErrors naming `path`. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  withAtomicFileSync(
    path,
    (fd) => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, Math.min(bytes.byteLength - off, 1 << 30));
    },
    opts,
  );
}

function mkdirSyncSafe(dir: string): void {
  // recursive mkdirSync has the same /proc loop as the async one: one level at a time
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
      return;
    }
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    mkdirSyncSafe(dirname(dir));
    try {
      mkdirSync(dir);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
    }
  }
}

/**
 * Streaming form: `write` gets an open handle on the temp file (write to it, or pipe into
 * `handle.createWriteStream({ autoClose: false })`; do not close it). When `write` resolves, the
 * temp is fsynced and renamed over `path`; when it throws (or a signal arrives), the temp is
 * removed and the old `path` is untouched. File-system errors become AtomicWriteErrors naming
 * `path`; anything else `write` throws passes through unchanged.
 */
export async function withAtomicFile<T>(
  path: string,
  write: (handle: FileHandle, tempPath: string) => Promise<T>,
  opts: AtomicWriteOptions = {},
): Promise<T> {
  let out: string;
  let mode: number | undefined;
  try {
    if (opts.mkdir) await ensureDir(dirname(path));
    ({ target: out, mode } = targetSync(path)); // a few stat calls: not worth an async twin
    removeStaleTemps(out);
  } catch (e) {
    throw fail(path, e);
  }
  const tmp = tempPathFor(out);
  const untrack = trackTempFile(tmp);
  let fh: FileHandle | undefined;
  try {
    try {
      fh = await open(tmp, 'wx');
    } catch (e) {
      throw fail(path, e);
    }
    const result = await write(fh, tmp);
    try {
      await fh.sync();
      await fh.close();
      fh = undefined;
      if (mode !== undefined) await chmod(tmp, mode);
      await rename(tmp, out);
    } catch (e) {
      throw fail(path, e);
    }
    syncDirSync(dirname(out));
    return result;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    rethrow(path, e);
  } finally {
    untrack();
  }
}

/** Writes `data` to `path` atomically; failures are AtomicWriteErrors naming `path`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  await withAtomicFile(
    path,
    async (fh) => {
      await fh.writeFile(data);
    },
    opts,
  );
}
