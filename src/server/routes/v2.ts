/**
 * KServe / Open Inference Protocol v2 (the REST protocol Triton speaks) over the exported task
 * graphs: health, server and model metadata, and `infer` with JSON tensors, so a client written
 * against these routes can move to a Triton model repository of the same ONNX files unchanged.
 * Model names are the graph names `beit3 export` writes (vqa, classify, nlvr2, retrieval_image, …).
 */
import type { FastifyInstance } from 'fastify';
import type { DType } from '../../graph/dtype.js';
import type { RouteContext } from '../context.js';
import { badRequest, unavailable } from '../errors.js';
import type { WireTensor } from '../protocol.js';
import { v2InferBody } from '../schemas.js';

const FROM_V2: Record<string, DType> = {
  FP32: 'float32',
  FP64: 'float64',
  INT64: 'int64',
  INT32: 'int32',
  INT8: 'int8',
  UINT8: 'uint8',
  BOOL: 'bool',
};

const ARRAYS: Partial<
  Record<DType, (n: number) => ArrayLike<number | bigint> & { [i: number]: number | bigint }>
> = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  int64: (n) => new BigInt64Array(n),
  int32: (n) => new Int32Array(n),
  int8: (n) => new Int8Array(n),
  uint8: (n) => new Uint8Array(n),
  bool: (n) => new Uint8Array(n),
};

interface V2Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

/** A JSON tensor → typed array, checked against the model's input signature. */
function toWire(t: V2Tensor, sig: { name: string; datatype: string; shape: number[] }): WireTensor {
  const where = `input ${t.name}`;
  if (t.datatype !== sig.datatype)
    throw badRequest('invalid_tensor', `${where}: datatype ${t.datatype}, the model takes ${sig.datatype}`);
  if (
    t.shape.length !== sig.shape.length ||
    t.shape.some((d, i) => sig.shape[i] !== -1 && sig.shape[i] !== d)
  )
    throw badRequest(
      'invalid_tensor',
      `${where}: shape [${t.shape}] does not fit the model's [${sig.shape}] (-1 = any size)`,
    );
  const dtype = FROM_V2[t.datatype];
  const make = dtype && ARRAYS[dtype];
  if (!make) throw badRequest('invalid_tensor', `${where}: datatype ${t.datatype} is not supported`);
  const flat = (t.data as unknown[]).flat(Infinity as 1) as unknown[];
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (flat.length !== n)
    throw badRequest(
      'invalid_tensor',
      `${where}: shape [${t.shape}] needs ${n} values, data has ${flat.length}`,
    );
  const out = make(n);
  for (let i = 0; i < n; i++) {
    const v = flat[i];
    const num = typeof v === 'boolean' ? Number(v) : v;
    if (typeof num !== 'number' || !Number.isFinite(num))
      throw badRequest('invalid_tensor', `${where}: data[${i}] is not a finite number`);
    if (dtype === 'int64') out[i] = BigInt(Math.trunc(num));
    else out[i] = num;
  }
  return { dtype, shape: t.shape, data: out as WireTensor['data'] };
}

function fromWire(name: string, t: WireTensor, datatype: string) {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (v) =>
    typeof v === 'bigint' ? Number(v) : v,
  );
  return { name, datatype, shape: t.shape, data };
}

export function registerV2(app: FastifyInstance, ctx: RouteContext): void {
  const { engine } = ctx;
  const tags = { tags: ['kserve-v2'] };

  app.get('/v2/health/live', { schema: { ...tags, summary: 'liveness' } }, async () => ({ live: true }));
  app.get(
    '/v2/health/ready',
    { schema: { ...tags, summary: 'readiness (models warm)' } },
    async (_req, reply) => reply.code(engine.ready ? 200 : 503).send({ ready: engine.ready }),
  );
  app.get('/v2', { schema: { ...tags, summary: 'server metadata' } }, async () => ({
    name: 'beit3',
    version: '0.1.0',
    extensions: [],
  }));
  app.get(
    '/v2/models',
    { schema: { ...tags, summary: 'the served task graphs (not part of the protocol)' } },
    async () => ({
      models: engine.v2Models.map((m) => ({ name: m.name, task: m.task })),
    }),
  );
  app.get('/v2/models/:name', { schema: { ...tags, summary: 'model metadata' } }, async (req) => {
    const { name } = req.params as { name: string };
    if (!engine.ready) throw unavailable('not_ready', 'the models are still loading; retry shortly');
    const m = engine.v2Model(name);
    return {
      name: m.name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: m.inputs,
      outputs: m.outputs,
    };
  });
  app.get(
    '/v2/models/:name/ready',
    { schema: { ...tags, summary: 'model readiness' } },
    async (req, reply) => {
      const { name } = req.params as { name: string };
      if (engine.ready) engine.v2Model(name);
      return reply.code(engine.ready ? 200 : 503).send({ name, ready: engine.ready });
    },
  );

  app.post(
    '/v2/models/:name/infer',
    {
      schema: {
        ...tags,
        summary: 'inference with JSON tensors (Open Inference Protocol)',
        body: v2InferBody,
      },
    },
    async (req) => {
      engine.checkReady();
      const { name } = req.params as { name: string };
      const m = engine.v2Model(name);
      const b = req.body as { id?: string; inputs: V2Tensor[]; outputs?: { name: string }[] };
      const inputs: Record<string, WireTensor> = {};
      for (const t of b.inputs) {
        const sig = m.inputs.find((i) => i.name === t.name);
        if (!sig)
          throw badRequest(
            'invalid_tensor',
            `model ${name} has no input ${t.name} (inputs: ${m.inputs.map((i) => i.name).join(', ')})`,
          );
        inputs[t.name] = toWire(t, sig);
      }
      const missing = m.inputs.filter((i) => !inputs[i.name]).map((i) => i.name);
      if (missing.length)
        throw badRequest('invalid_tensor', `model ${name} needs inputs ${missing.join(', ')}`);
      const wanted = b.outputs?.map((o) => o.name);
      for (const o of wanted ?? [])
        if (!m.outputs.some((x) => x.name === o))
          throw badRequest(
            'invalid_tensor',
            `model ${name} has no output ${o} (outputs: ${m.outputs.map((x) => x.name).join(', ')})`,
          );
      const res = await engine.v2Infer(name, inputs, wanted);
      return {
        model_name: name,
        model_version: '1',
        ...(b.id !== undefined ? { id: b.id } : {}),
        outputs: Object.entries(res).map(([n, t]) =>
          fromWire(n, t, m.outputs.find((x) => x.name === n)?.datatype ?? 'FP32'),
        ),
      };
    },
  );
}
