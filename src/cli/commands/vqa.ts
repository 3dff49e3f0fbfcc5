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

/** `beit3 vqa IMAGE QUESTION... --config C` */
export function register(program: Command): void {
  withModelOptions(
    program
      .command('vqa')
      .description("visual question answering: answers from the model's answer vocabulary")
      .argument('<image>', 'image file')
      .argument('<questions...>', 'one or more questions about the image')
      .option('-k, --topk <k>', 'answers per question', '1'),
    { task: true },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 vqa cat.jpg "What color is the cat?" --config vqa/config.json\n  beit3 vqa street.png "How many cars?" "Is it raining?" -c config.json --topk 3 --json\n',
    )
    .action(async (image: string, questions: string[], o: ModelCliOptions & { topk?: string }) => {
      if (!questions.length) throw new CliError('vqa: give at least one question');
      const p = await openPipeline('vqav2', o, 'vqa');
      try {
        const k = intOption('--topk', o.topk, 1, 1)!;
        const out = await p.run(
          questions.map((question) => ({ image, question })),
          { topk: k },
        );
        print(
          o,
          questions.map((question, i) => ({
            question,
            answer: out[i].answer,
            score: out[i].score,
            topk: out[i].topk,
          })),
          () =>
            questions.map(
              (q, i) =>
                `${q}  →  ${out[i].answer}${k > 1 ? `  (${out[i].topk.map((t) => `${t.answer} ${fmt(t.score, 3)}`).join(', ')})` : ''}`,
            ),
        );
      } finally {
        await p.dispose();
      }
    });
}
