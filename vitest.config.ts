import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ once so CLI tests spawn the real binary.
    globalSetup: ['test/global-setup.ts'],
    // Real models on a 2-core box: generous timeouts, and files run in forks so native handles stay isolated.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
