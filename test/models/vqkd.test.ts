import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/graph/tensor.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import {
  createVqkd,
  filterVqkdCheckpoint,
  listVqkdModels,
  VQKD,
  vqkdConfigFromJson,
  vqkdConfigFor,
  VqkdConfigError,
} from '../../src/models/vqkd/index.js';
import { isVqkdFixtureDir, parityVqkdDir, vqkdReferenceOutputs } from '../../src/models/vqkd/parity.node.js';
import { StateDictError } from '../../src/nn/module.js';
import { fixtureKindOf, runFixtureSet } from '../../src/models/fixture-kinds.node.js';

const DIR = join(import.meta.dirname, '../../fixtures/vqkd-ref');
const json = () => JSON.parse(readFileSync(join(DIR, 'vqkd.json'), 'utf8')) as Record<string, unknown>;

async function fixtureModel(): Promise<VQKD> {
  const m = new VQKD(vqkdConfigFromJson(json()));
  m.loadStateDict(filterVqkdCheckpoint(await loadSafetensors(join(DIR, 'vqkd.safetensors'))).state);
  return m;
}

describe('VQ-KD tokenizer parity with unilm beit2 (fixtures/vqkd-ref)', () => {
  it('every stored tensor of both input sets: codes exact, features within 1e-4; manifest exact', async () => {
    expect(isVqkdFixtureDir(DIR)).toBe(true);
    const results = await parityVqkdDir(DIR, { threads: 1 });
    expect(results.map((r) => r.case)).toEqual([
      'img01.features',
      'img01.codes',
      'img255.features',
      'img255.codes',
      'manifest vqkd_encoder_base_decoder_3x768x12_clip',
    ]);
    for (const r of results) expect(r.ok, `${r.case}: ${r.maxErr} (${r.worst ?? r.note})`).toBe(true);
    // Far inside the tolerance (the official float32 run is reproduced to ~1e-6).
    for (const r of results.filter((x) => x.case.endsWith('.features'))) expect(r.maxErr).toBeLessThan(1e-5);
  });

  it('`beit3 parity DIR` recognises a vqkd-ref–style folder and runs it (pth weights, one input set)', async () => {
    expect(fixtureKindOf(DIR).kind).toBe('vqkd-ref');
    const r = await runFixtureSet(DIR, { weights: 'pth', only: ['img255'], threads: 1 });
    expect(r.map((x) => x.case)).toEqual(['img255.features', 'img255.codes']);
    expect(r.every((x) => x.ok)).toBe(true);
  });

  it('the data-dependent scaling, codes and the eval-mode cluster_size side effect, tensor by tensor', async () => {
    const model = await fixtureModel();
    const io = await loadSafetensors(join(DIR, 'vqkd.io.safetensors'));
    for (const set of ['img01', 'img255']) {
      const out = await vqkdReferenceOutputs(model, io.get(`${set}.input`)!, 1);
      expect(out.codes.dtype).toBe('int64');
      expect(out.codes.toArray()).toEqual(io.get(`${set}.codes`)!.toArray());
      const pre = out.preprocessed.toArray();
      const ref = io.get(`${set}.preprocessed`)!.toArray();
      expect(Math.max(...pre.map((v, i) => Math.abs(v - ref[i])))).toBeLessThan(1e-6);
      const cs = out.cluster_size_after.toArray();
      const csRef = io.get(`${set}.cluster_size_after`)!.toArray();
      expect(Math.max(...cs.map((v, i) => Math.abs(v - csRef[i])))).toBeLessThan(1e-6);
    }
    // [0, 1] input and the same pixels as 0..255 integers preprocess to the same values.
    const x01 = io.get('img01.input')!;
    const x255 = new Tensor('float32', x01.shape, Float32Array.from(x01.data as Float32Array, (v) => v * 255));
    const a = await vqkdReferenceOutputs(model, x01, 1);
    const b = await vqkdReferenceOutputs(model, x255, 1);
    expect(b.codes.toArray()).toEqual(a.codes.toArray());
  });

  it('the .pth layout ({"model": state_dict}) loads through the official filter', async () => {
    const raw = await loadCheckpoint(join(DIR, 'vqkd.pth'), { modelKey: 'model|state_dict' });
    raw.set('teacher_model.visual.proj', Tensor.f32([2, 2]));
    raw.set('scaling_layer.shift', Tensor.f32([1, 3, 1, 1]));
    raw.set('loss.something', Tensor.f32([1]));
    const { state, dropped } = filterVqkdCheckpoint(raw);
    expect(dropped.sort()).toEqual(['loss.something', 'scaling_layer.shift', 'teacher_model.visual.proj']);
    const m = new VQKD(vqkdConfigFromJson(json()));
    expect(() => m.loadStateDict(state)).not.toThrow();
  });

  it('registry: the official names, their manifest-sized trees, and typed errors', () => {
    expect(listVqkdModels()).toEqual(
      expect.arrayContaining([
        'vqkd_encoder_base_decoder_1x768x12_clip',
        'vqkd_encoder_base_decoder_3x768x12_clip',
        'vqkd_encoder_base_decoder_1x768x12_dino',
        'vqkd_tiny',
      ]),
    );
    const manifest = JSON.parse(
      readFileSync(join(DIR, 'manifests/vqkd_encoder_base_decoder_3x768x12_clip.json'), 'utf8'),
    ) as { keys: Record<string, number[]>; num_params: number; num_tensors: number };
    const m = createVqkd('vqkd_encoder_base_decoder_3x768x12_clip');
    expect(Object.fromEntries([...m.shapes()].map(([k, s]) => [k, [...s]]))).toEqual(manifest.keys);
    expect(m.numParams()).toBe(manifest.num_params);
    expect(createVqkd('vqkd_encoder_base_decoder_1x768x12_dino').decodeTaskLayer.fc2.outFeatures).toBe(768);
    // The tiny registered size is the fixture's configuration.
    expect(vqkdConfigFor('vqkd_tiny')).toEqual(vqkdConfigFromJson(json()));
    expect(() => createVqkd('vqkd_base')).toThrow(/unknown VQ-KD tokenizer "vqkd_base"; known: vqkd_encoder/);
    expect(() => vqkdConfigFromJson({ ...json(), n_code: 'x' })).toThrow(VqkdConfigError);
  });

  it('a checkpoint of another size is a StateDictError naming the keys and shapes', async () => {
    const raw = await loadSafetensors(join(DIR, 'vqkd.safetensors'));
    const m = createVqkd('vqkd_tiny', {});
    const bad = new Map(raw);
    bad.set('quantize.embedding.weight', Tensor.f32([32, 8]));
    bad.delete('decoder.fc_norm.bias');
    let err: unknown;
    try {
      m.loadStateDict(filterVqkdCheckpoint(bad).state);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect(String(err)).toMatch(/quantize\.embedding\.weight expected \[64, 8\] got \[32, 8\]/);
    expect(String(err)).toMatch(/missing keys \(1\): decoder\.fc_norm\.bias/);
  });
});
