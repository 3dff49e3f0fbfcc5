import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { intOption, type ModelCliOptions, numberOption, print, taskCommand } from '../task-options.js';

type CaptionCliOptions = ModelCliOptions & {
  numBeams?: string;
  greedy?: boolean;
  maxLen?: string;
  lengthPenalty?: string;
};

/** `beit3 caption IMAGE... --config C [--num-beams N] [--greedy]` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'caption',
      task: 'captioning',
      description: 'image captioning with the official masked decoding loop (beam search or greedy)',
      define: (c) =>
        c
          .argument('<images...>', 'image files')
          .option('--num-beams <n>', 'beams (default: config num_beams, official 3)')
          .option('--greedy', 'one beam (the official loop with --num_beams 1)')
          .option(
            '--max-len <n>',
            'length limit incl. <s> and </s> (default: config max_len = num_max_bpe_tokens)',
          )
          .option('--length-penalty <x>', 'score = sum_logprobs / len ** x (default: config, official 0.6)'),
      examples: [
        'beit3 caption photo.jpg --config coco_captioning/config.json',
        'beit3 caption *.png -c config.json --greedy --max-len 20 --json',
      ],
    },
    async ([images]: [string[]], o: CaptionCliOptions, open) => {
      if (o.greedy && o.numBeams !== undefined)
        throw new CliError('--greedy and --num-beams exclude each other');
      const p = await open();
      const out = await p.run(images, {
        numBeams: o.greedy ? 1 : intOption('--num-beams', o.numBeams, 1),
        maxLen: intOption('--max-len', o.maxLen, 3),
        lengthPenalty: numberOption('--length-penalty', o.lengthPenalty),
      });
      print(
        o,
        images.map((image, i) => ({
          image,
          caption: out[i].caption,
          score: out[i].score,
          ids: out[i].decodedIds,
        })),
        () => images.map((image, i) => `${image}\t${out[i].caption}`),
      );
    },
  );
}
