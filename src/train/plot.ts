/**
 * Plots of a training run, written beside its checkpoints: loss, learning rate and the eval
 * metrics, each as SVG (vega-lite compiled to vega, rendered headless by vega's SVG renderer) and
 * PNG (that SVG rasterized by sharp, already a dependency). Libraries rather than hand-drawn SVG:
 * axes, ticks, legends and scales are the hard part of a plot and vega does them well.
 */
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.node.js';
import type { LogRecord, StepRecord } from './log.js';

type Row = Record<string, number | string>;

function lineSpec(
  title: string,
  rows: Row[],
  x: string,
  y: string,
  opts: { color?: string; logY?: boolean; points?: boolean } = {},
): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 260,
    background: 'white',
    data: { values: rows },
    mark: { type: 'line', point: opts.points ?? rows.length < 40, interpolate: 'linear' },
    encoding: {
      x: { field: x, type: 'quantitative', title: x === 'step' ? 'optimizer step' : x },
      y: { field: y, type: 'quantitative', title: y, scale: opts.logY ? { type: 'log' } : { zero: false } },
      ...(opts.color ? { color: { field: opts.color, type: 'nominal', title: null } } : {}),
    },
  } as vl.TopLevelSpec;
}

/** Renders a vega-lite spec to SVG text (no browser, no canvas). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The three plot specs of a log (metric plot only once an evaluation ran). */
export function plotSpecs(records: readonly LogRecord[]): Record<string, vl.TopLevelSpec> {
  const steps = records.filter((r): r is StepRecord => r.type === 'step');
  const lossRows: Row[] = [];
  for (const r of steps) {
    lossRows.push({ step: r.step, value: r.loss, series: 'loss' });
    for (const [k, v] of Object.entries(r.terms))
      if (k !== 'loss' && Number.isFinite(v) && /loss/.test(k))
        lossRows.push({ step: r.step, value: v, series: k });
  }
  const specs: Record<string, vl.TopLevelSpec> = {
    loss: lineSpec('training loss', lossRows, 'step', 'value', { color: 'series' }),
    lr: lineSpec(
      'learning rate (schedule value)',
      steps.map((r) => ({ step: r.step, lr: r.lr })),
      'step',
      'lr',
    ),
  };
  const evalRows: Row[] = [];
  for (const r of records)
    if (r.type === 'eval')
      for (const [k, v] of Object.entries(r.metrics))
        if (Number.isFinite(v)) evalRows.push({ step: r.step, value: v, metric: k });
  if (evalRows.length)
    specs.metric = lineSpec('evaluation', evalRows, 'step', 'value', { color: 'metric', points: true });
  return specs;
}

/** Writes `<name>.svg` and `<name>.png` into `dir` for every plot; returns the files written. */
export async function writePlots(dir: string, records: readonly LogRecord[]): Promise<string[]> {
  const written: string[] = [];
  for (const [name, spec] of Object.entries(plotSpecs(records))) {
    const svg = await renderSvg(spec);
    const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
    const svgPath = join(dir, `${name}.svg`);
    const pngPath = join(dir, `${name}.png`);
    await writeFileAtomic(svgPath, svg, { mkdir: true });
    await writeFileAtomic(pngPath, png);
    written.push(svgPath, pngPath);
  }
  return written;
}
