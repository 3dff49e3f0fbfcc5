/** What route modules share: the engine, limits, metrics, the gallery index and helpers. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Reservation } from './batcher.js';
import type { ImageIndex } from '../search/index.js';
import type { ModelTask } from '../tasks/index.js';
import type { Engine } from './engine.js';
import { notFound } from './errors.js';
import type { ImageLimits } from './images.js';
import type { ServerMetrics } from './metrics.js';

export interface RouteContext {
  engine: Engine;
  metrics: ServerMetrics;
  limits: ImageLimits;
  index?: ImageIndex;
  /** Model id (`/v1/models`) of each served task. */
  modelId(task: ModelTask): string;
}

/** The model id a request names, checked against the task it calls (404 for another model). */
export function checkModel(ctx: RouteContext, task: ModelTask, model: unknown): string {
  const id = ctx.modelId(task);
  ctx.engine.config(task);
  if (model === undefined || model === null || model === '' || model === id) return id;
  const cfg = ctx.engine.tasks.get(task);
  if (cfg?.modelName && model === cfg.modelName) return id;
  throw notFound(
    'model_not_found',
    `model ${String(model)} is not served for ${task} (this server serves ${id})`,
  );
}

export function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(body);
}

/**
 * Reserves `n` places in `task`'s queue for this request before it decodes anything (429 at
 * once when the queue is full, 503 when not ready); unused places go back when the response ends.
 */
export function hold(ctx: RouteContext, req: FastifyRequest, task: ModelTask, n: number): Reservation {
  const r = ctx.engine.admit(task, n);
  afterResponse(req, () => r.release());
  return r;
}

const AFTER = Symbol('beit3.afterResponse');

/** Runs `f` once the response of `req` is over (sent, failed or the client went away). */
export function afterResponse(req: FastifyRequest, f: () => void): void {
  ((req as unknown as { [AFTER]?: (() => void)[] })[AFTER] ??= []).push(f);
}

/** @internal called by the server when a response is over. */
export function responseOver(req: FastifyRequest): void {
  const fs = (req as unknown as { [AFTER]?: (() => void)[] })[AFTER];
  if (fs) for (const f of fs.splice(0)) f();
}
