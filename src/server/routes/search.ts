/**
 * Gallery search over a `beit3 index` folder: text or image queries (embedded by the retrieval
 * model through its batcher, searched in the HNSW graph on this thread: a query is ~1 ms), and
 * adding / removing gallery items. Added images are written into the gallery folder under their
 * path, so a later `beit3 index` run sees them as already indexed; removed items lose their file
 * too (otherwise the next `beit3 index` would add them back).
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SEARCH_IMAGE_EXTENSIONS } from '../../search/index.js';
import { writeFileAtomicSync } from '../../util/atomic.node.js';
import { hold, type RouteContext } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { decodeUpload, imageBytes } from '../images.js';
import { addItemsBody, removeItemsBody, searchBody } from '../schemas.js';

const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.bmp': 'image/bmp',
  '.avif': 'image/avif',
};

/** A gallery-relative path, refused when it would leave the gallery folder. */
function galleryPath(root: string, p: string): { rel: string; abs: string } {
  const rel = normalize(p).replace(/^(\.\/)+/, '');
  const abs = resolve(root, rel);
  if (isAbsolute(p) || rel.startsWith('..') || relative(root, abs).startsWith('..') || rel.includes('\0'))
    throw badRequest('invalid_path', `path ${JSON.stringify(p)} must stay inside the gallery folder`);
  if (!SEARCH_IMAGE_EXTENSIONS.includes(extname(rel).toLowerCase()))
    throw badRequest(
      'invalid_path',
      `path ${JSON.stringify(p)} needs an image extension (${SEARCH_IMAGE_EXTENSIONS.join(' ')})`,
    );
  return { rel: rel.split(sep).join('/'), abs };
}

export function registerSearch(app: FastifyInstance, ctx: RouteContext): void {
  const { engine } = ctx;
  const index = () => {
    if (!ctx.index)
      throw notFound(
        'no_gallery',
        'this server has no gallery (start it with --index DIR, a `beit3 index` folder)',
      );
    return ctx.index;
  };
  const tags = { tags: ['gallery'] };

  app.post(
    '/v1/search',
    {
      config: { task: 'retrieval' },
      schema: { ...tags, summary: 'search the gallery with a text or an image', body: searchBody },
    },
    async (req) => {
      engine.checkReady();
      const idx = index();
      const b = req.body as { query?: string; image?: string; k?: number };
      const r = hold(ctx, req, 'retrieval', 1);
      const q =
        b.query !== undefined
          ? await engine.embedText(b.query, r)
          : await engine.embedImage(
              await decodeUpload(await imageBytes(b.image, ctx.limits, 'image'), ctx.limits, 'image'),
              r,
            );
      const hits = idx.searchVector(q, b.k ?? 5);
      return { query: b.query ?? null, hits: hits.map(({ path, score }) => ({ path, score })) };
    },
  );

  app.get('/v1/search/items', { schema: { ...tags, summary: 'gallery items' } }, async () => {
    const idx = index();
    return {
      root: idx.meta.root,
      count: idx.size,
      items: idx.meta.files.map((f) => ({ path: f.path, size: f.size })),
    };
  });

  app.post(
    '/v1/search/items',
    {
      config: { task: 'retrieval' },
      schema: { ...tags, summary: 'add (or replace) images in the gallery', body: addItemsBody },
    },
    async (req) => {
      engine.checkReady();
      const idx = index();
      const b = req.body as { items: { path: string; image: string }[] };
      const r = hold(ctx, req, 'retrieval', b.items.length);
      const todo = await Promise.all(
        b.items.map(async (it, i) => {
          const where = galleryPath(idx.meta.root, it.path);
          const bytes = await imageBytes(it.image, ctx.limits, `items[${i}].image`);
          const rgb = await decodeUpload(bytes, ctx.limits, `items[${i}].image`);
          return { ...where, bytes, vec: await engine.embedImage(rgb, r) };
        }),
      );
      for (const t of todo) {
        mkdirSync(dirname(t.abs), { recursive: true });
        writeFileAtomicSync(t.abs, t.bytes);
        const st = statSync(t.abs);
        idx.remove(t.rel);
        idx.addVector({ path: t.rel, size: st.size, mtimeMs: st.mtimeMs }, t.vec);
      }
      idx.save();
      return { added: todo.map((t) => t.rel), count: idx.size };
    },
  );

  app.delete(
    '/v1/search/items',
    {
      schema: { ...tags, summary: 'remove images from the gallery (and their files)', body: removeItemsBody },
    },
    async (req) => {
      engine.checkReady();
      const idx = index();
      const b = req.body as { paths: string[] };
      const removed: string[] = [];
      const missing: string[] = [];
      for (const p of b.paths) {
        const { rel, abs } = galleryPath(idx.meta.root, p);
        if (idx.remove(rel)) {
          removed.push(rel);
          rmSync(abs, { force: true });
        } else missing.push(p);
      }
      idx.save();
      return { removed, missing, count: idx.size };
    },
  );

  app.get(
    '/v1/search/image',
    {
      schema: {
        ...tags,
        summary: 'the image file of a gallery item (for thumbnails)',
        querystring: { type: 'object', required: ['path'], properties: { path: { type: 'string' } } },
      },
    },
    async (req, reply) => {
      const idx = index();
      const { path } = req.query as { path: string };
      const { rel, abs } = galleryPath(idx.meta.root, path);
      if (!idx.meta.files.some((f) => f.path === rel) || !existsSync(abs))
        throw notFound('not_found', `no gallery item ${path}`);
      return reply
        .type(MIME[extname(rel).toLowerCase()] ?? 'application/octet-stream')
        .send(await readFile(abs));
    },
  );
}
