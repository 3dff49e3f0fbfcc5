import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { fmt, intOption, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 vqa IMAGE QUESTION... --config C` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'vqa',
      task: 'vqav2',
      description: "visual question answering: answers from the model's answer vocabulary",
      define: (c) =>
        c
          .argument('<image>', 'image file')
          .argument('<questions...>', 'one or more questions about the image')
          .option('-k, --topk <k>', 'answers per question', '1'),
      examples: [
        'beit3 vqa cat.jpg "What color is the cat?" --config vqa/config.json',
        'beit3 vqa street.png "How many cars?" "Is it raining?" -c config.json --topk 3 --json',
      ],
    },
    async ([image, questions]: [string, string[]], o: ModelCliOptions & { topk?: string }, open) => {
      if (!questions.length) throw new CliError('vqa: give at least one question');
      const k = intOption('--topk', o.topk, 1, 1)!;
      const p = await open();
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
    },
  );
}
