#!/usr/bin/env node
import { Command } from 'commander';
import { commands } from './commands/index.js';
import { CliError } from './errors.js';

const program = new Command();
program
  .name('beit3')
  .description('BEiT-3 in TypeScript: inference, fine-tuning and pretraining on ONNX Runtime')
  .version('0.1.0')
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // One line, non-zero exit: bad input must never surface as a stack trace.
  const msg = err instanceof Error ? `${err.name === 'Error' ? 'error' : err.name}: ${err.message}` : String(err);
  process.stderr.write(`beit3: ${msg}\n`);
  process.exitCode = err instanceof CliError ? err.exitCode : 1;
});
