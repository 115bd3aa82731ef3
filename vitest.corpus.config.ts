import { defineConfig } from 'vitest/config';

/** `npm run corpus`: the real-world corpus (test/corpus), one config at a time; needs the published files on disk. */
export default defineConfig({
  test: {
    include: ['test/corpus/*.corpus-test.ts'],
    testTimeout: 600_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
