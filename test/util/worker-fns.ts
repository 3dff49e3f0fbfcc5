// Task functions imported by worker threads in test/util/workers.test.ts.

/** Doubles a Float32Array; returns it with the ctx it saw (options included). */
export function double(value: { id: number; data: Float32Array }, ctx: Record<string, unknown>): unknown {
  return { id: value.id, data: value.data.map((x) => 2 * x), ctx };
}

/** Busy work of `ms` milliseconds so that order and parallelism matter. */
export function slow(value: { id: number; ms: number }): unknown {
  const end = Date.now() + value.ms;
  while (Date.now() < end);
  return value.id;
}

export async function asyncTask(value: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 5));
  return value + 1;
}

export function fail(value: { name: string }): unknown {
  const e = new Error(`task failed for ${value.name}`);
  e.name = 'CustomTaskError';
  throw e;
}

/** Kills its worker thread (a crash, not an exception). */
export function crash(): unknown {
  process.exit(7);
}
