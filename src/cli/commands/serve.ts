import type { Command } from 'commander';
import { dtypeOption, intOption } from '../task-options.js';

interface ServeCliOptions {
  config?: string;
  tasks?: string[];
  weights?: string[];
  model?: string;
  randomWeights?: string;
  tokenizer?: string;
  dtype?: string;
  host: string;
  port: string;
  workers?: string;
  threads?: string;
  maxBatch?: string;
  maxDelayMs?: string;
  maxQueue?: string;
  queueTimeoutMs?: string;
  bodyLimitMb?: string;
  maxImageMb?: string;
  maxPixels?: string;
  apiKey?: string;
  index?: string;
  allowRemoteUrls?: boolean;
  docs?: boolean;
  log?: boolean;
  padSingle?: boolean;
}

/** `beit3 serve`: the HTTP service (OpenAI-style /v1, KServe v2, gallery search, web page). */
export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'HTTP service: /v1 embeddings + task routes, gallery search, KServe v2 routes, a web page at /',
    )
    .option('-c, --config <file>', 'task config (a multi-task config serves every section)')
    .option('-t, --tasks <tasks...>', 'sections of the config to serve (default: all)')
    .option('-w, --weights <files...>', 'checkpoint(s) of a single-task config')
    .option('--model <name>', 'registry name, for use without a config')
    .option('--random-weights <seed>', 'random official-init weights (no checkpoint; for trying things out)')
    .option('--tokenizer <file>', 'SentencePiece model (overrides the config)')
    .option('--dtype <dtype>', 'fp32 | q8', 'fp32')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('-p, --port <port>', 'port (0 = any free port)', '8080')
    .option('--workers <n>', 'inference worker threads', '1')
    .option('--threads <n>', 'ORT intra-op threads per worker (default: cores / workers)')
    .option('--max-batch <n>', 'largest batch the dynamic batcher forms (1 = no batching)', '8')
    .option('--max-delay-ms <ms>', 'longest a request waits for others to share its batch', '5')
    .option('--max-queue <n>', 'queued items per task before 429', '256')
    .option('--queue-timeout-ms <ms>', 'queue wait before 504', '30000')
    .option(
      '--no-pad-single',
      'run a lone request as a batch of one (faster; its answer may then differ in the last bits from a batched one)',
    )
    .option('--body-limit-mb <mb>', 'largest request body', '32')
    .option('--max-image-mb <mb>', 'largest encoded image', '16')
    .option('--max-pixels <n>', 'most decoded pixels per image (422 above)', '50000000')
    .option('--api-key <key>', 'require this key (Authorization: Bearer KEY); default $BEIT3_API_KEY')
    .option('--index <dir>', 'a `beit3 index` folder to search (POST /v1/search)')
    .option('--allow-remote-urls', 'fetch images given as http(s) URLs (off: never fetches anything)')
    .option('--no-docs', 'do not serve Swagger UI at /docs')
    .option('--log', 'log every request (JSON lines on stdout)')
    .addHelpText(
      'after',
      `
Examples:
  beit3 serve -c fixtures/beit3-ref/e2e/config.json                      # every task of the fixture, http://127.0.0.1:8080
  beit3 serve -c retrieval/config.json --index photos.idx --port 9000    # gallery search
  beit3 serve --model beit3_base_patch16_224_vqav2 --random-weights 0 --tokenizer beit3.spm
  curl -s localhost:8080/v1/embeddings -H 'content-type: application/json' -d '{"input": ["a cat"]}'
`,
    )
    .action(async (o: ServeCliOptions) => {
      // loaded here, not at CLI start: the other commands do not need fastify
      const { createServer } = await import('../../server/app.js');
      const { resolveServedTasks } = await import('../../server/tasks.js');
      const mb = (name: string, v: string | undefined, d: number) =>
        (intOption(name, v, 1, d) ?? d) * 2 ** 20;
      const tasks = resolveServedTasks({
        config: o.config,
        tasks: o.tasks,
        weights: o.weights,
        model: o.model,
        randomWeights: intOption('--random-weights', o.randomWeights, 0),
        tokenizer: o.tokenizer,
      });
      const server = await createServer({
        tasks,
        dtype: dtypeOption(o),
        workers: intOption('--workers', o.workers, 1, 1),
        threads: intOption('--threads', o.threads, 1),
        maxBatch: intOption('--max-batch', o.maxBatch, 1, 8),
        maxDelayMs: intOption('--max-delay-ms', o.maxDelayMs, 0, 5),
        maxQueue: intOption('--max-queue', o.maxQueue, 1, 256),
        queueTimeoutMs: intOption('--queue-timeout-ms', o.queueTimeoutMs, 1, 30000),
        padSingle: o.padSingle !== false,
        bodyLimit: mb('--body-limit-mb', o.bodyLimitMb, 32),
        maxImageBytes: mb('--max-image-mb', o.maxImageMb, 16),
        maxPixels: intOption('--max-pixels', o.maxPixels, 1, 50_000_000),
        apiKey: o.apiKey ?? process.env.BEIT3_API_KEY,
        index: o.index,
        allowRemoteUrls: !!o.allowRemoteUrls,
        docs: o.docs !== false,
        logger: !!o.log,
      });
      const url = await server.listen({ host: o.host, port: intOption('--port', o.port, 0, 8080) });
      process.stderr.write(
        `beit3 serve: ${url} (${tasks.map((t) => t.config.task).join(', ')}); loading models…\n`,
      );
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) process.exit(130); // second Ctrl-C: stop now
        stopping = true;
        process.stderr.write(`beit3 serve: ${sig}, finishing in-flight requests…\n`);
        server.close().then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      try {
        await server.engine.warm;
        process.stderr.write(
          `beit3 serve: ready (${server.engine.workers} worker(s) × ${server.engine.threads} ORT threads)\n`,
        );
      } catch (e) {
        await server.close();
        throw e;
      }
      await new Promise(() => undefined); // serve until a signal
    });
}
