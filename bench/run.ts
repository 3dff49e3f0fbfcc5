import { type BenchContext, type Figure, printFigure } from './report.js';
import { suites } from './suites/index.js';
import { measureRoofline } from './roofline.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const fi = args.indexOf('--filter');
const filter = fi >= 0 ? args[fi + 1] : undefined;

const figures: Figure[] = [];
const roofline = await measureRoofline();
const ctx: BenchContext = {
  json,
  rooflineGflops: roofline.gflops,
  rooflineThreads: roofline.threads,
  filter,
  report(f) {
    figures.push(f);
    printFigure(f, json);
  },
};
ctx.report({
  name: 'roofline.matmul_chain',
  value: roofline.gflops,
  unit: 'GFLOP/s',
  roofline_fraction: 1,
  threads: roofline.threads,
  note: `best of ${Object.entries(roofline.byThreads)
    .map(([t, v]) => `${t} thread${t === '1' ? '' : 's'}: ${v.toFixed(0)}`)
    .join(', ')} GFLOP/s`,
});
for (const s of suites) {
  // `--filter tasks` runs a suite; `--filter tasks.classify` also lets the suite pick its figures
  if (filter && !s.name.includes(filter) && !filter.startsWith(`${s.name}.`)) continue;
  await s.run(ctx);
}
