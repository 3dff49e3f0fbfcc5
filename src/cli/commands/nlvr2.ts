import type { Command } from 'commander';
import { fmt, type ModelCliOptions, openPipeline, print, withModelOptions } from '../../tasks/cli.js';

/** `beit3 nlvr2 LEFT RIGHT STATEMENT --config C` */
export function register(program: Command): void {
  withModelOptions(
    program
      .command('nlvr2')
      .description('visual reasoning (NLVR2): is the statement about the two images true?')
      .argument('<left>', 'left image')
      .argument('<right>', 'right image')
      .argument('<statements...>', 'one or more statements about the pair'),
    { task: true },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 nlvr2 a.jpg b.jpg "The left image contains twice as many dogs as the right image." --config nlvr2/config.json\n',
    )
    .action(async (left: string, right: string, statements: string[], o: ModelCliOptions) => {
      const p = await openPipeline('nlvr2', o, 'nlvr2');
      try {
        const out = await p.run(statements.map((statement) => ({ left, right, statement })));
        print(
          o,
          statements.map((statement, i) => ({ statement, ...out[i] })),
          () =>
            statements.map(
              (s, i) => `${out[i].answer ? 'True ' : 'False'}  p=${fmt(out[i].probability, 3)}  ${s}`,
            ),
        );
      } finally {
        await p.dispose();
      }
    });
}
