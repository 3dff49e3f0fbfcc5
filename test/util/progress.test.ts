// The one progress event and its sinks: exact output for a fake clock and a string stream.
import { describe, expect, it } from 'vitest';
import {
  createProgressSink,
  fanOut,
  jsonlProgressSink,
  type ProgressEvent,
  stageReporter,
  textProgressSink,
} from '../../src/util/progress.js';

function stream(isTTY: boolean): { write(s: string): void; isTTY: boolean; out: string[] } {
  const out: string[] = [];
  return { write: (s) => void out.push(s), isTTY, out };
}

/** A clock the test moves by hand. */
function clock(): { now: () => number; at: (ms: number) => void } {
  let t = 0;
  return { now: () => t, at: (ms) => void (t = ms) };
}

describe('jsonlProgressSink', () => {
  it('writes start, done and every 10% of a stage as JSON lines with elapsed_s', () => {
    const s = stream(false);
    const c = clock();
    const sink = jsonlProgressSink(s, { now: c.now });
    sink({ status: 'start', stage: 'write', done: 0, total: 100, unit: 'bytes' });
    for (let d = 1; d <= 100; d++) {
      c.at(d * 10);
      sink({ status: d === 100 ? 'done' : 'progress', stage: 'write', done: d, total: 100, unit: 'bytes' });
    }
    const lines = s.out.map((l) => JSON.parse(l) as ProgressEvent & { event: string; elapsed_s: number });
    expect(s.out.every((l) => l.endsWith('\n'))).toBe(true);
    expect(lines.map((l) => [l.status, l.done])).toEqual([
      ['start', 0],
      ...[1, 11, 21, 31, 41, 51, 61, 71, 81, 91].map((d) => ['progress', d]),
      ['done', 100],
    ]);
    expect(lines[0]).toEqual({ event: 'progress', status: 'start', stage: 'write', done: 0, total: 100, unit: 'bytes', elapsed_s: 0 });
    expect(lines.at(-1)!.elapsed_s).toBe(1);
  });

  it('without a total: at most one line per interval; messages are never dropped; done is written once', () => {
    const s = stream(false);
    const c = clock();
    const sink = jsonlProgressSink(s, { now: c.now, minIntervalMs: 1000 });
    sink({ status: 'progress', stage: 'train', metrics: { pieces: 900 } });
    c.at(400);
    sink({ status: 'progress', stage: 'train', metrics: { pieces: 800 } });
    sink({ status: 'progress', stage: 'train', message: 'prune' });
    c.at(1200);
    sink({ status: 'progress', stage: 'train', metrics: { pieces: 700 } });
    sink({ status: 'done', stage: 'train' });
    sink({ status: 'done', stage: 'train' });
    sink({ status: 'progress', stage: 'train', metrics: { pieces: 1 } });
    const lines = s.out.map((l) => JSON.parse(l) as ProgressEvent);
    expect(lines.map((l) => l.metrics?.pieces ?? l.message ?? l.status)).toEqual([900, 'prune', 700, 'done']);
  });
});

describe('textProgressSink', () => {
  it('on a TTY: one bar redrawn in place with rate, ETA and metrics, a newline when done', () => {
    const s = stream(true);
    const c = clock();
    const sink = textProgressSink(s, { now: c.now });
    sink({ status: 'start', stage: 'fit', done: 0, total: 100, unit: 'steps' });
    c.at(10_000);
    sink({ status: 'progress', stage: 'fit', done: 50, total: 100, unit: 'steps', metrics: { loss: 1.2345678, lr: 0.0001 } });
    c.at(20_000);
    sink({ status: 'done', stage: 'fit', done: 100, total: 100, unit: 'steps' });
    expect(s.out[0]).toBe(`\rfit          [${'.'.repeat(30)}] 0/100 steps\x1b[K`);
    expect(s.out[1]).toBe(`\rfit          [${'#'.repeat(15)}${'.'.repeat(15)}] 50/100 steps  5 steps/s  ETA 0:10 loss=1.235 lr=1.000e-4\x1b[K`);
    expect(s.out[2]).toBe(`\rfit          [${'#'.repeat(30)}] 100/100 steps  5 steps/s  in 0:20\x1b[K\n`);
  });

  it('off a TTY: plain lines, with messages before counts', () => {
    const s = stream(false);
    const c = clock();
    const sink = textProgressSink(s, { now: c.now });
    sink({ status: 'start', stage: 'train', metrics: { sentences: 400 } });
    c.at(1500);
    sink({ status: 'progress', stage: 'train', message: 'seed', metrics: { pieces: 900, words: 50 } });
    c.at(3000);
    sink({ status: 'done', stage: 'train', metrics: { pieces: 300 } });
    expect(s.out).toEqual(['[0.0s] train start sentences=400\n', '[1.5s] train seed pieces=900 words=50\n', '[3.0s] train done pieces=300\n']);
  });
});

describe('createProgressSink / stageReporter / fanOut', () => {
  it('picks JSON lines off a TTY or with json, the bar on a TTY, nothing without a stream', () => {
    const ev: ProgressEvent = { status: 'done', stage: 's', done: 1, total: 1 };
    const a = stream(false);
    createProgressSink({ stream: a })(ev);
    expect(JSON.parse(a.out[0]).status).toBe('done');
    const b = stream(true);
    createProgressSink({ stream: b })(ev);
    expect(b.out[0].startsWith('\rs ')).toBe(true);
    const c = stream(true);
    createProgressSink({ stream: c, json: true })(ev);
    expect(JSON.parse(c.out[0]).stage).toBe('s');
    const d = stream(false);
    createProgressSink({ stream: d, json: false })(ev);
    expect(d.out[0]).toMatch(/^\[\d+\.\ds\] s done 1\/1/);
    expect(() => createProgressSink({ stream: null })(ev)).not.toThrow();
  });

  it('stageReporter emits start/progress/done with the stage, total and unit; fanOut reaches every listener', () => {
    const got: ProgressEvent[] = [];
    const also: string[] = [];
    const r = stageReporter(
      fanOut((e) => got.push(e), undefined, (e) => also.push(e.status)),
      'index',
      { total: 3, unit: 'images' },
    );
    r.start();
    r.update(2, { metrics: { added: 2, failed: 0 } });
    r.update(2, { message: 'skipped x.png: truncated' });
    r.done({ metrics: { added: 2, failed: 1 } });
    expect(got).toEqual([
      { status: 'start', stage: 'index', done: 0, total: 3, unit: 'images' },
      { status: 'progress', stage: 'index', done: 2, total: 3, unit: 'images', metrics: { added: 2, failed: 0 } },
      { status: 'progress', stage: 'index', done: 2, total: 3, unit: 'images', message: 'skipped x.png: truncated' },
      { status: 'done', stage: 'index', done: 3, total: 3, unit: 'images', metrics: { added: 2, failed: 1 } },
    ]);
    expect(also).toEqual(['start', 'progress', 'progress', 'done']);
    expect(() => stageReporter(undefined, 'x').done()).not.toThrow();
  });
});
