/**
 * Child process of the beit3 bench: cold start of a base model from a safetensors checkpoint
 * (load + build + compile the image encoder) and the peak RSS this needs, measured in a fresh
 * process so nothing else is counted. Prints one JSON line.
 */
import { Graph } from '../../src/graph/ir.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { joinStreams } from '../../src/models/beit3/backbone.js';
import type { Beit3Backbone } from '../../src/models/beit3/heads/pretrained.js';
import { createModel } from '../../src/models/beit3/registry.js';
import { ParamScope } from '../../src/nn/module.js';
import { Program } from '../../src/runtime/index.js';

const file = process.argv[2];
const t0 = performance.now();
const model = createModel('beit3_base_patch16_224') as Beit3Backbone;
model.loadStateDict(await loadSafetensors(file));
const tLoad = performance.now() - t0;
const g = new Graph('coldstart');
const s = new ParamScope(g, model);
const cfg = model.cfg;
const image = g.input('image', 'float32', ['batch', 3, cfg.imgSize, cfg.imgSize]);
g.output(joinStreams(model.beit3.forward(s, { image }).out), 'encoder_out');
const prog = await Program.compile(g, { bind: s.bindings() });
const total = performance.now() - t0;
await prog.release();
process.stdout.write(JSON.stringify({ loadMs: tLoad, totalMs: total, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
