// Shared setup of the server tests: a server over the e2e fixture models on 127.0.0.1:0,
// image files as data URLs, and small JSON request helpers.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { afterAll } from 'vitest';
import {
  type Beit3Server,
  createServer,
  resolveServedTasks,
  type ServerOptions,
} from '../../src/server/index.js';
import { CONFIG } from '../tasks/e2e-fixture.js';

export { CONFIG, E2E, cases, img, maxAbs, tempDir } from '../tasks/e2e-fixture.js';

export interface Running {
  server: Beit3Server;
  url: string;
}

/** Starts a server on the fixture config (tasks: sections to serve), closed after the file's tests. */
export async function startServer(
  tasks: string[] | undefined,
  opts: Partial<ServerOptions> = {},
  warm = true,
): Promise<Running> {
  const server = await createServer({ tasks: resolveServedTasks({ config: CONFIG, tasks }), ...opts });
  afterAll(() => server.close());
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  if (warm) await server.engine.warm;
  return { server, url };
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.gif': 'image/gif' };

export function dataUrl(path: string): string {
  return `data:${MIME[extname(path)] ?? 'application/octet-stream'};base64,${readFileSync(path).toString('base64')}`;
}

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export async function request(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body =
      typeof body === 'string' || body instanceof Uint8Array || body instanceof FormData
        ? (body as BodyInit)
        : JSON.stringify(body);
    if (!(body instanceof FormData) && !headers['content-type'])
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url + path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export const post = (url: string, path: string, body: unknown, headers?: Record<string, string>) =>
  request(url, 'POST', path, body, headers);

/** The error body every failure has: {"error": {"message", "type", "code"}}. */
export function errorOf(r: Reply): { message: string; type: string; code: string } {
  const e = r.json?.error;
  if (!e || typeof e.message !== 'string' || typeof e.type !== 'string' || typeof e.code !== 'string')
    throw new Error(`not an error body (${r.status}): ${r.text.slice(0, 200)}`);
  return e;
}
