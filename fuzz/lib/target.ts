/**
 * What a fuzz target is, and the contract every input must meet: the parser either returns a
 * correct result (checked by the target itself, e.g. a round trip) or throws a typed beit3 error
 * (a Beit3Error subclass naming the problem). Anything else is a finding: an untyped error
 * (TypeError, RangeError, a raw ENOENT...), an input slower than the target's time bound, memory
 * growth beyond the bound derived from the input size, or a temp/half-written file left behind.
 * Crashes (a native segfault, a V8 abort) and hangs are caught by the supervisor in scripts/fuzz.ts.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as fc from 'fast-check';
import { Beit3Error } from '../../src/util/errors.js';

export interface RunContext {
  /** A scratch folder, emptied before each input (file-based parsers write the input here). */
  dir: string;
}

export interface FuzzTarget {
  name: string;
  /** The entry points exercised, for the report and docs. */
  entry: string;
  /** One input. Resolve when the result is correct (assert it), throw otherwise. */
  run(input: Uint8Array, ctx: RunContext): unknown;
  /** Valid examples written to the corpus by `npm run fuzz -- --seed-corpus` (generated, not hand-edited). */
  seeds(): Uint8Array[] | Promise<Uint8Array[]>;
  /** Structurally valid but hostile inputs (huge declared sizes, overlaps, deep nesting...). */
  hostile?: () => fc.Arbitrary<Uint8Array>;
  /** Tokens the mutator inserts (magic numbers, keywords, opcodes). */
  dict?: (string | Uint8Array)[];
  /** Longest input the mutator produces (default 64 KiB). */
  maxLen?: number;
  /** Per-input time bound in ms (default 3000), plus 10 ms per KiB of input. */
  timeMs?: number;
  /** Releases what the target keeps between inputs (e.g. a running server). */
  dispose?: () => Promise<void>;
  /** Inputs of the CI pass (default 30 mutations, 6 hostile): slow targets run fewer. */
  ci?: { mutations?: number; hostile?: number };
  /** Allowed peak RSS growth in bytes for an input of `n` bytes (default 256 MiB + 64·n). */
  memBytes?: (n: number) => number;
}

export type FindingKind = 'untyped-error' | 'slow' | 'memory' | 'leftover-file' | 'crash' | 'hang';

export interface Finding {
  kind: FindingKind;
  message: string;
  /** Dedup key: kind + error name + the first src/ frame. */
  signature: string;
}

export const DEFAULT_TIME_MS = 3000;
export const defaultMemBytes = (n: number) => 256 * 2 ** 20 + 64 * n;

export function newContext(): RunContext & { dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'beit3-fuzz-'));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

function clear(dir: string): void {
  for (const n of readdirSync(dir)) rmSync(join(dir, n), { recursive: true, force: true });
}

function firstSrcFrame(e: unknown): string {
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  const m = /\((?:file:\/\/)?[^()]*?\/(src\/[^():]+:\d+)/.exec(stack) ?? /(src\/[^\s():]+:\d+)/.exec(stack);
  return m ? m[1] : '?';
}

const TEMP_NAME = /\.tmp$|\.partial$/;

function leftovers(dir: string, before: Set<string>): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(join(d, ent.name), r);
      else if (TEMP_NAME.test(ent.name) && !before.has(r)) out.push(r);
    }
  };
  walk(dir, '');
  return out;
}

function rssBytes(): number {
  return process.memoryUsage.rss();
}

/** Runs one input under the contract; returns a finding, or undefined when the input was handled. */
export async function checkInput(t: FuzzTarget, input: Uint8Array, ctx: RunContext): Promise<Finding | undefined> {
  clear(ctx.dir);
  const before = new Set<string>();
  const rss0 = rssBytes();
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let error: unknown;
  let threw = false;
  try {
    await t.run(input, ctx);
  } catch (e) {
    threw = true;
    error = e;
  }
  const ms = performance.now() - t0;
  const peak1 = process.resourceUsage().maxRSS * 1024;
  const grown = Math.max(0, peak1 > peak0 ? peak1 - rss0 : 0, rssBytes() - rss0);
  // linear work is allowed for large (e.g. hostile, deeply nested) inputs: +10 ms per KiB
  const limitMs = (t.timeMs ?? DEFAULT_TIME_MS) + input.length / 100;
  const limitMem = (t.memBytes ?? defaultMemBytes)(input.length);
  if (threw && !(error instanceof Beit3Error)) {
    const name = error instanceof Error ? error.name : typeof error;
    const msg = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { kind: 'untyped-error', message: msg, signature: `untyped-error ${name} ${firstSrcFrame(error)}` };
  }
  const left = leftovers(ctx.dir, before);
  if (left.length)
    return { kind: 'leftover-file', message: `left behind: ${left.join(', ')}`, signature: `leftover-file ${t.name}` };
  if (ms > limitMs)
    return {
      kind: 'slow',
      message: `took ${ms.toFixed(0)} ms (bound ${limitMs} ms)${threw ? `; then threw ${(error as Error).message}` : ''}`,
      signature: `slow ${threw ? firstSrcFrame(error) : 'ok'}`,
    };
  if (grown > limitMem)
    return {
      kind: 'memory',
      message: `resident memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB (bound ${(limitMem / 2 ** 20).toFixed(0)} MiB for ${input.length} input bytes)`,
      signature: `memory ${threw ? firstSrcFrame(error) : 'ok'}`,
    };
  return undefined;
}

/** Throws if `cond` is false: a wrong result from a parser that did not refuse its input. */
export function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new WrongResult(what);
}

/**
 * Runs the checks on an accepted input: any error there (even a typed one, e.g. the re-read of
 * what beit3 itself just wrote) is a wrong result, not a refusal.
 */
export async function verify(what: string, check: () => unknown): Promise<void> {
  try {
    await check();
  } catch (e) {
    if (e instanceof WrongResult) throw e;
    throw new WrongResult(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

/** A result that violates a target's own check (never a Beit3Error, so it counts as a finding). */
export class WrongResult extends Error {
  override name = 'WrongResult';
}
