import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['harness/**/*.test.ts', 'reference-lb/**/*.test.ts', 'fixtures/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Suites start real proxies on loopback ports; run files in parallel but keep each file serial.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
