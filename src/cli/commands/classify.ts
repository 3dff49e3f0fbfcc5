import type { Command } from 'commander';
import {
  fmt,
  intOption,
  type ModelCliOptions,
  openPipeline,
  print,
  withModelOptions,
} from '../../tasks/cli.js';
import { CliError } from '../errors.js';

/** `beit3 classify IMAGE... --config C [--topk K]` */
export function register(program: Command): void {
  withModelOptions(
    program
      .command('classify')
      .description('image classification: top-k class labels per image')
      .argument('<images...>', 'image files (jpg, png, gif, webp, tiff)')
      .option('-k, --topk <k>', 'labels per image (default: config topk or 5)'),
    { task: true },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 classify cat.jpg dog.png --config imagenet/config.json\n  beit3 classify photos/*.jpg -c config.json -w beit3_base_patch16_224_in1k.pth --topk 3 --json\n',
    )
    .action(async (images: string[], o: ModelCliOptions & { topk?: string }) => {
      if (!images.length) throw new CliError('classify: give at least one image');
      const p = await openPipeline('imageclassification', o, 'classify');
      try {
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
      } finally {
        await p.dispose();
      }
    });
}
