/**
 * The training log: one JSON object per line in `<output>/log.jsonl`, a `step` record per
 * optimizer step (every loss term, lr, grad norm, throughput) and an `eval` record per
 * evaluation. Appended as training goes, so a killed run keeps everything up to its last line;
 * on resume the records after the checkpoint's step are dropped, so the log of a resumed run
 * reads like the log of an uninterrupted one.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.node.js';

export interface StepRecord {
  type: 'step';
  /** Optimizer step index k (0-based; the index of the lr schedule). */
  step: number;
  epoch: number;
  /** Mean of the micro-batch losses of this step (each before the division by update_freq). */
  loss: number;
  /** Every loss term / extra output, averaged over the step's micro-batches. */
  terms: Record<string, number>;
  /** Micro-batch losses (update_freq of them). */
  losses: number[];
  /** Schedule value of the step (the base lr; each group uses lr × lr_scale). */
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  samples: number;
  /** Samples per second over this step (data + compute). */
  samples_per_s: number;
  /** Seconds spent waiting for data in this step. */
  data_s: number;
  /** Seconds since the run (or the resumed part) started. */
  time_s: number;
}

export interface EvalRecord {
  type: 'eval';
  /** Optimizer steps done when the evaluation ran. */
  step: number;
  epoch: number;
  metrics: Record<string, number>;
  /** The metric that picks the best checkpoint. */
  primary: string;
  best: boolean;
  time_s: number;
}

export type LogRecord = StepRecord | EvalRecord;

/** Reads a log; a torn last line (a killed append) is ignored, any other bad line too. */
export function readTrainLog(file: string): LogRecord[] {
  if (!existsSync(file)) return [];
  const out: LogRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as LogRecord;
      if (r && (r.type === 'step' || r.type === 'eval')) out.push(r);
    } catch {
      // torn line from a killed append
    }
  }
  return out;
}

export class TrainLog {
  readonly records: LogRecord[];

  private constructor(
    readonly file: string | undefined,
    records: LogRecord[],
  ) {
    this.records = records;
  }

  /** A log kept only in memory (no output folder). */
  static memory(): TrainLog {
    return new TrainLog(undefined, []);
  }

  /** Opens `file`: fresh (truncated) when `resumeStep` is undefined, else keeps the records before it. */
  static async open(file: string, resumeStep?: number): Promise<TrainLog> {
    const kept =
      resumeStep === undefined
        ? []
        : readTrainLog(file).filter((r) => (r.type === 'step' ? r.step < resumeStep : r.step <= resumeStep));
    await writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''), { mkdir: true });
    return new TrainLog(file, kept);
  }

  append(r: LogRecord): void {
    this.records.push(r);
    if (this.file) appendFileSync(this.file, JSON.stringify(r) + '\n');
  }

  steps(): StepRecord[] {
    return this.records.filter((r): r is StepRecord => r.type === 'step');
  }

  evals(): EvalRecord[] {
    return this.records.filter((r): r is EvalRecord => r.type === 'eval');
  }
}
