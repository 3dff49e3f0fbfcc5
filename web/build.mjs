// Builds the browser bundle and the static page into dist-web/ (or argv[2]):
//   beit3-web.js (the beit3/web entry, ESM), worker.js (the inference worker), app.js + index.html
//   (the page), and onnxruntime-web's WASM runtime files, served from the same origin.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeOnlyStub } from './node-only-stub.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist-web'));
mkdirSync(out, { recursive: true });

await build({
  entryPoints: {
    'beit3-web': join(root, 'src/web/index.ts'),
    worker: join(root, 'src/web/worker.ts'),
    app: join(root, 'web/app.ts'),
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  minify: process.env.BEIT3_WEB_MINIFY !== '0',
  keepNames: true,
  plugins: [nodeOnlyStub],
  logLevel: 'warning',
});

// the WASM runtime ORT loads at run time (plain + JSEP for WebGPU): copied, never fetched elsewhere
const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
for (const f of ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'])
  copyFileSync(join(ortDist, f), join(out, f));
copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
console.log(out);
