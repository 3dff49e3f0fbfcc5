/**
 * Layering you can run: every import in src/ is parsed and checked against the layer order of
 * docs/architecture.md (and ../shared/DESIGN.md). Imports point down only; folders on one layer
 * (text/vision/data, models/beit3/vqkd, search/corpus, cli/server/web) may use each other but not
 * in a cycle; `*.node.ts` files never reach the browser entry; and the package root loads
 * neither the native hnswlib addon nor the file-system parity harness.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');

/** Bottom to top; folders in one row are siblings. */
export const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['graph'],
  ['runtime'],
  ['autodiff'],
  ['io'],
  ['text', 'vision', 'data'],
  ['nn'],
  ['models', 'models/beit3', 'models/vqkd'],
  ['train'],
  ['tasks'],
  ['search', 'corpus'],
  ['cli', 'server', 'web'],
];
/** The package root (src/index.ts) sits on the tasks row: it exports the library, not the applications. */
const ROOT_LAYER = 'tasks';

function walk(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts)$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** Module specifiers of every import / export-from / dynamic import / require in a file. */
function specifiers(code: string): string[] {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const res = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of res) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/**
 * `await import('…/x.node.js')` specifiers: the one sanctioned platform split. Platform-free code
 * may reach a Node-only module lazily behind a run-time Node check (e.g. the bounded file read
 * of SentencePieceProcessor.load); the browser bundle (web/build.mjs) replaces every `*.node.js`
 * module with one that throws, so such an edge never runs in a browser. Static imports of
 * `*.node.ts` files stay forbidden from the browser entry.
 */
function lazyNodeImports(code: string): Set<string> {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return new Set([...text.matchAll(/\bimport\(\s*['"]([^'"]+\.node\.js)['"]\s*\)/g)].map((m) => m[1]));
}

function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  for (const c of [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts'), base])
    if (existsSync(c) && statSync(c).isFile()) return c;
  return null;
}

/** The layer folder of a src file ('models/beit3', 'graph', ...; '' for src/index.ts). */
function folderOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  if (rel.length === 1) return '';
  if (rel[0] === 'models' && rel.length > 2) return `models/${rel[1]}`;
  return rel[0];
}
const rankOf = (folder: string): number => LAYERS.findIndex((row) => row.includes(folder || ROOT_LAYER));

const files = walk(SRC);
const edges = files.flatMap((file) =>
  specifiers(readFileSync(file, 'utf8')).flatMap((spec) => {
    const to = resolveLocal(file, spec);
    const lazyNode = lazyNodeImports(readFileSync(file, 'utf8')).has(spec);
    return to ? [{ from: file, to, spec, lazyNode }] : [];
  }),
);
const rel = (p: string) => relative(ROOT, p);

describe('layer order (imports point down only)', () => {
  it('every src folder has a row in LAYERS', () => {
    const unknown = [...new Set(files.map(folderOf))].filter((f) => rankOf(f) < 0);
    expect(unknown).toEqual([]);
  });

  it('no import points to a higher layer', () => {
    const up = edges
      .filter((e) => rankOf(folderOf(e.to)) > rankOf(folderOf(e.from)))
      .map((e) => `${rel(e.from)} → ${rel(e.to)}`);
    expect(up).toEqual([]);
  });

  it('folders on one layer do not import each other in a cycle', () => {
    const g = new Map<string, Set<string>>();
    for (const e of edges) {
      const [a, b] = [folderOf(e.from), folderOf(e.to)];
      if (a !== b && rankOf(a) === rankOf(b)) g.set(a, (g.get(a) ?? new Set()).add(b));
    }
    const cycles: string[] = [];
    const reach = (start: string, at: string, seen: Set<string>): boolean =>
      [...(g.get(at) ?? [])].some((n) => n === start || (!seen.has(n) && (seen.add(n), reach(start, n, seen))));
    for (const a of g.keys()) if (reach(a, a, new Set())) cycles.push(a);
    expect(cycles).toEqual([]);
  });

  it('the checker sees real imports (sanity: graph is imported from above, util from graph)', () => {
    expect(edges.some((e) => folderOf(e.to) === 'graph' && folderOf(e.from) === 'nn')).toBe(true);
    expect(specifiers("import type { A } from './a.js';\nexport * from '../b.js';\nconst x = require('c');")).toEqual([
      './a.js',
      '../b.js',
      'c',
    ]);
  });
});

/** Every src file reachable from `entry` through relative imports. */
function reachable(entry: string, browser = false): Set<string> {
  const seen = new Set([entry]);
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    for (const e of edges) {
      if (e.from !== f || seen.has(e.to) || (browser && e.lazyNode)) continue;
      seen.add(e.to);
      stack.push(e.to);
    }
  }
  return seen;
}

describe('entries', () => {
  it('*.node.ts files are never reachable from the browser entry (src/web/)', () => {
    const web = files.filter((f) => folderOf(f) === 'web');
    const leaks = web.flatMap((w) => [...reachable(w, true)].filter((f) => f.endsWith('.node.ts')).map((f) => `${rel(w)} → ${rel(f)}`));
    expect(leaks).toEqual([]);
  });

  it("the package root reaches neither search/ (hnswlib-node) nor the parity harness", () => {
    const fromRoot = [...reachable(join(SRC, 'index.ts'))];
    const bad = fromRoot.filter(
      (f) =>
        folderOf(f) === 'search' ||
        /\/parity\//.test(f) ||
        /parity[^/]*\.ts$/.test(f) ||
        /fixture-kinds/.test(f) ||
        specifiers(readFileSync(f, 'utf8')).includes('hnswlib-node'),
    );
    expect(bad.map(rel)).toEqual([]);
  });

  it("search is its own package entry ('beit3/search'), beside the root", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: string }>;
    };
    expect(pkg.exports['.'].import).toBe('./dist/index.js');
    expect(pkg.exports['./search'].import).toBe('./dist/search/index.js');
    expect(existsSync(join(SRC, 'search/index.ts'))).toBe(true);
  });

  it("import 'beit3' loads no native hnswlib addon (checked in a fresh process)", () => {
    const probe = `
      const Module = (await import('node:module')).default;
      const load = Module._load; const seen = [];
      Module._load = function (r, ...a) { seen.push(r); return load.call(this, r, ...a); };
      await import(${JSON.stringify(join(SRC, 'index.ts'))});
      process.stdout.write(JSON.stringify(seen.filter((r) => /hnsw/.test(r))));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual([]);
  }, 60_000);
});
