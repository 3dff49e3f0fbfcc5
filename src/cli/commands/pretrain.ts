import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { configFor, getEntry } from '../../models/beit3/registry.js';
import { VisualTokenizer } from '../../models/vqkd/index.js';
import { Beit3Tokenizer } from '../../text/beit3-tokenizer.js';
import {
  corpusStreams,
  PAPER_HYPERPARAMETERS,
  PatchColourTokenizer,
  runPretraining,
  type StreamName,
  type StreamSpec,
  streamSpecFor,
  TEXT_MASK_RULES,
  type TextMaskRule,
  type VisualTokenizerLike,
  vqkdTargets,
} from '../../train/pretrain.js';
import { createProgressSink } from '../../util/progress.js';
import { CliError } from '../errors.js';

interface PretrainCliOptions {
  model: string;
  vocabSize?: string;
  variant?: string;
  vlExpertLayers?: string;
  output: string;
  corpus?: string;
  images?: string[];
  texts?: string[];
  pairs?: string[];
  textTokenizer: string;
  visualTokenizer: string;
  targets: string;
  imagesBatch: string;
  textsBatch: string;
  pairsBatch: string;
  textLen: string;
  pairTextLen?: string;
  updateFreq: string;
  steps: string;
  stepsPerEpoch?: string;
  checkpointEvery?: string;
  lr: string;
  minLr: string;
  warmupSteps: string;
  weightDecay: string;
  clipGrad: string;
  dropPath: string;
  textMaskRule: string;
  maskPairImage: boolean;
  weights?: string;
  format: string;
  seed: string;
  threads?: string;
  resume: boolean;
  json: boolean;
}

const num = (flag: string, v: string, int = false, min = 0): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x < min || (int && !Number.isInteger(x)))
    throw new CliError(`${flag} must be ${int ? 'an integer' : 'a number'} ≥ ${min}, got '${v}'`);
  return x;
};

function parseWeights(s: string | undefined): Partial<Record<StreamName, number>> | undefined {
  if (!s) return undefined;
  const out: Partial<Record<StreamName, number>> = {};
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    if (k !== 'images' && k !== 'texts' && k !== 'pairs') throw new CliError(`--weights: unknown stream '${k}' (images, texts, pairs)`);
    out[k] = num(`--weights ${k}`, v ?? '');
  }
  return out;
}

async function visualTokenizer(spec: string, patchSize: number, imgSize: number, threads?: number): Promise<VisualTokenizerLike> {
  const colour = /^patch-colour(?::(\d+))?$/.exec(spec);
  if (colour) return new PatchColourTokenizer(patchSize, colour[1] ? Number(colour[1]) : 4);
  if (!existsSync(spec)) throw new CliError(`--visual-tokenizer ${spec}: no such file (a VQ-KD checkpoint, or 'patch-colour[:levels]')`);
  const tok = vqkdTargets(await VisualTokenizer.fromCheckpoint(spec, { threads }));
  if (tok.imgSize !== imgSize)
    throw new CliError(`--visual-tokenizer ${spec} encodes ${tok.imgSize}px images, the model takes ${imgSize}px`);
  return tok;
}

export function register(program: Command): void {
  program
    .command('pretrain')
    .description(
      'BEiT-3 masked data modeling pretraining over images, texts and image–text pairs (the paper\'s recipe) on the shared training loop; writes the released pretrained layout (beit3.* + mlm_head + mim_head)',
    )
    .requiredOption('--output <dir>', 'checkpoints, log.jsonl, plots and pretrained.pth go here')
    .option('--model <name>', 'registered model (size, patch, image size)', 'beit3_base_patch16_224_pretraining')
    .option('--vocab-size <n>', "rows of the text embedding / mlm_head (default: the model's, 64010 for the released sizes)")
    .option('--variant <v>', "block variant: 'decoupled' (released checkpoints) or 'shared' (the paper's)")
    .option('--vl-expert-layers <n>', 'shared variant: top layers with vision-language experts')
    .option('--corpus <dir>', 'a `beit3 corpus build` folder: reads OUT/pretrain/{images.jsonl,texts.txt,pairs.jsonl}')
    .option('--images <paths...>', 'image stream: a folder, a JSONL of {image[, key]}, or WebDataset shards (brace patterns)')
    .option('--texts <files...>', 'text stream: text files, one text per line')
    .option('--pairs <paths...>', 'pair stream: a JSONL of {image, text|caption} or WebDataset shards (image + txt)')
    .requiredOption('--text-tokenizer <model>', 'SentencePiece model of the text tokenizer (beit3.spm)')
    .option('--visual-tokenizer <ckpt>', "VQ-KD checkpoint giving the visual targets, or 'patch-colour[:levels]' (a fixed stand-in for smoke runs)", 'patch-colour')
    .option('--targets <mode>', "'online': random views, targets computed every step; 'cached': fixed views, targets once per image", 'online')
    .option('--images-batch <n>', 'images per micro-batch (paper: 2048 per step)', '8')
    .option('--texts-batch <n>', 'texts per micro-batch', '8')
    .option('--pairs-batch <n>', 'image–text pairs per micro-batch', '8')
    .option('--text-len <n>', 'monomodal text length in tokens', '64')
    .option('--pair-text-len <n>', 'pair text length in tokens (default: --text-len)')
    .option('--update-freq <n>', 'micro-batches per optimizer step (gradient accumulation)', '1')
    .option('--steps <n>', 'optimizer steps (paper: 1M)', '1000')
    .option('--steps-per-epoch <n>', 'checkpoint / plot cadence in optimizer steps (default min(steps, 1000))')
    .option('--checkpoint-every <n>', 'also checkpoint every n optimizer steps')
    .option('--lr <x>', 'peak learning rate', String(PAPER_HYPERPARAMETERS.lr))
    .option('--min-lr <x>', 'final learning rate of the cosine', String(PAPER_HYPERPARAMETERS.minLr))
    .option('--warmup-steps <n>', 'linear warmup steps (paper: 10k)', '100')
    .option('--weight-decay <x>', 'AdamW weight decay', String(PAPER_HYPERPARAMETERS.weightDecay))
    .option('--clip-grad <x>', 'global gradient-norm clip (0 = off)', String(PAPER_HYPERPARAMETERS.clipGrad))
    .option('--drop-path <x>', 'stochastic depth rate', String(PAPER_HYPERPARAMETERS.dropPath))
    .option('--text-mask-rule <rule>', `what a chosen text token becomes: ${TEXT_MASK_RULES.join(' | ')} (bert = 80% mask / 10% random / 10% kept)`, 'bert')
    .option('--mask-pair-image', 'also block-mask the pair images and predict their visual tokens', false)
    .option('--weights <list>', 'per-stream loss weights, e.g. images=1,texts=1,pairs=1 (default all 1)')
    .option('--format <f>', 'published checkpoint: pth (torch.save zip, the released layout) | safetensors', 'pth')
    .option('--seed <n>', 'seed of init, data order, masks, views and drop path', '0')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: every core)')
    .option('--resume', 'continue from <output>/checkpoint-last.safetensors', false)
    .option('--json', 'progress as JSON lines and a JSON summary', false)
    .action(async (o: PretrainCliOptions) => {
      const entry = getEntry(o.model);
      if (o.variant && o.variant !== 'decoupled' && o.variant !== 'shared') throw new CliError(`--variant must be 'decoupled' or 'shared', got '${o.variant}'`);
      if (!(TEXT_MASK_RULES as readonly string[]).includes(o.textMaskRule)) throw new CliError(`--text-mask-rule must be one of ${TEXT_MASK_RULES.join(', ')}, got '${o.textMaskRule}'`);
      if (o.targets !== 'online' && o.targets !== 'cached') throw new CliError(`--targets must be 'online' or 'cached', got '${o.targets}'`);
      if (o.format !== 'pth' && o.format !== 'safetensors') throw new CliError(`--format must be 'pth' or 'safetensors', got '${o.format}'`);
      const batch = {
        images: num('--images-batch', o.imagesBatch, true),
        texts: num('--texts-batch', o.textsBatch, true),
        pairs: num('--pairs-batch', o.pairsBatch, true),
      };
      const streams: Partial<Record<StreamName, StreamSpec>> = o.corpus ? corpusStreams(resolve(o.corpus)) : {};
      for (const k of ['images', 'texts', 'pairs'] as const) if (o[k]) streams[k] = streamSpecFor(k, o[k]!.map((p) => resolve(p)));
      for (const k of ['images', 'texts', 'pairs'] as const)
        if (batch[k] > 0 && !streams[k]) throw new CliError(`stream '${k}' has no source: pass --corpus or --${k} (or --${k}-batch 0)`);
      if (!existsSync(o.textTokenizer)) throw new CliError(`--text-tokenizer ${o.textTokenizer}: no such file`);
      const threads = o.threads ? num('--threads', o.threads, true, 1) : undefined;
      const textTokenizer = await Beit3Tokenizer.load(o.textTokenizer);
      const visual = await visualTokenizer(o.visualTokenizer, entry.patchSize, entry.imgSize, threads);
      const controller = new AbortController();
      const onSigint = () => {
        process.stderr.write('\nbeit3 pretrain: stopping after this step (checkpoint follows); Ctrl-C again to abort\n');
        controller.abort();
        process.off('SIGINT', onSigint);
      };
      process.on('SIGINT', onSigint);
      try {
        const r = await runPretraining({
          model: o.vocabSize ? { ...configFor(o.model), vocabSize: num('--vocab-size', o.vocabSize, true, 1) } : o.model,
          variant: o.variant as 'decoupled' | 'shared' | undefined,
          vlExpertLayers: o.vlExpertLayers ? num('--vl-expert-layers', o.vlExpertLayers, true) : undefined,
          batch,
          textLen: num('--text-len', o.textLen, true, 3),
          pairTextLen: o.pairTextLen ? num('--pair-text-len', o.pairTextLen, true, 3) : undefined,
          tokenizer: visual,
          vocab: textTokenizer,
          textTokenizer,
          streams,
          targets: o.targets,
          textMaskRule: o.textMaskRule as TextMaskRule,
          maskPairImage: o.maskPairImage,
          weights: parseWeights(o.weights),
          hp: {
            lr: num('--lr', o.lr),
            minLr: num('--min-lr', o.minLr),
            warmupSteps: num('--warmup-steps', o.warmupSteps, true),
            steps: num('--steps', o.steps, true, 1),
            weightDecay: num('--weight-decay', o.weightDecay),
            clipGrad: num('--clip-grad', o.clipGrad) || null,
            dropPath: num('--drop-path', o.dropPath),
            updateFreq: num('--update-freq', o.updateFreq, true, 1),
          },
          stepsPerEpoch: o.stepsPerEpoch ? num('--steps-per-epoch', o.stepsPerEpoch, true, 1) : undefined,
          checkpointEverySteps: o.checkpointEvery ? num('--checkpoint-every', o.checkpointEvery, true, 1) : undefined,
          format: o.format,
          seed: num('--seed', o.seed, true),
          threads,
          outputDir: resolve(o.output),
          resume: o.resume,
          signal: controller.signal,
          onProgress: createProgressSink({ stream: process.stderr, json: o.json || undefined }),
        });
        const last = r.log.records.filter((x) => x.type === 'step').pop() as { loss: number; terms: Record<string, number> } | undefined;
        const summary = { steps: r.steps, stopped: r.stopped, loss: last?.loss, terms: last?.terms, checkpoint: r.lastCheckpoint, published: r.published, plots: r.plots };
        if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
        else {
          const terms = last ? Object.entries(last.terms).filter(([k]) => k !== 'loss').map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ') : '';
          process.stdout.write(`pretrained ${r.steps} steps (${r.stopped})${last ? `: loss ${last.loss.toFixed(4)} (${terms})` : ''}\n`);
          if (r.published) process.stdout.write(`released layout (beit3.* + mlm_head + mim_head): ${r.published}\n`);
          if (r.lastCheckpoint) process.stdout.write(`resumable state: ${r.lastCheckpoint}\n`);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
