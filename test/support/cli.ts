// The one way tests run the real `beit3` CLI entry (src/cli/main.ts) as a child process.
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './paths.js';

export interface CliResult {
  /** Exit status (null when killed by a signal or the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string | Buffer;
  timeout?: number;
  env?: NodeJS.ProcessEnv;
}

// `node --import tsx` is what `npx tsx src/cli/main.ts …` does, without npx's start-up cost.
const ARGV = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];

/** Runs `beit3 <args>` synchronously from the repository root. */
export function beit3(args: readonly string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [...ARGV, ...args], {
    cwd: ROOT,
    input: opts.input ?? '', // an empty, closed stdin unless given
    env: opts.env,
    encoding: 'utf8',
    timeout: opts.timeout ?? 120_000,
    maxBuffer: 1 << 26,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `beit3 <args>` without blocking the test's event loop; never rejects. */
export function beit3Async(
  args: readonly string[],
  opts: Omit<CliOptions, 'input'> = {},
): Promise<CliResult> {
  return promisify(execFile)(process.execPath, [...ARGV, ...args], {
    cwd: ROOT,
    env: opts.env,
    timeout: opts.timeout ?? 120_000,
    maxBuffer: 1 << 26,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number | null; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}
