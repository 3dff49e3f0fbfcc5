// Builds the browser bundle and the static page into dist-web/ (or argv[2]):
//   beit3-web.js (the beit3/web entry, ESM), worker.js (the inference worker), app.js + index.html
//   (the page), chunk-*.js (onnxruntime-web's WASM and WebGPU builds, split out so a page loads only
//   the one its backend needs) and ORT's .wasm files, served from the same origin as the page.
// `buildWeb(out)` is what the browser test and the bench call (esbuild in-process).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeOnlyStub } from './node-only-stub.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// what ORT fetches at run time from `env.wasm.wasmPaths`: the plain SIMD+threads WASM and its
// loader (wasm backend), the JSEP pair (WebGPU)
export const ORT_FILES = ['.wasm', '.mjs', '.jsep.wasm', '.jsep.mjs'].map(
  (e) => `ort-wasm-simd-threaded${e}`,
);

/** Bundles the entry, the worker and the page into `out`; returns `out`. */
export async function buildWeb(
  out = join(root, 'dist-web'),
  { minify = process.env.BEIT3_WEB_MINIFY !== '0' } = {},
) {
  out = resolve(out);
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: {
      'beit3-web': join(root, 'src/web/index.ts'),
      worker: join(root, 'src/web/worker.ts'),
      app: join(root, 'web/app.ts'),
    },
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify,
    keepNames: true,
    plugins: [nodeOnlyStub],
    logLevel: 'warning',
  });
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  for (const f of ORT_FILES) copyFileSync(join(ortDist, f), join(out, f));
  copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  console.log(await buildWeb(process.argv[2]));
