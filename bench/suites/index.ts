import type { Suite } from '../report.js';
import { engineSuite } from './engine.js';
import { visionSuite } from './vision.js';
import { ioSuite } from './io.js';
import { beit3Suite } from './beit3.js';
import { dataSuite } from './data.js';
import { textSuite } from './text.js';
import { tasksSuite } from './tasks.js';
import { serverSuite } from './server.js';
import { vqkdSuite } from './vqkd.js';
import { pretrainSuite } from './pretrain.js';
import { trainSuite } from './train.js';
import { webSuite } from './web.js';

/** Benchmark suites in run order; each area adds its own file here. */
export const suites: Suite[] = [engineSuite, visionSuite, ioSuite, beit3Suite, dataSuite, textSuite, tasksSuite, serverSuite, vqkdSuite, pretrainSuite, trainSuite, webSuite];
