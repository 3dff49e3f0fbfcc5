import type { Command } from 'commander';
import { fmt, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 nlvr2 LEFT RIGHT STATEMENT --config C` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'nlvr2',
      task: 'nlvr2',
      description: 'visual reasoning (NLVR2): is the statement about the two images true?',
      define: (c) =>
        c
          .argument('<left>', 'left image')
          .argument('<right>', 'right image')
          .argument('<statements...>', 'one or more statements about the pair'),
      examples: [
        'beit3 nlvr2 a.jpg b.jpg "The left image contains twice as many dogs as the right image." --config nlvr2/config.json',
      ],
    },
    async ([left, right, statements]: [string, string, string[]], o: ModelCliOptions, open) => {
      const p = await open();
      const out = await p.run(statements.map((statement) => ({ left, right, statement })));
      print(
        o,
        statements.map((statement, i) => ({ statement, ...out[i] })),
        () =>
          statements.map(
            (s, i) => `${out[i].answer ? 'True ' : 'False'}  p=${fmt(out[i].probability, 3)}  ${s}`,
          ),
      );
    },
  );
}
