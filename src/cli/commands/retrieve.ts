import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { fmt, intOption, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 retrieve --images A B ... --texts "t1" "t2" ... --config C` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'retrieve',
      task: 'retrieval',
      description: 'image–text retrieval: score every image against every text, rank both ways',
      define: (c) =>
        c
          .requiredOption('-i, --images <files...>', 'image files')
          .requiredOption('--texts <texts...>', 'captions / queries')
          .option('-k, --topk <k>', 'results per query', '5'),
      examples: [
        'beit3 retrieve --images a.jpg b.jpg --texts "a dog on a beach" "a red car" --config retrieval/config.json',
        'beit3 retrieve -i imgs/*.png --texts "a cat" -c config.json --json   # JSON includes the full score matrix',
      ],
    },
    async (_: [], o: ModelCliOptions & { images: string[]; texts: string[]; topk?: string }, open) => {
      if (!o.images?.length || !o.texts?.length) throw new CliError('retrieve: give --images and --texts');
      const p = await open();
      const r = await p.run(
        { images: o.images, texts: o.texts },
        { topk: intOption('--topk', o.topk, 1, 5) },
      );
      const m = r.scores.shape[1];
      const scores = Array.from({ length: r.scores.shape[0] }, (_, i) =>
        Array.from((r.scores.data as Float32Array).subarray(i * m, (i + 1) * m)),
      );
      print(
        o,
        {
          images: o.images,
          texts: o.texts,
          scores,
          imagesPerText: r.imagesPerText.map((x) => x.map((y) => ({ image: o.images[y.index], ...y }))),
          textsPerImage: r.textsPerImage.map((x) => x.map((y) => ({ text: o.texts[y.index], ...y }))),
        },
        () =>
          o.texts.flatMap((t, j) => [
            `"${t}"`,
            ...r.imagesPerText[j].map((h) => `  ${fmt(h.score)}  ${o.images[h.index]}`),
          ]),
      );
    },
  );
}
