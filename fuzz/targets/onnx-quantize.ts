import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import * as fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { register } from '../../src/cli/commands/quantize.js';
import { packFiles, writeBundle } from '../lib/bundle.js';
import { expect, verify, type FuzzTarget } from '../lib/target.js';

const { onnx } = onnxProto;

/** A MatMul model Y = X·W (+ a second MatMul), W stored inline or as external data in w.bin. */
export function matmulModel(k: number, n: number, external: boolean): Record<string, Uint8Array> {
  const w = new Float32Array(k * n).map((_, i) => Math.sin(i));
  const raw = new Uint8Array(w.buffer);
  const init = onnx.TensorProto.create({
    name: 'W',
    dims: [k, n],
    dataType: onnx.TensorProto.DataType.FLOAT,
    ...(external
      ? {
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: 'w.bin' },
            { key: 'offset', value: '0' },
            { key: 'length', value: String(raw.length) },
          ],
        }
      : { rawData: raw }),
  });
  const vi = (name: string, dims: number[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType: 'MatMul', input: ['X', 'W'], output: ['Y'], name: 'encoder.layers.0.ffn.fc1/MatMul' }],
      initializer: [init],
      input: [vi('X', [1, k])],
      output: [vi('Y', [1, n])],
    },
  });
  const files: Record<string, Uint8Array> = { 'model.onnx': onnx.ModelProto.encode(model).finish() };
  if (external) files['w.bin'] = raw;
  return files;
}

export const target: FuzzTarget = {
  name: 'onnx-quantize',
  entry: '`beit3 quantize IN OUT --scope all` (ONNX protobuf, external data, MatMul weights), output written atomically',
  async run(input, { dir }) {
    writeBundle(dir, input);
    const program = new Command().exitOverride();
    register(program);
    const out = join(dir, 'out.onnx');
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await program.parseAsync(['quantize', join(dir, 'model.onnx'), out, '--scope', 'all', '--json'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    await verify('output of an accepted model', () => {
      expect(existsSync(out), 'quantize succeeded without writing its output');
      const m = onnx.ModelProto.decode(readFileSync(out));
      expect(m.graph?.node?.some((nd) => nd.opType === 'DynamicQuantizeMatMul'), 'output has no DynamicQuantizeMatMul');
    });
  },
  seeds: () => [packFiles(matmulModel(4, 3, false)), packFiles(matmulModel(3, 5, true))],
  hostile: () =>
    fc.tuple(fc.constantFrom(0, 1, 2 ** 31), fc.constantFrom(0, 1, 4, 2 ** 40)).map(([off, len]) => {
      const f = matmulModel(4, 3, true);
      const m = onnx.ModelProto.decode(f['model.onnx']);
      m.graph!.initializer![0].externalData = [
        { key: 'location', value: 'w.bin' },
        { key: 'offset', value: String(off) },
        { key: 'length', value: String(len) },
      ] as never;
      return packFiles({ 'model.onnx': onnx.ModelProto.encode(m).finish(), 'w.bin': f['w.bin'] });
    }),
  dict: ['\0@@w.bin\n', 'MatMul', 'location', 'offset', 'length', 'w.bin', '../', '/dev/zero'],
  maxLen: 16384,
};
