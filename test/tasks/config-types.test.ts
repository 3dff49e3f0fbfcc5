// Config fields of the wrong type are TaskConfigErrors naming the field, not silently ignored
// ("weights": 5 used to read as "no weights given") or misread ("tasks": [...] as task "0").
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTaskConfig, TaskConfigError } from '../../src/tasks/index.js';
import { fixture } from '../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'beit3-config-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, json: unknown) => {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(json));
  return f;
};

describe('task config field types', () => {
  it('"weights" must be a file name or a list of them', () => {
    for (const weights of [5, { a: 1 }, [1, 2], true]) {
      const f = write('w.json', { task: 'vqav2', model: 'beit3_tiny_patch8_32_vqav2', weights });
      expect(() => loadTaskConfig(f)).toThrow(TaskConfigError);
      expect(() => loadTaskConfig(f)).toThrow(`${f}: "weights" must be a file name or a list of file names`);
    }
  });

  it('"tasks" must be an object', () => {
    const f = write('t.json', { tasks: [{ task: 'vqav2' }] });
    expect(() => loadTaskConfig(f, { task: 'vqav2' })).toThrow(
      `${f}: "tasks" must be an object of task sections, got [{"task":"vqav2"}]`,
    );
  });

  it('the multi-task fixture (top-level "weights" is a description object) still loads', () => {
    const c = loadTaskConfig(fixture('beit3-ref/e2e/config.json'), { task: 'vqav2' });
    expect(c.weights.map((w) => w.split('/').pop())).toEqual([
      'backbone.safetensors',
      'vqav2.head.safetensors',
    ]);
  });
});
