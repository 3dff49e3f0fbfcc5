// src/text must run in browsers: bundle it for the browser platform and run the bundle in a bare
// context with no Node globals (process, require, Buffer), then tokenize and train there.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const esbuild = await import('esbuild').catch(() => undefined);
// the same Node-only stub as the real browser build (web/build.mjs)
const { nodeOnlyStub } = await import('../../web/node-only-stub.mjs');

describe.runIf(!!esbuild)('text/ in a browser-like context', () => {
  it('bundles without Node built-ins and tokenizes, batches and trains', async () => {
    const result = await esbuild!.build({
      entryPoints: [`${ROOT}src/text/index.ts`],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'beit3text',
      write: false,
      plugins: [nodeOnlyStub],
      logLevel: 'silent',
    });
    const code = result.outputFiles[0].text;
    const context = vm.createContext({ TextEncoder, TextDecoder, atob, Uint8Array });
    vm.runInContext(code, context);
    const lib = (context as { beit3text: typeof import('../../src/text/index.js') }).beit3text;
    expect(vm.runInContext('typeof process + typeof require + typeof Buffer', context)).toBe(
      'undefinedundefinedundefined',
    );

    const bytes = new Uint8Array(readFileSync(`${ROOT}fixtures/sentencepiece/unigram_8k.model`));
    const sp = lib.SentencePieceProcessor.fromBytes(bytes);
    expect(sp.encodePieces('ﬁne café')).toEqual(['▁fine', '▁ca', 'f', 'é']);
    const batch = new lib.Beit3Tokenizer(sp).batch(['a dog'], 6);
    expect(Array.from(batch.languageTokens.data as BigInt64Array, Number)).toEqual([0, 4, 1051, 2, 1, 1]);
    const lines = readFileSync(`${ROOT}fixtures/sentencepiece/corpus_train_head3000.txt`, 'utf8')
      .split('\n')
      .slice(0, 200);
    expect(lib.trainUnigram(lines, { vocabSize: 150 }).pieces).toHaveLength(150);
  });
});
