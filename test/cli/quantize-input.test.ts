// `beit3 quantize` on a model whose external data file is missing: one line naming the file
// (was a raw ENOENT), exit 1, nothing written.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, ops, Tensor, toModelProto } from '../../src/graph/index.js';
import { writeOnnx } from '../../src/tasks/export.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'beit3-quantize-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quantize = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'quantize', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('quantize with external data', () => {
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
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `beit3: CliError: ${model}: cannot read its external data file m.onnx.data (ENOENT); keep it beside the model\n`,
    );
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'q.onnx']);
  }, 60_000);
});
