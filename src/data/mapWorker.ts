/**
 * Worker-thread entry of `workerMap` stages: imports the user's module, then answers
 * `{id, value, ctx}` messages with `{id, ok, value | error}`. Result typed arrays that own
 * their buffer are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';

interface WorkerInit {
  module: string;
  exportName: string;
  options: unknown;
}

type MapFn = (value: unknown, ctx: Record<string, unknown>) => unknown;

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('mapWorker: must run in a worker thread');

let fn: MapFn | undefined;
let loadError: string | undefined;
try {
  const mod = (await import(init.module)) as Record<string, unknown>;
  const f = mod[init.exportName];
  if (typeof f !== 'function') loadError = `module ${init.module} has no exported function "${init.exportName}"`;
  else fn = f as MapFn;
} catch (e) {
  loadError = `cannot import ${init.module}: ${e instanceof Error ? e.message : String(e)}`;
}

function transferables(v: unknown, out: ArrayBuffer[], depth = 0): void {
  if (depth > 3 || v === null || typeof v !== 'object') return;
  if (ArrayBuffer.isView(v)) {
    const buf = v.buffer;
    if (buf instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buf.byteLength && !out.includes(buf)) out.push(buf);
    return;
  }
  for (const x of Array.isArray(v) ? v : Object.values(v)) transferables(x, out, depth + 1);
}

port.on('message', async (msg: { id: number; value: unknown; ctx: Record<string, unknown> }) => {
  if (!fn) {
    port.postMessage({ id: msg.id, ok: false, error: loadError });
    return;
  }
  try {
    const value = await fn(msg.value, { ...msg.ctx, options: init.options });
    const transfer: ArrayBuffer[] = [];
    transferables(value, transfer);
    port.postMessage({ id: msg.id, ok: true, value }, transfer);
  } catch (e) {
    port.postMessage({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
