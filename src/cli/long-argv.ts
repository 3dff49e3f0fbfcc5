import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * onnxruntime-node 1.30 crashes (SIGSEGV) while creating a session when the process command
 * line is longer than ~30 KB (measured: 28 000 characters fine, 32 000 crash, whether in one
 * argument or spread over several) — e.g. a very long question, or `beit3 classify *.jpg` over
 * a big folder. Such invocations are re-run in a child process that reads its arguments from a
 * private temp file instead, so the child's own command line stays short.
 */
const MAX_CMDLINE = 16 * 1024;
const ARGV_FILE_FLAG = '--beit3-argv-file';

/** Returns the user arguments (after `node main.js`), reading them back in the re-run child. */
export function userArgs(argv: readonly string[]): string[] {
  const args = argv.slice(2);
  if (args[0] === ARGV_FILE_FLAG && args.length === 2) {
    const file = args[1];
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as string[];
    } finally {
      rmSync(join(file, '..'), { recursive: true, force: true });
    }
  }
  return args;
}

/** When the command line is too long for ORT, runs the CLI in a child and returns its exit code. */
export function rerunIfTooLong(argv: readonly string[], script: string): number | undefined {
  const total = argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (total <= MAX_CMDLINE || argv[2] === ARGV_FILE_FLAG) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'beit3-argv-'));
  const file = join(dir, 'argv.json');
  writeFileSync(file, JSON.stringify(argv.slice(2)), { mode: 0o600 });
  try {
    const r = spawnSync(process.execPath, [...process.execArgv, script, ARGV_FILE_FLAG, file], {
      stdio: 'inherit',
    });
    if (r.error) throw r.error;
    return r.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
