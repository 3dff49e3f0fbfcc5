import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const cli = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    maxBuffer: 1 << 24,
  });

describe('CLI with a command line longer than onnxruntime-node tolerates', () => {
  it('answers a 60 KB question like its truncated prefix, via the argv-file re-run', async () => {
    // ORT 1.30 segfaults creating a session when the command line exceeds ~30 KB.
    const phrase = 'what color is the cat on the sofa ';
    const long = phrase.repeat(1800); // ~61 KB
    const short = phrase.repeat(12); // > 62 pieces already: the same 64-token segment
    const config = join(ROOT, 'fixtures/beit3-ref/e2e/config.json');
    const image = join(ROOT, 'fixtures/images/source/chelsea.png');
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('beit3-argv-')).length;
    const a = JSON.parse((await cli(['vqa', image, long, '-c', config, '--json', '--topk', '3'])).stdout);
    const b = JSON.parse((await cli(['vqa', image, short, '-c', config, '--json', '--topk', '3'])).stdout);
    expect(a[0].question).toBe(long);
    expect(a[0].topk).toEqual(b[0].topk);
    // the private argv file is removed again
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('beit3-argv-')).length).toBe(before);
  }, 60_000);
});
