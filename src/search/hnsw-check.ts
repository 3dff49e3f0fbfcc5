/**
 * Structural check of an hnswlib index file before hnswlib reads it. hnswlib trusts the file:
 * a damaged header field (element size, label offset, max elements, entry point) or an
 * out-of-range neighbour id makes it read out of bounds and segfault the process. We verify
 * every field and link against the layout of hnswlib's `saveIndex` (v0.7/0.8), which is small
 * enough to walk in full: 96-byte header, then `cur` level-0 records, then per element a u32
 * byte size and its upper-level link lists.
 */
export function hnswFileProblem(b: Uint8Array, dim: number): string | undefined {
  if (b.length < 96) return `${b.length} bytes, shorter than the 96-byte header`;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u64 = (o: number) => Number(v.getBigUint64(o, true));
  const [offsetLevel0, maxElements, cur, sizeData, labelOffset, offsetData] = [0, 8, 16, 24, 32, 40].map(u64);
  const maxLevel = v.getInt32(48, true);
  const enter = v.getInt32(52, true);
  const [maxM, maxM0, M] = [56, 64, 72].map(u64);
  const linksLevel0 = maxM0 * 4 + 4;
  const linksUpper = maxM * 4 + 4;
  if (offsetLevel0 !== 0 || M < 2 || maxM !== M || maxM0 !== 2 * M || maxM0 > 1 << 16)
    return 'inconsistent graph parameters (M / maxM / maxM0)';
  if (offsetData !== linksLevel0 || labelOffset !== linksLevel0 + dim * 4 || sizeData !== labelOffset + 8)
    return `element layout does not match ${dim}-d vectors (index built for another dimension?)`;
  if (cur > maxElements || maxElements > 2 ** 32) return `${cur} elements but capacity ${maxElements}`;
  if (96 + cur * sizeData > b.length) return 'truncated (level-0 records run past the end)';
  if (cur === 0 ? enter !== -1 : enter < 0 || enter >= cur) return `entry point ${enter} out of range`;
  if (maxLevel < 0 || maxLevel > 64) return `max level ${maxLevel} out of range`;
  // element levels first: a link on level l must point at an element that has level l
  const levels = new Int32Array(cur);
  const upperAt = new Float64Array(cur);
  let o = 96 + cur * sizeData;
  for (let i = 0; i < cur; i++) {
    if (o + 4 > b.length) return 'truncated (upper-level links run past the end)';
    const size = v.getUint32(o, true);
    o += 4;
    if (size % linksUpper !== 0 || o + size > b.length)
      return `element ${i}: bad upper-level link size ${size}`;
    levels[i] = size / linksUpper;
    upperAt[i] = o;
    if (levels[i] > maxLevel)
      return `element ${i}: ${levels[i]} levels above the index's max level ${maxLevel}`;
    o += size;
  }
  if (cur > 0 && levels[enter] !== maxLevel) return 'entry point is not on the top level';
  const linksOk = (at: number, max: number, level: number): boolean => {
    const n = v.getUint16(at, true);
    if (n > max) return false;
    for (let j = 0; j < n; j++) {
      const id = v.getUint32(at + 4 + 4 * j, true);
      if (id >= cur || levels[id] < level) return false;
    }
    return true;
  };
  for (let i = 0; i < cur; i++) {
    if (!linksOk(96 + i * sizeData, maxM0, 0)) return `element ${i}: level-0 links out of range`;
    for (let l = 1; l <= levels[i]; l++)
      if (!linksOk(upperAt[i] + (l - 1) * linksUpper, maxM, l))
        return `element ${i}: level-${l} links out of range`;
  }
  if (o !== b.length) return `${b.length - o} unexpected trailing bytes`;
  return undefined;
}
