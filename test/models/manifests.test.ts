import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/models/beit3/registry.js';

const DIR = join(import.meta.dirname, '../../fixtures/beit3-ref/manifests');

function registeredName(file: string, m: { registered_model?: string }): string {
  if (m.registered_model) return m.registered_model;
  const p = /^pretrained_backbone_(\w+)_(\d+)\.json$/.exec(file);
  if (!p) throw new Error(`cannot tell the model of manifest ${file}`);
  return `beit3_${p[1]}_patch16_${p[2]}`;
}

describe('registry reproduces the official key → shape manifests exactly', () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'index.json')) {
    it(file, () => {
      const m = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
      const model = createModel(registeredName(file, m));
      const ours = Object.fromEntries([...model.shapes()].map(([k, s]) => [k, [...s]]));
      expect(ours).toEqual(m.keys);
      expect(Object.keys(ours)).toEqual(Object.keys(m.keys)); // same order as named_parameters()
      expect(model.numParams()).toBe(m.num_params);
    });
  }
});
