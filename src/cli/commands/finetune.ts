/**
 * `beit3 finetune`: the official run_beit3_finetuning.py flags (snake_case, as in unilm's
 * get_started guides) with each task's recipe as defaults, plus --resume, --eval-only, --seed,
 * --threads. Progress on stderr (a bar on a terminal, JSON lines otherwise), a summary on stdout.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { corpusTask, OFFICIAL_TASKS } from '../../train/data.js';
import { evaluateOnly, type FinetuneSettings, runFinetune, taskDefaults } from '../../train/recipe.js';
import { createProgressSink } from '../../util/progress.js';
import { CliError } from '../errors.js';
import { withInterrupt } from '../interrupt.js';

type Raw = Record<string, string | string[] | boolean | undefined>;

const NUMBER_FLAGS = [
  'lr', 'min_lr', 'layer_decay', 'task_head_lr_weight', 'weight_decay', 'opt_eps', 'drop_path', 'label_smoothing',
  'captioning_mask_prob', 'drop_worst_ratio', 'length_penalty', 'model_ema_decay',
] as const;
const INT_FLAGS = [
  'warmup_epochs', 'warmup_steps', 'update_freq', 'epochs', 'batch_size', 'eval_batch_size', 'num_beams', 'drop_worst_after',
  'input_size', 'vocab_size', 'num_max_bpe_tokens', 'seed', 'threads', 'num_workers', 'max_steps', 'max_train_samples', 'max_eval_samples',
] as const;

function num(flag: string, v: string, int: boolean): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (int && !Number.isInteger(x))) throw new CliError(`--${flag} must be ${int ? 'an integer' : 'a number'}, got '${v}'`);
  return x;
}

/** Flags → settings: the task's defaults, overridden by what was given. */
export function settingsFromFlags(o: Raw): FinetuneSettings {
  const task = o.task as string | undefined;
  if (!task) throw new CliError('--task is required (imagenet, vqav2, nlvr2, coco_retrieval, coco_captioning, flickr30k, nocaps, or a corpus task)');
  const kind = OFFICIAL_TASKS[task]?.kind ?? corpusTask(task)?.kind;
  if (!kind) throw new CliError(`--task ${task}: unknown (official: ${Object.keys(OFFICIAL_TASKS).join(', ')}; corpus: fashion-mnist, emoji-group, retrieval, vqa, nlvr2, caption)`);
  const need = (k: string, flag: string) => {
    const v = o[k];
    if (typeof v !== 'string') throw new CliError(`${flag} is required`);
    return v;
  };
  const s: FinetuneSettings = {
    ...taskDefaults(task, kind),
    task,
    model: need('model', '--model'),
    data: resolve((o.data ?? o.data_path) as string ?? need('data', '--data')),
    output: resolve((o.output ?? o.output_dir) as string ?? need('output', '--output')),
  };
  const init = (o.init ?? o.finetune) as string | undefined;
  if (init) {
    if (!existsSync(init)) throw new CliError(`--init ${init}: no such file`);
    s.init = resolve(init);
  }
  if (typeof o.sentencepiece_model === 'string') {
    if (!existsSync(o.sentencepiece_model)) throw new CliError(`--sentencepiece_model ${o.sentencepiece_model}: no such file`);
    s.sentencepiece_model = resolve(o.sentencepiece_model);
  }
  const rec = s as unknown as Record<string, unknown>;
  for (const k of NUMBER_FLAGS) if (typeof o[k] === 'string') rec[k] = num(k, o[k] as string, false);
  for (const k of INT_FLAGS) if (typeof o[k] === 'string') rec[k] = num(k, o[k] as string, true);
  if (o.opt_betas !== undefined) {
    const b = (Array.isArray(o.opt_betas) ? o.opt_betas : [o.opt_betas as string]).map((x) => num('opt_betas', x, false));
    if (b.length !== 2 || b.some((x) => x < 0 || x >= 1)) throw new CliError(`--opt_betas needs two numbers in [0, 1), got ${b.join(' ')}`);
    s.opt_betas = [b[0], b[1]];
  }
  if (typeof o.eval_split === 'string') s.eval_split = o.eval_split;
  if (o.scratch_init !== undefined) {
    if (o.scratch_init !== 'official' && o.scratch_init !== 'beit') throw new CliError(`--scratch_init must be official or beit, got '${o.scratch_init}'`);
    if (init) throw new CliError('--scratch_init applies without --init only');
    s.scratch_init = o.scratch_init;
  }
  if (o.head_bias_init !== undefined) {
    if (o.head_bias_init !== 'zero' && o.head_bias_init !== 'prior') throw new CliError(`--head_bias_init must be zero or prior, got '${o.head_bias_init}'`);
    s.head_bias_init = o.head_bias_init;
  }
  if (typeof o.clip_grad === 'string') s.clip_grad = o.clip_grad === 'none' ? null : num('clip_grad', o.clip_grad, false);
  if (o.randaug === true) s.randaug = true;
  if (o.no_randaug === true) s.randaug = false;
  for (const k of ['model_ema', 'skip_missing', 'resume'] as const) if (o[k] === true) s[k] = true;
  s.eval_only = o.evalOnly === true || o.eval === true;
  for (const k of ['max_train_samples', 'max_eval_samples'] as const)
    if (s[k] !== undefined && !(s[k]! > 0)) throw new CliError(`--${k} must be > 0, got ${s[k]}`);
  for (const k of ['lr', 'batch_size', 'epochs', 'update_freq'] as const)
    if (!((s[k] as number) > 0)) throw new CliError(`--${k} must be > 0, got ${s[k]}`);
  if (existsSync(s.data) && !statSync(s.data).isDirectory()) throw new CliError(`--data ${s.data} is not a folder`);
  if (existsSync(s.output) && !statSync(s.output).isDirectory()) throw new CliError(`--output ${s.output} exists and is not a folder`);
  return s;
}

export function register(program: Command): void {
  const c = program
    .command('finetune')
    .description('fine-tune a BEiT-3 task model the way unilm run_beit3_finetuning.py does (defaults: the task\'s get_started recipe)')
    .option('--task <name>', 'imagenet | vqav2 | nlvr2 | coco_retrieval | flickr30k | coco_captioning | nocaps | a corpus task (fashion-mnist, emoji-group, retrieval, vqa, nlvr2, caption)')
    .option('--model <name>', 'registry name; the task suffix is added as the official script does (beit3_base_patch16_224 → …_imageclassification)')
    .option('--init <ckpt>', 'pretrained or fine-tuned checkpoint (.pth / .safetensors); official name --finetune')
    .option('--finetune <ckpt>', 'same as --init')
    .option('--data <dir>', 'data folder: unilm index files + images, or a `beit3 corpus build` output; official name --data_path')
    .option('--data_path <dir>', 'same as --data')
    .option('--output <dir>', 'checkpoints, log, plots, config.json + model.safetensors; official name --output_dir')
    .option('--output_dir <dir>', 'same as --output')
    .option('--sentencepiece_model <file>', 'SentencePiece model of the texts (copied into the output as tokenizer.model)')
    .option('--input_size <px>', 'image size (default: the recipe\'s)')
    .option('--vocab_size <n>', 'text vocabulary (default: the tokenizer\'s)')
    .option('--num_max_bpe_tokens <n>', 'text length incl. <s> and </s>')
    .option('--lr <x>')
    .option('--min_lr <x>')
    .option('--warmup_epochs <n>')
    .option('--warmup_steps <n>', 'replaces warmup_epochs when > 0 (official quirk: needs warmup_epochs > 0)')
    .option('--layer_decay <x>', 'layer-wise lr decay (1 turns it off)')
    .option('--task_head_lr_weight <x>', 'lr multiplier of head.* when layer_decay is 1')
    .option('--weight_decay <x>')
    .option('--opt_betas <b...>', 'AdamW betas, two numbers')
    .option('--opt_eps <x>')
    .option('--clip_grad <x>', "gradient clipping norm, or 'none'")
    .option('--update_freq <n>', 'gradient accumulation: micro-batches per optimizer step')
    .option('--drop_path <x>', 'stochastic depth rate')
    .option('--label_smoothing <x>')
    .option('--randaug', 'RandAugment in the train transform')
    .option('--no_randaug', 'turn RandAugment off where the recipe has it on')
    .option('--epochs <n>')
    .option('--batch_size <n>', 'micro-batch size')
    .option('--eval_batch_size <n>')
    .option('--num_beams <n>', 'captioning beam search')
    .option('--length_penalty <x>')
    .option('--captioning_mask_prob <x>')
    .option('--drop_worst_ratio <x>')
    .option('--drop_worst_after <n>')
    .option('--model_ema', 'keep an EMA of the weights')
    .option('--model_ema_decay <x>')
    .option('--seed <n>')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--num_workers <n>', 'image transform worker threads (default 2)')
    .option('--eval_split <name>', 'split evaluated after every epoch (default val)')
    .option('--skip_missing', 'drop items whose image files are missing (counted) instead of stopping')
    .option('--max_steps <n>', 'stop after this many optimizer steps (checkpointed; --resume continues)')
    .option('--max_train_samples <n>', 'train on a seeded random subset of n items (as Hugging Face scripts)')
    .option('--max_eval_samples <n>', 'evaluate on the first n items of the eval split')
    .option('--head_bias_init <scheme>', "VQA head bias: 'zero' (official) or 'prior' (log-odds of each answer's train frequency; replaces a head bias from --init)")
    .option('--scratch_init <scheme>', "without --init: 'official' (the modules' initialisers, default) or 'beit' (the BEiT pretraining init `beit3 pretrain` starts from)")
    .option('--resume', 'continue from OUTPUT/checkpoint-last.safetensors')
    .option('--eval-only', 'evaluate --init (or OUTPUT/model.safetensors) and print the metrics')
    .option('--eval', 'same as --eval-only')
    .option('--json', 'progress as JSON lines even on a terminal')
    .addHelpText(
      'after',
      `
Examples:
  beit3 corpus build --out corpus --from fixtures/corpus-sample --subset small
  beit3 finetune --task fashion-mnist --model beit3_small_patch16_224 --input_size 64 --data corpus --output runs/fmnist --epochs 3 --batch_size 8
  beit3 finetune --task retrieval --model beit3_tiny_patch8_32 --data corpus --output runs/ret --sentencepiece_model spm.model
  beit3 finetune ... --resume                  # continue a run (same flags)
  beit3 classify img.png -c runs/fmnist/config.json`,
    );
  c.action(async (o: Raw) => {
    const s = settingsFromFlags(o);
    const onProgress = createProgressSink({ stream: process.stderr, json: o.json === true ? true : undefined });
    const log = (line: string) => process.stderr.write(`finetune: ${line}\n`);
    const t0 = Date.now();
    if (s.eval_only) {
      const r = await evaluateOnly(s, { onProgress, log });
      process.stdout.write(JSON.stringify({ task: s.task, metrics: r.metrics, primary: r.primary }) + '\n');
      return;
    }
    await withInterrupt(log, async (signal) => {
      const r = await runFinetune(s, { onProgress, log, signal });
      const evals = r.log.evals();
      process.stdout.write(
        JSON.stringify({
          task: s.task,
          model: r.prepared.modelName,
          stopped: r.stopped,
          steps: r.steps,
          steps_per_epoch: r.stepsPerEpoch,
          best: r.best ?? null,
          last_eval: evals.length ? evals[evals.length - 1].metrics : null,
          output: s.output,
          wall_s: (Date.now() - t0) / 1000,
        }) + '\n',
      );
      if (r.stopped === 'interrupted') process.exitCode = 130;
    });
  });
}
