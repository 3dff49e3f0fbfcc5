/** What route modules share: the engine, limits, metrics, the gallery index and helpers. */
import type { FastifyReply } from 'fastify';
import type { ImageIndex } from '../search/index.js';
import type { ModelTask } from '../tasks/config.js';
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
  throw notFound('model_not_found', `model ${String(model)} is not served for ${task} (this server serves ${id})`);
}

export function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(body);
}
