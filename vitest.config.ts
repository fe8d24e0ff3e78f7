import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'cdn-edge/test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // A real Docker Engine, swarm and registry for the swarm tests: started once, torn down after.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Packaging and cfn-lint tests spawn heavy child processes; two cores only.
    maxWorkers: 2,
  },
});
