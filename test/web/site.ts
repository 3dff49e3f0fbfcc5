// Builds a complete static site for the browser tests and the bench: the bundle (web/build.mjs),
// the e2e fixture models exported to ONNX, the tokenizer, the fixture images, a gallery of image
// embeddings computed by the Node pipeline, and a static server that sends COOP/COEP.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, extname, join, normalize, resolve } from 'node:path';
import { buildWeb } from '../../web/build.mjs';
import {
  exportTaskModel,
  loadTaskConfig,
  loadTaskModel,
  pipeline,
  type RetrievalPipeline,
} from '../../src/tasks/index.js';
import { CONFIG, cases, img } from '../tasks/e2e-fixture.js';

export const GALLERY = ['astronaut', 'chelsea', 'rocket', 'horse', 'camera'];

/** Writes the site into `dir` (bundle built in-process; models, tokenizer, images, gallery). */
export async function buildSite(dir: string): Promise<void> {
  await buildWeb(dir, { minify: false });
  mkdirSync(join(dir, 'models'));
  mkdirSync(join(dir, 'images'));
  const models: Record<string, string> = {};
  for (const [key, task] of [
    ['classify', 'imageclassification'],
    ['vqa', 'vqa'],
    ['retrieval', 'retrieval'],
  ] as const) {
    const config = loadTaskConfig(CONFIG, { task });
    const r = exportTaskModel(await loadTaskModel(config), join(dir, 'models', `${key}.onnx`));
    if (config.tokenizer) copyFileSync(config.tokenizer, join(dir, 'models', basename(config.tokenizer)));
    models[key] = `models/${basename(r.metaPath)}`;
  }
  for (const name of Object.keys(cases.images))
    copyFileSync(img(name), join(dir, 'images', basename(img(name))));
  const p = (await pipeline('retrieval', { config: CONFIG })) as RetrievalPipeline;
  const feats = await p.embedImages(GALLERY.map(img));
  await p.dispose();
  const d = feats.shape[1];
  const data = feats.data as Float32Array;
  const gallery = GALLERY.map((id, i) => ({ id, embedding: Array.from(data.subarray(i * d, (i + 1) * d)) }));
  writeFileSync(join(dir, 'gallery.json'), JSON.stringify(gallery));
  writeFileSync(join(dir, 'site.json'), JSON.stringify({ models, gallery: 'gallery.json' }));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
};

/** A static file server on 127.0.0.1 with the headers WASM threads need (cross-origin isolation). */
export async function serveStatic(dir: string): Promise<{ url: string; server: Server }> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  return { url: `http://127.0.0.1:${a.port}/`, server };
}
