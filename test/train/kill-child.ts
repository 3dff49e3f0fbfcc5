/**
 * Child process of checkpoint.test.ts, killed with SIGKILL by the parent:
 *   write <path>      — writes ever newer 24 MB checkpoints (every value = the step), printing
 *                       "writing k" before and "wrote k" after each;
 *   train <dir>       — a tiny training run writing checkpoint-last after every step, printing "step k".
 */
import { Tensor } from '../../src/graph/tensor.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, saveCheckpoint } from '../../src/train/checkpoint.js';
import { fit } from '../../src/train/loop.js';
import { tinyRun } from './loop-fixture.js';

const [mode, target] = process.argv.slice(2);
if (mode === 'write') {
  const n = 6 * 1024 * 1024;
  for (let k = 1; ; k++) {
    const t = new Tensor('float32', [n], new Float32Array(n).fill(k));
    process.stdout.write(`writing ${k}\n`);
    await saveCheckpoint(target, {
      meta: { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: k, epoch: 0, data: { epoch: 0, position: k, seed: 0 }, seed: 0, run: {}, writtenAt: new Date().toISOString() },
      groups: { params: new Map([['w', t]]) },
    });
    process.stdout.write(`wrote ${k}\n`);
  }
} else if (mode === 'train') {
  const run = await tinyRun({ epochs: 50 });
  await fit({ ...run.options, outputDir: target, checkpointEverySteps: 1, onStep: (r) => process.stdout.write(`step ${r.step}\n`) });
}
