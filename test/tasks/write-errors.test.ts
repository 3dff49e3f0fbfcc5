// Writing an ONNX model where it cannot go (missing folder, a directory in the way) fails with
// an OutputWriteError naming the requested path, and leaves no temp or partial file behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, ops, Tensor, toModelProto } from '../../src/graph/index.js';
import { OutputWriteError } from '../../src/tasks/index.js';
import { writeOnnx } from '../../src/tasks/export.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-write-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function model() {
  const g = new Graph('w');
  const w = g.constant(Tensor.f32([512], new Float32Array(512).fill(1))); // 2 KiB: external-able
  g.output(ops.add(g.input('x', 'float32', [512]), w), 'y');
  return toModelProto(g);
}

describe('writeOnnx on an unwritable path', () => {
  it('names the missing folder', () => {
    const out = join(dir, 'no/such/folder/m.onnx');
    expect(() => writeOnnx(model(), out)).toThrow(OutputWriteError);
    expect(() => writeOnnx(model(), out)).toThrow(`cannot write ${out}: its folder does not exist`);
  });

  it('refuses an existing directory and leaves no temp file', () => {
    const out = join(dir, 'taken.onnx');
    mkdirSync(out);
    expect(() => writeOnnx(model(), out)).toThrow(`cannot write ${out}: it is a directory`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('with external data: a directory where <out>.data goes leaves neither the model nor temp files', () => {
    const sub = join(dir, 'ext');
    mkdirSync(sub);
    const out = join(sub, 'm.onnx');
    mkdirSync(`${out}.data`);
    expect(() => writeOnnx(model(), out, { external: true })).toThrow(OutputWriteError);
    expect(() => writeOnnx(model(), out, { external: true })).toThrow(
      `cannot write ${out}.data: it is a directory`,
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(sub)).toEqual(['m.onnx.data']);
  });

  it('writes normally otherwise', () => {
    const out = join(dir, 'ok.onnx');
    expect(writeOnnx(model(), out, { external: true })).toEqual([out, `${out}.data`]);
  });
});
