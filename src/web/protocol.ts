// Messages between the page and the inference worker (structured-clone friendly).
import type { WebModelOptions } from './model.js';

export type WorkerMethod = 'classify' | 'vqa' | 'embedImages' | 'embedTexts' | 'search';

export type WorkerRequest =
  | { id: number; op: 'init'; wasmPaths?: string; numThreads?: number }
  | { id: number; op: 'load'; key: string; metaUrl: string; options?: WebModelOptions }
  | { id: number; op: 'call'; key: string; method: WorkerMethod; args: unknown[] }
  | { id: number; op: 'dispose'; key: string };

export type WorkerResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };
