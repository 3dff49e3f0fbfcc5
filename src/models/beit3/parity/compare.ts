/** How parity compares our tensors with the reference: max |Δ| for outputs, a scored test for gradients. */
import type { Tensor } from '../../../graph/tensor.js';
import { type FixtureJson, ParityError, type Recorded } from './fixtures.node.js';

export interface CaseResult {
  fixture: string;
  case: string;
  /** Max |ours − ref| over the case's tensors (grads: worst element-wise excess ratio, see note). */
  maxErr: number;
  tol: number;
  ok: boolean;
  /** Tensor with the largest error. */
  worst?: string;
  note?: string;
}

export function toNumbers(t: Tensor): Float64Array {
  const out = new Float64Array(t.size);
  for (let i = 0; i < t.size; i++) out[i] = Number(t.data[i]);
  return out;
}

/** Max |a − ref| (NaN counts as Infinity); differing shapes are a ParityError naming `what`. */
export function maxAbsDiff(a: Tensor, ref: Tensor, what: string): number {
  if (a.shape.length !== ref.shape.length || a.shape.some((d, i) => d !== ref.shape[i]))
    throw new ParityError(`${what}: shape [${a.shape}] differs from reference [${ref.shape}]`);
  const x = toNumbers(a);
  const y = toNumbers(ref);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Every `grad.*` reference against ours: score = max(element-wise excess, rel L2 / tol) ≤ 1 passes. */
export function gradCompare(
  ours: Record<string, Tensor>,
  refs: Recorded,
  js: FixtureJson,
  fixture: string,
): CaseResult {
  const zeroKey = Object.keys(js.observed ?? {}).find((k) =>
    k.startsWith('grads_that_are_mathematically_zero'),
  );
  const mathZero = new Set(
    Object.keys((zeroKey ? (js.observed![zeroKey] as Record<string, number>) : {}) ?? {}),
  );
  const relTol = js.recommended_tolerances_fp32?.grads?.per_tensor_rel_l2 ?? 1e-3;
  let worst = 0;
  let worstKey = '';
  for (const [k, ref] of refs) {
    if (!k.startsWith('grad.')) continue;
    const g = ours[k];
    if (!g) throw new ParityError(`${fixture}: no gradient computed for ${k}`);
    const a = toNumbers(g);
    const b = toNumbers(ref);
    let num = 0;
    let den = 0;
    let ratio = 0; // element-wise: |g−ref| / (1e-5 + 1e-3|ref|) must be ≤ 1
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - b[i];
      num += d * d;
      den += b[i] * b[i];
      const r = Math.abs(d) / (1e-5 + (mathZero.has(k.slice(5)) ? 0 : 1e-3 * Math.abs(b[i])));
      if (!(r <= ratio)) ratio = Number.isNaN(r) ? Infinity : r;
    }
    const rel = den > 0 ? Math.sqrt(num / den) / relTol : 0;
    const score = mathZero.has(k.slice(5)) || den === 0 ? ratio : Math.max(ratio, rel);
    if (score > worst) {
      worst = score;
      worstKey = k;
    }
  }
  return {
    fixture,
    case: 'grads',
    maxErr: worst,
    tol: 1,
    ok: worst <= 1,
    worst: worstKey,
    note: 'score = max(elementwise |g−ref|/(1e-5+1e-3|ref|), relL2/1e-3); ≤ 1 passes',
  };
}
