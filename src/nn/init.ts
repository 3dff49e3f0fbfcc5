import { deriveSeed, Rng } from '../util/random.js';

/** How a parameter is initialised (the official PyTorch initialisers, seeded). */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number; mean?: number }
  /** Normal(mean, std) resampled until inside [a, b] (timm trunc_normal_). */
  | { kind: 'truncNormal'; std: number; a: number; b: number }
  /** Uniform(-bound, bound) (PyTorch's default Conv2d/Linear init). */
  | { kind: 'uniform'; bound: number };

export const Inits = {
  zeros: { kind: 'zeros' } as Init,
  ones: { kind: 'ones' } as Init,
  constant: (value: number): Init => ({ kind: 'constant', value }),
  normal: (std: number): Init => ({ kind: 'normal', std }),
  /** BEiT-3's `trunc_normal_(w, std)`: truncated at ±1 std (modeling_utils.trunc_normal_). */
  truncNormal: (std: number, a = -std, b = std): Init => ({ kind: 'truncNormal', std, a, b }),
  uniform: (bound: number): Init => ({ kind: 'uniform', bound }),
};

/**
 * Standard normal samples into `out` (Box–Muller, both outputs used). mulberry32, as pinned by
 * the init tests; a base model draws ~2·10^8 numbers, and the Rng's hot path is within ~10% of
 * an inlined step.
 */
function fillGaussian(out: Float32Array, seed: number, std: number, lo = -Infinity, hi = Infinity): void {
  const rng = new Rng(seed, 'mulberry32');
  const uniform = (): number => rng.next();
  let i = 0;
  while (i < out.length) {
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const a = 2 * Math.PI * uniform();
    const z0 = std * r * Math.cos(a);
    const z1 = std * r * Math.sin(a);
    // Truncation by rejection (timm trunc_normal_ resamples outside [a, b]).
    if (z0 >= lo && z0 <= hi) out[i++] = z0;
    if (i < out.length && z1 >= lo && z1 <= hi) out[i++] = z1;
  }
}

/**
 * Fills a float32 array for one parameter. The stream is derived from (seed, parameter name), so
 * a parameter's initial value does not depend on which other parameters exist.
 */
export function fillInit(out: Float32Array, init: Init, seed: number, name: string, scale = 1): void {
  const streamSeed = deriveSeed(seed, 'init', name);
  switch (init.kind) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(scale);
      return;
    case 'constant':
      out.fill(init.value * scale);
      return;
    case 'normal':
      fillGaussian(out, streamSeed, init.std);
      if ((init.mean ?? 0) !== 0 || scale !== 1)
        for (let i = 0; i < out.length; i++) out[i] = ((init.mean ?? 0) + out[i]) * scale;
      return;
    case 'truncNormal':
      fillGaussian(out, streamSeed, init.std, init.a, init.b);
      if (scale !== 1) for (let i = 0; i < out.length; i++) out[i] *= scale;
      return;
    case 'uniform': {
      const rng = new Rng(streamSeed, 'mulberry32');
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * init.bound * scale;
      return;
    }
  }
}
