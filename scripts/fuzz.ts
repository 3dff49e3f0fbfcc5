/**
 * `npm run fuzz -- <target> [--seconds N] [--seed S]`: coverage-guided fuzzing of one parser.
 * `npm run fuzz -- list` names the targets; `npm run fuzz -- <target> --write-seeds` (re)writes the
 * generated seed files of fuzz/<target>/.
 *
 * The loop (child process) mutates corpus entries (fuzz/lib/mutate.ts), mixes in fast-check's
 * structurally hostile inputs, runs each under the contract (fuzz/lib/target.ts) and keeps inputs
 * that reach new V8 block-coverage ranges of src/ (node:inspector precise coverage: the same
 * counters `c8` reads). The supervisor (this process) restarts the child after a crash, and kills it
 * when it stops answering (a synchronous hang) or its resident memory passes a hard cap; the input
 * that was running is saved as a finding either way. Found inputs land in .cache/fuzz/<target>/findings/;
 * once fixed, copy them into fuzz/<target>/ so the test pass replays them forever.
 * Hand-written instead of jazzer.js: its native libFuzzer addon needs glibc 2.38 (this Debian has
 * 2.36) and cannot be built offline; see docs/reliability.md.
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fc from 'fast-check';
import { Rng } from '../src/util/random.js';
import { corpusDir, FUZZ_ROOT, readCorpus, saveInput, sha1 } from '../fuzz/lib/corpus.js';
import { mutate, toBytes } from '../fuzz/lib/mutate.js';
import { checkInput, DEFAULT_TIME_MS, newContext, type Finding, type FuzzTarget } from '../fuzz/lib/target.js';
import { TARGETS } from '../fuzz/targets/index.js';

const HARD_RSS_BYTES = 6 * 2 ** 30;
const STARTUP_MS = 180_000;

interface Args {
  target: string;
  seconds: number;
  seed: number;
  child: boolean;
  writeSeeds: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { target: '', seconds: 60, seed: Date.now() % 2 ** 31, child: false, writeSeeds: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--seconds') a.seconds = Number(argv[++i]);
    else if (x === '--seed') a.seed = Number(argv[++i]);
    else if (x === '--child') a.child = true;
    else if (x === '--write-seeds') a.writeSeeds = true;
    else if (!a.target) a.target = x;
    else throw new Error(`unexpected argument ${x}`);
  }
  if (!(a.seconds > 0)) throw new Error('--seconds must be a positive number');
  return a;
}

const workDir = (t: string) => join(FUZZ_ROOT, '..', '.cache', 'fuzz', t);

// ---- coverage -----------------------------------------------------------------------------

interface Coverage {
  /** Block ranges of src/ files seen executed, ever. */
  blocks: Set<string>;
  /** (range, hit-count bucket) pairs: what makes an input interesting. */
  features: Set<string>;
  take(): number;
}

function startCoverage(): Coverage {
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  const srcScripts = new Map<string, boolean>();
  const cov: Coverage = {
    blocks: new Set(),
    features: new Set(),
    take() {
      let fresh = 0;
      s.post('Profiler.takePreciseCoverage', (err, res) => {
        if (err) throw err;
        for (const sc of res.result) {
          let isSrc = srcScripts.get(sc.scriptId);
          if (isSrc === undefined) srcScripts.set(sc.scriptId, (isSrc = /\/src\//.test(sc.url) && !sc.url.includes('node_modules')));
          if (!isSrc) continue;
          for (const f of sc.functions)
            for (const r of f.ranges) {
              if (r.count === 0) continue;
              const key = `${sc.scriptId}:${r.startOffset}:${r.endOffset}`;
              cov.blocks.add(key);
              const bucket = r.count < 4 ? r.count : 31 - Math.clz32(r.count) + 2;
              const feat = `${key}:${bucket}`;
              if (!cov.features.has(feat)) {
                cov.features.add(feat);
                fresh++;
              }
            }
        }
      });
      return fresh;
    },
  };
  return cov;
}

// ---- child: the fuzz loop ---------------------------------------------------------------------

type Msg =
  | { type: 'stats'; execs: number; blocks: number; corpus: number; findings: number }
  | { type: 'finding'; finding: Finding; file: string }
  | { type: 'done' }
  | { type: 'alive' };

const send = (m: Msg) => process.send?.(m);

async function child(a: Args): Promise<void> {
  // heartbeat: stops only when the event loop is blocked (a synchronous hang)
  setInterval(() => send({ type: 'alive' }), 1000).unref();
  const cov = startCoverage();
  const t: FuzzTarget = await TARGETS[a.target]();
  const rng = new Rng(a.seed);
  const work = workDir(t.name);
  const queueDir = join(work, 'queue');
  const findDir = join(work, 'findings');
  const current = join(work, 'current');
  mkdirSync(queueDir, { recursive: true });
  const ctx = newContext();
  const queue: Uint8Array[] = [];
  const seen = new Set<string>();
  const dict = (t.dict ?? []).map(toBytes);
  const maxLen = t.maxLen ?? 65536;
  const hangMs = Math.max(5 * (t.timeMs ?? DEFAULT_TIME_MS), 10_000);
  let execs = 0;
  let findings = 0;
  const known = new Set<string>();

  const runOne = async (input: Uint8Array): Promise<number> => {
    writeFileSync(current, input);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<Finding>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'hang', message: `no answer after ${hangMs} ms (async)`, signature: 'hang async' }), hangMs);
    });
    const f = await Promise.race([checkInput(t, input, ctx), hang]);
    clearTimeout(timer);
    execs++;
    const fresh = cov.take();
    if (f && !known.has(f.signature)) {
      known.add(f.signature);
      findings++;
      const file = saveInput(findDir, f.kind, input);
      writeFileSync(`${file}.txt`, `${f.signature}\n\n${f.message}\n`);
      send({ type: 'finding', finding: f, file });
    }
    return fresh;
  };
  const keep = (input: Uint8Array) => {
    const h = sha1(input);
    if (seen.has(h)) return;
    seen.add(h);
    queue.push(input);
  };

  // replay: committed corpus, then what earlier runs found interesting
  const initial = [...readCorpus(corpusDir(t.name)), ...readCorpus(queueDir)].map((e) => e.bytes);
  if (!initial.length) initial.push(...(await t.seeds()));
  for (const b of initial) {
    await runOne(b);
    keep(b);
  }
  if (!queue.length) queue.push(new Uint8Array(0));
  let hostile: Uint8Array[] = [];
  const deadline = Date.now() + a.seconds * 1000;
  let lastStats = 0;
  while (Date.now() < deadline) {
    let input: Uint8Array;
    if (t.hostile && rng.int(8) === 0) {
      if (!hostile.length) hostile = fc.sample(t.hostile(), { numRuns: 32, seed: rng.int(2 ** 31) });
      input = hostile.pop()!;
    } else {
      // favour recent (usually deeper) entries, but keep visiting old ones
      const parent = queue[rng.int(2) ? queue.length - 1 - rng.int(Math.min(queue.length, 16)) : rng.int(queue.length)];
      input = mutate(parent, rng, { maxLen, dict, pool: () => queue[rng.int(queue.length)] });
    }
    const fresh = await runOne(input);
    if (fresh > 0) {
      keep(input);
      saveInput(queueDir, 'cov', input);
    }
    if (Date.now() - lastStats > 1000) {
      lastStats = Date.now();
      send({ type: 'stats', execs, blocks: cov.blocks.size, corpus: queue.length, findings });
    }
  }
  send({ type: 'stats', execs, blocks: cov.blocks.size, corpus: queue.length, findings });
  send({ type: 'done' });
  await t.dispose?.();
  ctx.dispose();
  process.exit(0); // a target's worker threads must not keep the child alive
}

// ---- parent: supervisor -------------------------------------------------------------------

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function supervise(a: Args): Promise<void> {
  const t = await TARGETS[a.target]();
  const hangMs = Math.max(5 * (t.timeMs ?? DEFAULT_TIME_MS), 10_000) + 5000;
  const work = workDir(a.target);
  mkdirSync(join(work, 'findings'), { recursive: true });
  const end = Date.now() + a.seconds * 1000;
  const total = { execs: 0, blocks: 0, corpus: 0, restarts: 0 };
  const found: { kind: string; signature: string; file: string }[] = [];
  const started = Date.now();
  let seed = a.seed;
  while (Date.now() < end - 1000) {
    const left = Math.max(1, Math.round((end - Date.now()) / 1000));
    const kid = fork(fileURLToPath(import.meta.url), [a.target, '--child', '--seconds', String(left), '--seed', String(seed++)], {
      execArgv: [...process.execArgv, '--max-old-space-size=3072', '--stack-size=984'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    kid.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let last = Date.now();
    // until the child first answers it is still starting (tsx + imports take long on a loaded machine)
    let answered = false;
    let base = { execs: 0 };
    let killedFor: string | undefined;
    kid.on('message', (m: Msg) => {
      last = Date.now();
      answered = true;
      if (m.type === 'stats') {
        total.execs += m.execs - base.execs;
        base = { execs: m.execs };
        total.blocks = Math.max(total.blocks, m.blocks);
        total.corpus = m.corpus;
        process.stderr.write(`\r[${a.target}] ${((Date.now() - started) / 1000).toFixed(0)}s execs ${total.execs} blocks ${total.blocks} corpus ${total.corpus} findings ${found.length}   `);
      } else if (m.type === 'finding') {
        found.push({ kind: m.finding.kind, signature: m.finding.signature, file: m.file });
        process.stderr.write(`\n[${a.target}] FINDING ${m.finding.signature}\n  ${m.finding.message.split('\n').slice(0, 4).join('\n  ')}\n  input: ${m.file}\n`);
      }
    });
    const watch = setInterval(() => {
      if (rssOf(kid.pid!) > HARD_RSS_BYTES) killedFor = 'memory';
      else if (Date.now() - last > (answered ? hangMs : STARTUP_MS)) killedFor = 'hang';
      if (killedFor) kid.kill('SIGKILL');
    }, 250);
    const code = await new Promise<number | string>((resolve) => kid.on('exit', (c, s) => resolve(s ?? c ?? 0)));
    clearInterval(watch);
    if (code !== 0) {
      total.restarts++;
      const kind = killedFor ?? 'crash';
      const cur = join(work, 'current');
      if (existsSync(cur)) {
        const file = saveInput(join(work, 'findings'), kind, readFileSync(cur));
        writeFileSync(`${file}.txt`, `${kind} (exit ${code})\n\n${stderr}\n`);
        found.push({ kind, signature: `${kind} exit ${code}`, file });
        process.stderr.write(`\n[${a.target}] FINDING ${kind} (exit ${code})\n  ${stderr.split('\n').slice(-6).join('\n  ')}\n  input: ${file}\n`);
      }
      if (total.restarts > 20) break;
    }
  }
  const secs = (Date.now() - started) / 1000;
  const summary = { target: a.target, seconds: Math.round(secs), execs: total.execs, execsPerSecond: Math.round(total.execs / secs), coveredBlocks: total.blocks, corpus: total.corpus, restarts: total.restarts, findings: found };
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = found.length ? 1 : 0;
}

async function writeSeeds(name: string): Promise<void> {
  const t = await TARGETS[name]();
  const dir = corpusDir(name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith('seed-')) rmSync(join(dir, f));
  const seeds = await t.seeds();
  for (const s of seeds) saveInput(dir, 'seed', s);
  process.stdout.write(`${name}: ${seeds.length} seeds in ${dir}\n`);
}

const a = parseArgs(process.argv.slice(2));
if (a.target === 'list' || !a.target) {
  process.stdout.write(`${Object.keys(TARGETS).join('\n')}\n`);
} else if (!(a.target in TARGETS) && a.target !== 'all') {
  process.stderr.write(`unknown target ${a.target}; one of: ${Object.keys(TARGETS).join(', ')}\n`);
  process.exitCode = 2;
} else if (a.writeSeeds) {
  for (const n of a.target === 'all' ? Object.keys(TARGETS) : [a.target]) await writeSeeds(n);
} else if (a.child) await child(a);
else await supervise(a);
