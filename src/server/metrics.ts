/**
 * Prometheus metrics of one server (its own prom-client Registry, so several servers in one
 * process, as in the tests, do not collide): HTTP request durations, queue waits, inference
 * (batch) durations, batch sizes, queue depth, rejections by reason, plus Node's defaults.
 */
import client from 'prom-client';
import type { BatchObserver } from './batcher.js';

export class ServerMetrics implements BatchObserver {
  readonly registry = new client.Registry();
  readonly requests = new client.Histogram({
    name: 'beit3_http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueWait = this.taskSeconds(
    'beit3_queue_wait_seconds',
    'time an item waited in its task queue before its batch started',
  );
  readonly inference = this.taskSeconds(
    'beit3_inference_duration_seconds',
    'duration of one batch in a worker (preprocessing + ONNX Runtime + postprocessing)',
  );
  readonly batchSize = new client.Histogram({
    name: 'beit3_batch_size',
    help: 'items per batch formed by the dynamic batcher',
    labelNames: ['task'],
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly queueDepth = new client.Gauge({
    name: 'beit3_queue_depth',
    help: 'items waiting in a task queue',
    labelNames: ['task'],
    registers: [this.registry],
  });
  readonly rejections = new client.Counter({
    name: 'beit3_rejections_total',
    help: 'requests refused, by reason (queue_full, queue_timeout, shutting_down, not_ready, unauthorized, too_large, ...)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  private taskSeconds(name: string, help: string): client.Histogram<'task'> {
    return new client.Histogram({
      name,
      help,
      labelNames: ['task'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'beit3_' });
  }

  queued(task: string, depth: number): void {
    this.queueDepth.set({ task }, depth);
  }

  batch(task: string, size: number, waitsMs: number[], runMs: number): void {
    this.batchSize.observe({ task }, size);
    for (const w of waitsMs) this.queueWait.observe({ task }, w / 1000);
    this.inference.observe({ task }, runMs / 1000);
  }

  rejected(_task: string, reason: string): void {
    this.rejections.inc({ reason });
  }
}
