/**
 * `beit3 visual-tokenize IMAGE... --tokenizer CKPT [--json]`: the BEiT v2 VQ-KD code grid of
 * each image (the visual tokens BEiT-3's masked image modeling predicts). Text: one block per
 * image, the grid as rows of ids; --json: one object per image {image, grid, codes: rows}.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { VisualTokenizer } from '../../models/vqkd/tokenizer.js';
import { decodeImage } from '../../vision/decode.js';
import { CliError } from '../errors.js';

interface Options {
  tokenizer?: string;
  model?: string;
  heads?: string;
  batchSize: string;
  threads?: string;
  json?: boolean;
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} must be an integer ≥ 1, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('visual-tokenize')
    .description('print the VQ-KD visual token grid (BEiT v2 tokenizer codes) of each image')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, BMP, TIFF)')
    .option('--tokenizer <ckpt>', 'VQ-KD tokenizer checkpoint (.pth with weights under "model", or .safetensors)')
    .option('--model <name>', 'registered tokenizer size (default: recognised from the checkpoint)')
    .option('--heads <n>', 'attention heads for a size that is not registered (default embed_dim / 64)')
    .option('--batch-size <n>', 'images per ORT run', '8')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--json', 'one JSON object per image: {image, grid, codes}')
    .action(async (images: string[], o: Options) => {
      if (!o.tokenizer) throw new CliError('visual-tokenize: --tokenizer CKPT is required');
      if (!existsSync(o.tokenizer)) throw new CliError(`visual-tokenize: no such tokenizer checkpoint ${o.tokenizer}`);
      for (const f of images) if (!existsSync(f)) throw new CliError(`visual-tokenize: no such image ${f}`);
      const batch = positiveInt('--batch-size', o.batchSize)!;
      const tok = await VisualTokenizer.fromCheckpoint(o.tokenizer, {
        model: o.model,
        heads: positiveInt('--heads', o.heads),
        threads: positiveInt('--threads', o.threads),
      });
      try {
        for (let i = 0; i < images.length; i += batch) {
          const names = images.slice(i, i + batch);
          const decoded = await Promise.all(names.map((f) => decodeImage(f)));
          const { codes, grid } = await tok.encode(decoded);
          const ids = codes.toArray();
          names.forEach((name, b) => {
            const rows = Array.from({ length: grid }, (_, y) => ids.slice((b * grid + y) * grid, (b * grid + y + 1) * grid));
            if (o.json) process.stdout.write(`${JSON.stringify({ image: name, grid, codes: rows })}\n`);
            else {
              const w = String(tok.config.nCode - 1).length;
              process.stdout.write(`${name} (${grid}×${grid})\n${rows.map((r) => r.map((v) => String(v).padStart(w)).join(' ')).join('\n')}\n`);
            }
          });
        }
      } finally {
        await tok.release();
      }
    });
}
