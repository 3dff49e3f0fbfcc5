/**
 * The kinds of reference fixture sets `beit3 parity DIR` understands, told apart by folder
 * layout (index.json content, marker files). One row per kind; a new model family or harness
 * (training trajectories, the VQ-KD tokenizer) adds its row here with its own parity module.
 * Node-only: every harness reads its folder from disk.
 */
import { readIndexJson } from './beit3/parity/fixtures.node.js';
import { type CaseResult, listFixtures, type ParityOptions, parityFixture } from './beit3/parity/index.node.js';
import { isVqkdFixtureDir, parityVqkdDir } from './vqkd/parity.node.js';

export type { CaseResult } from './beit3/parity/index.node.js';

export interface FixtureRunOptions extends ParityOptions {
  /** Run only these fixtures / cases of the set (default all). */
  only?: string[];
}

export interface FixtureKind {
  /** Short name shown to people, e.g. 'beit3-ref'. */
  kind: string;
  /** The layout it expects, for help and error text. */
  layout: string;
  /** True when `dir` (with its parsed index.json, null when there is none) is a set of this kind. */
  detect(dir: string, index: Record<string, unknown> | null): boolean;
  run(dir: string, opts: FixtureRunOptions): Promise<CaseResult[]>;
}

/** fixtures/beit3-ref: index.json {fixtures: {...}} or <name>.json + <name>.io.safetensors pairs. */
export const BEIT3_REF: FixtureKind = {
  kind: 'beit3-ref',
  layout: 'index.json, <name>.json, <name>.safetensors, <name>.io.safetensors, <name>.grads.safetensors',
  detect: (_dir, index) => !!index && typeof index.fixtures === 'object' && index.fixtures !== null,
  async run(dir, opts) {
    const out: CaseResult[] = [];
    for (const name of opts.only ?? listFixtures(dir)) out.push(...(await parityFixture(dir, name, opts)));
    return out;
  },
};

/** fixtures/vqkd-ref: vqkd.json + vqkd.safetensors/.pth + vqkd.io.safetensors (+ manifests/). `only` picks input sets / manifests by case prefix. */
export const VQKD_REF: FixtureKind = {
  kind: 'vqkd-ref',
  layout: 'vqkd.json, vqkd.safetensors or vqkd.pth, vqkd.io.safetensors, manifests/<registered name>.json',
  detect: (dir) => isVqkdFixtureDir(dir),
  async run(dir, opts) {
    const all = await parityVqkdDir(dir, { weights: opts.weights, threads: opts.threads });
    return opts.only ? all.filter((r) => opts.only!.some((o) => r.case.startsWith(o))) : all;
  },
};

/**
 * Tried in order; the first whose `detect` accepts the folder runs it. Put specific layouts
 * first. A folder no row claims is read as beit3-ref, whose errors name what is missing.
 */
export const FIXTURE_KINDS: FixtureKind[] = [VQKD_REF, BEIT3_REF];

/** The kind of fixture set in `dir` (beit3-ref when no row claims it). */
export function fixtureKindOf(dir: string): FixtureKind {
  const index = readIndexJson(dir);
  return FIXTURE_KINDS.find((k) => k.detect(dir, index)) ?? BEIT3_REF;
}

/** Every case of the fixture set in `dir`, whatever its kind. */
export function runFixtureSet(dir: string, opts: FixtureRunOptions = {}): Promise<CaseResult[]> {
  return fixtureKindOf(dir).run(dir, opts);
}
