import type { Command } from 'commander';
import { ImageIndex } from '../../search/index.js';
import { fmt, type ModelCliOptions, openPipeline, print, withModelOptions } from '../../tasks/cli.js';
import type { RetrievalPipeline } from '../../tasks/retrieval.js';
import { CliError } from '../errors.js';

/** `beit3 search INDEX "text" [-k K]`: top-k images of an index for a text query. */
export function register(program: Command): void {
  withModelOptions(
    program
      .command('search')
      .description('search an image index (from `beit3 index`) with a text query')
      .argument('<index>', 'index folder')
      .argument('<query...>', 'text query')
      .option('-k, --topk <k>', 'results', '5'),
    { task: true },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  beit3 search photos.idx "a dog on a beach"\n  beit3 search photos.idx "red car" -k 20 --json    # model from the index; --config/--weights override\n',
    )
    .action(async (index: string, query: string[], o: ModelCliOptions & { topk?: string }) => {
      const k = Number(o.topk ?? 5);
      if (!Number.isInteger(k) || k < 1)
        throw new CliError(`--topk must be a positive integer, got '${o.topk}'`);
      const text = query.join(' ').trim();
      if (!text) throw new CliError('search: empty query');
      const idx = ImageIndex.open(index);
      const m = idx.meta.model;
      const opts: ModelCliOptions = { ...o, progress: false };
      if (!o.config && !o.model) {
        if (!m.config && !m.modelName)
          throw new CliError(`${index}: the index does not record its model; pass --config`);
        opts.config = m.config;
        opts.model = m.config ? undefined : m.modelName;
        opts.weights = o.weights ?? m.weights;
      }
      const p = (await openPipeline('retrieval', opts)) as RetrievalPipeline;
      try {
        const hits = await idx.searchText(p, text, k);
        print(o, { query: text, hits }, () =>
          hits.length ? hits.map((h) => `${fmt(h.score)}  ${h.file}`) : ['(index is empty)'],
        );
      } finally {
        await p.dispose();
      }
    });
}
