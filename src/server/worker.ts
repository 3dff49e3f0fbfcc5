/**
 * The worker-thread side of inference: loads the served task pipelines once per worker (ORT
 * sessions compiled and warmed up on the `warmup` message), then answers one request per batch.
 * onnxruntime-node's `run` holds the thread, so it lives here and never on the HTTP thread.
 * Errors keep their names across the thread boundary and map to HTTP statuses (a
 * TaskInputError is a 400, not a 500).
 */
import { Tensor } from '../graph/tensor.js';
import {
  TASKS,
  buildGraph,
  loadTaskModel,
  taskGraphSpecs,
  type CaptioningPipeline,
  type GraphSpec,
  type ImageClassificationPipeline,
  type LoadedModel,
  type ModelTask,
  type Nlvr2Pipeline,
  type Pipeline,
  type RetrievalPipeline,
  type TaskSession,
  type VqaPipeline,
} from '../tasks/index.js';
import type { RgbImage } from '../vision/image.js';
import type { V2ModelMeta, WireTensor, WorkerInit, WorkerRequest } from './protocol.js';

interface Served {
  loaded: LoadedModel;
  pipeline: Pipeline;
  /** Exported graphs by v2 model name. */
  graphs: Map<string, { spec: GraphSpec; key: string }>;
}

let state: Promise<Map<ModelTask, Served>> | undefined;

/** V2 / KServe datatype names of our dtypes. */
export const V2_DATATYPE: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int64: 'INT64',
  int32: 'INT32',
  int8: 'INT8',
  uint8: 'UINT8',
  bool: 'BOOL',
};

/** v2 model name of a task graph: the graph's own name (what `beit3 export` writes). */
function graphsOf(loaded: LoadedModel): Map<string, { spec: GraphSpec; key: string }> {
  const out = new Map<string, { spec: GraphSpec; key: string }>();
  const specs = taskGraphSpecs(loaded.model, loaded.config);
  for (const [role, spec] of Object.entries(specs)) {
    const g = loaded.config.generation;
    // the captioning pipeline caches its step graph under this key (tasks/caption.ts)
    const key =
      loaded.config.task === 'captioning' && role === 'step'
        ? `caption_step/${g.numBeams}/${g.numBeams * g.topnPerBeam}`
        : spec.name;
    out.set(spec.name, { spec, key });
  }
  return out;
}

async function load(init: WorkerInit): Promise<Map<ModelTask, Served>> {
  const out = new Map<ModelTask, Served>();
  for (const t of init.tasks) {
    const loaded = await loadTaskModel(t.config, { randomSeed: t.randomSeed });
    const pipeline = await TASKS[t.config.task].create(loaded, {
      threads: init.threads,
      batchSize: init.batchSize,
      dtype: init.dtype,
    });
    out.set(t.config.task, { loaded, pipeline, graphs: graphsOf(loaded) });
  }
  return out;
}

/** The pipeline's own compiled session of a graph (shared with its task calls, compiled once). */
function sessionOf(s: Served, spec: GraphSpec, key: string): Promise<TaskSession> {
  return (s.pipeline as unknown as { compile(spec: GraphSpec, key?: string): Promise<TaskSession> }).compile(
    spec,
    key,
  );
}

const WARM_IMAGE: RgbImage = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(128) };

async function warm(served: Map<ModelTask, Served>): Promise<V2ModelMeta[]> {
  for (const [task, s] of served) {
    const p = s.pipeline;
    if (task === 'imageclassification') await (p as ImageClassificationPipeline).run([WARM_IMAGE]);
    else if (task === 'vqav2') await (p as VqaPipeline).run([{ image: WARM_IMAGE, question: 'warm up?' }]);
    else if (task === 'nlvr2')
      await (p as Nlvr2Pipeline).run([{ left: WARM_IMAGE, right: WARM_IMAGE, statement: 'warm up' }]);
    else if (task === 'captioning') await (p as CaptioningPipeline).run([WARM_IMAGE], { maxLen: 3 });
    else if (task === 'retrieval') {
      await (p as RetrievalPipeline).embedImages([WARM_IMAGE]);
      await (p as RetrievalPipeline).embedTexts(['warm up']);
    }
    for (const { spec, key } of s.graphs.values()) await sessionOf(s, spec, key);
  }
  return describe(served);
}

function describe(served: Map<ModelTask, Served>): V2ModelMeta[] {
  const out: V2ModelMeta[] = [];
  for (const [task, s] of served)
    for (const [name, { spec }] of s.graphs) {
      const { graph } = buildGraph(spec.name, s.loaded.model, spec.inputs, spec.body);
      const sig = (v: { name: string; dtype: string; shape: readonly (number | string)[] }) => ({
        name: v.name,
        datatype: V2_DATATYPE[v.dtype] ?? v.dtype.toUpperCase(),
        shape: v.shape.map((d) => (typeof d === 'number' ? d : -1)),
      });
      // graph.inputs also lists the parameters (bound as initializers in the ONNX model)
      const fed = graph.inputs.filter((v) => v.name in spec.inputs);
      out.push({ name, task, inputs: fed.map(sig), outputs: graph.outputs.map(sig) });
    }
  return out;
}

function wire(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: [...t.shape] as number[], data: t.data };
}

function rows(t: Tensor): Float32Array[] {
  const d = t.shape[1];
  const data = t.data as Float32Array;
  return Array.from({ length: t.shape[0] }, (_, i) => data.slice(i * d, (i + 1) * d));
}

function need<T extends Pipeline>(served: Map<ModelTask, Served>, task: ModelTask): T {
  const s = served.get(task);
  if (!s) throw Object.assign(new Error(`task ${task} is not served`), { name: 'TaskInputError' });
  return s.pipeline as T;
}

/**
 * A batch of one runs as two copies of the item. ORT's MLAS computes a 1-row MatMul on a GEMV
 * path whose sums differ in the last bits (≈7e-7 on the fixture's classification logits) from
 * the GEMM path of ≥ 2 rows, while the rows of any batch of ≥ 2 are bit-identical whatever the
 * other rows hold (measured on the e2e fixture models, sizes 2–8, first and last position). So
 * with this padding an answer never depends on what else shared its batch.
 */
let padSingle = true;
const pad = <T>(xs: T[]): T[] => (padSingle && xs.length === 1 ? [xs[0], xs[0]] : xs);
const firstN = async <T>(n: number, p: Promise<T[]>): Promise<T[]> => (await p).slice(0, n);

async function handle(served: Map<ModelTask, Served>, req: WorkerRequest): Promise<unknown> {
  const n =
    'images' in req
      ? req.images.length
      : 'items' in req
        ? req.items.length
        : 'texts' in req
          ? req.texts.length
          : 0;
  switch (req.op) {
    case 'warmup':
      return warm(served);
    case 'classify':
      return (
        await firstN(
          n,
          need<ImageClassificationPipeline>(served, 'imageclassification').run(pad(req.images), {
            topk: req.topk,
          }),
        )
      ).map((r) => ({ topk: r.topk }));
    case 'vqa':
      return firstN(n, need<VqaPipeline>(served, 'vqav2').run(pad(req.items), { topk: req.topk }));
    case 'nlvr2':
      return firstN(n, need<Nlvr2Pipeline>(served, 'nlvr2').run(pad(req.items)));
    case 'caption':
      return (
        await firstN(n, need<CaptioningPipeline>(served, 'captioning').run(pad(req.images), req.gen))
      ).map((r) => ({
        caption: r.caption,
        score: r.score,
      }));
    case 'embed_images':
      return rows(await need<RetrievalPipeline>(served, 'retrieval').embedImages(pad(req.images))).slice(
        0,
        n,
      );
    case 'embed_texts':
      return rows(await need<RetrievalPipeline>(served, 'retrieval').embedTexts(pad(req.texts))).slice(0, n);
    case 'v2': {
      for (const s of served.values()) {
        const g = s.graphs.get(req.model);
        if (!g) continue;
        const sess = await sessionOf(s, g.spec, g.key);
        const feeds = Object.fromEntries(
          Object.entries(req.inputs).map(([k, v]) => [k, new Tensor(v.dtype, v.shape, v.data)]),
        );
        const res = await sess.run(feeds);
        const names = req.outputs?.length ? req.outputs : Object.keys(res);
        return [Object.fromEntries(names.map((n) => [n, wire(res[n])]))]; // a batch of one request
      }
      throw Object.assign(new Error(`no model ${req.model}`), { name: 'TaskInputError' });
    }
  }
}

/**
 * The pool's entry function: `fn(request, {options: WorkerInit})`; the first call of a worker
 * loads its pipelines. Errors propagate with their names (the pool sends them back as data).
 */
export async function serveWorker(req: WorkerRequest, ctx: { options?: unknown }): Promise<unknown> {
  const init = ctx.options as WorkerInit;
  padSingle = init.padSingle !== false;
  state ??= load(init);
  return handle(await state, req);
}
