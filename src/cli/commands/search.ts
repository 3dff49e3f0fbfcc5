import type { Command } from 'commander';
import { ImageIndex } from '../../search/index.js';
import { CliError } from '../errors.js';
import { fmt, intOption, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 search INDEX "text" [-k K]`: top-k images of an index for a text query. */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'search',
      task: 'retrieval',
      description: 'search an image index (from `beit3 index`) with a text query',
      define: (c) =>
        c
          .argument('<index>', 'index folder')
          .argument('<query...>', 'text query')
          .option('-k, --topk <k>', 'results', '5'),
      examples: [
        'beit3 search photos.idx "a dog on a beach"',
        'beit3 search photos.idx "red car" -k 20 --json    # model from the index; --config/--weights override',
      ],
    },
    async ([index, query]: [string, string[]], o: ModelCliOptions & { topk?: string }, open) => {
      const k = intOption('--topk', o.topk, 1, 5)!;
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
      const hits = await idx.searchText(await open(opts), text, k);
      print(o, { query: text, hits }, () =>
        hits.length ? hits.map((h) => `${fmt(h.score)}  ${h.file}`) : ['(index is empty)'],
      );
    },
  );
}
