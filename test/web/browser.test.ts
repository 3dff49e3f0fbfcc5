// The browser build (beit3/web, bundled by web/build.mjs) in real headless Chromium: a static page
// (no server-side inference; COOP/COEP for WASM threads) runs the exported fixture models in a Web
// Worker over onnxruntime-web and gives the Node pipeline's answers, scores and embeddings within
// 1e-4; every request stays on the page's own origin.
import { basename } from 'node:path';
import type { Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pipeline,
  type ImageClassificationPipeline,
  type RetrievalPipeline,
  type VqaPipeline,
} from '../../src/tasks/index.js';
import { CONFIG, cases, img, maxAbs, tempDir } from '../tasks/e2e-fixture.js';
import { buildSite, GALLERY, serveStatic } from './site.js';
import { CHROMIUM, CHROMIUM_FLAGS, haveChromium } from '../support/chromium.js';

const FLAGS = [...CHROMIUM_FLAGS];
const have = haveChromium;
if (!have)
  console.warn(
    `browser.test: skipped — ${CHROMIUM} is missing (run scripts/install-chromium.sh; no browser is downloaded)`,
  );

type Row = { label: string; score: number; logit: number };

describe.skipIf(!have)('beit3/web in headless Chromium', () => {
  const dir = tempDir('beit3-webbuild-');
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const foreign: string[] = []; // requests off the page's origin (refused)
  const routed: string[] = []; // every request the route saw (the page's and its workers')
  const errors: string[] = [];

  beforeAll(async () => {
    await buildSite(dir);
    const s = await serveStatic(dir);
    server = s.server;
    origin = new URL(s.url).origin;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = await browser.newPage();
    // every request of the page and its workers: anything off the page's origin is refused
    await page.context().route('**/*', (route) => {
      const u = route.request().url();
      routed.push(u);
      if (new URL(u).origin === origin) return route.continue();
      foreign.push(u);
      return route.abort();
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(s.url);
    // ready, or an error on the page: either ends the wait (a failed load must not look like a hang)
    await page.waitForFunction(
      () =>
        document.getElementById('status')?.textContent?.startsWith('Ready') ||
        !!document.getElementById('error')?.textContent,
      undefined,
      { timeout: 60_000 },
    );
    const error = await page.locator('#error').textContent();
    if (error) throw new Error(`the page failed to load: ${error} ${errors.join('; ')}`);
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  /** Runs a worker method in the page on fixture images fetched from the page's origin. */
  const inPage = <T>(method: string, images: string[], extra: unknown[]) =>
    page.evaluate(
      async ({ method, images, extra }) => {
        const b = (globalThis as any).beit3Page;
        const px = await Promise.all(images.map(async (u) => b.decodeImage(await (await fetch(u)).blob())));
        const r = await b.worker.call(
          method === 'vqa' ? 'vqa' : method === 'classify' ? 'classify' : 'retrieval',
          method,
          ...(method === 'vqa'
            ? [px.map((image: unknown, i: number) => ({ image, question: extra[i] }))]
            : [px]),
        );
        return JSON.parse(
          JSON.stringify(r, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)),
        );
      },
      { method, images, extra },
    ) as Promise<T>;
  const url = (name: string) => `images/${basename(img(name))}`;

  it('the page is cross-origin isolated (WASM threads) and reports its models, gallery and thread count', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const status = await page.locator('#status').textContent();
    expect(status).toContain('classify, vqa, retrieval');
    expect(status).toContain(`gallery of ${GALLERY.length} images`);
    const threads = await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency));
    expect(status).toContain(`WASM threads ${threads}`);
  });

  it('VQA: same answers and scores as the Node pipeline (every fixture question)', async () => {
    const items = cases.tasks.vqav2.items as { image: string; question: string }[];
    const p = (await pipeline('vqa', { config: CONFIG })) as VqaPipeline;
    const ours = await p.run(items.map((i) => ({ image: img(i.image), question: i.question })));
    await p.dispose();
    const web = await inPage<{ answer: string; topk: Row[] }[]>(
      'vqa',
      items.map((i) => url(i.image)),
      items.map((i) => i.question),
    );
    expect(web.map((w) => w.answer)).toEqual(ours.map((o) => o.answer));
    for (let i = 0; i < items.length; i++) {
      expect(web[i].topk.map((t) => t.label)).toEqual(ours[i].topk.map((t) => t.answer));
      expect(
        maxAbs(
          web[i].topk.map((t) => t.score),
          ours[i].topk.map((t) => t.score),
        ),
      ).toBeLessThan(1e-4);
      expect(
        maxAbs(
          web[i].topk.map((t) => t.logit),
          ours[i].topk.map((t) => t.logit),
        ),
      ).toBeLessThan(1e-4);
    }
  });

  it('classification: same logits and top-k as the Node pipeline (every fixture image)', async () => {
    const names = Object.keys(cases.images);
    const p = (await pipeline('imageclassification', { config: CONFIG })) as ImageClassificationPipeline;
    const ours = await p.run(names.map(img));
    await p.dispose();
    const web = await inPage<{ logits: number[]; topk: Row[] }[]>('classify', names.map(url), []);
    for (let i = 0; i < names.length; i++) {
      expect(maxAbs(web[i].logits, ours[i].logits), names[i]).toBeLessThan(1e-4);
      expect(web[i].topk.map((t) => t.label)).toEqual(ours[i].topk.map((t) => t.label));
    }
  });

  it('retrieval embeddings (images and texts) and gallery search match the Node pipeline', async () => {
    const names = Object.keys(cases.images);
    const texts = (cases.tasks.retrieval.texts as { text: string }[]).map((t) => t.text);
    const p = (await pipeline('retrieval', { config: CONFIG })) as RetrievalPipeline;
    const im = await p.embedImages(names.map(img));
    const tx = await p.embedTexts(texts);
    const gal = await p.embedImages(GALLERY.map(img));
    await p.dispose();
    const webIm = await inPage<number[][]>('embedImages', names.map(url), []);
    expect(maxAbs(webIm.flat(), im.data as Float32Array)).toBeLessThan(1e-4);
    const webTx = await page.evaluate(
      (t) =>
        (globalThis as any).beit3Page.worker
          .embedTexts('retrieval', t)
          .then((r: Float32Array[]) => r.map((x) => Array.from(x))),
      texts,
    );
    expect(maxAbs(webTx.flat(), tx.data as Float32Array)).toBeLessThan(1e-4);
    // search over the precomputed gallery: ranking = the Node scores' ranking
    const q = texts[0];
    const d = gal.shape[1];
    const t0 = (tx.data as Float32Array).subarray(0, d);
    const nodeScores = GALLERY.map((_, i) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += (gal.data as Float32Array)[i * d + k] * t0[k];
      return s;
    });
    const order = GALLERY.map((id, i) => ({ id, s: nodeScores[i] })).sort((a, b) => b.s - a.s);
    await page.fill('#query', q);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('#results li').length > 0);
    const shown = await page.locator('#results li').allTextContents();
    expect(shown.map((s) => s.split(' — ')[0])).toEqual(order.map((o) => o.id));
    expect(
      maxAbs(
        shown.map((s) => Number(s.split(' — ')[1])),
        order.map((o) => o.s),
      ),
    ).toBeLessThan(1e-4);
  });

  it('the page, keyboard and file input only: upload a fixture image, ask, get the pipeline answer', async () => {
    const item = cases.tasks.vqav2.items[0] as { image: string; question: string };
    const p = (await pipeline('vqa', { config: CONFIG })) as VqaPipeline;
    const [ours] = await p.run([{ image: img(item.image), question: item.question }]);
    await p.dispose();
    await page.setInputFiles('#file', img(item.image));
    await page.waitForFunction(() => !(document.getElementById('ask') as HTMLButtonElement).disabled);
    await page.focus('#question');
    await page.keyboard.type(item.question);
    await page.keyboard.press('Tab'); // → the Ask button
    await page.evaluate(() => (document.getElementById('results')!.innerHTML = ''));
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#results li').length > 0);
    const first = (await page.locator('#results li').first().textContent())!;
    expect(first.split(' — ')[0]).toBe(ours.answer);
    expect(Math.abs(Number(first.split(' — ')[1]) - ours.score)).toBeLessThan(1e-4);
  });

  it('an undecodable file is a clear error on the page', async () => {
    await page.setInputFiles('#file', {
      name: 'x.png',
      mimeType: 'image/png',
      buffer: Buffer.from('not a png'),
    });
    await page.waitForFunction(() => document.getElementById('error')?.textContent !== '');
    expect(await page.locator('#error').textContent()).toContain('WebError: cannot decode the image');
  });

  it("no request left the page origin; the route saw the workers' requests; only the plain WASM build loaded", () => {
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    const files = routed.map((u) => new URL(u).pathname);
    expect(files).toContain('/ort-wasm-simd-threaded.wasm'); // fetched by ORT inside the worker
    expect(files.filter((f) => f.includes('jsep'))).toEqual([]); // no WebGPU build unless asked for
  });
});
