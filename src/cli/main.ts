#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { commands } from './commands/index.js';
import { CliError } from './errors.js';
import { rerunIfTooLong, userArgs } from './long-argv.js';

// A reader that closes the pipe early (`beit3 tokenize ... | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const rerunCode = rerunIfTooLong(process.argv, fileURLToPath(import.meta.url));
if (rerunCode !== undefined) {
  process.exitCode = rerunCode;
} else {
  const program = new Command();
  program
    .name('beit3')
    .description('BEiT-3 in TypeScript: inference, fine-tuning and pretraining on ONNX Runtime')
    .version('0.1.0')
    .showHelpAfterError();

  for (const register of commands) register(program);

  program.parseAsync(userArgs(process.argv), { from: 'user' }).catch((err: unknown) => {
    // One line, non-zero exit: bad input must never surface as a stack trace.
    const msg =
      err instanceof Error ? `${err.name === 'Error' ? 'error' : err.name}: ${err.message}` : String(err);
    process.stderr.write(`beit3: ${msg}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  });
}
