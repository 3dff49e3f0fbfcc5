/**
 * `createServer(options)`: the fastify app of `beit3 serve` — routes, limits, API key, errors,
 * OpenAPI, metrics — over an inference Engine (worker threads + dynamic batchers).
 * `listen()` binds (127.0.0.1 by default); `close()` shuts down gracefully: new requests get
 * 503, queued and running work finishes and is answered, then the workers stop.
 */
import type { AddressInfo } from 'node:net';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ImageIndex, SearchIndexError } from '../search/index.js';
import type { ModelTask } from '../tasks/index.js';
import { responseOver, type RouteContext } from './context.js';
import { Engine, type EngineOptions } from './engine.js';
import { notFound, toServerError, unauthorized, unavailable } from './errors.js';
import type { ImageLimits } from './images.js';
import { ServerMetrics } from './metrics.js';
import { registerSearch } from './routes/search.js';
import { registerSystem } from './routes/system.js';
import { registerV1 } from './routes/v1.js';
import { registerV2 } from './routes/v2.js';

export interface ServerOptions extends EngineOptions, Partial<ImageLimits> {
  /** Require `Authorization: Bearer KEY` (or `x-api-key: KEY`) on /v1 and /v2/models routes. */
  apiKey?: string;
  /** Largest request body in bytes (default 32 MiB). */
  bodyLimit?: number;
  /** A `beit3 index` folder to search (POST /v1/search). */
  index?: string;
  /** Serve /docs (Swagger UI); /openapi.json is always served. Default true. */
  docs?: boolean;
  /** fastify logger (default off). */
  logger?: boolean;
}

/** Paths that never need the API key (health checks, the page, the API description). */
const OPEN = [
  /^\/$/,
  /^\/[\w.-]+\.(js|css|svg)$/,
  /^\/health$/,
  /^\/v2\/health\//,
  /^\/v2$/,
  /^\/docs/,
  /^\/openapi\.json$/,
  /^\/metrics$/,
];

export class Beit3Server {
  private closing?: Promise<void>;
  private inFlightCount = 0;
  private idle: (() => void)[] = [];

  constructor(
    readonly app: FastifyInstance,
    readonly engine: Engine,
    readonly metrics: ServerMetrics,
    readonly index?: ImageIndex,
  ) {}

  /** Binds and returns the base URL (e.g. http://127.0.0.1:8080). */
  async listen(opts: { host?: string; port?: number } = {}): Promise<string> {
    await this.app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
    const a = this.app.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  get shuttingDown(): boolean {
    return this.closing !== undefined;
  }

  /** Requests accepted and not yet answered. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** @internal request accounting (onRequest hook); `done` runs when the response is over. */
  accept(): () => void {
    this.inFlightCount++;
    let once = false;
    return () => {
      if (once) return;
      once = true;
      if (--this.inFlightCount === 0) for (const f of this.idle.splice(0)) f();
    };
  }

  /**
   * Graceful: new requests get 503 at once; every accepted request (queued, decoding or
   * running) is answered, for at most `timeoutMs`; then the listener and the workers stop.
   */
  close(timeoutMs = 60_000): Promise<void> {
    this.closing ??= (async () => {
      if (this.inFlightCount > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((r) => this.idle.push(r)),
          new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
        ]);
        clearTimeout(timer);
      }
      await this.app.close();
      await this.engine.close();
    })();
    return this.closing;
  }
}

export async function createServer(opts: ServerOptions): Promise<Beit3Server> {
  const metrics = opts.metrics ?? new ServerMetrics();
  let index: ImageIndex | undefined;
  if (opts.index) {
    index = ImageIndex.open(opts.index);
    const r = opts.tasks.find((t) => t.config.task === 'retrieval');
    if (!r)
      throw new SearchIndexError(`--index ${opts.index} needs the retrieval task among the served tasks`);
    const m = index.meta.model;
    if (m.embedDim !== r.config.model.embedDim || m.imgSize !== r.config.model.imgSize)
      throw new SearchIndexError(
        `${opts.index}: built with a ${m.embedDim}-d / ${m.imgSize}px model, the served retrieval model is ${r.config.model.embedDim}-d / ${r.config.model.imgSize}px`,
      );
  }
  const limits: ImageLimits = {
    maxImageBytes: opts.maxImageBytes ?? 16 * 2 ** 20,
    maxPixels: opts.maxPixels ?? 50_000_000,
    allowRemoteUrls: opts.allowRemoteUrls ?? false,
    remoteTimeoutMs: opts.remoteTimeoutMs,
  };
  const engine = new Engine({ ...opts, metrics });
  const answerError = (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toServerError(err);
    if (e.status >= 500 && e.status !== 503 && e.status !== 504) req.log.error(err);
    if (e.status === 413) metrics.rejected('', 'too_large');
    else if (e.status === 415) metrics.rejected('', 'unsupported_media_type');
    else if (e.status === 422) metrics.rejected('', 'invalid_image');
    else if (e.status === 400) metrics.rejected('', 'invalid_request');
    if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
    return reply.code(e.status).send(e.body());
  };
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 32 * 2 ** 20,
    // we answer 503 ourselves while draining, in the same error shape as everything else
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // errors fastify answers before routing (a malformed URL such as /v1/%zz) get the same body
    frameworkErrors: answerError,
  });
  // bodies are JSON or multipart only: anything else is a 415 (fastify would parse text/plain)
  app.removeContentTypeParser('text/plain');
  const server = new Beit3Server(app, engine, metrics, index);
  const byTask = new Map(opts.tasks.map((t) => [t.config.task, t.config]));
  const ctx: RouteContext = {
    engine,
    metrics,
    limits,
    index,
    modelId: (task: ModelTask) => byTask.get(task)?.modelName ?? `beit3-${task}`,
  };

  app.setErrorHandler(answerError);
  app.setNotFoundHandler((req, reply) => {
    const e = notFound('not_found', `no route ${req.method} ${req.url.split('?')[0]}`);
    return reply.code(404).send(e.body());
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (server.shuttingDown) {
      metrics.rejected('', 'shutting_down');
      throw unavailable('shutting_down', 'the server is shutting down');
    }
    // counted until the response is over (also for hijacked server-sent event streams)
    const done = server.accept();
    reply.raw.once('close', () => {
      responseOver(req); // frees queue places the request reserved
      done();
    });
    if (opts.apiKey && !OPEN.some((r) => r.test(path))) {
      const auth = req.headers.authorization;
      const key = auth?.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-api-key'];
      if (key !== opts.apiKey) {
        metrics.rejected('', 'unauthorized');
        throw unauthorized(
          key ? 'invalid API key' : 'missing API key: send Authorization: Bearer <key> (or x-api-key)',
        );
      }
    } // a full queue refuses before the body is read (rejecting after parsing would cost as much)
    const task = (req.routeOptions.config as { task?: ModelTask } | undefined)?.task;
    if (task && engine.ready) engine.shed(task);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.observe(
      { route: req.routeOptions.url ?? 'unmatched', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(multipart, {
    limits: {
      fileSize: limits.maxImageBytes,
      files: 256,
      fields: 512,
      fieldSize: 1 * 2 ** 20,
      parts: 1024,
    },
    throwFileSizeLimit: true,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'beit3 serve',
        version: '0.1.0',
        description:
          'BEiT-3 task pipelines over HTTP: OpenAI-style /v1 (embeddings, tasks, gallery search) and the KServe / Open Inference Protocol v2 routes.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
    },
  });
  if (opts.docs !== false) await app.register(swaggerUi, { routePrefix: '/docs' });

  registerSystem(app, ctx);
  registerV1(app, ctx);
  registerSearch(app, ctx);
  registerV2(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return server;
}
