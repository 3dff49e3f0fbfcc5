/** JSON schemas of the request bodies (validated by fastify/ajv → 400; also the OpenAPI document). */

const image = {
  type: 'string',
  minLength: 1,
  description:
    'an image: data URL (data:image/png;base64,...) or bare base64 (http(s) URLs only with --allow-remote-urls)',
} as const;
const strings = (what: string) =>
  ({
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 256 },
    ],
    description: `${what}: a string or a list of strings`,
  }) as const;
const topk = { type: 'integer', minimum: 1, maximum: 1000 } as const;
const model = { type: 'string', description: 'model id from GET /v1/models (optional)' } as const;
const images = { type: 'array', items: image, minItems: 1, maxItems: 256 } as const;

export const embeddingsBody = {
  type: 'object',
  required: ['input'],
  properties: {
    input: {
      description:
        'text(s) and/or image(s): strings are texts unless they are data:image/... URLs; objects {"text": ...} or {"image": data URL | base64}',
      anyOf: [
        { type: 'string' },
        {
          type: 'array',
          minItems: 1,
          maxItems: 2048,
          items: {
            anyOf: [
              { type: 'string' },
              {
                type: 'object',
                properties: { type: { enum: ['text', 'image'] }, text: { type: 'string' }, image },
              },
            ],
          },
        },
      ],
    },
    model,
    encoding_format: { enum: ['float', 'base64'], default: 'float' },
    dimensions: { type: 'integer', minimum: 1 },
    user: { type: 'string' },
  },
} as const;

export const classifyBody = {
  type: 'object',
  properties: { image, images, topk, model },
  anyOf: [{ required: ['image'] }, { required: ['images'] }],
} as const;

export const vqaBody = {
  type: 'object',
  required: ['image', 'question'],
  properties: { image, question: strings('question(s) about the image'), topk, model },
} as const;

export const nlvr2Body = {
  type: 'object',
  required: ['left', 'right', 'statement'],
  properties: { left: image, right: image, statement: strings('statement(s) about the two images'), model },
} as const;

export const captionsBody = {
  type: 'object',
  properties: {
    image,
    images,
    model,
    num_beams: { type: 'integer', minimum: 1, maximum: 16 },
    max_len: { type: 'integer', minimum: 3, maximum: 512 },
    length_penalty: { type: 'number' },
    stream: { type: 'boolean', description: 'answer as server-sent events, one per image as it finishes' },
  },
  anyOf: [{ required: ['image'] }, { required: ['images'] }],
} as const;

export const rankBody = {
  type: 'object',
  required: ['images', 'texts'],
  properties: {
    images,
    texts: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 1024 },
    topk,
    model,
  },
} as const;

export const searchBody = {
  type: 'object',
  properties: { query: { type: 'string', minLength: 1 }, image, k: topk },
  oneOf: [{ required: ['query'] }, { required: ['image'] }],
} as const;

export const addItemsBody = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: {
        type: 'object',
        required: ['path', 'image'],
        properties: {
          path: {
            type: 'string',
            minLength: 1,
            maxLength: 512,
            description: 'file name under the gallery folder',
          },
          image,
        },
      },
    },
  },
} as const;

export const removeItemsBody = {
  type: 'object',
  required: ['paths'],
  properties: {
    paths: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 1024 },
  },
} as const;

const tensor = {
  type: 'object',
  required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
    datatype: { type: 'string' },
    data: { type: 'array' },
  },
} as const;

export const v2InferBody = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    inputs: { type: 'array', items: tensor, minItems: 1 },
    outputs: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
    },
    parameters: { type: 'object' },
  },
} as const;
