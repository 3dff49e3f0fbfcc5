/**
 * Child process of the beit3 bench: cold start of the base image encoder from a safetensors
 * checkpoint, measured in a fresh process so nothing else is counted. The graph is built first
 * (shapes only), then only the tensors it uses are read from the file, and ORT gets them as
 * external data (no second in-memory copy inside a protobuf). Prints one JSON line.
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
const g = new Graph('coldstart');
const s = new ParamScope(g, model);
const cfg = model.cfg;
const image = g.input('image', 'float32', ['batch', 3, cfg.imgSize, cfg.imgSize]);
g.output(joinStreams(model.beit3.forward(s, { image }).out), 'encoder_out');
const used = s.used();
model.loadStateDict(await loadSafetensors(file, { filter: (k) => used.has(k) }), { strict: false });
const tLoad = performance.now() - t0;
let bytes = 0;
for (const t of s.bindings().values()) bytes += t.data.byteLength;
const prog = await Program.compile(g, { bind: s.bindings(), externalData: true });
const total = performance.now() - t0;
await prog.release();
process.stdout.write(
  JSON.stringify({
    loadMs: tLoad,
    totalMs: total,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    usedMiB: bytes / 2 ** 20,
  }) + '\n',
);
