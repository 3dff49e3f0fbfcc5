// The page's side of the inference worker: promise-returning calls, errors re-thrown as WebError
// carrying the worker's error name.
import { WebError } from './errors.js';
import type { Pixels } from './image.js';
import type { Scored, WebModelOptions } from './model.js';
import type { WorkerMethod, WorkerRequest, WorkerResponse } from './protocol.js';

type Req = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class Beit3Worker {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<WorkerResponse>) => {
      const r = e.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else {
        const err = new WebError(r.error.message);
        err.name = r.error.name;
        p.reject(err);
      }
    };
    worker.onerror = (e) => {
      for (const p of this.pending.values()) p.reject(new WebError(`inference worker failed: ${e.message}`));
      this.pending.clear();
    };
  }

  private send<T>(req: Req): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  init(
    opts: { wasmPaths?: string; numThreads?: number } = {},
  ): Promise<{ crossOriginIsolated: boolean; numThreads: number }> {
    return this.send({ op: 'init', ...opts });
  }

  load(key: string, metaUrl: string, options?: WebModelOptions): Promise<{ task: string; backend: string }> {
    return this.send({ op: 'load', key, metaUrl, options });
  }

  call<T>(key: string, method: WorkerMethod, ...args: unknown[]): Promise<T> {
    return this.send({ op: 'call', key, method, args });
  }

  classify(key: string, images: Pixels[], k?: number) {
    return this.call<{ topk: Scored[]; logits: Float32Array }[]>(key, 'classify', images, k);
  }
  vqa(key: string, items: { image: Pixels; question: string }[], k?: number) {
    return this.call<(Scored & { answer: string; topk: Scored[] })[]>(key, 'vqa', items, k);
  }
  embedImages(key: string, images: Pixels[]) {
    return this.call<Float32Array[]>(key, 'embedImages', images);
  }
  embedTexts(key: string, texts: string[]) {
    return this.call<Float32Array[]>(key, 'embedTexts', texts);
  }
  search(key: string, query: string, gallery: { id: string; embedding: Float32Array }[], k?: number) {
    return this.call<{ id: string; score: number }[]>(key, 'search', query, gallery, k);
  }
  dispose(key: string) {
    return this.send<boolean>({ op: 'dispose', key });
  }
  terminate(): void {
    this.worker.terminate();
  }
}
