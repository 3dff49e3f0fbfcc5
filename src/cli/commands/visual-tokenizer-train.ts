/**
 * `beit3 visual-tokenizer-train`: BEiT v2 VQ-KD tokenizer training with run_vqkd_training.py's
 * flags (snake_case) and TOKENIZER.md's recipe as defaults, on THE training loop (checkpoints,
 * --resume, log.jsonl, plots, progress on stderr). Codebook usage is logged every epoch; the
 * trained tokenizer is OUTPUT/tokenizer.safetensors (for `beit3 visual-tokenize --tokenizer`).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runVqkdTraining, VQKD_TRAIN_DEFAULTS, type VqkdTrainSettings } from '../../train/vqkd-recipe.js';
import { createProgressSink } from '../../util/progress.js';
import { CliError } from '../errors.js';
import { withInterrupt } from '../interrupt.js';

type Raw = Record<string, string | string[] | boolean | undefined>;

const NUMBER_FLAGS = ['lr', 'min_lr', 'weight_decay', 'opt_eps', 'min_crop_scale'] as const;
const INT_FLAGS = ['warmup_epochs', 'warmup_steps', 'epochs', 'batch_size', 'input_size', 'codebook_n_emd', 'codebook_emd_dim', 'seed', 'threads', 'max_steps'] as const;

function num(flag: string, v: string, int: boolean): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (int && !Number.isInteger(x)))
    throw new CliError(`--${flag} must be ${int ? 'an integer' : 'a number'}, got '${v}'`);
  return x;
}

export function vqkdSettingsFromFlags(o: Raw): VqkdTrainSettings {
  const need = (k: string) => {
    const v = o[k];
    if (typeof v !== 'string') throw new CliError(`--${k} is required`);
    return v;
  };
  const s: VqkdTrainSettings = {
    ...VQKD_TRAIN_DEFAULTS,
    model: (o.model as string | undefined) ?? 'vqkd_encoder_base_decoder_3x768x12_clip',
    data: resolve((o.data_path as string | undefined) ?? need('data')),
    output: resolve((o.output_dir as string | undefined) ?? need('output')),
    teacher: need('teacher'),
  };
  const rec = s as unknown as Record<string, unknown>;
  for (const k of NUMBER_FLAGS) if (typeof o[k] === 'string') rec[k] = num(k, o[k] as string, false);
  for (const k of INT_FLAGS) if (typeof o[k] === 'string') rec[k] = num(k, o[k] as string, true);
  if (typeof o.codebook_n_emd === 'string') s.n_code = num('codebook_n_emd', o.codebook_n_emd, true);
  if (typeof o.codebook_emd_dim === 'string') s.code_dim = num('codebook_emd_dim', o.codebook_emd_dim, true);
  if (o.opt_betas !== undefined) {
    const b = (Array.isArray(o.opt_betas) ? o.opt_betas : [o.opt_betas as string]).map((x) => num('opt_betas', x, false));
    if (b.length !== 2 || b.some((x) => x < 0 || x >= 1)) throw new CliError(`--opt_betas needs two numbers in [0, 1), got ${b.join(' ')}`);
    s.opt_betas = [b[0], b[1]];
  }
  if (typeof o.clip_grad === 'string') s.clip_grad = o.clip_grad === 'none' ? null : num('clip_grad', o.clip_grad, false);
  if (typeof o.init === 'string') {
    if (!existsSync(o.init)) throw new CliError(`--init ${o.init}: no such file`);
    s.init = resolve(o.init);
  }
  if (o.resume === true) s.resume = true;
  for (const k of ['lr', 'batch_size', 'epochs'] as const) if (!((s[k] as number) > 0)) throw new CliError(`--${k} must be > 0, got ${s[k]}`);
  if (!existsSync(s.data) || !statSync(s.data).isDirectory()) throw new CliError(`--data ${s.data} is not a folder of images`);
  if (existsSync(s.output) && !statSync(s.output).isDirectory()) throw new CliError(`--output ${s.output} exists and is not a folder`);
  return s;
}

export function register(program: Command): void {
  program
    .command('visual-tokenizer-train')
    .description('train a BEiT v2 VQ-KD visual tokenizer the way unilm run_vqkd_training.py does')
    .option('--model <name>', 'registered tokenizer (vqkd_encoder_base_decoder_{1,3}x768x12_{clip,dino}, vqkd_tiny)')
    .option('--teacher <spec>', 'clip:CKPT (CLIP visual.* or teacher_model.visual.* weights) | beit3:<model name>:CKPT | random[:width]')
    .option('--data <dir>', 'folder of images (recursive); official name --data_path')
    .option('--data_path <dir>', 'same as --data')
    .option('--output <dir>', 'checkpoints, log.jsonl, plots, tokenizer.safetensors; official name --output_dir')
    .option('--output_dir <dir>', 'same as --output')
    .option('--init <ckpt>', 'start from these tokenizer weights (default: fresh, codebook by k-means on the first batch)')
    .option('--input_size <px>')
    .option('--codebook_n_emd <n>', 'codebook size')
    .option('--codebook_emd_dim <n>', 'code dimension')
    .option('--lr <x>', 'base lr (scaled by batch_size / 128, as the official script)')
    .option('--min_lr <x>')
    .option('--warmup_epochs <n>')
    .option('--warmup_steps <n>')
    .option('--weight_decay <x>')
    .option('--opt_betas <b...>', 'AdamW betas, two numbers')
    .option('--opt_eps <x>')
    .option('--clip_grad <x>', "gradient clipping norm, or 'none' (default)")
    .option('--epochs <n>')
    .option('--batch_size <n>')
    .option('--min_crop_scale <x>', 'RandomResizedCrop lower scale bound')
    .option('--seed <n>')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--max_steps <n>', 'stop after this many optimizer steps (checkpointed; --resume continues)')
    .option('--resume', 'continue from OUTPUT/checkpoint-last.safetensors')
    .option('--json', 'progress as JSON lines even on a terminal')
    .addHelpText(
      'after',
      `
Examples:
  beit3 visual-tokenizer-train --model vqkd_tiny --teacher random:16 --data images/ --output runs/vqkd --epochs 2 --batch_size 8 --input_size 32
  beit3 visual-tokenizer-train --teacher clip:clip_vit_b16_visual.safetensors --data imagenet/train --output runs/vqkd_base
  beit3 visual-tokenize img.png --tokenizer runs/vqkd/tokenizer.safetensors`,
    )
    .action(async (o: Raw) => {
      const s = vqkdSettingsFromFlags(o);
      const onProgress = createProgressSink({ stream: process.stderr, json: o.json === true ? true : undefined });
      const log = (line: string) => process.stderr.write(`visual-tokenizer-train: ${line}\n`);
      const t0 = Date.now();
      const r = await withInterrupt(log, (signal) => runVqkdTraining(s, { onProgress, log, signal }));
      const evals = r.log.evals();
      process.stdout.write(
        JSON.stringify({
          model: s.model,
          stopped: r.stopped,
          steps: r.steps,
          steps_per_epoch: r.stepsPerEpoch,
          codebook_usage: evals.length ? evals[evals.length - 1].metrics : null,
          tokenizer: r.steps > 0 ? r.tokenizer : null,
          output: s.output,
          wall_s: (Date.now() - t0) / 1000,
        }) + '\n',
      );
      if (r.stopped === 'interrupted') process.exitCode = 130;
    });
}
