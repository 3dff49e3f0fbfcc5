/**
 * The inference workers: threads of the project's one WorkerPool (util/workers.node.ts) running
 * `serveWorker` (worker.ts), each with its share of the cores as ORT intra-op threads. One task
 * in flight per worker: a batch holds its thread for the whole ORT run anyway, and it makes the
 * start-up warm-up reach every worker once. A task's error comes back with its name (mapped
 * to an HTTP status by errors.ts); a dead worker is a WorkerPoolError (500, health fails).
 */
import { WorkerPool } from '../util/workers.node.js';
import type { WorkerInit, WorkerRequest } from './protocol.js';

export interface InferencePool {
  readonly size: number;
  run(req: WorkerRequest): Promise<unknown>;
  close(): Promise<void>;
}

/** worker.ts next to this file (tests, tsx) or worker.js (the built package). */
function workerModule(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
}

export function startInferencePool(init: WorkerInit, workers: number): InferencePool {
  const pool = new WorkerPool<WorkerRequest, unknown>({
    module: workerModule(),
    exportName: 'serveWorker',
    threads: workers,
    perWorker: 1,
    options: init,
    label: 'inference worker',
  });
  return {
    size: pool.size,
    // images are not transferred: one decoded image can feed several items (questions)
    run: (req) => pool.run(req),
    close: () => pool.close(),
  };
}
