import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { loadPth, parsePth } from '../../src/io/pth.js';
import { parseSafetensors, serializeSafetensors, type TensorMap } from '../../src/io/safetensors.js';
import { f32Bytes, fakeTorchSave, PickleWriter, zipArchive } from '../../test/io/torchsave.js';
import { expect, verify, type FuzzTarget } from '../lib/target.js';

function same(a: TensorMap, b: TensorMap, what: string): void {
  expect(a.size === b.size, `${what}: ${a.size} vs ${b.size} tensors`);
  for (const [k, t] of a) {
    const u = b.get(k);
    expect(u && u.dtype === t.dtype && u.shape.join() === t.shape.join(), `${what}: ${k} differs`);
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength);
    expect(Buffer.compare(x, y) === 0, `${what}: ${k} data differ`);
  }
}

/** A torch.save archive from the fuzzed pickle (as `archive/data.pkl`) and one 64-byte storage. */
export async function runPth(archive: Uint8Array, dir: string): Promise<void> {
  const path = join(dir, 'in.pth');
  writeFileSync(path, archive);
  let mem: TensorMap | undefined;
  let memError: unknown;
  try {
    mem = parsePth(archive, { opaqueGlobals: archive.length % 2 === 0 });
  } catch (e) {
    memError = e;
  }
  let file: TensorMap;
  try {
    file = await loadPth(path, { opaqueGlobals: archive.length % 2 === 0 });
  } catch (e) {
    expect(memError, `file refused (${(e as Error).message}) but the bytes parsed`);
    throw e;
  }
  if (memError) throw new Error(`bytes refused (${(memError as Error).message}) but the file loaded`);
  await verify('accepted checkpoint', () => {
    same(mem!, file, 'bytes vs file');
    // keys are data: a state dict read from a .pth converts to safetensors and back unchanged
    same(file, parseSafetensors(serializeSafetensors(file)), 'safetensors round trip');
  });
}

export function seedArchives(): Uint8Array[] {
  const s = f32Bytes([1, 2, 3, 4, 5, 6]);
  return [
    fakeTorchSave({ 'w.weight': { storage: '0', numel: 6, size: [2, 3], stride: [3, 1] } }, { '0': s }),
    // a transposed view and a tensor named __proto__ sharing one storage
    fakeTorchSave(
      {
        t: { storage: '0', numel: 6, size: [3, 2], stride: [1, 3] },
        ['__proto__']: { storage: '0', numel: 6, offset: 2, size: [4], stride: [1] },
      },
      { '0': s },
      null,
    ),
  ];
}

export const target: FuzzTarget = {
  name: 'pth',
  entry: 'loadPth (file) and parsePth (bytes): zip reader + restricted unpickler + tensor views',
  run: (input, { dir }) => runPth(input, dir),
  seeds: seedArchives,
  hostile: () =>
    fc
      .record({
        size: fc.array(fc.oneof(fc.nat(6), fc.constantFrom(2 ** 31, 2 ** 40, 2 ** 53 - 1)), { minLength: 1, maxLength: 4 }),
        stride: fc.array(fc.oneof(fc.nat(6), fc.constantFrom(2 ** 31, 2 ** 53 - 1)), { minLength: 1, maxLength: 4 }),
        offset: fc.oneof(fc.nat(8), fc.constantFrom(2 ** 31, 2 ** 53 - 1)),
        numel: fc.oneof(fc.nat(8), fc.constantFrom(2 ** 31, 2 ** 40)),
        type: fc.constantFrom('FloatStorage', 'HalfStorage', 'BoolStorage', 'LongStorage', 'QInt8Storage'),
        data: fc.uint8Array({ maxLength: 64 }),
        name: fc.constantFrom('w', '__proto__', 'constructor', ''),
      })
      .map((r) =>
        fakeTorchSave({ [r.name]: { storage: '0', type: r.type, numel: r.numel, offset: r.offset, size: r.size, stride: r.stride } }, { '0': r.data }),
      ),
  dict: ['PK\x03\x04', 'PK\x01\x02', 'PK\x05\x06', 'data.pkl', 'archive/', '\xff\xff\xff\xff'],
  maxLen: 16384,
};

export { PickleWriter, zipArchive };
