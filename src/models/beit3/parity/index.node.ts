/**
 * Parity against reference fixtures laid out like fixtures/beit3-ref (README there): for every
 * fixture `<name>.json` + weights + `<name>.io.safetensors` (+ `<name>.grads.safetensors`), run
 * every recorded call through our graphs on ONNX Runtime and report the max error per case.
 * Node-only and outside the package barrel: the CLI (`beit3 parity`) and tests import it here.
 */
import type { Tensor } from '../../../graph/tensor.js';
import type { Beit3ForCaptioning } from '../heads/captioning.js';
import { type CaseResult, gradCompare, maxAbsDiff } from './compare.js';
import { beamSettings, decodeCase } from './decode.js';
import { listFixtures, loadFixture, ParityError, type ParityOptions, pick } from './fixtures.node.js';
import { forwardCases } from './forward.js';
import { gradCase } from './grads.js';

export { type CaseResult, gradCompare, maxAbsDiff, toNumbers } from './compare.js';
export {
  type FixtureJson,
  listFixtures,
  loadFixture,
  modelForFixture,
  ParityError,
  type ParityOptions,
  pick,
  readIndexJson,
} from './fixtures.node.js';
export { runGraph } from './forward.js';

export async function parityFixture(
  dir: string,
  name: string,
  opts: ParityOptions = {},
): Promise<CaseResult[]> {
  const { js, root, io, usePth, grads } = await loadFixture(dir, name, opts);
  const tol = js.recommended_tolerances_fp32?.outputs?.max_abs ?? 1e-4;
  const results: CaseResult[] = [];
  const compare = (caseName: string, outs: Record<string, Tensor>, expected: string[]) => {
    let m = 0;
    let worst = '';
    for (const o of expected) {
      const ref = pick(io, `out.${o}`, name);
      const ours = outs[o];
      if (!ours) throw new ParityError(`${name}/${caseName}: output ${o} was not produced`);
      const e = maxAbsDiff(ours, ref, `${name}/${o}`);
      if (e >= m) {
        m = e;
        worst = o;
      }
    }
    results.push({
      fixture: name,
      case: caseName,
      maxErr: m,
      tol,
      ok: m <= tol,
      worst,
      note: `weights ${usePth ? '.pth' : '.safetensors'}`,
    });
  };
  for (const c of await forwardCases(name, root, js, io, opts.threads)) {
    const call = js.io.calls.find((x) => x.name === c.case)!;
    compare(c.case, c.outs, call.outputs);
  }
  const decode = js.io.calls.find((c) => c.name === 'decode');
  const beamCall = js.io.calls.find((c) => c.name === 'beam');
  if (decode && name === 'captioning') {
    const beam = beamCall ? beamSettings(beamCall.python ?? '', js) : undefined;
    const outs = await decodeCase(root as Beit3ForCaptioning, io, beam, opts.threads);
    compare(
      'decode',
      outs,
      decode.outputs.filter((o) => !o.endsWith('input_ids')),
    );
    if (beamCall) {
      const before = results.length;
      compare('beam', outs, beamCall.outputs);
      results[before].tol = 0; // integer ids: exact
      results[before].ok = results[before].maxErr === 0;
    }
  }
  const refs = (opts.grads ?? true) && js.grads ? await grads() : null;
  if (refs && js.grads) {
    const ours = await gradCase(name, root, js, io, refs, opts.threads);
    const lossTol = js.recommended_tolerances_fp32?.loss?.rel ?? 1e-5;
    const scalars: [string, string][] = [
      ['loss', 'loss'],
      ...Object.keys(js.grads.extra_scalars).map(
        (k) => [k, k === 'loss_drop_worst_step12001' ? 'loss_drop_worst' : k] as [string, string],
      ),
    ];
    let worst = 0;
    let wk = '';
    for (const [refKey, ourKey] of scalars) {
      const ref = refs.get(refKey);
      if (!ref || !ours[ourKey]) continue;
      const rv = Number(ref.data[0]);
      const e = Math.abs(Number(ours[ourKey].data[0]) - rv) / Math.max(Math.abs(rv), 1);
      if (e >= worst) {
        worst = e;
        wk = refKey;
      }
    }
    results.push({
      fixture: name,
      case: 'loss',
      maxErr: worst,
      tol: lossTol,
      ok: worst <= lossTol,
      worst: wk,
      note: 'relative (abs below 1)',
    });
    results.push(gradCompare(ours, refs, js, name));
  }
  return results;
}

/** Every fixture of a folder. */
export async function parityDir(dir: string, opts: ParityOptions = {}): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const name of listFixtures(dir)) out.push(...(await parityFixture(dir, name, opts)));
  return out;
}
