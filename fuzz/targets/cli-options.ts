import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import * as fc from 'fast-check';
import { CliError } from '../../src/cli/errors.js';
import { register } from '../../src/cli/commands/tokenize.js';
import { intOption } from '../../src/cli/task-options.js';
import { expect, type FuzzTarget } from '../lib/target.js';

const enc = new TextEncoder();

/** Runs `beit3 tokenize --model M <argv>` in-process with `stdin` as its input; returns stdout lines. */
async function tokenize(argv: string[], stdin: Uint8Array, model: string): Promise<string[]> {
  const program = new Command().exitOverride();
  register(program);
  for (const c of program.commands) c.exitOverride();
  const out: string[] = [];
  const write = process.stdout.write;
  const stdinDesc = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { configurable: true, value: Readable.from([Buffer.from(stdin)]) });
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['tokenize', '--model', model, ...argv], { from: 'user' });
  } catch (e) {
    // usage errors (unknown option, missing value) are commander's typed errors: the CLI prints them and exits 1
    if (e instanceof CommanderError) throw new CliError(`usage: ${e.message}`);
    throw e;
  } finally {
    process.stdout.write = write;
    Object.defineProperty(process, 'stdin', stdinDesc);
  }
  return out.join('').split('\n').filter(Boolean);
}

/** The numeric option parser every task command uses: in range or a typed error, for any text. */
const BOUNDS: [string, number, number][] = [['--topk', 1, 2 ** 31 - 1], ['--batch-size', 1, 2 ** 31 - 1], ['--threads', 1, 2 ** 31 - 1], ['--random-weights', 0, 2 ** 31 - 1]];

export const target: FuzzTarget = {
  name: 'cli-options',
  entry: 'CLI numeric options: intOption (every task command) and `beit3 tokenize` argv + stdin end to end',
  async run(input, { dir }) {
    const text = new TextDecoder().decode(input);
    const nl = text.indexOf('\n');
    const first = nl < 0 ? text : text.slice(0, nl);
    const argv = first.split(' ').filter(Boolean).slice(0, 12);
    for (const [name, lo, hi] of BOUNDS)
      for (const v of argv) {
        let n: number | undefined;
        try {
          n = intOption(name, v, lo);
        } catch (e) {
          if (!(e instanceof Error && e.name === 'TaskInputError')) throw e;
          continue;
        }
        expect(n !== undefined && Number.isSafeInteger(n) && n >= lo && n <= hi, `${name} ${v} gave ${n}`);
      }
    const model = join(dir, 'sp.model');
    writeFileSync(model, MODEL());
    const lines = await tokenize(argv, input.subarray(nl < 0 ? input.length : nl + 1), model);
    const i = argv.indexOf('--max-len');
    const maxLen = i >= 0 ? Number(argv[i + 1]) : undefined;
    for (const l of lines) {
      const row = JSON.parse(l) as unknown[];
      expect(Array.isArray(row), 'each output line is a JSON array');
      if (maxLen && argv.includes('--beit3') && !argv.includes('--pieces')) expect(row.length === maxLen, `row of ${row.length}, --max-len ${maxLen}`);
    }
  },
  seeds: () => [
    enc.encode('--beit3 --max-len 16\nhello world\nsecond line\n'),
    enc.encode('--pieces\nHello\n'),
    enc.encode('--jsonl --beit3\n"a \\n b"\n'),
    enc.encode('--beit3 --pieces --max-len 5\nlonger text than five pieces\n'),
  ],
  hostile: () =>
    fc
      .tuple(fc.constantFrom('--max-len', '--vocab-size'), fc.constantFrom('1000000000', '1e9', '9007199254740993', '-1', '2', '0x10', '1e400', 'NaN', '65537', '65536', ''))
      .map(([o, v]) => enc.encode(`--beit3 ${o} ${v}\nsome text\n`)),
  dict: ['--beit3', '--pieces', '--jsonl', '--max-len', '1000000000', '65536', '\n', '"'],
  maxLen: 4096,
};

let model: Uint8Array | undefined;
/** The small BPE model of fixtures/sentencepiece (read once). */
function MODEL(): Uint8Array {
  model ??= new Uint8Array(readFileSync('fixtures/sentencepiece/bpe_2k.model'));
  return model;
}
