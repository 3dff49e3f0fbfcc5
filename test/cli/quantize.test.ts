// `beit3 quantize` on a model whose external data file is missing: one line naming the file
// (was a raw ENOENT), exit 1, nothing written.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, ops, Tensor, toModelProto } from '../../src/graph/index.js';
import { writeOnnx } from '../../src/tasks/export.js';
import { beit3 } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('quantize-input-');
const quantize = (args: string[]) => beit3(['quantize', ...args], { timeout: 60_000 });

describe('beit3 quantize with external data', () => {
  it('quantizes a model with its .data file, and names the file when it is missing', () => {
    const g = new Graph('mm');
    const w = g.constant(
      Tensor.f32(
        [64, 64],
        new Float32Array(64 * 64).map((_, i) => Math.sin(i)),
      ),
    );
    g.output(ops.matmul(g.input('x', 'float32', [1, 64]), w), 'y');
    const model = join(dir, 'm.onnx');
    writeOnnx(toModelProto(g), model, { external: true });

    const ok = quantize([model, join(dir, 'q.onnx'), '--scope', 'all']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^quantized 1 MatMuls/);

    unlinkSync(`${model}.data`);
    const r = quantize([model, join(dir, 'q2.onnx'), '--scope', 'all']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `beit3: CliError: ${model}: cannot read its external data file m.onnx.data (ENOENT); keep it beside the model\n`,
    );
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'q.onnx']);
  }, 60_000);
});
