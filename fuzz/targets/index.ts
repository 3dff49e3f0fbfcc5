/** Every fuzz target, by name (also the corpus folder fuzz/<name>/). */
import type { FuzzTarget } from '../lib/target.js';

export const TARGETS: Record<string, () => Promise<FuzzTarget>> = {
  safetensors: async () => (await import('./safetensors.js')).target,
  pth: async () => (await import('./pth.js')).target,
  pickle: async () => (await import('./pickle.js')).target,
  zip: async () => (await import('./zip.js')).target,
  'spm-model': async () => (await import('./spm-model.js')).target,
  image: async () => (await import('./image.js')).target,
  jsonl: async () => (await import('./jsonl.js')).target,
  'unilm-index': async () => (await import('./unilm-index.js')).target,
  webdataset: async () => (await import('./webdataset.js')).target,
  'hnsw-index': async () => (await import('./hnsw-index.js')).target,
  'onnx-quantize': async () => (await import('./onnx-quantize.js')).target,
  'task-config': async () => (await import('./task-config.js')).target,
  'cli-options': async () => (await import('./cli-options.js')).target,
  server: async () => (await import('./server.js')).target,
};

/** Targets left out of the CI pass, and why (their modules are not even imported there). */
export const CI_SKIP: Record<string, string> = {
  server: 'starting the six fixture models takes ~30 s on 2 cores; test/server/*.test.ts checks the same routes, and `npm run fuzz -- server` fuzzes them',
};
