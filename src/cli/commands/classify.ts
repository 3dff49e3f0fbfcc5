import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { fmt, intOption, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 classify IMAGE... --config C [--topk K]` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'classify',
      task: 'imageclassification',
      description: 'image classification: top-k class labels per image',
      define: (c) =>
        c
          .argument('<images...>', 'image files (jpg, png, gif, webp, tiff)')
          .option('-k, --topk <k>', 'labels per image (default: config topk or 5)'),
      examples: [
        'beit3 classify cat.jpg dog.png --config imagenet/config.json',
        'beit3 classify photos/*.jpg -c config.json -w beit3_base_patch16_224_in1k.pth --topk 3 --json',
      ],
    },
    async ([images]: [string[]], o: ModelCliOptions & { topk?: string }, open) => {
      if (!images.length) throw new CliError('classify: give at least one image');
      const p = await open();
      const out = await p.run(images, { topk: intOption('--topk', o.topk, 1) });
      print(
        o,
        images.map((image, i) => ({
          image,
          topk: out[i].topk.map(({ index, label, score, logit }) => ({ index, label, score, logit })),
        })),
        () =>
          images.flatMap((image, i) => [image, ...out[i].topk.map((t) => `  ${fmt(t.score)}  ${t.label}`)]),
      );
    },
  );
}
