/**
 * The inference side of the server: one worker pool serving every task, one dynamic batcher
 * group per task (lanes inside it per operation and per setting that changes the computation),
 * readiness (ready once every worker compiled and ran each task's graphs) and draining.
 */
import type {
  ClassLabel,
  GenerationSettings,
  ModelTask,
  Nlvr2Result,
  PipelineDType,
  TaskConfig,
  VqaResult,
} from '../tasks/index.js';
import { threadsPerWorker } from '../util/cores.node.js';
import type { RgbImage } from '../vision/image.js';
import { BatchGroup, type BatcherLimits, type Reservation } from './batcher.js';
import { notFound, toServerError, unavailable } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import { type InferencePool, startInferencePool } from './pool.js';
import type { ServedTask, V2ModelMeta, WireTensor, WorkerRequest } from './protocol.js';

export interface EngineOptions extends Partial<BatcherLimits> {
  tasks: ServedTask[];
  /** Inference worker threads (default 1). */
  workers?: number;
  /** ORT intra-op threads per worker (default: the process's cores split among the workers). */
  threads?: number;
  dtype?: PipelineDType;
  /**
   * Run a batch of one item as two copies (default true): answers then never depend on what
   * else shared a batch (see worker.ts); costs up to 2× compute for lone requests.
   */
  padSingle?: boolean;
  metrics?: ServerMetrics;
}

export const DEFAULT_LIMITS: BatcherLimits = {
  maxBatch: 8,
  maxDelayMs: 5,
  maxQueue: 256,
  queueTimeoutMs: 30_000,
  concurrency: 1,
};

export class Engine {
  readonly tasks = new Map<ModelTask, TaskConfig>();
  readonly limits: BatcherLimits;
  readonly threads: number;
  readonly workers: number;
  private readonly groups = new Map<ModelTask, BatchGroup>();
  private readonly pool: InferencePool;
  private state: 'loading' | 'ready' | 'failed' | 'draining' | 'closed' = 'loading';
  private failure?: Error;
  v2Models: V2ModelMeta[] = [];
  /** Resolves when the workers are warm (rejects when loading failed). */
  readonly warm: Promise<void>;

  constructor(opts: EngineOptions) {
    if (!opts.tasks.length) throw new Error('Engine: no tasks to serve');
    this.workers = opts.workers ?? 1;
    this.threads = opts.threads ?? threadsPerWorker(this.workers);
    const { tasks, dtype, metrics, padSingle } = opts;
    const given = Object.fromEntries(
      (Object.keys(DEFAULT_LIMITS) as (keyof BatcherLimits)[])
        .filter((k) => opts[k] !== undefined)
        .map((k) => [k, opts[k]]),
    );
    this.limits = { ...DEFAULT_LIMITS, concurrency: this.workers, ...given };
    for (const t of tasks) {
      this.tasks.set(t.config.task, t.config);
      this.groups.set(t.config.task, new BatchGroup(t.config.task, this.limits, metrics));
    }
    this.pool = startInferencePool(
      {
        tasks,
        threads: this.threads,
        batchSize: Math.max(2, this.limits.maxBatch),
        dtype: dtype ?? 'fp32',
        padSingle,
      },
      this.workers,
    );
    this.warm = this.warmUp();
    this.warm.catch(() => undefined); // reported through status / health
  }

  private async warmUp(): Promise<void> {
    try {
      // one warm-up per worker: the pool hands concurrent jobs to idle workers first
      const replies = await Promise.all(
        Array.from({ length: this.pool.size }, () => this.pool.run({ op: 'warmup' })),
      );
      this.v2Models = replies[0] as V2ModelMeta[];
      if (this.state === 'loading') this.state = 'ready';
    } catch (e) {
      this.failure = e as Error;
      this.state = 'failed';
      throw e;
    }
  }

  get status(): { state: string; error?: string } {
    return { state: this.state, ...(this.failure ? { error: this.failure.message } : {}) };
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Throws the 503 for a server that cannot take work now. */
  checkReady(): void {
    if (this.state === 'draining' || this.state === 'closed')
      throw unavailable('shutting_down', 'the server is shutting down');
    if (this.state !== 'ready')
      throw unavailable(
        'not_ready',
        this.state === 'failed'
          ? `the models failed to load: ${this.failure?.message}`
          : 'the models are still loading; retry shortly',
      );
  }

  config(task: ModelTask): TaskConfig {
    const c = this.tasks.get(task);
    if (!c) throw notFound('model_not_found', `this server does not serve the ${task} task`);
    return c;
  }

  queueDepth(task: ModelTask): number {
    return this.groups.get(task)?.depth ?? 0;
  }

  /** One item through the task's batcher; `lane` separates items that cannot share a batch. */
  private submit<I, R>(
    task: ModelTask,
    lane: string,
    item: I,
    build: (items: I[]) => WorkerRequest,
    opts: { maxBatch?: number; reservation?: Reservation } = {},
  ): Promise<R> {
    if (!opts.reservation) this.checkReady(); // a reservation was admitted while ready
    this.config(task);
    const group = this.groups.get(task)!;
    return group.submit<I, R>(
      lane,
      item,
      async (items) => {
        try {
          return (await this.pool.run(build(items))) as R[];
        } catch (e) {
          if ((e as Error).name === 'WorkerPoolError' && this.state === 'ready') {
            this.failure = e as Error; // a worker died: health says so from now on
            this.state = 'failed';
          }
          throw toServerError(e);
        }
      },
      opts.maxBatch,
      opts.reservation,
    );
  }

  /**
   * Holds `n` places in `task`'s queue before a request decodes its inputs (503 when not ready,
   * 429 when full), so an overloaded server refuses work before spending time on it. Pass it to
   * the task calls; release it when the request is done.
   */
  admit(task: ModelTask, n: number): Reservation {
    this.checkReady();
    this.config(task);
    return this.groups.get(task)!.reserve(n);
  }

  /**
   * Load shedding before a request's body is read: 429 when `task`'s queue is already full
   * (under overload, parsing and decoding bodies only to refuse them would eat the HTTP thread).
   */
  shed(task: ModelTask): void {
    this.groups.get(task)?.admit(1);
  }

  classify(image: RgbImage, topk: number, reservation?: Reservation): Promise<{ topk: ClassLabel[] }> {
    return this.submit<{ image: RgbImage; topk: number }, { topk: ClassLabel[] }>(
      'imageclassification',
      'classify',
      { image, topk },
      (items) => ({
        op: 'classify',
        images: items.map((i) => i.image),
        topk: Math.max(...items.map((i) => i.topk)),
      }),
      { reservation },
    ).then((r) => ({ topk: r.topk.slice(0, topk) }));
  }

  vqa(image: RgbImage, question: string, topk: number, reservation?: Reservation): Promise<VqaResult> {
    return this.submit<{ image: RgbImage; question: string; topk: number }, VqaResult>(
      'vqav2',
      'vqa',
      { image, question, topk },
      (items) => ({
        op: 'vqa',
        items: items.map(({ image, question }) => ({ image, question })),
        topk: Math.max(...items.map((i) => i.topk)),
      }),
      { reservation },
    ).then((r) => ({ ...r, topk: r.topk.slice(0, topk) }));
  }

  nlvr2(left: RgbImage, right: RgbImage, statement: string, reservation?: Reservation): Promise<Nlvr2Result> {
    return this.submit('nlvr2', 'nlvr2', { left, right, statement }, (items) => ({ op: 'nlvr2', items }), {
      reservation,
    });
  }

  caption(
    image: RgbImage,
    gen: Partial<GenerationSettings>,
    reservation?: Reservation,
  ): Promise<{ caption: string; score: number }> {
    // generation settings change the computation: one lane per setting
    return this.submit(
      'captioning',
      `caption:${JSON.stringify(gen)}`,
      image,
      (images) => ({ op: 'caption', images, gen }),
      { reservation },
    );
  }

  embedImage(image: RgbImage, reservation?: Reservation): Promise<Float32Array> {
    return this.submit('retrieval', 'image', image, (images) => ({ op: 'embed_images', images }), {
      reservation,
    });
  }

  embedText(text: string, reservation?: Reservation): Promise<Float32Array> {
    return this.submit('retrieval', 'text', text, (texts) => ({ op: 'embed_texts', texts }), { reservation });
  }

  v2Model(name: string): V2ModelMeta {
    const m = this.v2Models.find((x) => x.name === name);
    if (!m) throw notFound('model_not_found', `no model named ${name} (GET /v2/models lists them)`);
    return m;
  }

  /** One v2 inference request (its own batch: its tensors already carry a batch dimension). */
  v2Infer(
    name: string,
    inputs: Record<string, WireTensor>,
    outputs?: string[],
  ): Promise<Record<string, WireTensor>> {
    const m = this.v2Model(name);
    return this.submit(
      m.task,
      `v2:${name}:${outputs?.join(',') ?? ''}`,
      { inputs, outputs },
      (items) => ({
        op: 'v2',
        model: name,
        ...items[0],
      }),
      { maxBatch: 1 },
    ).then((r) => r as Record<string, WireTensor>);
  }

  /** Stops taking work, finishes everything queued or running. */
  async drain(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'draining';
    await Promise.all([...this.groups.values()].map((g) => g.drain()));
  }

  async close(): Promise<void> {
    await this.drain();
    this.state = 'closed';
    await this.pool.close();
  }
}
