// `exportTriton` writes a Triton model repository: checked against Triton's documented layout
// (<model>/config.pbtxt, <model>/1/model.onnx, external data beside it) and ModelConfig rules
// (max_batch_size > 0 ⇒ dims omit the batch; dynamic batching only then), with every config's
// inputs/outputs compared to what onnxruntime-node reports for the model file, and the model
// files run against the pipeline's outputs.
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { loadTaskConfig, loadTaskModel, pipeline, type VqaPipeline } from '../../src/tasks/index.js';
import type { LoadedModel } from '../../src/tasks/model.js';
import { exportTriton, tritonConfig, tritonSignature, TritonRepositoryError, type TritonResult } from '../../src/tasks/triton.js';
import { Graph, ops, toModelProto } from '../../src/graph/index.js';
import { encodeModel } from '../../src/tasks/session.js';
import { Beit3Error } from '../../src/util/errors.js';
import { cases, CONFIG, E2E, img, maxAbs, tempDir } from './e2e-fixture.js';

// ---- protobuf text format ------------------------------------------------------------------
// No maintained npm parser of protobuf *text* format exists (protobufjs reads .proto schemas and
// binary/JSON, not text format), so the test carries this small one. It is schema-free: every
// field maps to the list of its values (repeated fields and `name: [ ... ]` lists alike), nested
// messages become objects, enum identifiers stay strings, numbers become numbers.
type PbValue = string | number | PbMessage;
interface PbMessage {
  [field: string]: PbValue[];
}

function parsePbtxt(text: string): PbMessage {
  const tokens = text.match(/#[^\n]*|"(?:[^"\\]|\\.)*"|[{}[\]:,;<>]|[^\s{}[\]:,;<>"#]+/g) ?? [];
  const toks = tokens.filter((t) => !t.startsWith('#'));
  let i = 0;
  const peek = () => toks[i];
  const next = () => {
    if (i >= toks.length) throw new Error('unexpected end of pbtxt');
    return toks[i++];
  };
  const scalar = (t: string): PbValue => {
    if (t.startsWith('"')) return JSON.parse(t) as string;
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) return t;
    throw new Error(`bad pbtxt token ${t}`);
  };
  const value = (): PbValue => {
    const t = next();
    if (t === '{' || t === '<') return message(t === '{' ? '}' : '>');
    return scalar(t);
  };
  function message(end?: string): PbMessage {
    const m: PbMessage = {};
    while (i < toks.length && peek() !== end) {
      const name = next();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad field name ${name}`);
      if (peek() === ':') next();
      const vals = (m[name] ??= []);
      if (peek() === '[') {
        next();
        while (peek() !== ']') {
          vals.push(value());
          if (peek() === ',') next();
        }
        next();
      } else vals.push(value());
      if (peek() === ',' || peek() === ';') next();
    }
    if (end !== undefined) {
      if (next() !== end) throw new Error(`expected ${end}`);
    }
    return m;
  }
  return message();
}

const one = (m: PbMessage, f: string): PbValue | undefined => {
  expect(m[f]?.length ?? 0, `field ${f} at most once`).toBeLessThanOrEqual(1);
  return m[f]?.[0];
};

it('the pbtxt parser reads lists, nested messages, comments and repeated fields', () => {
  const m = parsePbtxt('# c\nname: "a\\"b"\nx [ 1, -2 ]\nsub { k: V }\nsub: { k: W }\n');
  expect(m).toEqual({ name: ['a"b'], x: [1, -2], sub: [{ k: ['V'] }, { k: ['W'] }] });
});

// ---- the repository ------------------------------------------------------------------------

const tmp = tempDir('beit3-triton-');
const ORT_TO_TRITON: Record<string, string> = { float32: 'TYPE_FP32', int64: 'TYPE_INT64', int32: 'TYPE_INT32', float16: 'TYPE_FP16', bool: 'TYPE_BOOL' };
const toOrt = (t: Tensor) => new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);
const load = (task: string) => loadTaskModel(loadTaskConfig(CONFIG, { task }));

let ref: Map<string, Tensor>;
let vqa: LoadedModel;
beforeAll(async () => {
  ref = await loadSafetensors(join(E2E, 'e2e.safetensors'));
  vqa = await load('vqa');
});

/** Checks one model folder against Triton's rules and the ONNX file's own signature. */
async function checkModel(repo: string, name: string, batched: boolean, maxBatch: number): Promise<void> {
  const dir = join(repo, name);
  const versionFiles = readdirSync(join(dir, '1')).sort();
  expect(readdirSync(dir).sort()).toEqual(['1', 'config.pbtxt']);
  expect(versionFiles[0]).toBe('model.onnx');
  const cfg = parsePbtxt(readFileSync(join(dir, 'config.pbtxt'), 'utf8'));
  expect(one(cfg, 'name')).toBe(name); // must equal the folder name
  expect(one(cfg, 'platform')).toBe('onnxruntime_onnx');
  expect(one(cfg, 'backend')).toBe('onnxruntime');
  expect(one(cfg, 'max_batch_size')).toBe(batched ? maxBatch : 0);
  // Triton rejects dynamic batching on a model that cannot batch
  expect(cfg.dynamic_batching?.length ?? 0).toBe(batched ? 1 : 0);
  if (batched) expect((cfg.dynamic_batching[0] as PbMessage).max_queue_delay_microseconds).toEqual([100]);

  const s = await ort.InferenceSession.create(join(dir, '1', 'model.onnx'));
  for (const [field, meta] of [
    ['input', s.inputMetadata],
    ['output', s.outputMetadata],
  ] as const) {
    const got = cfg[field] as PbMessage[];
    expect(got.map((t) => one(t, 'name'))).toEqual(meta.map((m) => m.name));
    meta.forEach((m, k) => {
      if (!m.isTensor) throw new Error(`${m.name} is not a tensor`);
      const t = got[k];
      expect(one(t, 'data_type'), m.name).toBe(ORT_TO_TRITON[m.type]);
      const full = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
      if (batched) expect(typeof m.shape[0], `${m.name} leads with a variable batch dim`).toBe('string');
      const want = batched ? full.slice(1) : full;
      if (want.length === 0) {
        // nothing left (a scalar, or [batch] once batched): Triton's documented form is dims [1] reshaped to []
        expect(t.dims).toEqual([1]);
        expect(t.reshape).toEqual([{ shape: [] }]);
      } else {
        expect(t.dims, m.name).toEqual(want);
        expect(t.reshape, m.name).toBeUndefined();
      }
    });
  }
  await s.release();
}

describe('tritonSignature', () => {
  const sig = (build: (g: Graph) => void) => {
    const g = new Graph('t');
    build(g);
    return tritonSignature(encodeModel(toModelProto(g)));
  };
  it('batches only when every input shares one variable leading dim; a [batch] tensor becomes dims [1] + reshape', () => {
    const one = sig((g) => g.output(ops.squeeze(g.input('x', 'float32', ['batch', 1]), [1]), 'y'));
    expect(one).toEqual({
      batched: true,
      inputs: [{ name: 'x', dataType: 'TYPE_FP32', dims: [1] }],
      outputs: [{ name: 'y', dataType: 'TYPE_FP32', dims: [1], scalar: true }],
    });
    const cfg = parsePbtxt(tritonConfig('m', one, 4, 50));
    expect((cfg.output[0] as PbMessage).reshape).toEqual([{ shape: [] }]);
    expect(cfg.dynamic_batching).toEqual([{ max_queue_delay_microseconds: [50] }]);
    // a fixed leading dim, and two different symbolic ones: Triton must not batch along dim 0
    const fixedLead = sig((g) => g.output(ops.cast(g.input('x', 'float32', [2, 3]), 'int64'), 'y'));
    expect(fixedLead).toMatchObject({ batched: false, inputs: [{ dims: [2, 3] }], outputs: [{ dataType: 'TYPE_INT64', dims: [2, 3] }] });
    const mixed = sig((g) => {
      g.output(ops.cast(g.input('a', 'float32', ['n', 3]), 'int64'), 'ya');
      g.output(ops.cast(g.input('b', 'float32', ['m', 3]), 'int64'), 'yb');
    });
    expect(mixed.batched).toBe(false);
    expect(mixed.inputs.map((t) => t.dims)).toEqual([[-1, 3], [-1, 3]]);
    const cfg0 = parsePbtxt(tritonConfig('m', mixed, 4, 50));
    expect(cfg0.max_batch_size).toEqual([0]);
    expect(cfg0.dynamic_batching).toBeUndefined();
  });
});

describe('exportTriton', () => {
  it('VQA: one batchable model, the documented layout, configs match the graph, logits match the pipeline, rows independent', async () => {
    const repo = join(tmp, 'vqa-repo');
    const r = exportTriton(vqa, repo);
    expect(readdirSync(repo).sort()).toEqual(['vqav2', 'vqav2.meta.json']);
    expect(r.models.map((m) => [m.name, m.maxBatchSize])).toEqual([['vqav2', 8]]);
    await checkModel(repo, 'vqav2', true, 8);
    expect(JSON.parse(readFileSync(r.metaPath, 'utf8')).labels).toEqual(cases.tasks.vqav2.label2ans);

    const items = cases.tasks.vqav2.items as { image: string }[];
    const p = (await pipeline('vqa', { config: CONFIG })) as VqaPipeline;
    const image = await p.preprocess(items.map((i) => img(i.image)));
    const q = ref.get('vqav2.language_tokens')!;
    const m = ref.get('vqav2.padding_mask')!;
    const ours = (await p.logits(image, q, m)).data as Float32Array;
    await p.dispose();
    const s = await ort.InferenceSession.create(r.models[0].modelPath);
    const all = (await s.run({ image: toOrt(image), question: toOrt(q), padding_mask: toOrt(m) })).logits;
    expect(maxAbs(all.data as Float32Array, ours)).toBeLessThan(1e-6);
    expect(maxAbs(all.data as Float32Array, ref.get('vqav2.logits')!.data as Float32Array)).toBeLessThan(1e-4);
    // what the dynamic batcher relies on: row i of a batch equals request i run alone
    const n = image.shape[0];
    const row = (t: Tensor, k: number) => {
      const per = t.data.length / t.shape[0];
      return new ort.Tensor(t.dtype as 'float32', (t.data as Float32Array).slice(k * per, (k + 1) * per), [1, ...t.shape.slice(1)]);
    };
    const V = all.dims[1];
    for (let k = 0; k < n; k++) {
      const alone = (await s.run({ image: row(image, k), question: row(q, k), padding_mask: row(m, k) })).logits.data as Float32Array;
      expect(maxAbs(alone, (all.data as Float32Array).slice(k * V, (k + 1) * V))).toBeLessThan(1e-5);
    }
    await s.release();
  }, 60_000);

  it('retrieval gives two batchable models (text output matches the fixture); the captioning step graph is not batchable', async () => {
    const repo = join(tmp, 'multi');
    const ret = exportTriton(await load('retrieval'), join(repo, 'ret'));
    expect(ret.models.map((m) => m.name)).toEqual(['retrieval_image', 'retrieval_text']);
    for (const mdl of ret.models) await checkModel(ret.repo, mdl.name, true, 8);
    const s = await ort.InferenceSession.create(join(ret.repo, 'retrieval_text', '1', 'model.onnx'));
    const got = await s.run({
      text_description: toOrt(ref.get('retrieval.language_tokens')!),
      padding_mask: toOrt(ref.get('retrieval.padding_mask')!),
    });
    expect(maxAbs(got.language_cls.data as Float32Array, ref.get('retrieval.language_cls')!.data as Float32Array)).toBeLessThan(1e-4);
    await s.release();

    const cap = exportTriton(await load('captioning'), join(repo, 'cap'), { maxBatchSize: 4 });
    expect(cap.models.map((m) => [m.name, m.maxBatchSize])).toEqual([
      ['captioning_first', 4],
      ['captioning_step', 0],
    ]);
    await checkModel(cap.repo, 'captioning_first', true, 4);
    await checkModel(cap.repo, 'captioning_step', false, 4);
    const step = cap.models[1];
    expect(step.inputs.find((t) => t.name === 'text_len')).toMatchObject({ dims: [1], scalar: true });
  }, 90_000);

  it('external data sits beside model.onnx and every location field points at it by a relative name', async () => {
    const repo = join(tmp, 'ext');
    const r = exportTriton(vqa, repo, { external: true, name: 'vqa-ext' });
    const ver = join(repo, 'vqa-ext', '1');
    const files = readdirSync(ver).sort();
    expect(files).toHaveLength(2);
    const data = files.find((f) => f !== 'model.onnx')!;
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(ver, 'model.onnx')));
    const locations = new Set(
      model.graph!.initializer!.flatMap((t) => (t.externalData ?? []).filter((e) => e.key === 'location').map((e) => e.value)),
    );
    expect([...locations]).toEqual([data]);
    await checkModel(repo, 'vqa-ext', true, 8);
    // loads from the repository (ORT resolves the data file relative to the model, as Triton's backend does)
    const s = await ort.InferenceSession.create(r.models[0].modelPath);
    const q = ref.get('vqav2.language_tokens')!;
    const image = new ort.Tensor('float32', new Float32Array(q.shape[0] * 3 * 40 * 40).fill(0.1), [q.shape[0], 3, 40, 40]);
    const out = await s.run({ image, question: toOrt(q), padding_mask: toOrt(ref.get('vqav2.padding_mask')!) });
    expect(out.logits.dims).toEqual([q.shape[0], cases.tasks.vqav2.label2ans.length]);
    await s.release();
  }, 60_000);

  describe('rejects', () => {
    const noTemps = (parent: string) => expect(readdirSync(parent).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    it('a non-empty folder without force (left as it was); replaces it with force', () => {
      const repo = join(tmp, 'busy');
      mkdirSync(repo);
      writeFileSync(join(repo, 'keep.txt'), 'mine');
      const e = (() => {
        try {
          exportTriton(vqa, repo);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(TritonRepositoryError);
      expect(e).toBeInstanceOf(Beit3Error);
      expect((e as Error).message).toMatch(/not empty.*--force/);
      expect(readdirSync(repo)).toEqual(['keep.txt']);
      const r: TritonResult = exportTriton(vqa, repo, { force: true });
      expect(readdirSync(repo).sort()).toEqual(['vqav2', 'vqav2.meta.json']);
      expect(r.models[0].files.every((f) => existsSync(f))).toBe(true);
      noTemps(tmp);
    });

    it('a file in the way, bad batch settings; a failure inside the export leaves no repository and no temp', () => {
      const file = join(tmp, 'afile');
      writeFileSync(file, 'x');
      expect(() => exportTriton(vqa, file)).toThrow(/exists and is not a folder/);
      expect(() => exportTriton(vqa, join(tmp, 'b0'), { maxBatchSize: 0 })).toThrow(TritonRepositoryError);
      expect(() => exportTriton(vqa, join(tmp, 'b1'), { maxBatchSize: 2.5 })).toThrow(/max batch size/);
      const failed = join(tmp, 'sub', 'failed');
      // a model whose graphs cannot be built fails after the staging folder exists
      const broken = { ...vqa, config: { ...vqa.config, task: 'no-such-task' } } as unknown as LoadedModel;
      expect(() => exportTriton(broken, failed)).toThrow(TritonRepositoryError);
      expect(existsSync(failed)).toBe(false);
      noTemps(dirname(failed));
      noTemps(tmp);
    });
  });
});
