import type { Command } from 'commander';
import { toEncoderConfig } from '../../models/beit3/config.js';
import {
  configFor,
  createModel,
  createTaskModel,
  getEntry,
  listModels,
  UnknownModelError,
} from '../../models/beit3/registry.js';
import { paramBreakdown } from '../../models/beit3/params.js';
import { loadTaskConfig } from '../../tasks/config.js';
import { SHIPPED_MODELS, shippedModel } from '../../tasks/shipped.node.js';
import { CliError } from '../errors.js';

/** `beit3 info NAME [--json]`: configuration and parameter breakdown of a registered model. */
export function register(program: Command): void {
  program
    .command('info')
    .description(
      "print a registered model's configuration and parameter breakdown (no weights are allocated)",
    )
    .argument('[name]', 'registered model name, e.g. beit3_base_patch16_224_vqav2')
    .option('--json', 'machine-readable output: {"name","task","config","params":{"total",...}}')
    .option('--list', 'list the shipped models (trained weights) and every registered architecture name')
    .action((arg: string | undefined, opts: { json?: boolean; list?: boolean }) => {
      if (opts.list || !arg) {
        if (!opts.list) throw new CliError('info: give a model name (or --list)');
        const shipped = SHIPPED_MODELS.map((m) => ({ name: m.name, task: m.task, corpus_task: m.corpusTask, description: m.description }));
        const names = listModels();
        if (opts.json) process.stdout.write(JSON.stringify({ shipped, registry: names }) + '\n');
        else
          process.stdout.write(
            [
              'shipped models (weights trained by beit3 on the mini-corpus; the default when no config is given):',
              ...shipped.map((m) => `  ${m.name.padEnd(24)} ${m.task.padEnd(20)} ${m.description}`),
              'registered architectures (no weights: pass --weights, a config, or --random-weights):',
              ...names.map((n) => `  ${n}`),
            ].join('\n') + '\n',
          );
        return;
      }
      // a shipped name describes the architecture its config builds (the task config loader's reading)
      const shipped = shippedModel(arg);
      const tc = shipped ? loadTaskConfig(shipped.config) : undefined;
      const name = tc?.modelName ?? arg;
      let model;
      try {
        model = tc ? createTaskModel(tc.task, tc.model, tc.numClasses) : createModel(name);
      } catch (e) {
        if (e instanceof UnknownModelError) throw new CliError(e.message);
        throw e;
      }
      const entry = getEntry(name);
      const config = toEncoderConfig(tc?.model ?? configFor(name));
      const params: Record<string, number> = { ...paramBreakdown(model) };
      // Published pretrained checkpoints count their MLM/MIM prediction heads (base 276M,
      // large 746M; the paper's giant 1.9B): report that total beside the backbone's.
      if (entry.task === 'backbone') {
        const pretrainingName = `${name}_pretraining`;
        if (listModels().includes(pretrainingName))
          params.total_with_pretraining_heads =
            params.total + paramBreakdown(createModel(pretrainingName)).heads;
      }
      const extra: Record<string, unknown> = {};
      if ('numClasses' in model) extra.num_classes = (model as { numClasses: number }).numClasses;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ name, ...(shipped ? { shipped: shipped.name } : {}), task: entry.task, official: entry.official, ...extra, config, params }) +
            '\n',
        );
        return;
      }
      const lines = [
        `${shipped ? `${shipped.name}: ` : ''}${name}  (task: ${entry.task}${entry.official ? ', official' : ''}${extra.num_classes ? `, ${String(extra.num_classes)} classes` : ''})`,
        'config:',
      ];
      for (const [k, v] of Object.entries(config)) lines.push(`  ${k.padEnd(24)} ${String(v)}`);
      lines.push('parameters:');
      const fmt = (n: number) =>
        `${(n / 1e6).toFixed(2).padStart(10)}M  ${n.toLocaleString('en-US').padStart(15)}`;
      for (const [k, v] of Object.entries(params))
        if (v || k === 'total') lines.push(`  ${k.padEnd(30)} ${fmt(v)}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
