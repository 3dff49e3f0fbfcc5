/**
 * The CI pass of the fuzz harness: every target replays its committed corpus (valid seeds + every
 * input that ever found a bug), a few structurally hostile inputs from fast-check and a short,
 * seeded burst of mutations, all under the contract of fuzz/lib/target.ts (typed error or correct
 * result; time, memory and leftover-file bounds). Long coverage-guided runs: `npm run fuzz -- <target>`.
 */
import * as fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusDir, readCorpus } from '../../fuzz/lib/corpus.js';
import { mutate, toBytes } from '../../fuzz/lib/mutate.js';
import { checkInput, newContext, type Finding } from '../../fuzz/lib/target.js';
import { CI_SKIP, TARGETS } from '../../fuzz/targets/index.js';
import { Rng } from '../../src/util/random.js';

const MUTATIONS = 30;
const HOSTILE = 6;

const ctx = newContext();
afterAll(() => ctx.dispose());

const report = (what: string, f: Finding | undefined) => (f ? `${what}: ${f.signature}\n${f.message}` : undefined);

describe('fuzz targets (CI pass)', () => {
  for (const [name, load] of Object.entries(TARGETS)) {
    it(name, async (ctxt) => {
      if (CI_SKIP[name]) return ctxt.skip(CI_SKIP[name]);
      const t = await load();
      const corpus = readCorpus(corpusDir(name));
      expect(corpus.length, `fuzz/${name}/ has no corpus`).toBeGreaterThan(0);
      const problems: string[] = [];
      for (const { name: file, bytes } of corpus) {
        const p = report(`fuzz/${name}/${file}`, await checkInput(t, bytes, ctx));
        if (p) problems.push(p);
      }
      if (t.hostile)
        for (const [i, input] of fc.sample(t.hostile(), { numRuns: t.ci?.hostile ?? HOSTILE, seed: 42 }).entries()) {
          const p = report(`hostile #${i}`, await checkInput(t, input, ctx));
          if (p) problems.push(p);
        }
      const rng = new Rng(`fuzz-ci-${name}`);
      const dict = (t.dict ?? []).map(toBytes);
      const pool = corpus.map((c) => c.bytes);
      for (let i = 0; i < (t.ci?.mutations ?? MUTATIONS); i++) {
        const input = mutate(pool[i % pool.length], rng, { maxLen: t.maxLen ?? 65536, dict, pool: () => pool[rng.int(pool.length)] });
        const p = report(`mutation #${i}`, await checkInput(t, input, ctx));
        if (p) problems.push(p);
      }
      await t.dispose?.();
      expect(problems, problems.join('\n\n')).toEqual([]);
    }, 60_000);
  }
});
