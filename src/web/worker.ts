// The inference Web Worker: onnxruntime-web's `run` keeps a thread busy, so models live here and
// the page stays responsive. Start it with `new Worker(url, { type: 'module' })`.
import { WebError } from './errors.js';
import { configureOrt, WebTaskModel } from './model.js';
import type { WorkerRequest, WorkerResponse } from './protocol.js';

const models = new Map<string, Promise<WebTaskModel>>();
const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(m: WorkerResponse): void;
};

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'init':
      return {
        crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
        ...configureOrt(req),
      };
    case 'load': {
      const p = WebTaskModel.load(req.metaUrl, req.options);
      models.set(req.key, p);
      p.catch(() => models.delete(req.key));
      const m = await p;
      return { task: m.task, backend: m.backend, labels: m.meta.labels?.length ?? 0 };
    }
    case 'call': {
      const m = await models.get(req.key);
      if (!m) throw new WebError(`no model loaded as '${req.key}'`);
      const fn = (m as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.method];
      if (typeof fn !== 'function') throw new WebError(`unknown method '${req.method}'`);
      return fn.apply(m, req.args);
    }
    case 'dispose': {
      const m = await models.get(req.key);
      models.delete(req.key);
      await m?.dispose();
      return true;
    }
  }
}

scope.onmessage = (e) => {
  const req = e.data;
  handle(req).then(
    (value) => scope.postMessage({ id: req.id, ok: true, value }),
    (err: Error) =>
      scope.postMessage({
        id: req.id,
        ok: false,
        error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) },
      }),
  );
};
