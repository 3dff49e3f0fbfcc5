import { basename } from 'node:path';
import type { Command } from 'commander';
import type { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import { toBFloat16, toFloat16, toFloat32 } from '../../io/half.js';
import { savePth } from '../../io/pth-write.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { createProgressSink, type ProgressCallback } from '../../util/progress.js';
import { CliError } from '../errors.js';

const DTYPES = ['float32', 'float16', 'bfloat16', 'keep'] as const;
type TargetDType = (typeof DTYPES)[number];

/** Files above this size get a progress line while writing. */
const PROGRESS_MIN_BYTES = 64 * 2 ** 20;

interface ConvertOptions {
  modelKey: string;
  dtype: string;
  json?: boolean;
  opaqueObjects?: boolean;
}

function castAll(tensors: Map<string, Tensor>, dtype: TargetDType): void {
  if (dtype === 'keep') return;
  const cast = dtype === 'float32' ? toFloat32 : dtype === 'float16' ? toFloat16 : toBFloat16;
  for (const [k, t] of tensors) tensors.set(k, cast(t));
}

/** Progress of the write (stage 'write', bytes), only for files worth waiting for. */
function progressReporter(json: boolean): ProgressCallback {
  const sink = createProgressSink({ stream: process.stderr, json: json || undefined });
  return (e) => {
    if ((e.total ?? 0) >= PROGRESS_MIN_BYTES) sink(e);
  };
}

export function register(program: Command): void {
  program
    .command('convert')
    .description(
      'Convert a PyTorch checkpoint (.pth/.pt/.bin, no Python needed) or a .safetensors file to .safetensors, or to .pth (torch.save zip layout, readable by torch.load(weights_only=True)) when <out> ends in .pth/.pt/.bin',
    )
    .argument('<in>', 'input checkpoint (.pth zip from torch.save, or .safetensors)')
    .argument('<out>', 'output .safetensors or .pth/.pt/.bin path (written atomically)')
    .option(
      '--model-key <keys>',
      "'|'-separated keys tried in order to find the state dict in a .pth",
      'model|module',
    )
    .option('--dtype <dtype>', `floating-point dtype of the output: ${DTYPES.join(' | ')}`, 'keep')
    .option(
      '--opaque-objects',
      'accept unknown Python objects outside the state dict (e.g. saved args) as inert placeholders instead of refusing the file; nothing is executed',
    )
    .option('--json', 'print a machine-readable summary')
    .action(async (input: string, output: string, opts: ConvertOptions) => {
      if (!(DTYPES as readonly string[]).includes(opts.dtype))
        throw new CliError(`--dtype must be one of ${DTYPES.join(', ')}, got '${opts.dtype}'`);
      const started = Date.now();
      const tensors = await loadCheckpoint(input, {
        modelKey: opts.modelKey,
        keepDtypes: true,
        opaqueGlobals: opts.opaqueObjects,
      });
      const modelKey = tensors.metadata.model_key ?? '';
      castAll(tensors, opts.dtype as TargetDType);
      let bytes = 0;
      const dtypes = new Set<string>();
      for (const t of tensors.values()) {
        bytes += t.data.byteLength;
        dtypes.add(t.dtype);
      }
      if (/\.(pth|pt|bin)$/i.test(output))
        // The official checkpoints nest the state dict under 'model'; keep the input's key when it had one.
        await savePth(output, tensors, { modelKey: modelKey || 'model', onProgress: progressReporter(!!opts.json) });
      else
        await saveSafetensors(
          output,
          tensors,
          { format: 'pt', source: basename(input), ...(modelKey ? { model_key: modelKey } : {}) },
          {
            onProgress: progressReporter(!!opts.json),
          },
        );
      const summary = {
        in: input,
        out: output,
        tensors: tensors.size,
        bytes,
        dtypes: [...dtypes].sort(),
        model_key: modelKey,
        seconds: (Date.now() - started) / 1000,
      };
      if (opts.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else
        process.stdout.write(
          `converted ${summary.tensors} tensors (${(bytes / 2 ** 20).toFixed(1)} MiB, ${summary.dtypes.join('/')})` +
            `${modelKey ? ` from checkpoint['${modelKey}']` : ''} -> ${output} in ${summary.seconds.toFixed(1)}s\n`,
        );
    });
}
