import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { Beit3Tokenizer, MAX_SEGMENT_LEN } from '../../text/beit3-tokenizer.js';
import { utf8Lines } from '../../text/utf8.js';
import { encodeModelProto } from '../../text/model-proto.js';
import { SentencePieceProcessor } from '../../text/sentencepiece.js';
import { trainUnigram } from '../../text/trainer/unigram-trainer.js';
import { writeFileAtomic } from '../../util/atomic.node.js';
import { AtomicWriteError } from '../../util/errors.js';
import { createProgressSink } from '../../util/progress.js';
import { CliError } from '../errors.js';

interface TokenizeOptions {
  model: string;
  pieces?: boolean;
  beit3?: boolean;
  maxLen?: string;
  jsonl?: boolean;
}

interface TrainOptions {
  input: string;
  vocabSize: string;
  out: string;
  characterCoverage: string;
  json?: boolean;
}

function parseIntOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new CliError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
  return n;
}

/** 1-based number of the first line of `bytes` that is not valid UTF-8 (0 if none). */
function firstInvalidUtf8Line(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let start = 0, line = 1; start <= bytes.length; line++) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
  }
  return 0;
}

/** Builds the per-line function for the chosen output (ids, pieces, BEiT-3 ids or segments). */
function lineEncoder(
  sp: SentencePieceProcessor,
  opts: TokenizeOptions,
): (text: string) => (number | string)[] {
  const maxLen = opts.maxLen !== undefined ? parseIntOption('--max-len', opts.maxLen, 3, MAX_SEGMENT_LEN) : undefined;
  if (maxLen !== undefined && !opts.beit3) throw new CliError('--max-len needs --beit3');
  if (!opts.beit3) return opts.pieces ? (t) => sp.encodePieces(t) : (t) => sp.encode(t);
  const tok = new Beit3Tokenizer(sp);
  if (opts.pieces) {
    return (t) => {
      const pieces = tok.tokenize(t);
      return ['<s>', ...(maxLen ? pieces.slice(0, maxLen - 2) : pieces), '</s>'];
    };
  }
  if (maxLen !== undefined) return (t) => tok.segment(t, maxLen).tokens;
  return (t) => [tok.bosId, ...tok.encode(t), tok.eosId];
}

export function register(program: Command): void {
  program
    .command('tokenize')
    .description('Tokenize lines from stdin with a SentencePiece model; prints one JSON array per input')
    .requiredOption('--model <file>', 'SentencePiece .model file')
    .option('--pieces', 'print pieces instead of ids')
    .option('--beit3', 'BEiT-3 (XLM-R) ids with <s> … </s> instead of plain SentencePiece ids')
    .option(
      '--max-len <n>',
      'with --beit3: truncate and pad to this length, as the BEiT-3 datasets do (64; captioning 32)',
    )
    .option('--jsonl', 'each input line is a JSON string (so texts may contain newlines)')
    .action(async (opts: TokenizeOptions) => {
      const sp = await SentencePieceProcessor.load(opts.model);
      const encode = lineEncoder(sp, opts);
      for await (const [lineNo, line] of utf8Lines(
        process.stdin,
        (n) => new CliError(`stdin line ${n}: invalid UTF-8 (input must be UTF-8 text)`, 1),
      )) {
        let text: unknown = line;
        if (opts.jsonl) {
          if (line.trim() === '') continue;
          try {
            text = JSON.parse(line);
          } catch {
            throw new CliError(
              `stdin line ${lineNo}: not valid JSON (with --jsonl each line must be a JSON string)`,
            );
          }
          if (typeof text !== 'string')
            throw new CliError(`stdin line ${lineNo}: expected a JSON string, got ${typeof text}`);
        }
        try {
          const out = JSON.stringify(encode(text as string)) + '\n';
          if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
        } catch (e) {
          throw new CliError(`stdin line ${lineNo}: ${(e as Error).message}`, 1);
        }
      }
    });

  program
    .command('tokenizer-train')
    .description(
      'Train a Unigram SentencePiece model (official .model format) on a text corpus, one sentence per line',
    )
    .requiredOption('--input <file>', 'training corpus (UTF-8, one sentence per line)')
    .requiredOption('--vocab-size <n>', 'number of pieces, including <unk> <s> </s>')
    .requiredOption('--out <file>', 'output .model path (written atomically)')
    .option('--character-coverage <x>', 'fraction of characters covered by the alphabet', '0.9995')
    .option('--json', 'progress and summary as JSON lines')
    .action(async (opts: TrainOptions) => {
      const vocabSize = parseIntOption('--vocab-size', opts.vocabSize, 4, 1 << 24);
      const characterCoverage = Number(opts.characterCoverage);
      if (!(characterCoverage > 0 && characterCoverage <= 1))
        throw new CliError(`--character-coverage must be in (0, 1], got '${opts.characterCoverage}'`);
      // Training can take minutes: refuse an output path that cannot be written before it.
      if (!existsSync(dirname(resolve(opts.out))))
        throw new CliError(`cannot write --out ${opts.out}: its folder does not exist`, 1);
      if (existsSync(opts.out) && statSync(opts.out).isDirectory())
        throw new CliError(`cannot write --out ${opts.out}: it is a directory`, 1);
      let raw: Uint8Array;
      try {
        raw = await readFile(opts.input);
      } catch (e) {
        throw new CliError(`cannot read --input ${opts.input}: ${(e as Error).message}`, 1);
      }
      let corpus: string;
      try {
        corpus = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        const line = firstInvalidUtf8Line(raw);
        throw new CliError(`--input ${opts.input}: line ${line} is not valid UTF-8`, 1);
      }
      const started = Date.now();
      // --json: JSON lines; otherwise text (a plain line per phase, also when stderr is not a TTY)
      const onProgress = createProgressSink({ stream: process.stderr, json: !!opts.json });
      const model = trainUnigram(corpus.split(/\r?\n/), { vocabSize, characterCoverage, onProgress });
      const bytes = encodeModelProto(model);
      SentencePieceProcessor.fromBytes(bytes, opts.out); // the file we write must load
      try {
        await writeFileAtomic(opts.out, bytes);
      } catch (e) {
        throw e instanceof AtomicWriteError ? new CliError(`cannot write ${opts.out}: ${e.reason}`, 1) : e;
      }
      const summary = {
        out: opts.out,
        vocab_size: model.pieces.length,
        bytes: bytes.length,
        seconds: (Date.now() - started) / 1000,
      };
      process.stdout.write(
        opts.json
          ? JSON.stringify(summary) + '\n'
          : `wrote ${opts.out}: ${summary.vocab_size} pieces in ${summary.seconds.toFixed(1)}s\n`,
      );
    });
}
