/**
 * The browser build against the Node pipeline, side by side in one run: image files → retrieval
 * image embeddings at base width (768, 12 heads, 224², random weights; BEIT3_BENCH_WEB_LAYERS
 * layers, default 4 to keep the suite short), batch 8. Browser: the static page (web/build.mjs, served with COOP/COEP by
 * web/serve.mjs) in headless Debian Chromium, decode by createImageBitmap on the page, transform +
 * onnxruntime-web WASM (threads) in the Web Worker. Node: RetrievalPipeline (sharp decode,
 * onnxruntime-node) with the same thread count. Figures: both throughputs and their ratio.
 * Skipped when /usr/bin/chromium is missing.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium } from 'playwright-core';
import { configFor } from '../../src/models/beit3/registry.js';
import { exportTaskModel, loadTaskModel, RetrievalPipeline, type TaskConfig } from '../../src/tasks/index.js';
import { buildWeb } from '../../web/build.mjs';
import { serveStatic } from '../../web/serve.mjs';
import { type BenchContext, bestOf, type Suite } from '../report.js';

const ROOT = join(import.meta.dirname, '../..');
const SRC = join(ROOT, 'fixtures/images/source');
const IMAGES = ['astronaut.png', 'camera.png', 'chelsea.png', 'rocket.jpg'].map((f) => join(SRC, f));
const TOKENIZER = join(ROOT, 'fixtures/sentencepiece/unigram_8k.model');
const CHROMIUM = '/usr/bin/chromium';
const N = 16;
const BATCH = 8;
const REPS = 2;

function config(layers: number): TaskConfig {
  const name = 'beit3_base_patch16_224_retrieval';
  return {
    task: 'retrieval',
    model: configFor(name, { imgSize: 224, layers }),
    modelName: name,
    tokenizer: TOKENIZER,
    transform: 'vl',
    cropPct: 1,
    textLen: 64,
    generation: { numBeams: 1, maxLen: 32, lengthPenalty: 0.6, topnPerBeam: 3 },
    weights: [],
    topk: 5,
  };
}


export const webSuite: Suite = {
  name: 'web',
  async run(ctx: BenchContext) {
    if (!existsSync(CHROMIUM)) {
      console.warn(`bench web: skipped — ${CHROMIUM} is missing (scripts/install-chromium.sh)`);
      return;
    }
    const layers = Number(process.env.BEIT3_BENCH_WEB_LAYERS ?? 4);
    const dir = mkdtempSync(join(tmpdir(), 'beit3-bench-web-'));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    let server: { close(): void } | undefined;
    try {
      // the site: bundle, the exported model + tokenizer, the images
      await buildWeb(dir);
      const loaded = await loadTaskModel(config(layers), { randomSeed: 0 });
      mkdirSync(join(dir, 'models'));
      mkdirSync(join(dir, 'images'));
      const meta = exportTaskModel(loaded, join(dir, 'models', 'retrieval.onnx')).metaPath;
      copyFileSync(TOKENIZER, join(dir, 'models', basename(TOKENIZER)));
      for (const f of IMAGES) copyFileSync(f, join(dir, 'images', basename(f)));
      writeFileSync(
        join(dir, 'site.json'),
        JSON.stringify({ models: { retrieval: `models/${basename(meta)}` } }),
      );
      const s = await serveStatic(dir);
      server = s.server;

      const page = await browser.newPage();
      await page.goto(s.url);
      const iso = await page.evaluate(() => (globalThis as any).beit3Page.ready);
      if (!iso) throw new Error(`the page did not load: ${await page.locator('#error').textContent()}`);
      const threads: number = iso.numThreads;
      const urls = Array.from({ length: N }, (_, i) => `images/${basename(IMAGES[i % IMAGES.length])}`);
      // one run in the page: decode every file, embed in batches; returns ms of each timed run + the first rows
      const web = await page.evaluate(
        async ({ urls, batch, reps }) => {
          const b = (globalThis as any).beit3Page;
          const blobs: Blob[] = await Promise.all(urls.map(async (u: string) => (await fetch(u)).blob()));
          // run 0 warms up; no named closures in here (tsx would wrap them in a __name the page lacks)
          let ms = Infinity;
          let first: Float32Array[] = [];
          for (let r = 0; r <= reps; r++) {
            const t0 = performance.now();
            const out: Float32Array[] = [];
            for (let i = 0; i < blobs.length; i += batch) {
              const px = await Promise.all(blobs.slice(i, i + batch).map((x) => b.decodeImage(x)));
              out.push(...(await b.worker.embedImages('retrieval', px)));
            }
            if (r === 0) first = out;
            else ms = Math.min(ms, performance.now() - t0);
          }
          return { ms, rows: first.slice(0, 2).map((r) => Array.from(r)) };
        },
        { urls, batch: BATCH, reps: REPS },
      );

      const p = await RetrievalPipeline.create(loaded, { batchSize: BATCH, threads });
      const files = Array.from({ length: N }, (_, i) => IMAGES[i % IMAGES.length]);
      const nodeMs = await bestOf(() => p.embedImages(files), REPS);
      const nodeRows = (await p.embedImages(files.slice(0, 2))).data as Float32Array;
      await p.dispose();
      let diff = 0;
      web.rows.flat().forEach((v, i) => (diff = Math.max(diff, Math.abs(v - nodeRows[i]))));

      const what = `base width, ${layers} layers, 224², batch ${BATCH}, ${N} image files → embeddings`;
      const browserRate = (1000 * N) / web.ms;
      const nodeRate = (1000 * N) / nodeMs;
      ctx.report({
        name: 'web.embed_images.browser_wasm',
        value: browserRate,
        unit: 'images/s',
        threads,
        note: `${what}; headless Chromium, onnxruntime-web WASM ${threads} threads${iso.crossOriginIsolated ? '' : ' (not isolated)'} in a Web Worker`,
      });
      ctx.report({
        name: 'web.embed_images.node',
        value: nodeRate,
        unit: 'images/s',
        threads,
        note: `${what}; onnxruntime-node, ${threads} intra-op threads`,
      });
      ctx.report({
        name: 'web.embed_images.browser_over_node',
        value: browserRate / nodeRate,
        unit: 'ratio',
        threads,
        note: `same run, same threads; browser vs Node embeddings max |diff| ${diff.toExponential(1)}`,
      });
    } finally {
      await browser.close();
      server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
