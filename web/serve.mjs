// A tiny static file server for the built page (dist-web/ or any folder): 127.0.0.1 only, and the
// two headers that make the page cross-origin isolated (COOP same-origin + COEP require-corp), which
// browsers require before they hand out SharedArrayBuffer, i.e. before ORT's WASM can use threads.
//   node web/serve.mjs [dir=dist-web] [port=8080]
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
};

/** Serves `dir` on 127.0.0.1:`port` (0 = any free port); resolves once listening. */
export async function serveStatic(dir, port = 0) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    let path;
    try {
      path = resolve(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    } catch {
      return void res.writeHead(400).end();
    }
    if (path !== root && !path.startsWith(root + sep)) return void res.writeHead(403).end();
    const file = path === root || req.url?.endsWith('/') ? join(path, 'index.html') : path;
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', () => ok(undefined)));
  return { url: `http://127.0.0.1:${server.address().port}/`, server };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await serveStatic(process.argv[2] ?? 'dist-web', Number(process.argv[3] ?? 8080));
  console.log(`serving ${resolve(process.argv[2] ?? 'dist-web')} at ${url} (cross-origin isolated)`);
}
