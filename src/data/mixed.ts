import type { DataLoader, LoaderState } from './loader.js';

export type MixedState<K extends string> = Record<K, LoaderState>;

export interface MixedBatch<M extends Record<string, unknown>> {
  /** One batch from every stream. */
  batches: { [K in keyof M]: M[K] };
  /** Resume every stream right after these batches. */
  state: MixedState<Extract<keyof M, string>>;
}

/**
 * The pretraining stream: every step takes one batch from each loader (BEiT-3: images, texts and
 * image–text pairs). Each stream runs its own epochs endlessly (a small source simply wraps
 * around) with its own seed; the combined state resumes all of them exactly.
 */
export async function* mixedBatches<M extends Record<string, unknown>>(
  loaders: { [K in keyof M]: DataLoader<M[K]> },
  options: { state?: Partial<Record<keyof M, Partial<LoaderState>>>; epochs?: number } = {},
): AsyncGenerator<MixedBatch<M>> {
  const names = Object.keys(loaders) as Extract<keyof M, string>[];
  const iterators = names.map((k) => loaders[k].iterate({ state: options.state?.[k], epochs: options.epochs ?? Infinity }));
  try {
    for (;;) {
      const results = await Promise.all(iterators.map((it) => it.next()));
      if (results.some((r) => r.done)) return;
      const batches = {} as { [K in keyof M]: M[K] };
      const state = {} as MixedState<Extract<keyof M, string>>;
      names.forEach((k, i) => {
        const r = results[i];
        if (r.done) return;
        batches[k] = r.value.batch;
        state[k] = r.value.state;
      });
      yield { batches, state };
    }
  } finally {
    await Promise.all(iterators.map((it) => it.return(undefined)));
  }
}
