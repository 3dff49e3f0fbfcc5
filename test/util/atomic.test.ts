// The one atomic write: old file or new file, never half of one; temps cleaned on error, on
// SIGINT/SIGTERM, and (after a SIGKILL) by the next write of the same output; special files refused.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AtomicWriteError,
  tempPathFor,
  trackTempFile,
  withAtomicFile,
  withAtomicFileSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from '../../src/util/atomic.node.js';
import { Beit3Error } from '../../src/util/errors.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'beit3-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const temps = (d: string): string[] => readdirSync(d).filter((n) => n.endsWith('.tmp'));

describe('writeFileAtomic', () => {
  it('writes and replaces whole files (sync, async, streaming), keeps the mode, follows a symlink', async () => {
    const d = join(dir, 'basic');
    mkdirSync(d);
    const out = join(d, 'a.json');
    writeFileAtomicSync(out, '{"v":1}');
    expect(readFileSync(out, 'utf8')).toBe('{"v":1}');
    chmodSync(out, 0o600);
    await writeFileAtomic(out, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(out)]).toEqual([1, 2, 3]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const n = await withAtomicFile(out, async (fh) => {
      await fh.write(Buffer.from('ab'));
      await fh.write(Buffer.from('cd'));
      return 4;
    });
    expect(n).toBe(4);
    expect(readFileSync(out, 'utf8')).toBe('abcd');
    withAtomicFileSync(out, (fd, tmp) => {
      expect(tmp).toMatch(/\/\.a\.json\.\d+-\d+\.tmp$/);
      writeFileSync(fd, 'sync');
    });
    expect(readFileSync(out, 'utf8')).toBe('sync');
    const link = join(d, 'link.json');
    symlinkSync(out, link);
    writeFileAtomicSync(link, 'via link');
    expect(readFileSync(out, 'utf8')).toBe('via link');
    expect(temps(d)).toEqual([]);
    await writeFileAtomic(join(d, 'x/y/z.txt'), 'deep', { mkdir: true });
    expect(readFileSync(join(d, 'x/y/z.txt'), 'utf8')).toBe('deep');
  });

  it('a writer that throws leaves the old file and no temp; its own error passes through', async () => {
    const d = join(dir, 'throws');
    mkdirSync(d);
    const out = join(d, 'm.bin');
    writeFileSync(out, 'old');
    await expect(
      withAtomicFile(out, async (fh) => {
        await fh.write(Buffer.from('half'));
        throw new RangeError('bad sample');
      }),
    ).rejects.toThrow(RangeError);
    expect(() =>
      withAtomicFileSync(out, (fd) => {
        writeFileSync(fd, 'half');
        throw new TypeError('nope');
      }),
    ).toThrow(TypeError);
    expect(readFileSync(out, 'utf8')).toBe('old');
    expect(temps(d)).toEqual([]);
  });

  describe('rejects', () => {
    it('a missing folder, a directory in the way, a path under a file: AtomicWriteError naming the output', async () => {
      const missing = join(dir, 'no/such/f.txt');
      expect(() => writeFileAtomicSync(missing, 'x')).toThrow(new AtomicWriteError(missing, 'its folder does not exist'));
      await expect(writeFileAtomic(missing, 'x')).rejects.toThrow(`cannot write ${missing}: its folder does not exist`);
      const d = join(dir, 'taken');
      mkdirSync(d);
      const err = (() => {
        try {
          writeFileAtomicSync(d, 'x');
        } catch (e) {
          return e;
        }
      })() as AtomicWriteError;
      expect(err).toBeInstanceOf(AtomicWriteError);
      expect(err).toBeInstanceOf(Beit3Error);
      expect(err.name).toBe('AtomicWriteError');
      expect(err.reason).toBe('it is a directory');
      expect(err.path).toBe(d);
      const file = join(dir, 'plain');
      writeFileSync(file, 'x');
      await expect(writeFileAtomic(join(file, 'sub/f'), 'x', { mkdir: true })).rejects.toThrow(/a component of the path is not a folder/);
    });

    it.runIf(process.platform !== 'win32')('a FIFO or a device node as the output, leaving it in place', async () => {
      const d = join(dir, 'special');
      mkdirSync(d);
      const fifo = join(d, 'pipe');
      execFileSync('mkfifo', [fifo]);
      expect(() => writeFileAtomicSync(fifo, 'x')).toThrow(`cannot write ${fifo}: it is a FIFO (named pipe), not a regular file`);
      await expect(writeFileAtomic(fifo, 'x')).rejects.toThrow(/FIFO/);
      expect(statSync(fifo).isFIFO()).toBe(true);
      expect(() => writeFileAtomicSync('/dev/null', 'x')).toThrow('cannot write /dev/null: it is a device node, not a regular file');
      const link = join(d, 'null-link');
      symlinkSync('/dev/null', link);
      await expect(writeFileAtomic(link, 'x')).rejects.toThrow(/device node/);
      expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
      expect(temps(d)).toEqual([]);
    });
  });
});

/** Runs `code` (an ES module) with tsx; resolves once its stdout says `ready`. */
function child(code: string, ready: string): Promise<{ pid: number; kill: (s: NodeJS.Signals) => void; exited: Promise<NodeJS.Signals | null> }> {
  const script = join(dir, `child-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(script, code);
  const p = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT });
  const exited = new Promise<NodeJS.Signals | null>((r) => p.on('exit', (_c, s) => r(s)));
  let out = '';
  return new Promise((resolve, reject) => {
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(ready)) resolve({ pid: p.pid!, kill: (s) => p.kill(s), exited });
    });
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (c, s) => reject(new Error(`child exited early (${c ?? s}): ${out}`)));
  });
}

/** A child that starts a streaming write of `out`, prints "writing", then waits forever. */
const hangingWriter = (out: string): string => `import { withAtomicFile } from ${JSON.stringify(join(ROOT, 'src/util/atomic.node.ts'))};
await withAtomicFile(${JSON.stringify(out)}, async (fh) => {
  await fh.write(Buffer.from('partial'));
  process.stdout.write('writing\\n');
  await new Promise(() => setInterval(() => {}, 1000));
});
`;

describe('interrupted writes', () => {
  it('SIGTERM mid-write: temp removed, old file intact, the process still ends by the signal', async () => {
    const d = join(dir, 'sigterm');
    mkdirSync(d);
    const out = join(d, 'out.bin');
    writeFileSync(out, 'old');
    const c = await child(hangingWriter(out), 'writing');
    expect(temps(d)).toHaveLength(1);
    c.kill('SIGTERM');
    expect(await c.exited).toBe('SIGTERM');
    expect(readdirSync(d)).toEqual(['out.bin']);
    expect(readFileSync(out, 'utf8')).toBe('old');
  }, 60_000);

  it('SIGKILL mid-write leaves the old file intact; the next write of that output removes the stale temp', async () => {
    const d = join(dir, 'sigkill');
    mkdirSync(d);
    const out = join(d, 'out.bin');
    const other = join(d, 'other.bin');
    writeFileSync(out, 'old');
    const c = await child(hangingWriter(out), 'writing');
    c.kill('SIGKILL');
    expect(await c.exited).toBe('SIGKILL');
    const stale = temps(d);
    expect(stale).toHaveLength(1);
    expect(readFileSync(out, 'utf8')).toBe('old');
    // a temp of a live process (this one) is never touched; another output's stale temp waits for that output
    const live = tempPathFor(out);
    writeFileSync(live, 'in flight');
    const otherStale = join(d, `.other.bin.${c.pid}-0.tmp`);
    writeFileSync(otherStale, 'left by the killed run');
    await writeFileAtomic(out, 'new');
    expect(readFileSync(out, 'utf8')).toBe('new');
    expect(existsSync(join(d, stale[0]))).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(otherStale)).toBe(true);
    writeFileAtomicSync(other, 'x');
    expect(existsSync(otherStale)).toBe(false);
    rmSync(live);
    expect(temps(d)).toEqual([]);
  }, 60_000);

  it('signal handlers exist only while a temp file is tracked', () => {
    const before = process.listenerCount('SIGINT');
    const untrack = trackTempFile(join(dir, 'x.tmp'));
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    untrack();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
