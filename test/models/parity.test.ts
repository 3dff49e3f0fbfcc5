import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, Program } from '../../src/index.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { fromEncoderConfig } from '../../src/models/beit3/config.js';
import {
  listFixtures,
  modelForFixture,
  parityFixture,
  ParityError,
} from '../../src/models/beit3/parity/index.node.js';
import { Beit3ForVQA } from '../../src/models/beit3/heads/vqa.js';
import { ParamScope } from '../../src/nn/module.js';
import { fixture } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const DIR = join(import.meta.dirname, '../../fixtures/beit3-ref');

describe('beit3 parity with the official implementation (fixtures/beit3-ref)', () => {
  for (const name of listFixtures(DIR)) {
    it(`${name}: every out.* tensor, the official loss and every gradient`, async () => {
      const results = await parityFixture(DIR, name, { threads: 1 });
      const cases = results.map((r) => r.case);
      expect(cases).toContain('grads');
      expect(cases).toContain('loss');
      if (name === 'captioning')
        expect(cases).toEqual(expect.arrayContaining(['train', 'full', 'decode', 'beam']));
      for (const r of results)
        expect(r.ok, `${r.fixture}/${r.case}: ${r.maxErr} > ${r.tol} (${r.worst})`).toBe(true);
      // Forward outputs are far inside the 1e-4 tolerance (1e-5 is achievable per the README).
      for (const r of results.filter((x) => x.case !== 'grads' && x.case !== 'loss'))
        expect(r.maxErr).toBeLessThan(r.case === 'beam' ? 0.5 : 1e-5);
    }, 60_000);
  }

  for (const name of ['imageclassification', 'retrieval']) {
    it(`${name}: loading the .pth checkpoint gives the same outputs`, async () => {
      const results = await parityFixture(DIR, name, { weights: 'pth', grads: false, threads: 1 });
      for (const r of results) expect(r.ok, `${r.case}: ${r.maxErr}`).toBe(true);
    }, 60_000);
  }

  it('vqav2: float16 .pth weights load (rounded) and give logits close to the float32 model', async () => {
    const js = JSON.parse(readFileSync(join(DIR, 'vqav2.json'), 'utf8'));
    const model = modelForFixture('vqav2', js) as Beit3ForVQA;
    const w16 = await loadCheckpoint(join(DIR, 'vqav2.fp16.pth'));
    const w32 = await loadSafetensors(join(DIR, 'vqav2.safetensors'));
    model.loadStateDict(w16);
    const io = await loadSafetensors(join(DIR, 'vqav2.io.safetensors'));
    const g = new Graph('vqa16');
    const s = new ParamScope(g, model);
    const feeds = {
      image: io.get('in.image')!,
      question: io.get('in.question')!,
      padding_mask: io.get('in.padding_mask')!,
    };
    const x = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, g.input(k, t.dtype, t.shape)]));
    g.output(model.forward(s, x).logits, 'logits');
    const out = await (await Program.compile(g, { bind: s.bindings() })).run(feeds);
    const ref = io.get('out.logits')!.data as Float32Array;
    const got = out.logits.data as Float32Array;
    let m = 0;
    for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i] - ref[i]));
    expect(m).toBeGreaterThan(0); // really the rounded weights
    expect(m).toBeLessThan(5e-2);
    // and every weight is within float16 rounding of the float32 value
    for (const [k, t] of w32) {
      const a = t.data as Float32Array;
      const b = w16.get(k)!.data as Float32Array;
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11 + 2 ** -24);
    }
    expect(fromEncoderConfig(js.encoder_config).normalizeOutput).toBe(false);
  }, 60_000);
});

describe('listFixtures rejects what is not a fixture folder', () => {
  // `beit3 parity <dir>` on something that is not a fixture folder: a ParityError naming it.
  const dir = tempDir('parity-input-');

  describe('listFixtures on bad folders', () => {
    it('a file or a missing path is "not a folder"', () => {
      const file = join(dir, 'x.png');
      writeFileSync(file, '');
      for (const p of [file, join(dir, 'missing')]) {
        expect(() => listFixtures(p)).toThrow(ParityError);
        expect(() => listFixtures(p)).toThrow(`${p}: not a folder`);
      }
    });

    it('a corrupt index.json names the file', () => {
      writeFileSync(join(dir, 'index.json'), '{"fixtures": ');
      expect(() => listFixtures(dir)).toThrow(new RegExp(`${join(dir, 'index.json')}: unreadable`));
    });

    it('the reference folder still lists its fixtures', () => {
      expect(listFixtures(fixture('beit3-ref'))).toContain('retrieval');
    });
  });
});
