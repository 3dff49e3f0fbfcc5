export { Beit3Server, createServer, type ServerOptions } from './app.js';
export { BatchGroup, type BatcherLimits } from './batcher.js';
export { DEFAULT_LIMITS, Engine, type EngineOptions } from './engine.js';
export { ServerError } from './errors.js';
export { ServerMetrics } from './metrics.js';
export type { ServedTask } from './protocol.js';
export { resolveServedTasks, type ServeModelOptions } from './tasks.js';
