// (`beit3 index`; the file is not called index.ts because that name is the command registry)
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createProgressSink } from '../../util/progress.js';
import { ImageIndex } from '../../search/index.js';
import { CliError } from '../errors.js';
import { cliConfig, intOption, type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 index DIR --out INDEX --config C`: embed a folder of images into a search index. */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'index',
      task: 'retrieval',
      description:
        'embed a folder of images (recursive) into a persistent search index; re-run to resume or to add new/changed files',
      define: (c) =>
        c
          .argument('<dir>', 'folder of images')
          .requiredOption('-o, --out <index>', 'index folder (created if missing)')
          .option('--chunk <n>', 'images per saved checkpoint', '32'),
      examples: [
        'beit3 index ~/photos --out photos.idx --config retrieval/config.json',
        'beit3 index ~/photos --out photos.idx -c config.json      # later: embeds only new or changed files',
        'beit3 search photos.idx "a dog on a beach"',
      ],
    },
    async ([dir]: [string], o: ModelCliOptions & { out: string; chunk?: string }, open) => {
      if (!existsSync(dir) || !statSync(dir).isDirectory())
        throw new CliError(`index: ${dir} is not a folder`);
      const chunk = intOption('--chunk', o.chunk, 1, 32)!;
      const config = cliConfig('retrieval', o);
      const idx = ImageIndex.openOrCreate(o.out, dir, {
        config: o.config ? resolve(o.config) : undefined,
        modelName: config.modelName ?? o.model,
        weights: config.weights,
        embedDim: config.model.embedDim,
        imgSize: config.model.imgSize,
      });
      const p = await open({ ...o, progress: false });
      // skipped files are always reported; the bar/JSON lines only with progress on
      const sink = o.progress === false ? undefined : createProgressSink({ stream: process.stderr });
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop); // finish the current chunk, save, exit: a re-run resumes
      try {
        const r = await idx.sync(p, {
          chunk,
          signal: ac.signal,
          onProgress: (e) => {
            if (sink) sink(e);
            else if (e.message) process.stderr.write(`${e.message}\n`);
          },
        });
        print(o, { index: o.out, size: idx.size, ...r, interrupted: ac.signal.aborted }, () => [
          `${o.out}: ${idx.size} images (${r.added} added, ${r.updated} updated, ${r.removed} removed, ${r.unchanged} unchanged, ${r.failed.length} unreadable)${ac.signal.aborted ? ' — interrupted, re-run to resume' : ''}`,
        ]);
      } finally {
        process.off('SIGINT', stop);
      }
    },
  );
}
