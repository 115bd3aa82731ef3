import { defineConfig } from 'vitest/config';
import { SERIAL_SUITES } from './vitest.config.ts';

/**
 * The second half of `npm test`: suites that run whole LBs in containers or drive a deployed pool
 * (Podman, hooks, fixed addresses) and the corpus of configs from the wild, one file at a time after
 * the rest. Beside the other e2e suites on 2 cores they took CPU from timing-sensitive drills.
 */
export default defineConfig({
  test: {
    include: [...SERIAL_SUITES],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
