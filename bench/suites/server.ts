/**
 * Load test of `beit3 serve` on loopback (autocannon; 127.0.0.1 only; every run bounded by a
 * request count and a time limit). The server runs as its own process (the CLI), so the load
 * generator does not share its event loop.
 *  - grid: throughput and p50/p99 latency of POST /v1/embeddings (one image per request) at
 *    concurrency 1, 8, 32, with batching (max batch 16) and without (max batch 1), on the e2e
 *    fixture's retrieval model (tiny: the figures show the server's own overhead);
 *  - ratio: throughput at concurrency 16 with batching over the offline pipeline's throughput at
 *    batch 16 on the same image bytes, measured in this run, on a model whose compute dominates
 *    (small-patch16 retrieval at 112 px, random weights); goal ≥ 0.9;
 *  - overload: 4× more connections than queue + batch can hold: everything beyond capacity is a
 *    429, nothing else fails, the server stays healthy;
 *  - soak: a few thousand text-embedding requests; resident memory growth after warm-up.
 * Env: BEIT3_BENCH_SERVER_SECONDS (per grid cell, default 5), BEIT3_BENCH_SERVER_SOAK (default 3000).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { availableCores } from '../../src/util/cores.node.js';
import { loadTaskConfig, loadTaskModel, type RetrievalPipeline, TASKS } from '../../src/tasks/index.js';
import type { BenchContext, Suite } from '../report.js';

const ROOT = join(import.meta.dirname, '../..');
const E2E_CONFIG = join(ROOT, 'fixtures/beit3-ref/e2e/config.json');
const TOKENIZER = join(ROOT, 'fixtures/sentencepiece/unigram_8k.model');
const IMAGE = readFileSync(join(ROOT, 'fixtures/images/source/chelsea.png'));
const SECONDS = Number(process.env.BEIT3_BENCH_SERVER_SECONDS ?? 5);
const SOAK = Number(process.env.BEIT3_BENCH_SERVER_SOAK ?? 3000);
const imageBody = JSON.stringify({ input: [{ image: IMAGE.toString('base64') }], encoding_format: 'base64' });

interface Served {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** `beit3 serve ... --port 0` as a child process; resolves with its URL once it says ready. */
function serve(args: string[]): Promise<Served> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      ...args,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    let url = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`beit3 serve did not get ready in 600 s: ${err.slice(-500)}`));
    }, 600_000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      url ||= /beit3 serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1] ?? '';
      if (url && /: ready \(/.test(err)) {
        clearTimeout(timer);
        resolve({
          url,
          proc,
          stop: () =>
            new Promise<void>((r) => {
              proc.once('exit', () => r());
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`beit3 serve exited (${code}): ${err.slice(-500)}`));
    });
  });
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  byStatus: Record<string, number>;
  errors: number;
}

async function load(
  url: string,
  path: string,
  body: string,
  connections: number,
  opts: { seconds?: number; amount?: number } = {},
): Promise<Load> {
  const r = await autocannon({
    url: `${url}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration: opts.seconds ?? SECONDS,
    ...(opts.amount ? { amount: opts.amount } : {}),
    timeout: 120,
  });
  const byStatus = Object.fromEntries(
    Object.entries(
      (r as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {},
    ).map(([k, v]) => [k, v.count]),
  );
  const seconds = r.duration;
  return {
    rps: (r['2xx'] ?? 0) / seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r['2xx'] ?? 0,
    byStatus,
    errors: r.errors + r.timeouts,
  };
}

async function rssMb(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^beit3_process_resident_memory_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

async function grid(ctx: BenchContext): Promise<void> {
  for (const [mode, args] of [
    ['batch16', ['--max-batch', '16', '--max-delay-ms', '5']],
    ['nobatch', ['--max-batch', '1', '--no-pad-single']],
  ] as const) {
    const s = await serve(['-c', E2E_CONFIG, '-t', 'retrieval', ...args]);
    try {
      await load(s.url, '/v1/embeddings', imageBody, 8, { seconds: 1 }); // warm the HTTP path
      for (const c of [1, 8, 32]) {
        const r = await load(s.url, '/v1/embeddings', imageBody, c);
        const name = `server.embeddings.fixture.${mode}.c${c}`;
        const what = `POST /v1/embeddings, one 451x300 PNG per request, e2e fixture retrieval model, ${mode === 'batch16' ? 'dynamic batching (max 16, 5 ms)' : 'no batching'}, ${c} connection(s), ${SECONDS} s`;
        ctx.report({
          name: `${name}.throughput`,
          value: r.rps,
          unit: 'req/s',
          threads: availableCores(),
          note: `${what}; ${r.ok} ok, errors ${r.errors}`,
        });
        ctx.report({ name: `${name}.p50`, value: r.p50, unit: 'ms', note: what });
        ctx.report({ name: `${name}.p99`, value: r.p99, unit: 'ms', note: what });
      }
    } finally {
      await s.stop();
    }
  }
}

/**
 * Offline pipeline vs server at concurrency 16 (batching 16), same model and image bytes,
 * measured alternately (offline, served, offline, served; best of each) so the load other
 * jobs put on the machine hits both alike.
 */
async function ratio(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'beit3-bench-server-'));
  try {
    const config = join(dir, 'small112.json');
    writeFileSync(
      config,
      JSON.stringify({
        task: 'retrieval',
        model: 'beit3_small_patch16_224_retrieval',
        img_size: 112,
        tokenizer: TOKENIZER,
      }),
    );
    const N = 32;
    const s = await serve([
      '-c',
      config,
      '--random-weights',
      '0',
      '--max-batch',
      '16',
      '--max-delay-ms',
      '20',
    ]);
    let offline = 0;
    let served: Load | undefined;
    try {
      // offline: the pipeline in this process, batches of 16 from encoded bytes (decode + resize + model)
      const loaded = await loadTaskModel(loadTaskConfig(config), { randomSeed: 0 });
      const p = (await TASKS.retrieval.create(loaded, { batchSize: 16 })) as RetrievalPipeline;
      const bytes = Array.from({ length: N }, () => new Uint8Array(IMAGE));
      await p.embedImages(bytes.slice(0, 16));
      await load(s.url, '/v1/embeddings', imageBody, 16, { amount: 16, seconds: 300 });
      for (let round = 0; round < 2; round++) {
        const t0 = performance.now();
        await p.embedImages(bytes);
        offline = Math.max(offline, (1000 * N) / (performance.now() - t0));
        const r = await load(s.url, '/v1/embeddings', imageBody, 16, { amount: N * 2, seconds: 600 });
        if (!served || r.rps > served.rps) served = r;
      }
      await p.dispose();
    } finally {
      await s.stop();
    }
    const what = 'small-patch16 retrieval at 112 px (random weights), one 451x300 PNG per request';
    ctx.report({
      name: 'server.ratio.offline_b16',
      value: offline,
      unit: 'images/s',
      threads: availableCores(),
      note: `offline pipeline, batch 16, ${what}`,
    });
    ctx.report({
      name: 'server.ratio.served_c16_b16',
      value: served!.rps,
      unit: 'req/s',
      threads: availableCores(),
      note: `server, 16 connections, max batch 16; p50 ${served!.p50} ms, p99 ${served!.p99} ms; ${what}`,
    });
    ctx.report({
      name: 'server.ratio',
      value: served!.rps / offline,
      unit: 'ratio',
      note: 'server c16 with batching / offline pipeline b16, measured alternately in this run (goal >= 0.9)',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function overloadAndSoak(ctx: BenchContext): Promise<void> {
  const queue = 16;
  const s = await serve([
    '-c',
    E2E_CONFIG,
    '-t',
    'retrieval',
    '--max-batch',
    '8',
    '--max-queue',
    String(queue),
  ]);
  try {
    const textBody = JSON.stringify({ input: 'a cat lying on a blanket next to a remote control' });
    // 4x what the queue plus one running batch hold
    const conns = 4 * (queue + 8);
    const o = await load(s.url, '/v1/embeddings', imageBody, conns, { seconds: 2 * SECONDS });
    const other = Object.entries(o.byStatus)
      .filter(([k]) => k !== '200' && k !== '429')
      .reduce((a, [, v]) => a + v, 0);
    const healthy = (await fetch(`${s.url}/health`)).status === 200;
    ctx.report({
      name: 'server.overload.ok',
      value: o.byStatus['200'] ?? 0,
      unit: 'requests',
      note: `${conns} connections against queue ${queue} + batch 8, ${2 * SECONDS} s`,
    });
    ctx.report({
      name: 'server.overload.rejected_429',
      value: o.byStatus['429'] ?? 0,
      unit: 'requests',
      note: 'refused with 429 + Retry-After',
    });
    ctx.report({
      name: 'server.overload.other_failures',
      value: other + o.errors,
      unit: 'requests',
      note: `statuses other than 200/429, socket errors, timeouts (goal 0); healthy after: ${healthy}`,
    });

    await load(s.url, '/v1/embeddings', textBody, 8, { amount: 500, seconds: 120 });
    const before = await rssMb(s.url);
    const soak = await load(s.url, '/v1/embeddings', textBody, 8, { amount: SOAK, seconds: 600 });
    const after = await rssMb(s.url);
    ctx.report({
      name: 'server.soak.rss_growth',
      value: after - before,
      unit: 'MiB',
      note: `resident memory after ${soak.ok} more text-embedding requests (8 connections) minus after 500 warm-up requests (${before.toFixed(0)} → ${after.toFixed(0)} MiB)`,
    });
    ctx.report({
      name: 'server.soak.throughput',
      value: soak.rps,
      unit: 'req/s',
      note: `text embeddings, 8 connections, e2e fixture model; p99 ${soak.p99} ms`,
    });
  } finally {
    await s.stop();
  }
}

export const serverSuite: Suite = {
  name: 'server',
  async run(ctx) {
    const want = (part: string) =>
      !ctx.filter || !ctx.filter.startsWith('server.') || ctx.filter.startsWith(`server.${part}`);
    if (want('embeddings')) await grid(ctx);
    if (want('overload') || want('soak')) await overloadAndSoak(ctx);
    if (want('ratio')) await ratio(ctx);
  },
};
