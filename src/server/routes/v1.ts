/**
 * The /v1 task routes: OpenAI-shaped embeddings (JSON and multipart), classification, VQA,
 * NLVR2, captions (optionally as server-sent events), and image–text ranking. Every item of a
 * request goes through the task's dynamic batcher on its own, so concurrent requests share
 * batches; results are put back together in request order.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RgbImage } from '../../vision/image.js';
import type { Reservation } from '../batcher.js';
import { checkModel, hold, type RouteContext } from '../context.js';
import { badRequest, toServerError, unsupportedMedia } from '../errors.js';
import { acceptedImageType, decodeImageString, decodeUpload, looksLikeImageDataUrl } from '../images.js';
import { captionsBody, classifyBody, embeddingsBody, nlvr2Body, rankBody, vqaBody } from '../schemas.js';

const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
const tags = (t: string) => ({ tags: [t] });

/** float32 little-endian bytes, base64 (what the openai client decodes for encoding_format base64). */
export function float32Base64(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i], i * 4);
  return buf.toString('base64');
}

type EmbedInput = { text: string } | { image: RgbImage };

function decodeAll(ctx: RouteContext, xs: unknown[], what: string): Promise<RgbImage[]> {
  return Promise.all(
    xs.map((x, i) => decodeImageString(x, ctx.limits, xs.length > 1 ? `${what}[${i}]` : what)),
  );
}

async function embedInputsFromJson(ctx: RouteContext, input: unknown): Promise<EmbedInput[]> {
  const items = list(input as unknown);
  if (!items.length) throw badRequest('invalid_input', 'input: give at least one text or image');
  return Promise.all(
    items.map(async (x, i): Promise<EmbedInput> => {
      const what = `input[${i}]`;
      if (typeof x === 'string') {
        if (!x.length) throw badRequest('invalid_input', `${what}: empty string`);
        return looksLikeImageDataUrl(x)
          ? { image: await decodeImageString(x, ctx.limits, what) }
          : { text: x };
      }
      if (typeof x === 'number' || Array.isArray(x))
        throw badRequest('invalid_input', `${what}: token id arrays are not supported; send text`);
      const o = x as { type?: string; text?: string; image?: string };
      if (typeof o.image === 'string' && o.type !== 'text')
        return { image: await decodeImageString(o.image, ctx.limits, what) };
      if (typeof o.text === 'string' && o.text.length && o.type !== 'image') return { text: o.text };
      throw badRequest('invalid_input', `${what}: an object needs "text" or "image"`);
    }),
  );
}

/** multipart/form-data: `file`/`image` parts are images, `input`/`text` fields are texts, plus model / encoding_format. */
async function embedInputsFromMultipart(ctx: RouteContext, req: FastifyRequest) {
  const inputs: EmbedInput[] = [];
  const fields: Record<string, string> = {};
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (!acceptedImageType(part.mimetype))
        throw unsupportedMedia(`${part.filename || part.fieldname}: ${part.mimetype} is not an image`);
      const bytes = await part.toBuffer();
      inputs.push({ image: await decodeUpload(bytes, ctx.limits, part.filename || part.fieldname) });
    } else if (part.fieldname === 'input' || part.fieldname === 'text' || part.fieldname === 'input[]') {
      if (typeof part.value === 'string' && part.value.length) inputs.push({ text: part.value });
    } else fields[part.fieldname] = String(part.value);
  }
  if (!inputs.length) throw badRequest('invalid_input', 'multipart body has no image file or input text');
  return { inputs, model: fields.model, encoding_format: fields.encoding_format ?? 'float' };
}

export function registerV1(app: FastifyInstance, ctx: RouteContext): void {
  const { engine } = ctx;

  app.post(
    '/v1/embeddings',
    {
      config: { task: 'retrieval' },
      schema: {
        ...tags('embeddings'),
        summary: 'OpenAI-compatible embeddings of texts and images (retrieval model, L2-normalized)',
        consumes: ['application/json', 'multipart/form-data'],
        body: {
          content: {
            'application/json': { schema: embeddingsBody },
            // parts are read (and checked) by the handler
            'multipart/form-data': { schema: {} },
          },
        },
      },
    },
    async (req, reply) => {
      engine.checkReady();
      let inputs: EmbedInput[];
      let model: unknown;
      let format: string;
      let dimensions: number | undefined;
      let r: Reservation | undefined;
      if (req.isMultipart()) {
        ({ inputs, model, encoding_format: format } = await embedInputsFromMultipart(ctx, req));
        if (format !== 'float' && format !== 'base64')
          throw badRequest('invalid_request', `encoding_format must be float or base64, got ${format}`);
      } else {
        const b = req.body as {
          input: unknown;
          model?: string;
          encoding_format?: string;
          dimensions?: number;
        };
        checkModel(ctx, 'retrieval', b.model);
        r = hold(ctx, req, 'retrieval', list(b.input).length);
        inputs = await embedInputsFromJson(ctx, b.input);
        model = b.model;
        format = b.encoding_format ?? 'float';
        dimensions = b.dimensions;
      }
      const id = checkModel(ctx, 'retrieval', model);
      const dim = engine.config('retrieval').model.embedDim;
      if (dimensions !== undefined && dimensions !== dim)
        throw badRequest(
          'invalid_request',
          `dimensions: this model embeds ${dim} dimensions, got ${dimensions}`,
        );
      const vecs = await Promise.all(
        inputs.map((x) => ('text' in x ? engine.embedText(x.text, r) : engine.embedImage(x.image, r))),
      );
      return reply.send({
        object: 'list',
        data: vecs.map((v, index) => ({
          object: 'embedding',
          index,
          embedding: format === 'base64' ? float32Base64(v) : Array.from(v),
        })),
        model: id,
        // texts are tokenized in the workers; the count is not sent back (clients do not need it)
        usage: { prompt_tokens: 0, total_tokens: 0 },
      });
    },
  );

  app.post(
    '/v1/classify',
    {
      config: { task: 'imageclassification' },
      schema: {
        ...tags('tasks'),
        summary: 'image classification: top-k labels with softmax scores',
        body: classifyBody,
      },
    },
    async (req) => {
      engine.checkReady();
      const b = req.body as { image?: string; images?: string[]; topk?: number; model?: string };
      const id = checkModel(ctx, 'imageclassification', b.model);
      const r = hold(ctx, req, 'imageclassification', (b.images ?? [b.image]).length);
      const imgs = await decodeAll(ctx, b.images ?? [b.image], 'image');
      const k = b.topk ?? engine.config('imageclassification').topk;
      const res = await Promise.all(imgs.map((im) => engine.classify(im, k, r)));
      return {
        model: id,
        results: res.map((r) => ({
          labels: r.topk.map(({ label, score, index }) => ({ label, score, index })),
        })),
      };
    },
  );

  app.post(
    '/v1/vqa',
    {
      config: { task: 'vqav2' },
      schema: {
        ...tags('tasks'),
        summary: 'visual question answering (answers from the model vocabulary)',
        body: vqaBody,
      },
    },
    async (req) => {
      engine.checkReady();
      const b = req.body as { image: string; question: string | string[]; topk?: number; model?: string };
      const id = checkModel(ctx, 'vqav2', b.model);
      const r = hold(ctx, req, 'vqav2', list(b.question).length);
      const [img] = await decodeAll(ctx, [b.image], 'image');
      const k = b.topk ?? 1;
      const qs = list(b.question);
      const res = await Promise.all(qs.map((q) => engine.vqa(img, q, k, r)));
      return {
        model: id,
        results: res.map((r, i) => ({
          question: qs[i],
          answer: r.answer,
          score: r.score,
          topk: r.topk.map(({ answer, score }) => ({ answer, score })),
        })),
      };
    },
  );

  app.post(
    '/v1/nlvr2',
    {
      config: { task: 'nlvr2' },
      schema: {
        ...tags('tasks'),
        summary: 'visual reasoning over two images: is the statement true?',
        body: nlvr2Body,
      },
    },
    async (req) => {
      engine.checkReady();
      const b = req.body as { left: string; right: string; statement: string | string[]; model?: string };
      const id = checkModel(ctx, 'nlvr2', b.model);
      const r = hold(ctx, req, 'nlvr2', list(b.statement).length);
      const [left, right] = await Promise.all([
        decodeImageString(b.left, ctx.limits, 'left'),
        decodeImageString(b.right, ctx.limits, 'right'),
      ]);
      const ss = list(b.statement);
      const res = await Promise.all(ss.map((s) => engine.nlvr2(left, right, s, r)));
      return {
        model: id,
        results: res.map((r, i) => ({
          statement: ss[i],
          answer: r.answer,
          probability: r.probability,
          probability_true: r.probabilityTrue,
        })),
      };
    },
  );

  app.post(
    '/v1/captions',
    {
      config: { task: 'captioning' },
      schema: {
        ...tags('tasks'),
        summary: 'image captioning (official beam search); `stream: true` sends server-sent events',
        body: captionsBody,
      },
    },
    async (req, reply) => {
      engine.checkReady();
      const b = req.body as {
        image?: string;
        images?: string[];
        num_beams?: number;
        max_len?: number;
        length_penalty?: number;
        stream?: boolean;
        model?: string;
      };
      const id = checkModel(ctx, 'captioning', b.model);
      const r = hold(ctx, req, 'captioning', (b.images ?? [b.image]).length);
      const imgs = await decodeAll(ctx, b.images ?? [b.image], 'image');
      const gen = Object.fromEntries(
        Object.entries({ numBeams: b.num_beams, maxLen: b.max_len, lengthPenalty: b.length_penalty }).filter(
          ([, v]) => v !== undefined,
        ),
      );
      const jobs = imgs.map((im) => engine.caption(im, gen, r));
      if (!b.stream) {
        const res = await Promise.all(jobs);
        return { model: id, results: res.map(({ caption, score }) => ({ caption, score })) };
      }
      return streamCaptions(reply, id, jobs);
    },
  );

  app.post(
    '/v1/retrieval/rank',
    {
      config: { task: 'retrieval' },
      schema: {
        ...tags('tasks'),
        summary: 'image–text retrieval: cosine score matrix and rankings both ways',
        body: rankBody,
      },
    },
    async (req) => {
      engine.checkReady();
      const b = req.body as { images: string[]; texts: string[]; topk?: number; model?: string };
      const id = checkModel(ctx, 'retrieval', b.model);
      const r = hold(ctx, req, 'retrieval', b.images.length + b.texts.length);
      const imgs = await decodeAll(ctx, b.images, 'images');
      const [vi, vt] = await Promise.all([
        Promise.all(imgs.map((im) => engine.embedImage(im, r))),
        Promise.all(b.texts.map((t) => engine.embedText(t, r))),
      ]);
      const scores = vi.map((a) => vt.map((t) => dot(a, t)));
      const k = b.topk ?? engine.config('retrieval').topk;
      const rank = (xs: number[]) =>
        xs
          .map((score, index) => ({ index, score }))
          .sort((p, q) => q.score - p.score || p.index - q.index)
          .slice(0, k);
      return {
        model: id,
        scores,
        texts_per_image: scores.map(rank),
        images_per_text: b.texts.map((_, j) => rank(scores.map((r) => r[j]))),
      };
    },
  );
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Server-sent events: `event: caption` per image as it finishes (any order), then `event: done`. */
async function streamCaptions(
  reply: FastifyReply,
  model: string,
  jobs: Promise<{ caption: string; score: number }>[],
): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const send = (event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  await Promise.all(
    jobs.map((j, index) =>
      j.then(
        (r) => send('caption', { index, model, caption: r.caption, score: r.score }),
        (e) => send('error', { index, ...toServerError(e).body() }),
      ),
    ),
  );
  send('done', { model, count: jobs.length });
  res.end();
  return reply;
}
