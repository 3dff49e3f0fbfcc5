import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // ORT uses both cores per session; running files in parallel only thrashes.
    fileParallelism: false,
  },
});
