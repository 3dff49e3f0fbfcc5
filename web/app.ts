// The static page: every model runs in the browser (a Web Worker over onnxruntime-web); the
// server only hands out files. `site.json` beside the page names the exported models and the
// precomputed gallery: { "models": { "classify"?: url, "vqa"?: url, "retrieval"?: url },
// "gallery"?: url } — a gallery file is [{ "id": string, "embedding": number[] }].
// the page itself imports no model code: onnxruntime-web is in worker.js only
import { fetchJson } from '../src/web/cache.js';
import { Beit3Worker } from '../src/web/client.js';
import { decodeImage, type Pixels } from '../src/web/image.js';
import type { Scored } from '../src/web/model.js';

interface Site {
  models: Partial<Record<'classify' | 'vqa' | 'retrieval', string>>;
  gallery?: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const here = new URL('.', import.meta.url).href;
const worker = new Beit3Worker(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
let pixels: Pixels | undefined;
let gallery: { id: string; embedding: Float32Array }[] = [];
const loaded = new Set<string>();

function show(items: string[]): void {
  $('error').textContent = '';
  $('results').replaceChildren(
    ...items.map((t) => Object.assign(document.createElement('li'), { textContent: t })),
  );
}
function fail(e: unknown): void {
  $('error').textContent = `${(e as Error).name ?? 'Error'}: ${(e as Error).message ?? e}`;
}
const fmt = (s: Scored) => `${s.label} — ${s.score.toFixed(4)}`;

async function start(): Promise<{ crossOriginIsolated: boolean; numThreads: number }> {
  const iso = await worker.init({ wasmPaths: here });
  const site = await fetchJson<Site>(new URL('site.json', here).href, false);
  for (const [key, url] of Object.entries(site.models)) {
    await worker.load(key, new URL(url, here).href);
    loaded.add(key);
  }
  if (site.gallery)
    gallery = (
      await fetchJson<{ id: string; embedding: number[] }[]>(new URL(site.gallery, here).href, false)
    ).map((g) => ({ id: g.id, embedding: Float32Array.from(g.embedding) }));
  $('status').textContent =
    `Ready: ${[...loaded].join(', ')}; gallery of ${gallery.length} images; WASM threads ${iso.numThreads}${iso.crossOriginIsolated ? '' : ' (not cross-origin isolated)'}`;
  refresh();
  return iso;
}

function refresh(): void {
  $<HTMLButtonElement>('classify').disabled = !pixels || !loaded.has('classify');
  $<HTMLButtonElement>('ask').disabled = !pixels || !loaded.has('vqa');
  $<HTMLButtonElement>('search').disabled = !loaded.has('retrieval') || !gallery.length;
}

$<HTMLInputElement>('file').addEventListener('change', async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (!f) return;
  try {
    pixels = await decodeImage(f);
    const img = $<HTMLImageElement>('preview');
    img.src = URL.createObjectURL(f);
    img.hidden = false;
    show([]);
  } catch (err) {
    pixels = undefined;
    fail(err);
  }
  refresh();
});
$('classify').addEventListener('click', () =>
  worker.classify('classify', [pixels!]).then(([r]) => show(r.topk.map(fmt)), fail),
);
$('ask').addEventListener('click', () => {
  const question = $<HTMLInputElement>('question').value;
  worker.vqa('vqa', [{ image: pixels!, question }]).then(([r]) => show(r.topk.map(fmt)), fail);
});
$('search').addEventListener('click', () =>
  worker
    .search('retrieval', $<HTMLInputElement>('query').value, gallery)
    .then((hits) => show(hits.map((h) => `${h.id} — ${h.score.toFixed(4)}`)), fail),
);

// for scripted use, the browser test and the bench (`ready` resolves to the WASM settings)
Object.assign(globalThis, { beit3Page: { worker, decodeImage, ready: start().catch(fail) } });
