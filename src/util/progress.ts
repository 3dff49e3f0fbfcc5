/**
 * One progress event for every long job (corpus build, convert, tokenizer training, pipelines,
 * image indexing, safetensors writes, the training loop), and the sinks that render it: a TTY bar
 * (rate, ETA, metrics such as loss) and JSON lines. Platform-free: sinks write through a
 * `{ write, isTTY }` stream, so process.stderr, a browser log or an SSE channel all fit.
 */

export interface ProgressEvent {
  status: 'start' | 'progress' | 'done';
  /** What is running, e.g. 'rasterize', 'write', 'index'. */
  stage: string;
  /** Units finished so far. */
  done?: number;
  /** Units in all, when known. */
  total?: number;
  /** What `done`/`total` count: 'images', 'bytes', 'steps'... */
  unit?: string;
  message?: string;
  /** Numbers worth showing beside the bar (loss, lr, pieces...). */
  metrics?: Record<string, number>;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** Where sinks write: process.stderr fits, so does `{ write: (s) => lines.push(s) }`. */
export interface ProgressStream {
  write(s: string): void;
  isTTY?: boolean;
}

export interface SinkOptions {
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
  /** Least time between two redraws/lines of one stage for events without a total (default 1000 ms; bar: 100 ms). */
  minIntervalMs?: number;
  /** With a total, write a progress line only each `percentStep` percent (default 10; JSON and plain text). */
  percentStep?: number;
}

/** Calls every callback given (undefined ones skipped): e.g. a sink plus a caller's own listener. */
export function fanOut(...callbacks: (ProgressCallback | undefined)[]): ProgressCallback {
  const cbs = callbacks.filter((c): c is ProgressCallback => !!c);
  return (e) => {
    for (const c of cbs) c(e);
  };
}

interface StageState {
  started: number;
  lastAt: number;
  lastPct: number;
  finished: boolean;
}

/** Decides which events of a stage are worth writing (start, done and messages always; progress throttled). */
function throttle(opts: SinkOptions, defaultInterval: number): (e: ProgressEvent) => StageState | undefined {
  const now = opts.now ?? Date.now;
  const interval = opts.minIntervalMs ?? defaultInterval;
  const step = opts.percentStep ?? 10;
  const stages = new Map<string, StageState>();
  return (e) => {
    const t = now();
    let s = stages.get(e.stage);
    if (!s || e.status === 'start') {
      s = { started: t, lastAt: -Infinity, lastPct: -Infinity, finished: false };
      stages.set(e.stage, s);
    }
    if (e.status === 'start') {
      s.lastAt = t;
      return s;
    }
    if (e.status === 'done') {
      if (s.finished) return undefined;
      s.finished = true;
      return s;
    }
    if (s.finished) return undefined;
    if (e.message) return s; // a message (a skipped file, a warning) is never dropped
    if (e.total !== undefined && e.done !== undefined && e.total > 0) {
      const pct = (100 * e.done) / e.total;
      if (pct - s.lastPct < step && e.done < e.total) return undefined;
      s.lastPct = pct;
    } else if (t - s.lastAt < interval) return undefined;
    s.lastAt = t;
    return s;
  };
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

function formatNumber(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(3) : x.toPrecision(4);
}

function metricsText(m: Record<string, number> | undefined): string {
  if (!m) return '';
  return Object.entries(m)
    .map(([k, v]) => ` ${k}=${formatNumber(v)}`)
    .join('');
}

/** `done/total unit (pct%)  rate/s  ETA m:ss` for one event, given the stage's start time. */
function countsText(e: ProgressEvent, elapsedMs: number): string {
  const unit = e.unit ? ` ${e.unit}` : '';
  if (e.done === undefined) return '';
  let s = e.total !== undefined ? `${e.done}/${e.total}${unit}` : `${e.done}${unit}`;
  const rate = elapsedMs > 0 ? (1000 * e.done) / elapsedMs : 0;
  if (rate > 0) s += `  ${formatNumber(rate)}${unit || ''}/s`;
  if (e.total !== undefined && e.status !== 'done' && rate > 0 && e.done < e.total)
    s += `  ETA ${seconds((1000 * (e.total - e.done)) / rate)}`;
  if (e.status === 'done') s += `  in ${seconds(elapsedMs)}`;
  return s;
}

/**
 * Human-readable progress. On a TTY: one bar per stage redrawn in place with `\r` (rate, ETA,
 * metrics), ending with a newline when the stage is done. Elsewhere: one plain line per throttled
 * update, so logs stay readable.
 */
export function textProgressSink(stream: ProgressStream, opts: SinkOptions = {}): ProgressCallback {
  const now = opts.now ?? Date.now;
  const tty = !!stream.isTTY;
  const pick = throttle(opts, tty ? 100 : 1000);
  const width = 30;
  return (e) => {
    const s = pick(e);
    if (!s) return;
    const elapsed = now() - s.started;
    if (!tty) {
      const head = e.status === 'progress' ? e.stage : `${e.stage} ${e.status}`;
      const parts = [`[${(elapsed / 1000).toFixed(1)}s] ${head}`, e.message, countsText(e, elapsed)].filter((x) => x);
      stream.write(parts.join(' ') + metricsText(e.metrics) + '\n');
      return;
    }
    let bar = '';
    if (e.total !== undefined && e.total > 0 && e.done !== undefined) {
      const fill = Math.max(0, Math.min(width, Math.round((width * e.done) / e.total)));
      bar = ` [${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
    }
    const line = `${e.stage.padEnd(12)}${bar} ${countsText(e, elapsed)}${metricsText(e.metrics)}${e.message ? `  ${e.message}` : ''}`;
    stream.write(`\r${line}\x1b[K${e.status === 'done' ? '\n' : ''}`);
  };
}

/** One JSON object per line: the event itself plus `elapsed_s` (progress lines throttled). */
export function jsonlProgressSink(stream: ProgressStream, opts: SinkOptions = {}): ProgressCallback {
  const now = opts.now ?? Date.now;
  const pick = throttle(opts, 1000);
  return (e) => {
    const s = pick(e);
    if (!s) return;
    const elapsed_s = Math.round(now() - s.started) / 1000;
    stream.write(JSON.stringify({ event: 'progress', ...e, elapsed_s }) + '\n');
  };
}

export interface CreateSinkOptions extends SinkOptions {
  /** null/undefined: report nothing. */
  stream?: ProgressStream | null;
  /** true: JSON lines; false: text (bar on a TTY); undefined: bar on a TTY, JSON lines otherwise. */
  json?: boolean;
}

/** The sink the CLI uses: JSON lines for machines, a bar for people. */
export function createProgressSink(opts: CreateSinkOptions): ProgressCallback {
  const { stream, json } = opts;
  if (!stream) return () => {};
  const useJson = json ?? !stream.isTTY;
  return useJson ? jsonlProgressSink(stream, opts) : textProgressSink(stream, opts);
}

/** Reports one stage: `start()`, `update(done)` any number of times, `done()`. A no-op without a callback. */
export interface StageReporter {
  start(message?: string): void;
  update(done: number, extra?: { total?: number; metrics?: Record<string, number>; message?: string }): void;
  done(extra?: { done?: number; metrics?: Record<string, number>; message?: string }): void;
}

export function stageReporter(
  onProgress: ProgressCallback | undefined,
  stage: string,
  opts: { total?: number; unit?: string } = {},
): StageReporter {
  let total = opts.total;
  let last = 0;
  const unit = opts.unit;
  const emit = (e: Omit<ProgressEvent, 'stage' | 'unit' | 'total'>): void => {
    if (!onProgress) return;
    const ev: ProgressEvent = { ...e, stage };
    if (total !== undefined) ev.total = total;
    if (unit !== undefined) ev.unit = unit;
    for (const k of Object.keys(ev) as (keyof ProgressEvent)[]) if (ev[k] === undefined) delete ev[k];
    onProgress(ev);
  };
  return {
    start: (message) => emit({ status: 'start', done: 0, message }),
    update: (done, extra = {}) => {
      if (extra.total !== undefined) total = extra.total;
      last = done;
      emit({ status: 'progress', done, metrics: extra.metrics, message: extra.message });
    },
    done: (extra = {}) => emit({ status: 'done', done: extra.done ?? total ?? last, metrics: extra.metrics, message: extra.message }),
  };
}
