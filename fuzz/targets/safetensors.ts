import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { Tensor } from '../../src/graph/tensor.js';
import { loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors, type TensorMap } from '../../src/io/safetensors.js';
import { expect, verify, type FuzzTarget } from '../lib/target.js';

const enc = new TextEncoder();

/** A safetensors file from a header object and a data section. */
export function stFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function sameMaps(a: TensorMap, b: TensorMap, what: string): void {
  expect(a.size === b.size, `${what}: ${a.size} vs ${b.size} tensors`);
  for (const [k, t] of a) {
    const u = b.get(k);
    expect(u, `${what}: tensor ${JSON.stringify(k)} lost`);
    expect(u.dtype === t.dtype && u.shape.join() === t.shape.join(), `${what}: ${k} dtype/shape differ`);
    expect(Buffer.compare(bytesOf(t), bytesOf(u)) === 0, `${what}: ${k} data differ`);
  }
  expect(JSON.stringify(a.metadata) === JSON.stringify(b.metadata), `${what}: metadata differ`);
}

export const target: FuzzTarget = {
  name: 'safetensors',
  entry: 'loadSafetensors (file), parseSafetensors (bytes), then serialize/save round trip',
  async run(input, { dir }) {
    const path = join(dir, 'in.safetensors');
    writeFileSync(path, input);
    let fromFile: TensorMap | undefined;
    let fileError: unknown;
    try {
      fromFile = await loadSafetensors(path);
    } catch (e) {
      fileError = e;
    }
    let fromBytes: TensorMap | undefined;
    try {
      fromBytes = parseSafetensors(input, { copy: true });
    } catch (e) {
      expect(fileError, `bytes refused (${(e as Error).message}) but the file loaded`);
      throw e;
    }
    if (fileError) throw new Error(`file refused (${(fileError as Error).message}) but the bytes parsed`);
    const parsed = fromBytes;
    await verify('round trip of an accepted file', async () => {
      sameMaps(fromFile!, parsed, 'file vs bytes');
      // keys are data: whatever was read must be written and read back unchanged
      const again = parseSafetensors(serializeSafetensors(parsed, parsed.metadata));
      sameMaps(parsed, again, 'serialize round trip');
      const out = join(dir, 'out.safetensors');
      await saveSafetensors(out, parsed, parsed.metadata);
      sameMaps(parsed, await loadSafetensors(out), 'save round trip');
    });
  },
  seeds() {
    const f = new Float32Array([1, -2, 3.5, 0]);
    const t = new Tensor('float32', [2, 2], f);
    const b = new Tensor('bool', [3], new Uint8Array([1, 0, 1]));
    const h = new Tensor('float16', [2], new Uint16Array([0x3c00, 0xc000]));
    const i = new Tensor('int64', [1], new BigInt64Array([5n]));
    const m = new Map([
      ['a.weight', t],
      ['__proto__', b],
      ['constructor', h],
      ['x', i],
    ]);
    return [serializeSafetensors(m, { format: 'pt', __proto__x: 'y' }), serializeSafetensors(new Map(), {})];
  },
  hostile: () =>
    fc
      .record({
        name: fc.constantFrom('w', '__proto__', 'constructor', 'toString', '', 'a'.repeat(300), 'hasOwnProperty'),
        dtype: fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'BOOL', 'U8', 'F64', 'XX', 'F8_E4M3'),
        shape: fc.array(fc.oneof(fc.nat(8), fc.constantFrom(2 ** 31, 2 ** 53, -1, 1e300, 0.5)), { maxLength: 5 }),
        begin: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 32, 2 ** 53, -8, 1e20)),
        len: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 32, 2 ** 62)),
        dup: fc.boolean(),
        meta: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer()))),
        data: fc.uint8Array({ maxLength: 96 }),
        lenOverride: fc.option(fc.constantFrom(0, 1, 2 ** 40, 2 ** 63)),
      })
      .map((r) => {
        const entries: [string, unknown][] = [[r.name, { dtype: r.dtype, shape: r.shape, data_offsets: [r.begin, r.begin + r.len] }]];
        if (r.dup) entries.push(['second', { dtype: r.dtype, shape: r.shape, data_offsets: [r.begin, r.begin + r.len] }]);
        if (r.meta !== undefined) entries.push(['__metadata__', r.meta]);
        // JSON.stringify of an object literal would drop a __proto__ key: write the text by hand
        const json = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
        const file = stFile({}, r.data);
        const body = enc.encode(json);
        const out = new Uint8Array(8 + body.length + r.data.length);
        new DataView(out.buffer).setBigUint64(0, BigInt(r.lenOverride ?? body.length), true);
        out.set(body, 8);
        out.set(r.data, 8 + body.length);
        return file.length ? out : out;
      }),
  dict: ['"__metadata__"', '"data_offsets"', '"dtype"', '"shape"', '"F32"', '"BOOL"', '"__proto__"', '[0,4294967296]', '{', '}', '[', ']'],
};
