import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import onnxProto from 'onnx-proto';
import { writeOnnx } from '../../tasks/export.js';
import { QUANTIZE_SCOPES, quantizeModelProto, type QuantizeScope } from '../../graph/passes/quantize.js';
import { InputFileError, READ_LIMITS, readFileBoundedSync } from '../../util/read.node.js';
import { CliError } from '../errors.js';

/** errno code of a failed read (ENOENT...), else the reason (not a regular file, too large). */
const whyUnreadable = (e: unknown): string =>
  ((e as { cause?: NodeJS.ErrnoException }).cause?.code ?? (e instanceof InputFileError ? e.reason : (e as Error).message));

const { onnx } = onnxProto;

/** `beit3 quantize IN.onnx OUT.onnx [--scope mixed|ffn|layers|all]`: dynamic int8 MatMul weights. */
export function register(program: Command): void {
  program
    .command('quantize')
    .description(
      "dynamic int8 quantization of an ONNX model's MatMul weights (per-channel int8 weights, DynamicQuantizeMatMul)",
    )
    .argument('<input>', 'fp32 .onnx (e.g. from beit3 export; external data is read)')
    .argument('<output>', 'output .onnx')
    .option(
      '--scope <scope>',
      'mixed (default): FFN weights + attention projections of inner layers; ffn: FFN only; layers: all encoder-layer weights; all: every weight MatMul',
      'mixed',
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 export --task retrieval -c config.json --out ret.onnx && beit3 quantize ret.image.onnx ret.image.q8.onnx\n  beit3 export --task vqav2 -c config.json --out vqa.onnx --dtype q8     # same, in one step\n',
    )
    .action((input: string, output: string, o: { scope: string; json?: boolean }) => {
      if (!QUANTIZE_SCOPES.includes(o.scope as QuantizeScope))
        throw new CliError(`--scope must be one of ${QUANTIZE_SCOPES.join(', ')}, got '${o.scope}'`);
      let model: onnxProto.onnx.ModelProto;
      try {
        model = onnx.ModelProto.decode(readFileBoundedSync(input, READ_LIMITS.onnx, 'ONNX model'));
      } catch (e) {
        throw new CliError(`${input}: not a readable ONNX model (${(e as Error).message})`);
      }
      // inline external data so the weights can be rewritten (each data file read once)
      const dataFiles = new Map<string, Buffer>();
      const readData = (location: string | undefined): Buffer => {
        if (!location) throw new CliError(`${input}: an external-data initializer has no location`, 1);
        let buf = dataFiles.get(location);
        if (!buf) {
          try {
            buf = readFileBoundedSync(join(dirname(input), location), READ_LIMITS.onnx, 'external data file');
          } catch (e) {
            throw new CliError(
              `${input}: cannot read its external data file ${location} (${whyUnreadable(e)}); keep it beside the model`,
              1,
            );
          }
          dataFiles.set(location, buf);
        }
        return buf;
      };
      for (const t of model.graph?.initializer ?? []) {
        if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
        const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
        const buf = readData(kv.location);
        const off = Number(kv.offset ?? 0);
        const len = kv.length !== undefined ? Number(kv.length) : buf.byteLength - off;
        if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0)
          throw new CliError(`${input}: external data of ${t.name} has offset ${kv.offset} / length ${kv.length}, not non-negative integers`);
        if (off + len > buf.byteLength)
          throw new CliError(`${input}: external data of ${t.name} runs past the end of ${kv.location}`);
        t.rawData = buf.subarray(off, off + len);
        t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
        t.externalData = [];
      }
      const stats = quantizeModelProto(model, { scope: o.scope as QuantizeScope });
      if (!stats.quantized)
        throw new CliError(
          `${input}: no MatMul with a float32 weight initializer${o.scope !== 'all' ? ` in scope ${o.scope} (try --scope all)` : ''}`,
        );
      const files = writeOnnx(model, output);
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ files, ...stats })}\n`
          : `quantized ${stats.quantized} MatMuls (${stats.skipped} left float): weights ${(stats.floatBytes / 2 ** 20).toFixed(1)} MiB → ${(stats.int8Bytes / 2 ** 20).toFixed(1)} MiB; wrote ${files.join(', ')}\n`,
      );
    });
}
