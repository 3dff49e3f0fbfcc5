import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { type CaseResult, FIXTURE_KINDS, runFixtureSet } from '../../models/fixture-kinds.node.js';
import { TRAIN_REF_KIND } from '../../train/parity.node.js';
import { CliError } from '../errors.js';

// Training trajectories (fixtures/train-ref): train/ sits above models/, so its row joins the table here.
if (!FIXTURE_KINDS.includes(TRAIN_REF_KIND)) FIXTURE_KINDS.unshift(TRAIN_REF_KIND);

/** `beit3 parity DIR`: every case of a fixture folder laid out like fixtures/beit3-ref. */
export function register(program: Command): void {
  program
    .command('parity')
    .description(
      'check the model against a reference fixture folder (like fixtures/beit3-ref, or fixtures/train-ref for training trajectories): one line per case, non-zero exit on failure',
    )
    .argument(
      '<dir>',
      'fixture folder with index.json, <name>.json, <name>.safetensors, <name>.io.safetensors, <name>.grads.safetensors',
    )
    .option('--only <names>', 'comma-separated fixture names (default: all in index.json)')
    .option('--weights <format>', 'load weights from safetensors or pth', 'safetensors')
    .option('--no-grads', 'skip the loss and gradient checks')
    .option('--json', 'one JSON object per case')
    .action(async (dir: string, opts: { only?: string; weights: string; grads: boolean; json?: boolean }) => {
      if (!existsSync(dir)) throw new CliError(`parity: no such folder ${dir}`);
      if (opts.weights !== 'safetensors' && opts.weights !== 'pth')
        throw new CliError(`parity: --weights must be safetensors or pth, got ${opts.weights}`);
      const o = { weights: opts.weights as 'safetensors' | 'pth', grads: opts.grads };
      const print = (r: CaseResult) =>
        process.stdout.write(
          opts.json
            ? JSON.stringify(r) + '\n'
            : `${r.ok ? 'ok  ' : 'FAIL'} ${`${r.fixture}/${r.case}`.padEnd(34)} ${r.case === 'grads' ? 'score  ' : 'max err'} ${r.maxErr.toExponential(2)}  (tol ${r.tol.toExponential(0)})${r.worst ? `  worst ${r.worst}` : ''}${opts.weights === 'pth' && r.note?.startsWith('weights') ? `  [${r.note}]` : ''}\n`,
        );
      const only = opts.only ? opts.only.split(',').map((n) => n.trim()) : undefined;
      const results = await runFixtureSet(dir, { ...o, only });
      results.forEach(print);
      const failed = results.filter((r) => !r.ok);
      if (!opts.json)
        process.stdout.write(`${results.length - failed.length}/${results.length} cases within tolerance\n`);
      if (failed.length) process.exitCode = 1;
    });
}
