import type { Split } from './types.js';
import { UnionFind, unitHash } from './util.js';

/** Changing this salt reshuffles every split; it is part of the corpus format version. */
export const SPLIT_SALT = 'beit3-corpus-v1';

/** 70/10/20 train/val/test from a fixed hash of the identity. */
export function splitOf(identity: string): Split {
  const u = unitHash(SPLIT_SALT, identity);
  return u < 0.7 ? 'train' : u < 0.8 ? 'val' : 'test';
}

/**
 * Group items into identities: items sharing any hint (one emoji across styles and skin tones,
 * twins of one icon, one flag in several sources, one name) end up together. The identity name
 * is the smallest hint of the group, so it does not depend on input order.
 */
export function groupIdentities(hintLists: readonly (readonly string[])[]): string[] {
  const uf = new UnionFind();
  for (const hints of hintLists) {
    if (hints.length === 0) throw new RangeError('groupIdentities: an item has no identity hint');
    for (const h of hints.slice(1)) uf.union(hints[0]!, h);
  }
  return hintLists.map((hints) => uf.find(hints[0]!));
}
