// Ctrl-C while saveSafetensors streams a large file: the temp file beside the output is removed
// and the process still ends as interrupted (exit by SIGINT), instead of leaving `.x.tmp` behind.
// (That the signal handlers exist only while a write is in flight: test/util/atomic.test.ts.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'beit3-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('interrupted writes', () => {
  it('SIGINT during saveSafetensors leaves no temp file', async () => {
    const script = join(dir, 'save.mts');
    writeFileSync(
      script,
      `import { Tensor } from ${JSON.stringify(join(ROOT, 'src/graph/tensor.ts'))};
import { saveSafetensors } from ${JSON.stringify(join(ROOT, 'src/io/safetensors.ts'))};
const big = Tensor.f32([32 * 2 ** 20], new Float32Array(32 * 2 ** 20)); // 128 MiB, written 8 times
await saveSafetensors(process.argv[2], Object.fromEntries([...'abcdefgh'].map((k) => [k, big])));
`,
    );
    const out = join(dir, 'out');
    const child = spawn(process.execPath, ['--import', 'tsx', script, join(out, 'm.safetensors')], {
      cwd: ROOT,
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
    // interrupt as soon as the temp file exists (the write takes seconds)
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 25));
      let names: string[] = [];
      try {
        names = readdirSync(out);
      } catch {
        continue;
      }
      if (names.some((n) => n.endsWith('.tmp'))) break;
    }
    expect(readdirSync(out).filter((n) => n.endsWith('.tmp'))).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);
});
