import { deriveSeed, Rng } from '../data/random.js';

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

function gaussian(rng: Rng): number {
  // Box–Muller; 1 - u keeps the log argument in (0, 1].
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Fills a float32 array for one parameter. The stream is derived from (seed, parameter name), so
 * a parameter's initial value does not depend on which other parameters exist.
 */
export function fillInit(out: Float32Array, init: Init, seed: number, name: string, scale = 1): void {
  const rng = new Rng(deriveSeed(seed, 'init', name));
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
      for (let i = 0; i < out.length; i++) out[i] = ((init.mean ?? 0) + init.std * gaussian(rng)) * scale;
      return;
    case 'truncNormal':
      for (let i = 0; i < out.length; i++) {
        let x = init.std * gaussian(rng);
        for (let k = 0; (x < init.a || x > init.b) && k < 1000; k++) x = init.std * gaussian(rng);
        out[i] = Math.min(Math.max(x, init.a), init.b) * scale;
      }
      return;
    case 'uniform':
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * init.bound * scale;
      return;
  }
}
