import type { Suite } from '../report.js';
import { visionSuite } from './vision.js';
import { ioSuite } from './io.js';

/** Benchmark suites in run order; each area adds its own file here. */
export const suites: Suite[] = [visionSuite, ioSuite];
