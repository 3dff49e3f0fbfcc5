/**
 * The one worker pool of beit3 (data-loader map stages, image preprocessing), on piscina: it
 * owns the threads, the task queue, least-busy dispatch, keeping the process alive only while
 * tasks run, and buffer transfer both ways. This file adds what the callers rely on:
 * - a task's own error comes back as data and is revived by the caller (`reviveError`), while a
 *   worker that dies (crash, process.exit) marks the pool broken: every later run rejects with
 *   a WorkerPoolError instead of hanging or silently retrying on a fresh thread;
 * - `perWorker` tasks in flight per thread (default 2) keep each worker fed without a long
 *   private queue: the next message is already waiting when one finishes;
 * - one dev-mode strategy for TypeScript: running from sources, each worker registers tsx
 *   (worker-tsx.mjs) and then imports the .ts entry and module; the built package starts the
 *   compiled worker-entry.js directly.
 * Thread counts default to `defaultWorkerThreads()`, half of `availableCores()`: ONNX Runtime's intra-op
 * pool takes the cores while a batch runs, and preprocessing of the next batch overlaps it, so
 * the two split the machine instead of each claiming all of it.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { availableCores } from './cores.node.js';
import { WorkerPoolError, messageOf } from './errors.js';
import { ownedBuffers } from './transfer.js';
import type { Envelope, WorkerInit } from './worker-entry.js';

export { WorkerPoolError, ownedBuffers };

export interface WorkerPoolOptions {
  /** Module exporting the task function: a path (relative to cwd) or a file: URL. */
  module: string | URL;
  /** Exported function name (default 'default'); called as fn(value, {...ctx, options}). */
  exportName?: string;
  /** Worker threads (default defaultWorkerThreads()). */
  threads?: number;
  /** Tasks in flight per worker (default 2). */
  perWorker?: number;
  /** Structured-cloned once into every worker, passed to each call as ctx.options. */
  options?: unknown;
  /** Names the workers in errors, e.g. 'map worker' (default 'worker'). */
  label?: string;
  /** Turns a task's error (name + message, as thrown in the worker) into the error to reject with. */
  reviveError?: (name: string, message: string) => Error;
}

/** Half the cores the process may use (affinity capped by a cgroup quota; at least 1): see the module comment. */
export function defaultWorkerThreads(): number {
  return Math.max(1, Math.floor(availableCores() / 2));
}

/** Resolves a module spec to a URL string a worker can import. */
function moduleUrl(spec: string | URL): string {
  if (spec instanceof URL) return spec.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) return spec;
  return pathToFileURL(resolve(spec)).href;
}

/** Path of tsx's ESM register API (its `import` condition; require.resolve would give the CJS build). */
function tsxEsmApi(): string {
  const req = createRequire(import.meta.url);
  let pkgPath: string;
  try {
    pkgPath = req.resolve('tsx/package.json');
  } catch {
    throw new WorkerPoolError('running from TypeScript sources needs tsx (a dev dependency) to start workers');
  }
  const pkg = req(pkgPath) as { exports?: Record<string, { import?: { default?: string } | string }> };
  const entry = pkg.exports?.['./esm/api']?.import;
  const rel = typeof entry === 'string' ? entry : entry?.default;
  if (!rel) throw new WorkerPoolError('cannot locate tsx/esm/api to run TypeScript modules in workers');
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

/** A fixed set of worker threads running one exported function. */
export class WorkerPool<Req = unknown, Res = unknown> {
  private readonly piscina: Piscina;
  private readonly label: string;
  private readonly revive: (name: string, message: string) => Error;
  private closed = false;
  private broken: WorkerPoolError | undefined;
  readonly size: number;

  constructor(opts: WorkerPoolOptions) {
    const threads = opts.threads ?? defaultWorkerThreads();
    const perWorker = opts.perWorker ?? 2;
    this.label = opts.label ?? 'worker';
    if (!Number.isInteger(threads) || threads < 1) throw new WorkerPoolError(`WorkerPool: threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(perWorker) || perWorker < 1) throw new WorkerPoolError(`WorkerPool: perWorker must be a positive integer, got ${perWorker}`);
    this.size = threads;
    this.revive = opts.reviveError ?? ((name, message) => Object.assign(new Error(message), { name }));
    const init: WorkerInit = { module: moduleUrl(opts.module), exportName: opts.exportName ?? 'default', options: opts.options };
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSource ? './worker-entry.ts' : './worker-entry.js', import.meta.url).href;
    this.piscina = new Piscina({
      filename: fromSource ? new URL('./worker-tsx.mjs', import.meta.url).href : entry,
      workerData: fromSource ? { ...init, entry, tsxApi: tsxEsmApi() } : init,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: perWorker,
      // message passing only: Atomics.wait would block workers whose task function is async
      atomics: 'disabled',
    });
    // a worker that fails outside a task (e.g. while loading) also breaks the pool
    this.piscina.on('error', (e: unknown) => this.markBroken(e));
  }

  /**
   * Runs one task. `transfer`: buffers to move rather than copy ('owned' = every typed array of
   * `value` that owns its whole buffer; the caller must not touch them afterwards).
   */
  async run(value: Req, opts: { ctx?: Record<string, unknown>; transfer?: ArrayBuffer[] | 'owned' } = {}): Promise<Res> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new WorkerPoolError(`WorkerPool: closed`);
    const transferList = opts.transfer === 'owned' ? ownedBuffers(value) : (opts.transfer ?? []);
    let env: Envelope;
    try {
      env = (await this.piscina.run({ value, ctx: opts.ctx }, { transferList })) as Envelope;
    } catch (e) {
      if (this.closed) throw new WorkerPoolError('WorkerPool: closed with tasks pending');
      throw this.markBroken(e);
    }
    if (env.ok) return env.value as Res;
    if (env.load) throw new WorkerPoolError(env.error.message);
    throw this.revive(env.error.name, env.error.message);
  }

  private markBroken(e: unknown): WorkerPoolError {
    this.broken ??= new WorkerPoolError(`${this.label} died: ${messageOf(e)}`, { cause: e });
    return this.broken;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }
}
