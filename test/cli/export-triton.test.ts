// `beit3 export --triton DIR`: the CLI writes a Triton repository; a non-empty DIR without
// --force, an unknown task and conflicting options fail with one typed line and write nothing.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { beit3 } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';
import { CONFIG } from '../tasks/e2e-fixture.js';

const dir = tempDir('cli-triton-');
const run = (args: string[]) => beit3(['export', '-c', CONFIG, '--no-progress', ...args], { timeout: 90_000 });

describe('beit3 export --triton', () => {
  it('writes the repository, refuses to overwrite it without --force, replaces it with --force', () => {
    const repo = join(dir, 'models');
    const ok = run(['--task', 'retrieval', '--triton', repo, '--max-batch', '16', '--json']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const out = JSON.parse(ok.stdout);
    expect(out.models.map((m: { name: string; maxBatchSize: number }) => [m.name, m.maxBatchSize])).toEqual([
      ['retrieval_image', 16],
      ['retrieval_text', 16],
    ]);
    expect(readdirSync(repo).sort()).toEqual(['retrieval.meta.json', 'retrieval_image', 'retrieval_text']);
    const cfg = readFileSync(join(repo, 'retrieval_text', 'config.pbtxt'), 'utf8');
    expect(cfg).toMatch(/^max_batch_size: 16$/m);
    expect(cfg).toMatch(/^dynamic_batching \{/m);
    expect(existsSync(join(repo, 'retrieval_image', '1', 'model.onnx'))).toBe(true);

    const again = run(['--task', 'retrieval', '--triton', repo]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`beit3: TritonRepositoryError: ${repo}: folder exists and is not empty (use --force to replace it)\n`);
    const forced = run(['--task', 'vqav2', '--triton', repo, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^vqav2  max_batch_size 8  inputs: image\[3,40,40\] question\[64\] padding_mask\[64\]$/m);
    expect(readdirSync(repo).sort()).toEqual(['vqav2', 'vqav2.meta.json']);
  }, 120_000);

  it('rejects an unknown task, --out with --triton, neither, and a bad --max-batch; nothing is written', () => {
    const root = join(dir, 'rejects');
    const empty = join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(root, 'marker'), '');
    const bad = run(['--task', 'sorting', '--triton', join(root, 'never')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^beit3: TaskConfigError: unknown task "sorting"/);
    const both = run(['--task', 'vqav2', '--triton', empty, '--out', join(root, 'x.onnx')]);
    expect(both.stderr).toBe('beit3: CliError: --out and --triton are exclusive: give one\n');
    const neither = run(['--task', 'vqav2']);
    expect(neither.stderr).toBe('beit3: CliError: one of --out <file> or --triton <dir> is required\n');
    const mb = run(['--task', 'vqav2', '--triton', empty, '--max-batch', '0']);
    expect(mb.code).toBe(1);
    expect(mb.stderr).toMatch(/--max-batch must be an integer in \[1, 65536\], got '0'/);
    expect(readdirSync(root).sort()).toEqual(['empty', 'marker']);
    expect(readdirSync(empty)).toEqual([]);
  }, 120_000);
});
