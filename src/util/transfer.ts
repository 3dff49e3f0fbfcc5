/**
 * The ArrayBuffers a value owns (typed arrays that span their whole buffer), found up to 3 levels
 * deep: these can be transferred between threads instead of copied. Views into a larger buffer
 * (e.g. a slice of a pooled Buffer) are left to structured clone, which copies only the view.
 */
export function ownedBuffers(v: unknown, out: ArrayBuffer[] = [], depth = 0): ArrayBuffer[] {
  if (depth > 3 || v === null || typeof v !== 'object') return out;
  if (ArrayBuffer.isView(v)) {
    const buf = v.buffer;
    if (buf instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buf.byteLength && !out.includes(buf)) out.push(buf);
    return out;
  }
  for (const x of Array.isArray(v) ? v : Object.values(v)) ownedBuffers(x, out, depth + 1);
  return out;
}
