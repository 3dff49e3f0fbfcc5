/**
 * Worker side of WorkerPool: imports the pool's module once, then answers each `{value, ctx}`
 * task with an envelope `{ok, value}` or `{ok: false, error: {name, message}}`. Errors travel as
 * data (structured clone drops custom error classes), so the main thread can tell a task's own
 * failure from a dead worker. Typed arrays of the result that own their buffer are transferred.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { ownedBuffers } from './transfer.js';

export interface WorkerInit {
  module: string;
  exportName: string;
  options: unknown;
}

export type Envelope = { ok: true; value: unknown } | { ok: false; error: { name: string; message: string }; load?: boolean };

type Fn = (value: unknown, ctx: Record<string, unknown>) => unknown;

const init = workerData as WorkerInit;
let fn: Fn | undefined;
let loadError: string | undefined;
try {
  const mod = (await import(init.module)) as Record<string, unknown>;
  const f = mod[init.exportName];
  if (typeof f !== 'function') loadError = `module ${init.module} has no exported function "${init.exportName}"`;
  else fn = f as Fn;
} catch (e) {
  loadError = `cannot import ${init.module}: ${e instanceof Error ? e.message : String(e)}`;
}

export default async function handle(task: { value: unknown; ctx?: Record<string, unknown> }): Promise<unknown> {
  if (!fn) return { ok: false, load: true, error: { name: 'WorkerPoolError', message: loadError! } } satisfies Envelope;
  try {
    const value = await fn(task.value, { ...task.ctx, options: init.options });
    const env: Envelope = { ok: true, value };
    return move({ [transferableSymbol]: ownedBuffers(value), [valueSymbol]: env } as never);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, error: { name: err.name, message: err.message } } satisfies Envelope;
  }
}
