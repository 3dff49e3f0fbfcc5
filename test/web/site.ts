// Builds a complete static site for the browser tests and the bench: the bundle (web/build.mjs),
// the e2e fixture models exported to ONNX, the tokenizer, the fixture images, a gallery of image
// embeddings computed by the Node pipeline; served by web/serve.mjs (COOP/COEP).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
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

export { serveStatic } from '../../web/serve.mjs';
