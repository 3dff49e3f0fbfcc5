import { closeSync, readSync } from 'node:fs';
import { toFloat32 } from './half.js';
import { loadPth } from './pth.js';
import { loadSafetensors, TensorMap } from './safetensors.js';
import { Beit3Error } from '../util/errors.js';
import { openInputSync } from '../util/read.node.js';

export class CheckpointError extends Beit3Error {
  override name = 'CheckpointError';
}

export type CheckpointFormat = 'pth' | 'safetensors';

export interface LoadCheckpointOptions {
  /** Keys tried in order to find the state dict in a .pth ('|'-separated, default 'model|module'). */
  modelKey?: string;
  /** Keep non-whitelisted Python objects outside the state dict as inert placeholders (see PthOptions). */
  opaqueGlobals?: boolean;
  /** Keep float16/bfloat16/float64 tensors as stored (default: convert floating tensors to float32). */
  keepDtypes?: boolean;
}

/** Detects the format from the file's first bytes (zip magic vs safetensors header), not its name. */
export function detectCheckpointFormat(path: string): CheckpointFormat {
  const { fd } = openInputSync(path, 'checkpoint'); // regular files only: typed error for FIFOs/devices
  const head = new Uint8Array(9);
  let n: number;
  try {
    n = readSync(fd, head, 0, 9, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth';
  // Legacy torch pickles also go to the pth reader, which explains that they are unsupported.
  if (n >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pth';
  // safetensors: u64 header length, then JSON starting with '{'.
  if (n === 9 && head[8] === 0x7b) return 'safetensors';
  if (/\.safetensors$/i.test(path)) return 'safetensors';
  if (/\.(pth|pt|bin|ckpt)$/i.test(path)) return 'pth';
  throw new CheckpointError(`${path}: unknown checkpoint format (neither a torch.save zip nor safetensors)`);
}

/**
 * Loads a state dict from a .pth/.pt/.bin (torch.save zip) or .safetensors file, detected by
 * content. Floating tensors are returned as float32 unless `keepDtypes` is set.
 */
export async function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<TensorMap> {
  const format = detectCheckpointFormat(path);
  const tensors =
    format === 'pth'
      ? await loadPth(path, { modelKey: opts.modelKey, opaqueGlobals: opts.opaqueGlobals })
      : await loadSafetensors(path);
  if (opts.keepDtypes) return tensors;
  for (const [k, t] of tensors) tensors.set(k, toFloat32(t));
  return tensors;
}
