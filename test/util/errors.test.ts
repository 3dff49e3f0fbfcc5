// One root for every typed error: each error class in src/ extends Beit3Error (directly or through
// its area's base) and sets `override name` to its own class name (survives minification).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.js';
import { DataError, ShardError } from '../../src/data/errors.js';
import { SafetensorsError } from '../../src/io/safetensors.js';
import { TaskError } from '../../src/tasks/errors.js';
import { AtomicWriteError, Beit3Error, WorkerPoolError } from '../../src/util/errors.js';
import { ImageDecodeError } from '../../src/vision/decode.js';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** class name -> { base, name set in the body, file } for every class deriving from an *Error / Error. */
function errorClasses(): Map<string, { base: string; name?: string; file: string }> {
  const out = new Map<string, { base: string; name?: string; file: string }>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/class (\w+) extends (\w+)\b[^{]*\{/g)) {
      if (!/Error$/.test(m[2]) && m[2] !== 'Beit3Error') continue;
      const body = text.slice(m.index! + m[0].length, m.index! + m[0].length + 600);
      const name = /override name = '([^']+)'/.exec(body.split(/\n}\n/)[0])?.[1];
      out.set(m[1], { base: m[2], name, file: relative(SRC, file) });
    }
  }
  return out;
}

describe('Beit3Error', () => {
  it('keeps message, cause and name; typed errors of every layer are Beit3Errors', () => {
    const cause = new Error('root');
    const e = new Beit3Error('top', { cause });
    expect([e.name, e.message, e.cause]).toEqual(['Beit3Error', 'top', cause]);
    expect(e).toBeInstanceOf(Error);
    for (const err of [
      new CliError('x'),
      new DataError('x'),
      new ShardError('s.tar', 'bad'),
      new SafetensorsError('x'),
      new TaskError('x'),
      new ImageDecodeError('a.png', 'truncated'),
      new WorkerPoolError('x'),
      new AtomicWriteError('/a', 'it is a directory'),
    ])
      expect(err).toBeInstanceOf(Beit3Error);
  });

  it('every error class in src/ reaches Beit3Error and names itself', () => {
    const classes = errorClasses();
    expect(classes.size).toBeGreaterThan(25);
    const problems: string[] = [];
    for (const [cls, info] of classes) {
      if (cls === 'Beit3Error') continue;
      let base = info.base;
      const seen = new Set([cls]);
      while (base !== 'Beit3Error' && classes.has(base) && !seen.has(base)) {
        seen.add(base);
        base = classes.get(base)!.base;
      }
      if (base !== 'Beit3Error') problems.push(`${info.file}: ${cls} extends ${info.base}, not Beit3Error`);
      if (info.name !== cls) problems.push(`${info.file}: ${cls} sets name '${info.name ?? '(none)'}'`);
    }
    expect(problems).toEqual([]);
  });
});
