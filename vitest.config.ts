import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'cdn-edge/test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Packaging and cfn-lint tests spawn heavy child processes; two cores only.
    maxWorkers: 2,
  },
});
