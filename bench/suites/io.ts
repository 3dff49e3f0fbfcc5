import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Suite } from '../report.js';
import { Tensor } from '../../src/graph/tensor.js';
import { f32ArrayToF16 } from '../../src/io/half.js';
import { loadPth } from '../../src/io/pth.js';
import { loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
// The test helper that writes torch.save-layout archives (no Python needed).
import { fakeTorchSave, type FakeTensor } from '../../test/io/torchsave.js';

/** Checkpoint I/O throughput on a synthetic 192 MiB float32 state dict (an embedding + 24 matrices). */
export const ioSuite: Suite = {
  name: 'io',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'beit3-bench-io-'));
    try {
      const tensors = new Map<string, Tensor>();
      const fake: Record<string, FakeTensor> = {};
      const storages: Record<string, Uint8Array> = {};
      const add = (name: string, shape: number[]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n).map((_, i) => (i % 1000) / 1000);
        tensors.set(name, new Tensor('float32', shape, data));
        const key = String(Object.keys(storages).length);
        fake[name] = { storage: key, numel: n, size: shape, stride: [shape[1], 1] };
        storages[key] = new Uint8Array(data.buffer);
      };
      add('beit3.text_embed.weight', [32768, 768]);
      for (let l = 0; l < 24; l++) add(`beit3.encoder.layers.${l}.ffn.fc1.A.weight`, [768, 1376]);
      let bytes = 0;
      for (const t of tensors.values()) bytes += t.data.byteLength;
      const mib = bytes / 2 ** 20;
      const st = join(dir, 'w.safetensors');
      const pth = join(dir, 'w.pth');

      let t0 = performance.now();
      await saveSafetensors(st, tensors);
      ctx.report({
        name: 'io.safetensors.save',
        value: mib / ((performance.now() - t0) / 1000),
        unit: 'MiB/s',
        note: 'atomic, fsync',
      });
      writeFileSync(pth, fakeTorchSave(fake, storages));

      t0 = performance.now();
      await loadSafetensors(st);
      ctx.report({
        name: 'io.safetensors.load',
        value: mib / ((performance.now() - t0) / 1000),
        unit: 'MiB/s',
      });

      t0 = performance.now();
      await loadPth(pth);
      ctx.report({
        name: 'io.pth.load',
        value: mib / ((performance.now() - t0) / 1000),
        unit: 'MiB/s',
        note: 'zip CRC checked',
      });

      const big = tensors.get('beit3.text_embed.weight')!.data as Float32Array;
      t0 = performance.now();
      f32ArrayToF16(big);
      ctx.report({
        name: 'io.f32_to_f16',
        value: big.length / 1e6 / ((performance.now() - t0) / 1000),
        unit: 'Melem/s',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
