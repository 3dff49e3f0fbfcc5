import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { DataError, WorkerPoolError } from './errors.js';

export interface WorkerPoolOptions {
  /** Module exporting the map function: a path (relative to cwd) or a file: URL. */
  module: string | URL;
  /** Exported function name (default 'default'). Called as fn(value, {epoch, index, seed, options}). */
  exportName?: string;
  /** Number of worker threads (default 2). */
  workers?: number;
  /** Passed to the function as ctx.options (structured-cloned). */
  options?: unknown;
}

interface Task {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  tasks: Map<number, Task>;
}

/** Resolves a module spec to a file: URL string that a worker can import. */
function moduleUrl(spec: string | URL): string {
  if (spec instanceof URL) return spec.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) return spec;
  return pathToFileURL(path.resolve(spec)).href;
}

/**
 * Bootstrap code of a worker. Running from TypeScript sources (tests, tsx), the worker first
 * registers tsx's loader so that it can import .ts modules; the built package imports .js directly.
 */
function bootstrap(): string {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  const entry = new URL(fromSource ? './mapWorker.ts' : './mapWorker.js', here).href;
  if (!fromSource) return `import(${JSON.stringify(entry)}).catch((e) => { throw e; });`;
  const tsxApi = pathToFileURL(resolveTsxEsmApi(here)).href;
  return `(async () => { const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(entry)}); })().catch((e) => { throw e; });`;
}

/** Path of tsx's ESM register API (its `exports` import condition; require.resolve would give the CJS build). */
function resolveTsxEsmApi(from: string): string {
  const req = createRequire(from);
  const pkgPath = req.resolve('tsx/package.json');
  const pkg = req(pkgPath) as { exports?: Record<string, { import?: { default?: string } | string }> };
  const entry = pkg.exports?.['./esm/api']?.import;
  const rel = typeof entry === 'string' ? entry : entry?.default;
  if (!rel) throw new DataError('workerMap: cannot locate tsx/esm/api to run TypeScript map modules in workers');
  return path.join(path.dirname(pkgPath), rel);
}

/** A fixed set of worker threads running one exported function; tasks go to the least busy worker. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;
  private broken: Error | undefined;

  constructor(readonly opts: WorkerPoolOptions) {
    const count = opts.workers ?? 2;
    if (!Number.isInteger(count) || count < 1) throw new DataError(`WorkerPool: workers must be a positive integer, got ${count}`);
    const workerData = { module: moduleUrl(opts.module), exportName: opts.exportName ?? 'default', options: opts.options };
    const code = bootstrap();
    for (let i = 0; i < count; i++) {
      const worker = new Worker(code, { eval: true, workerData });
      const slot: Slot = { worker, tasks: new Map() };
      worker.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
        const t = slot.tasks.get(m.id);
        if (!t) return;
        slot.tasks.delete(m.id);
        if (m.ok) t.resolve(m.value);
        else t.reject(new DataError(m.error ?? 'worker task failed'));
      });
      const fail = (e: Error): void => {
        this.broken = new WorkerPoolError(`map worker ${i} died: ${e.message}`);
        for (const t of slot.tasks.values()) t.reject(this.broken);
        slot.tasks.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  run(value: unknown, ctx: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new WorkerPoolError('WorkerPool: closed'));
    if (this.broken) return Promise.reject(this.broken);
    let slot = this.slots[0];
    for (const s of this.slots) if (s.tasks.size < slot.tasks.size) slot = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.tasks.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, value, ctx });
    }).finally(() => {
      if (slot.tasks.size === 0) slot.worker.unref();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) for (const t of s.tasks.values()) t.reject(new WorkerPoolError('WorkerPool: closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
