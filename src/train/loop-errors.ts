/** Typed errors of the training loop, its checkpoints and its data (all extend Beit3Error). */
import { Beit3Error } from '../util/errors.js';

/** A loss (or one of its terms) was NaN or infinite: training stops; the last good checkpoint is kept. */
export class NonFiniteLossError extends Beit3Error {
  override name = 'NonFiniteLossError';
  constructor(
    readonly step: number,
    readonly micro: number,
    readonly terms: Record<string, number>,
    readonly lastCheckpoint: string | undefined,
    note?: string,
  ) {
    const bad = Object.entries(terms)
      .filter(([, v]) => !Number.isFinite(v))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    super(
      `non-finite loss at optimizer step ${step} (micro-batch ${micro}): ${bad || note}; ` +
        (lastCheckpoint
          ? `the last good checkpoint is ${lastCheckpoint} (lower --lr, or set --clip_grad, and --resume)`
          : 'no checkpoint was written yet (lower --lr or set --clip_grad)'),
    );
  }
}

/** A checkpoint file is not a training state beit3 wrote, or it is damaged. */
export class CheckpointFormatError extends Beit3Error {
  override name = 'CheckpointFormatError';
  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${problem}`, options);
  }
}

/** A checkpoint's tensors do not fit the model: lists the missing and unexpected keys (and shape clashes). */
export class CheckpointMismatchError extends Beit3Error {
  override name = 'CheckpointMismatchError';
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly shapeMismatches: string[] = [],
  ) {
    const list = (what: string, keys: string[]) =>
      keys.length
        ? ` ${keys.length} ${what}: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? `, … (+${keys.length - 12} more)` : ''};`
        : '';
    super(
      `${source} does not fit the model:${list('missing keys', missing)}${list('unexpected keys', unexpected)}${list('shape mismatches', shapeMismatches)}`.replace(
        /;$/,
        '',
      ),
    );
  }
}

/** `--resume` found a run made with another configuration: names every setting that differs. */
export class ResumeMismatchError extends Beit3Error {
  override name = 'ResumeMismatchError';
  constructor(
    readonly path: string,
    readonly differences: { key: string; saved: unknown; now: unknown }[],
  ) {
    super(
      `${path} was written by another configuration: ` +
        differences
          .map((d) => `${d.key} was ${JSON.stringify(d.saved)}, now ${JSON.stringify(d.now)}`)
          .join('; ') +
        ' (use the original settings, or a new --output folder)',
    );
  }
}

/** A data folder lacks what the task needs (index files, images), or a setting of the data is wrong. */
export class TrainDataError extends Beit3Error {
  override name = 'TrainDataError';
}

/** Bad settings for fit() (steps, update_freq, schedule length...). */
export class TrainConfigError extends Beit3Error {
  override name = 'TrainConfigError';
}
