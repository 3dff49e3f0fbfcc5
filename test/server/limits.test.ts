// Readiness, dynamic batching (same answers alone and inside a batch of others), queue limits
// (429 with Retry-After, 504 queue timeout) and graceful shutdown, over the e2e fixture models.
import { describe, expect, it } from 'vitest';
import { cases, dataUrl, errorOf, img, post, request, type Running, startServer } from './helpers.js';

const vqaItems = cases.tasks.vqav2.items as any[];
const texts = (cases.tasks.retrieval.texts as any[]).map((t) => t.text as string);
const images = (cases.tasks.retrieval.images as any[]).map((i) => dataUrl(img(i.image)));

/** Sum and count of a histogram of /metrics for one task. */
async function histogram(url: string, name: string, task: string): Promise<{ sum: number; count: number }> {
  const text = (await request(url, 'GET', '/metrics')).text;
  const get = (suffix: string) =>
    Number(new RegExp(`${name}_${suffix}\\{task="${task}"\\} (\\S+)`).exec(text)?.[1] ?? 0);
  return { sum: get('sum'), count: get('count') };
}

describe('readiness, batching and shutdown', () => {
  let s: Running;

  it('503 until the workers are warm, then 200', async () => {
    // batches wait up to 150 ms for company, so concurrent requests below share batches
    s = await startServer(
      ['retrieval', 'vqav2', 'imageclassification'],
      { maxBatch: 8, maxDelayMs: 150 },
      false,
    );
    const h = await request(s.url, 'GET', '/health');
    expect(h.status).toBe(503);
    expect(h.json.status).toBe('loading');
    expect((await request(s.url, 'GET', '/v2/health/ready')).status).toBe(503);
    const r = await post(s.url, '/v1/embeddings', { input: 'too early' });
    expect(r.status).toBe(503);
    expect(errorOf(r)).toMatchObject({ code: 'not_ready', type: 'unavailable_error' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await s.server.engine.warm;
    expect((await request(s.url, 'GET', '/health')).status).toBe(200);
  });

  it('a text / image / question gives identical outputs alone and inside a batch of others', async () => {
    const emb = (input: unknown) =>
      post(s.url, '/v1/embeddings', { input }).then((r) => r.json.data[0].embedding);
    const vqa = (i: any) =>
      post(s.url, '/v1/vqa', { image: dataUrl(img(i.image)), question: i.question, topk: 3 }).then(
        (r) => r.json.results[0],
      );
    const cls = (im: string) =>
      post(s.url, '/v1/classify', { image: im, topk: 10 }).then((r) => r.json.results[0]);

    const before = await histogram(s.url, 'beit3_batch_size', 'retrieval');
    const aloneText = await emb(texts[0]);
    const aloneImage = await emb(images[0]);
    const aloneVqa = await vqa(vqaItems[0]);
    const aloneCls = await cls(images[0]);
    const mid = await histogram(s.url, 'beit3_batch_size', 'retrieval');
    expect(mid.count - before.count).toBe(2); // two batches of one
    expect(mid.sum - before.sum).toBe(2);

    // the item first in one batch, last in another
    const [t, ...otherT] = await Promise.all([emb(texts[0]), ...texts.slice(1, 8).map(emb)]);
    const im = (await Promise.all([...images.slice(1, 8).map(emb), emb(images[0])]))[7];
    const otherI = await Promise.all(images.slice(1, 8).map(emb));
    const [q, ...otherQ] = await Promise.all([vqa(vqaItems[0]), ...vqaItems.slice(1).map(vqa)]);
    const c = (await Promise.all([...images.slice(1, 8).map(cls), cls(images[0])]))[7];
    const after = await histogram(s.url, 'beit3_batch_size', 'retrieval');
    // 23 items ran in fewer batches than items: they were batched together
    expect(after.sum - mid.sum).toBe(23);
    expect(after.count - mid.count).toBeLessThan(12);

    expect(t).toEqual(aloneText); // exact, not approximately
    expect(im).toEqual(aloneImage);
    expect(q).toEqual(aloneVqa);
    expect(c).toEqual(aloneCls);
    // and each of the others got its own answer, in request order
    expect(otherQ.map((x) => x.answer)).toEqual(vqaItems.slice(1).map((i) => i.answer));
    expect(new Set(otherT.map((x) => x[0])).size).toBe(7);
    expect(new Set(otherI.map((x) => x[0])).size).toBe(7);
  });

  it('graceful shutdown: queued and running requests finish, new ones are refused', async () => {
    const jobs = vqaItems.map((i) =>
      post(s.url, '/v1/vqa', { image: dataUrl(img(i.image)), question: i.question }),
    );
    const engine = s.server.engine;
    const t0 = Date.now();
    // close once every request was accepted (some are still decoding, some queued)
    while (s.server.inFlight < jobs.length && Date.now() - t0 < 5000)
      await new Promise((r) => setTimeout(r, 1));
    expect(s.server.inFlight).toBe(jobs.length);
    const closing = s.server.close();
    const late = await post(s.url, '/v1/vqa', { image: dataUrl(img('chelsea')), question: 'late?' }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const done = await Promise.all(jobs);
    expect(done.map((r) => r.status)).toEqual(vqaItems.map(() => 200));
    expect(done.map((r) => r.json.results[0].answer)).toEqual(vqaItems.map((i) => i.answer));
    await closing;
    expect(engine.status.state).toBe('closed');
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });
});

describe('queue limits', () => {
  it('429 with Retry-After when the queue is full; 504 when an item waits too long', async () => {
    // batches wait 400 ms for company, items may wait 150 ms: a lone request times out in the queue
    const { url } = await startServer(['retrieval'], {
      maxBatch: 8,
      maxDelayMs: 400,
      maxQueue: 2,
      queueTimeoutMs: 150,
    });
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post(url, '/v1/embeddings', { input: `text ${i}` })),
    );
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses).toEqual([429, 429, 429, 429, 429, 429, 504, 504]);
    const full = burst.find((r) => r.status === 429)!;
    expect(errorOf(full)).toMatchObject({ code: 'queue_full', type: 'rate_limit_error' });
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const slow = burst.find((r) => r.status === 504)!;
    expect(errorOf(slow)).toMatchObject({ code: 'queue_timeout', type: 'timeout_error' });
    const m = (await request(url, 'GET', '/metrics')).text;
    expect(m).toMatch(/beit3_rejections_total\{reason="queue_full"\} 6/);
    expect(m).toMatch(/beit3_rejections_total\{reason="queue_timeout"\} 2/);
    // the server is fine afterwards
    expect((await request(url, 'GET', '/health')).status).toBe(200);
  });
});
