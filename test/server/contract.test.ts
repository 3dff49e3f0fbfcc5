// HTTP contract of `beit3 serve` over the e2e fixture models: every route answers what the
// official pipeline gives (fixtures/beit3-ref/e2e), and every error is the documented status
// with the {"error": {message, type, code}} body. Limits / batching / shutdown: limits.test.ts.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { ImageIndex } from '../../src/search/index.js';
import { cases, dataUrl, E2E, errorOf, img, maxAbs, post, request, startServer, tempDir } from './helpers.js';

const KEY = 'test-key';
const auth = { authorization: `Bearer ${KEY}` };
const dir = tempDir('beit3-server-');
const gallery = join(dir, 'gallery');
const indexDir = join(dir, 'gallery.idx');
mkdirSync(gallery);
ImageIndex.openOrCreate(indexDir, gallery, { weights: [], embedDim: 24, imgSize: 40 });

let url: string;
let ref: Map<string, Tensor>;
const rows = (t: Tensor, i: number) => {
  const d = t.shape[t.shape.length - 1];
  return Array.from((t.data as Float32Array).subarray(i * d, (i + 1) * d));
};
const ints = (t: Tensor) => Array.from(t.data as BigInt64Array, Number);
const p = (path: string, body: unknown) => post(url, path, body, auth);

beforeAll(async () => {
  ref = await loadSafetensors(join(E2E, 'e2e.safetensors'));
  ({ url } = await startServer(undefined, {
    apiKey: KEY,
    index: indexDir,
    bodyLimit: 4 * 2 ** 20,
    maxImageBytes: 2 ** 20,
    maxPixels: 1_500_000,
    maxDelayMs: 2,
  }));
});

describe('system routes', () => {
  it('GET /health is ok once warm and lists the tasks', async () => {
    const r = await request(url, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(new Set(r.json.tasks)).toEqual(
      new Set(['vqav2', 'nlvr2', 'retrieval', 'captioning', 'imageclassification']),
    );
    expect(r.json.gallery).toEqual({ items: 0 });
  });

  it('GET /v1/models lists one model per task; unknown ids are 404', async () => {
    const r = await request(url, 'GET', '/v1/models', undefined, auth);
    expect(r.status).toBe(200);
    expect(r.json.object).toBe('list');
    expect(r.json.data.map((m: any) => m.task).sort()).toEqual([
      'captioning',
      'imageclassification',
      'nlvr2',
      'retrieval',
      'vqav2',
    ]);
    const one = await request(url, 'GET', '/v1/models/beit3-vqav2', undefined, auth);
    expect(one.json).toMatchObject({ id: 'beit3-vqav2', object: 'model', task: 'vqav2', labels: 12 });
    const none = await request(url, 'GET', '/v1/models/gpt-4', undefined, auth);
    expect(none.status).toBe(404);
    expect(errorOf(none).code).toBe('model_not_found');
  });

  it('GET /metrics is Prometheus text with the server metrics', async () => {
    await p('/v1/embeddings', { input: 'metrics warm-up' });
    const r = await request(url, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    for (const m of [
      'beit3_http_request_duration_seconds_bucket',
      'beit3_queue_wait_seconds_bucket',
      'beit3_inference_duration_seconds_bucket',
      'beit3_batch_size_bucket',
      'beit3_queue_depth',
      'beit3_rejections_total',
    ])
      expect(r.text).toContain(m);
    expect(r.text).toMatch(/beit3_batch_size_count\{task="retrieval"\} [1-9]/);
  });

  it('GET /openapi.json describes the routes; /docs serves Swagger UI', async () => {
    const r = await request(url, 'GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/embeddings',
      '/v1/vqa',
      '/v1/classify',
      '/v1/nlvr2',
      '/v1/captions',
      '/v1/retrieval/rank',
      '/v1/search',
      '/v2/models/{name}/infer',
    ])
      expect(Object.keys(r.json.paths)).toContain(path);
    const docs = await fetch(`${url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('unknown routes are a JSON 404', async () => {
    const r = await request(url, 'GET', '/v1/nothing', undefined, auth);
    expect(r.status).toBe(404);
    expect(errorOf(r).type).toBe('not_found_error');
  });

  it('a malformed URL is a JSON 400 in the same error shape (fastify answers it before routing)', async () => {
    const r = await request(url, 'POST', '/v1/embeddings%zz', { input: 'x' }, auth);
    expect(r.status).toBe(400);
    expect(errorOf(r)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
  });
});

describe('/v1 task routes give the official answers', () => {
  it('POST /v1/vqa', async () => {
    const items = cases.tasks.vqav2.items as any[];
    const out = await Promise.all(
      items.map((i) => p('/v1/vqa', { image: dataUrl(img(i.image)), question: i.question, topk: 3 })),
    );
    expect(out.map((r) => r.status)).toEqual(items.map(() => 200));
    expect(out.map((r) => r.json.results[0].answer)).toEqual(items.map((i) => i.answer));
    expect(out.map((r) => r.json.results[0].topk.map((t: any) => t.answer))).toEqual(
      items.map((i) => i.top3.map((t: [string, number]) => t[0])),
    );
    // several questions about one image, in order
    const multi = await p('/v1/vqa', {
      image: dataUrl(img(items[0].image)),
      question: [items[0].question, 'How many cats?'],
    });
    expect(multi.json.results.map((r: any) => r.question)).toEqual([items[0].question, 'How many cats?']);
    expect(multi.json.results[0].answer).toBe(items[0].answer);
  });

  it('POST /v1/classify', async () => {
    const items = cases.tasks.imageclassification.items as any[];
    const r = await p('/v1/classify', { images: items.map((i) => dataUrl(img(i.image))), topk: 5 });
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: any) => x.labels.map((l: any) => l.label))).toEqual(
      items.map((i) => i.topk_names),
    );
    for (const x of r.json.results) expect(x.labels[0].score).toBeGreaterThanOrEqual(x.labels[1].score);
  });

  it('POST /v1/nlvr2', async () => {
    const items = cases.tasks.nlvr2.items as any[];
    const out = await Promise.all(
      items.map((i) =>
        p('/v1/nlvr2', {
          left: dataUrl(img(i.image_left)),
          right: dataUrl(img(i.image_right)),
          statement: i.sentence,
        }),
      ),
    );
    expect(out.map((r) => (r.json.results[0].answer ? 1 : 0))).toEqual(ints(ref.get('nlvr2.pred')!));
    for (const r of out) {
      const x = r.json.results[0];
      expect(x.probability).toBeCloseTo(x.answer ? x.probability_true : 1 - x.probability_true, 6);
    }
  });

  it('POST /v1/captions (official beam search) and its server-sent events', async () => {
    const items = cases.tasks.captioning.items as any[];
    const r = await p('/v1/captions', { images: items.map((i) => dataUrl(img(i.image))) });
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: any) => x.caption)).toEqual(items.map((i) => i.caption));

    const res = await fetch(`${url}/v1/captions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ images: items.slice(0, 3).map((i) => dataUrl(img(i.image))), stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await res.text())
      .trim()
      .split('\n\n')
      .map((b) => {
        const [ev, data] = b.split('\n');
        return { event: ev.replace('event: ', ''), data: JSON.parse(data.replace('data: ', '')) };
      });
    expect(events.at(-1)).toEqual({ event: 'done', data: { model: 'beit3-captioning', count: 3 } });
    const caps = events.filter((e) => e.event === 'caption').sort((a, b) => a.data.index - b.data.index);
    expect(caps.map((e) => e.data.caption)).toEqual(items.slice(0, 3).map((i) => i.caption));
  });

  it('POST /v1/retrieval/rank ranks texts per image like the official evaluation', async () => {
    const imgs = cases.tasks.retrieval.images as any[];
    const texts = (cases.tasks.retrieval.texts as any[]).map((t) => t.text);
    const r = await p('/v1/retrieval/rank', {
      images: imgs.map((i) => dataUrl(img(i.image))),
      texts,
      topk: texts.length,
    });
    expect(r.status).toBe(200);
    expect(r.json.texts_per_image.map((x: any[]) => x.map((y) => y.index))).toEqual(
      imgs.map((i) => i.texts_ranked),
    );
    expect(maxAbs(r.json.scores.flat(), ref.get('retrieval.scores')!.data as Float32Array)).toBeLessThan(
      1e-4,
    );
  });
});

describe('/v1/embeddings', () => {
  const imgs = cases.tasks.retrieval.images as any[];
  const texts = (cases.tasks.retrieval.texts as any[]).map((t) => t.text);

  it('texts and images (data URL, bare base64, {image}) equal the reference features', async () => {
    const b64 = dataUrl(img(imgs[1].image)).split(',')[1];
    const r = await p('/v1/embeddings', {
      input: [texts[0], dataUrl(img(imgs[0].image)), { image: b64 }, { text: texts[1] }],
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ object: 'list', model: 'beit3-retrieval' });
    const e = r.json.data.map((d: any) => d.embedding);
    expect(r.json.data.map((d: any) => d.index)).toEqual([0, 1, 2, 3]);
    const vis = ref.get('retrieval.vision_cls')!;
    const lang = ref.get('retrieval.language_cls')!;
    expect(maxAbs(e[0], rows(lang, 0))).toBeLessThan(1e-4);
    expect(maxAbs(e[1], rows(vis, 0))).toBeLessThan(1e-4);
    expect(maxAbs(e[2], rows(vis, 1))).toBeLessThan(1e-4);
    expect(maxAbs(e[3], rows(lang, 1))).toBeLessThan(1e-4);
  });

  it('encoding_format base64 is little-endian float32 of the same vectors', async () => {
    const [f, b] = await Promise.all([
      p('/v1/embeddings', { input: texts[2] }),
      p('/v1/embeddings', { input: texts[2], encoding_format: 'base64' }),
    ]);
    const buf = Buffer.from(b.json.data[0].embedding, 'base64');
    const dec = Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(4 * i));
    expect(dec).toEqual(f.json.data[0].embedding.map((x: number) => Math.fround(x)));
  });

  it('the openai npm client (base64 by default) gets the same vectors', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const res = await client.embeddings.create({
      model: 'beit3-retrieval',
      input: [texts[0], dataUrl(img(imgs[0].image))],
    });
    expect(res.data).toHaveLength(2);
    const lang = rows(ref.get('retrieval.language_cls')!, 0);
    expect(maxAbs(res.data[0].embedding, lang)).toBeLessThan(1e-4);
    expect(maxAbs(res.data[1].embedding, rows(ref.get('retrieval.vision_cls')!, 0))).toBeLessThan(1e-4);
    const asFloat = await client.embeddings.create({
      model: 'beit3-retrieval',
      input: texts[0],
      encoding_format: 'float',
    });
    expect(maxAbs(asFloat.data[0].embedding, res.data[0].embedding)).toBeLessThan(1e-7);
    // errors surface as the client's typed errors
    await expect(client.embeddings.create({ model: 'other-model', input: 'x' })).rejects.toMatchObject({
      status: 404,
    });
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${url}/v1`, maxRetries: 0 });
    await expect(bad.embeddings.create({ model: 'beit3-retrieval', input: 'x' })).rejects.toMatchObject({
      status: 401,
    });
  });

  it('multipart: image files and text fields', async () => {
    const fd = new FormData();
    fd.append(
      'file',
      new Blob([new Uint8Array((await import('node:fs')).readFileSync(img(imgs[0].image)))], {
        type: 'image/png',
      }),
      'a.png',
    );
    fd.append('input', texts[0]);
    fd.append('encoding_format', 'float');
    const r = await post(url, '/v1/embeddings', fd, auth);
    expect(r.status).toBe(200);
    expect(maxAbs(r.json.data[0].embedding, rows(ref.get('retrieval.vision_cls')!, 0))).toBeLessThan(1e-4);
    expect(maxAbs(r.json.data[1].embedding, rows(ref.get('retrieval.language_cls')!, 0))).toBeLessThan(1e-4);

    const txt = new FormData();
    txt.append('file', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
    const r415 = await post(url, '/v1/embeddings', txt, auth);
    expect(r415.status).toBe(415);
    expect(errorOf(r415).code).toBe('unsupported_media_type');
  });
});

describe('gallery: /v1/search', () => {
  const names = ['chelsea', 'rocket', 'astronaut'];
  it('adds items, searches by text and image, lists and removes them', async () => {
    const add = await p('/v1/search/items', {
      items: names.map((n) => ({ path: `${n}.png`, image: dataUrl(img(n)) })),
    });
    expect(add.status).toBe(200);
    expect(add.json).toEqual({ added: names.map((n) => `${n}.png`), count: 3 });
    expect(existsSync(join(gallery, 'rocket.png'))).toBe(true);

    // the ranking equals brute-force cosine over the embeddings route
    const q = 'a cat lying on a blanket';
    const emb = await p('/v1/embeddings', { input: [q, ...names.map((n) => dataUrl(img(n)))] });
    const [qv, ...iv] = emb.json.data.map((d: any) => d.embedding as number[]);
    const brute = iv
      .map((v: number[], i: number) => ({
        path: `${names[i]}.png`,
        score: v.reduce((s, x, j) => s + x * qv[j], 0),
      }))
      .sort((a: any, b: any) => b.score - a.score);
    const s = await p('/v1/search', { query: q, k: 3 });
    expect(s.status).toBe(200);
    expect(s.json.hits.map((h: any) => h.path)).toEqual(brute.map((b: any) => b.path));
    expect(
      maxAbs(
        s.json.hits.map((h: any) => h.score),
        brute.map((b: any) => b.score),
      ),
    ).toBeLessThan(1e-4);

    const byImage = await p('/v1/search', { image: dataUrl(img('rocket')), k: 1 });
    expect(byImage.json.hits[0].path).toBe('rocket.png');
    expect(byImage.json.hits[0].score).toBeCloseTo(1, 4);

    const list = await request(url, 'GET', '/v1/search/items', undefined, auth);
    expect(list.json.items.map((i: any) => i.path).sort()).toEqual([
      'astronaut.png',
      'chelsea.png',
      'rocket.png',
    ]);
    const file = await fetch(`${url}/v1/search/image?path=rocket.png`, { headers: auth });
    expect(file.headers.get('content-type')).toBe('image/png');

    const del = await request(url, 'DELETE', '/v1/search/items', { paths: ['rocket.png', 'nope.png'] }, auth);
    expect(del.json).toEqual({ removed: ['rocket.png'], missing: ['nope.png'], count: 2 });
    expect(existsSync(join(gallery, 'rocket.png'))).toBe(false);
    const after = await p('/v1/search', { image: dataUrl(img('rocket')), k: 5 });
    expect(after.json.hits.map((h: any) => h.path)).not.toContain('rocket.png');
    // the saved index reopens with the same items
    expect(
      ImageIndex.open(indexDir)
        .meta.files.map((f) => f.path)
        .sort(),
    ).toEqual(['astronaut.png', 'chelsea.png']);
  });

  it('refuses paths outside the gallery folder', async () => {
    for (const path of ['../evil.png', '/etc/x.png', 'a/../../b.png', 'notes.txt']) {
      const r = await p('/v1/search/items', { items: [{ path, image: dataUrl(img('chelsea')) }] });
      expect(r.status, path).toBe(400);
      expect(errorOf(r).code).toBe('invalid_path');
    }
  });
});

describe('KServe / Open Inference Protocol v2', () => {
  it('health, server and model metadata', async () => {
    expect((await request(url, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await request(url, 'GET', '/v2/health/ready')).json).toEqual({ ready: true });
    const m = await request(url, 'GET', '/v2/models/vqa', undefined, auth);
    expect(m.json).toMatchObject({
      name: 'vqa',
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'image', datatype: 'FP32', shape: [-1, 3, 40, 40] },
        { name: 'question', datatype: 'INT64', shape: [-1, 64] },
        { name: 'padding_mask', datatype: 'INT64', shape: [-1, 64] },
      ],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 12] }],
    });
    const names = (await request(url, 'GET', '/v2/models', undefined, auth)).json.models.map(
      (x: any) => x.name,
    );
    expect(names).toEqual(
      expect.arrayContaining(['vqa', 'nlvr2', 'classify', 'retrieval_image', 'retrieval_text']),
    );
    expect((await request(url, 'GET', '/v2/models/nope', undefined, auth)).status).toBe(404);
  });

  it('infer with JSON tensors gives the reference logits', async () => {
    const image = ref.get('image.chelsea.vl')!;
    const tok = ref.get('vqav2.language_tokens')!;
    const mask = ref.get('vqav2.padding_mask')!;
    const row = (t: Tensor) => ints(t).slice(0, 64);
    const r = await p('/v2/models/vqa/infer', {
      id: 'q0',
      inputs: [
        {
          name: 'image',
          shape: [1, 3, 40, 40],
          datatype: 'FP32',
          data: Array.from(image.data as Float32Array),
        },
        { name: 'question', shape: [1, 64], datatype: 'INT64', data: row(tok) },
        { name: 'padding_mask', shape: [1, 64], datatype: 'INT64', data: [row(mask)] },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ model_name: 'vqa', id: 'q0' });
    const out = r.json.outputs[0];
    expect(out).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [1, 12] });
    expect(maxAbs(out.data, rows(ref.get('vqav2.logits')!, 0))).toBeLessThan(1e-4);
  });

  it('refuses tensors that do not fit the signature (400)', async () => {
    const bad = [
      { inputs: [{ name: 'image', shape: [1, 3, 40, 40], datatype: 'FP32', data: [1] }] },
      { inputs: [{ name: 'image', shape: [1, 3, 20, 20], datatype: 'FP32', data: new Array(1200).fill(0) }] },
      {
        inputs: [{ name: 'image', shape: [1, 3, 40, 40], datatype: 'INT64', data: new Array(4800).fill(0) }],
      },
      { inputs: [{ name: 'pixels', shape: [1], datatype: 'FP32', data: [0] }] },
    ];
    for (const b of bad) {
      const r = await p('/v2/models/classify/infer', b);
      expect(r.status, JSON.stringify(b).slice(0, 80)).toBe(400);
      expect(errorOf(r).code).toBe('invalid_tensor');
    }
  });
});

describe('errors', () => {
  const chelsea = () => dataUrl(img('chelsea'));

  it('400: schema validation, bad image strings, remote URLs without the flag', async () => {
    const cases400: [string, unknown, string][] = [
      ['/v1/vqa', { image: chelsea() }, 'invalid_request'],
      ['/v1/vqa', { image: chelsea(), question: 'q', topk: 0 }, 'invalid_request'],
      ['/v1/classify', {}, 'invalid_request'],
      ['/v1/embeddings', { input: [[1, 2, 3]] }, 'invalid_request'],
      ['/v1/embeddings', { input: 'x', encoding_format: 'int8' }, 'invalid_request'],
      ['/v1/classify', { image: 'not an image!' }, 'invalid_image'],
      ['/v1/classify', { image: 'https://example.com/cat.png' }, 'remote_url_not_allowed'],
    ];
    for (const [path, body, code] of cases400) {
      const r = await p(path, body);
      expect(r.status, `${path} ${JSON.stringify(body).slice(0, 60)}`).toBe(400);
      expect(errorOf(r)).toMatchObject({ type: 'invalid_request_error', code });
    }
    // a path is never read: at best it is (undecodable) base64
    const path = await p('/v1/classify', { image: '/etc/passwd' });
    expect(path.status).toBe(422);
    expect(errorOf(path).message).not.toMatch(/root:/);
    const badJson = await post(url, '/v1/vqa', '{"image": ', { ...auth, 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);
    errorOf(badJson);
  });

  it('401: missing or wrong API key (health and the page stay open)', async () => {
    const none = await post(url, '/v1/embeddings', { input: 'x' });
    expect(none.status).toBe(401);
    expect(errorOf(none)).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    const wrong = await post(url, '/v1/embeddings', { input: 'x' }, { 'x-api-key': 'nope' });
    expect(wrong.status).toBe(401);
    expect((await post(url, '/v1/embeddings', { input: 'x' }, { 'x-api-key': KEY })).status).toBe(200);
    expect((await request(url, 'GET', '/health')).status).toBe(200);
    expect((await request(url, 'GET', '/')).status).toBe(200);
  });

  it('413: body over the limit, image over the image limit', async () => {
    const big = await p('/v1/classify', { image: `data:image/png;base64,${'A'.repeat(5 * 2 ** 20)}` });
    expect(big.status).toBe(413);
    expect(errorOf(big).code).toBe('payload_too_large');
    const img2 = await p('/v1/classify', {
      image: `data:image/png;base64,${Buffer.alloc(1.5 * 2 ** 20).toString('base64')}`,
    });
    expect(img2.status).toBe(413);
    const fd = new FormData();
    fd.append('file', new Blob([new Uint8Array(1.5 * 2 ** 20)], { type: 'image/png' }), 'big.png');
    const mp = await post(url, '/v1/embeddings', fd, auth);
    expect(mp.status).toBe(413);
    errorOf(mp);
  });

  it('415: unsupported content type or a data URL that is not an image', async () => {
    const r = await post(url, '/v1/vqa', 'hello', { ...auth, 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
    expect(errorOf(r).code).toBe('unsupported_media_type');
    const d = await p('/v1/classify', { image: 'data:text/plain;base64,aGVsbG8=' });
    expect(d.status).toBe(415);
  });

  it('422: undecodable image, too many pixels', async () => {
    const junk = await p('/v1/classify', {
      image: `data:image/png;base64,${Buffer.from('not a png at all').toString('base64')}`,
    });
    expect(junk.status).toBe(422);
    expect(errorOf(junk).code).toBe('invalid_image');
    const huge = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const r = await p('/v1/classify', { image: `data:image/png;base64,${huge.toString('base64')}` });
    expect(r.status).toBe(422);
    expect(errorOf(r).message).toMatch(/pixel/i);
  });
});
