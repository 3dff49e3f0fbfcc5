import type { Command } from 'commander';
import { exportTaskModel } from '../../tasks/export.js';
import { exportTriton } from '../../tasks/triton.js';
import { QUANTIZE_SCOPES, type QuantizeScope } from '../../graph/passes/quantize.js';
import { CliError } from '../errors.js';
import { dtypeOption, intOption, loadCliModel, type ModelCliOptions, print, withModelOptions } from '../task-options.js';

/** `beit3 export --task T --config C --weights W --out model.onnx [--dtype q8]` */
export function register(program: Command): void {
  withModelOptions(
    program
      .command('export')
      .description(
        'write a task model as self-contained ONNX (named inputs/outputs; external data when large) + <out>.meta.json',
      )
      .requiredOption(
        '-t, --task <task>',
        'imageclassification | vqav2 | nlvr2 | retrieval | captioning | backbone',
      )
      .option(
        '-o, --out <file>',
        'output .onnx (retrieval: <stem>.image.onnx + <stem>.text.onnx; captioning: <stem>.first.onnx + <stem>.step.onnx)',
      )
      .option('--triton <dir>', 'instead of --out: a Triton model repository, one model per graph (docs/tasks.md)')
      .option('--max-batch <n>', 'with --triton: max_batch_size of the batchable models', '8')
      .option('--force', 'with --triton: replace an existing non-empty <dir>')
      .option('--external', 'always store weights as external data (<out>.data); default: only above 1 GiB')
      .option('--scope <scope>', 'q8: mixed (default) | ffn | layers | all (docs/tasks.md)', 'mixed'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 export --task vqav2 --config vqa/config.json --out vqa.onnx\n  beit3 export --task retrieval -c config.json -w model.pth --out ret.onnx --dtype q8\n  beit3 export --task retrieval -c config.json -w model.pth --triton models/\n',
    )
    .action(
      async (o: ExportCliOptions) => {
        if (o.triton !== undefined) return exportTritonAction(o, o.triton);
        if (o.out === undefined) throw new CliError('one of --out <file> or --triton <dir> is required');
        if (!/\.onnx$/i.test(o.out)) throw new CliError(`--out must end in .onnx, got '${o.out}'`);
        const write = writeOptions(o);
        const r = exportTaskModel(await loadCliModel(o.task, o), o.out, write);
        print(o, r, () => [
          ...r.graphs.map(
            (g) =>
              `${g.path}  inputs: ${g.inputs.map((i) => `${i.name}[${i.shape.join(',')}]`).join(' ')}  outputs: ${g.outputs.slice(0, 4).join(' ')}${g.outputs.length > 4 ? ` (+${g.outputs.length - 4})` : ''}`,
          ),
          ...(r.quantized
            ? [
                `int8: ${r.quantized.quantized} MatMuls, weights ${(r.quantized.floatBytes / 2 ** 20).toFixed(1)} MiB → ${(r.quantized.int8Bytes / 2 ** 20).toFixed(1)} MiB`,
              ]
            : []),
          `files: ${r.files.join(', ')}`,
        ]);
      },
    );
}

type ExportCliOptions = ModelCliOptions & {
  task: string;
  out?: string;
  triton?: string;
  maxBatch?: string;
  force?: boolean;
  external?: boolean;
  scope?: string;
};

/** dtype, external data and int8 scope: checked before the model loads. */
function writeOptions(o: ExportCliOptions) {
  if (!QUANTIZE_SCOPES.includes(o.scope as QuantizeScope))
    throw new CliError(`--scope must be one of ${QUANTIZE_SCOPES.join(', ')}, got '${o.scope}'`);
  return {
    dtype: dtypeOption(o),
    external: o.external ? true : ('auto' as const),
    quantize: { scope: o.scope as QuantizeScope },
  };
}

/** `--triton DIR`: the same graphs as a Triton model repository (tasks/triton.ts). */
async function exportTritonAction(o: ExportCliOptions, dir: string): Promise<void> {
  if (o.out !== undefined) throw new CliError('--out and --triton are exclusive: give one');
  const write = writeOptions(o);
  const maxBatchSize = intOption('--max-batch', o.maxBatch, 1, 8, 65536);
  const r = exportTriton(await loadCliModel(o.task, o), dir, { ...write, maxBatchSize, force: o.force });
  print(o, r, () => [
    ...r.models.map(
      (m) =>
        `${m.name}  max_batch_size ${m.maxBatchSize}  inputs: ${m.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`).join(' ')}`,
    ),
    `repository: ${r.repo} (${r.models.length} models; meta ${r.metaPath})`,
  ]);
}
