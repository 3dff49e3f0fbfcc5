/** Health, Prometheus metrics, the OpenAI-style model list, and the web page's static files. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { TASKS, type ModelTask } from '../../tasks/index.js';
import type { RouteContext } from '../context.js';
import { notFound } from '../errors.js';

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's files (src/server/public, copied to dist/server/public by the build). */
export function publicDir(): string {
  return fileURLToPath(new URL('../public/', import.meta.url));
}

export function registerSystem(app: FastifyInstance, ctx: RouteContext): void {
  const { engine, metrics } = ctx;
  const started = Math.floor(Date.now() / 1000);

  app.get(
    '/health',
    { schema: { tags: ['system'], summary: 'ready (200) once every worker is warm, else 503' } },
    async (_req, reply) => {
      const s = engine.status;
      const status = s.state === 'ready' ? 'ok' : s.state;
      return reply.code(s.state === 'ready' ? 200 : 503).send({
        status,
        ...(s.error ? { error: s.error } : {}),
        tasks: [...engine.tasks.keys()],
        workers: engine.workers,
        threads_per_worker: engine.threads,
        queue: Object.fromEntries([...engine.tasks.keys()].map((t) => [t, engine.queueDepth(t)])),
        gallery: ctx.index ? { items: ctx.index.size } : null,
      });
    },
  );

  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  const model = (task: ModelTask) => {
    const c = engine.tasks.get(task)!;
    return {
      id: ctx.modelId(task),
      object: 'model',
      created: started,
      owned_by: 'beit3',
      task,
      pipeline: TASKS[task].id,
      description: TASKS[task].description,
      img_size: c.model.imgSize,
      embed_dim: c.model.embedDim,
      ...(c.labels ? { labels: c.labels.length } : {}),
    };
  };
  app.get(
    '/v1/models',
    { schema: { tags: ['system'], summary: 'served models (OpenAI list shape)' } },
    async () => ({
      object: 'list',
      data: [...engine.tasks.keys()].map(model),
    }),
  );
  app.get('/v1/models/:id', { schema: { tags: ['system'], summary: 'one served model' } }, async (req) => {
    const { id } = req.params as { id: string };
    const task = [...engine.tasks.keys()].find((t) => ctx.modelId(t) === id);
    if (!task) throw notFound('model_not_found', `no model ${id} (GET /v1/models lists them)`);
    return model(task);
  });

  const dir = publicDir();
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => STATIC_TYPES[extname(f)]) : [];
  const serve = (file: string) => {
    const body = readFileSync(join(dir, file));
    const type = STATIC_TYPES[extname(file)];
    return async (_req: unknown, reply: import('fastify').FastifyReply) =>
      reply.type(type).header('cache-control', 'no-cache').send(body);
  };
  for (const f of files) app.get(f === 'index.html' ? '/' : `/${f}`, { schema: { hide: true } }, serve(f));
}
